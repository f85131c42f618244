"""``stegavox serve`` (``steganography.app.web``) through Starlette's TestClient: the page and its
assets are local, capacity and hide/reveal give what the command line gives on the same inputs,
a refusal is the command line's one line, foreign Host/Origin requests and requests without the
token get 403 with nothing done, and no temporary file outlives a response."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from starlette.testclient import TestClient

from common import platforms
from datamodules.synthetic import textured_cover
from steganography.app import api
from steganography.app import cli as app
from steganography.app.web import command, server

PASSPHRASE = "correct horse battery staple"
HOST, PORT = "127.0.0.1", 8765
ORIGIN = f"http://{HOST}:{PORT}"


@pytest.fixture(scope="module")
def inputs(speech_like, tmp_path_factory) -> Path:
    """``cover.png`` (320x256) and ``speech.wav`` (1 s, 16 kHz) in a folder."""
    folder = tmp_path_factory.mktemp("web_inputs")
    textured_cover(3, 256, 320).save(folder / "cover.png")
    sf.write(folder / "speech.wav", speech_like(1.0), 16000, subtype="PCM_16")
    return folder


@pytest.fixture(scope="module")
def temp_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("web_temp")


@pytest.fixture(scope="module")
def guarded(temp_root):
    return server.create_app(allowed_hosts=server.allowed_host_names(HOST, PORT), temp_root=temp_root)


@pytest.fixture(scope="module")
def client(guarded) -> TestClient:
    with TestClient(guarded, base_url=ORIGIN) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def no_temporary_file_left(temp_root):
    yield
    assert list(temp_root.iterdir()) == []


def files(folder: Path, **names: str) -> dict:
    return {field: (name, (folder / name).read_bytes()) for field, name in names.items()}


def wait(client: TestClient, status: dict, timeout: float = 300) -> tuple[dict, list[str]]:
    """Poll a hide until it ends: its last status and the stages seen."""
    stages = [status["stage"]]
    deadline = time.monotonic() + timeout
    while status["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
        status = client.get(f"/api/jobs/{status['job']}").json()
        if status["stage"] != stages[-1]:
            stages.append(status["stage"])
    return status, stages


def cli_error(capsys, argv: list[str]) -> str:
    """The one line ``stegavox`` prints for a refused command (without ``stegavox: error: ``)."""
    assert app.main(argv) != 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("stegavox: error: ")]
    assert len(lines) == 1
    return lines[0].removeprefix("stegavox: error: ")


@pytest.fixture(scope="module")
def web_hide(client, inputs) -> tuple[dict, list[str], bytes]:
    """A hide for WhatsApp through the page's API: final status, stages seen, the file."""
    response = client.post(
        "/api/hide",
        files=files(inputs, cover="cover.png", audio="speech.wav"),
        data={"passphrase": PASSPHRASE, "platform": "whatsapp", "detectable_ok": "1"},
    )
    assert response.status_code == 202, response.text
    status, stages = wait(client, response.json())
    assert status["state"] == "done", status
    download = client.get(f"/api/jobs/{status['job']}/file")
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert 'filename="stego.png"' in download.headers["content-disposition"]
    return status, stages, download.content


def test_the_page_loads_nothing_from_elsewhere(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "stegavox" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assets = re.findall(r'(?:src|href)="([^"#]+)"', page.text)
    assert assets and all(asset.startswith("/static/") for asset in assets)
    for asset in assets:
        body = client.get(asset)
        assert body.status_code == 200, asset
        assert not re.search(r"https?://", body.text), asset  # no CDN, no beacon
    assert not re.search(r"https?://", page.text)
    choices = client.get("/api/platforms").json()["platforms"]
    assert [choice["name"] for choice in choices] == [*platforms.PROFILES, platforms.ANY_PLATFORM, server.PLATFORM_NONE]
    # The crop option belongs to the platform profiles (the canonical hider and a plain PNG have none).
    assert [choice["crop_robust"] for choice in choices] == [True] * len(platforms.PROFILES) + [False, False]


def test_capacity_is_the_api_s(client, inputs) -> None:
    # No platform (a plain PNG): the quickest measurement (the browser test asks for WhatsApp's).
    response = client.post("/api/capacity", files=files(inputs, cover="cover.png"), data={"platform": "none"})
    assert response.status_code == 200, response.text
    web = response.json()
    expected = api.capacity(inputs / "cover.png", None)
    assert web["covert_seconds"] == expected["covert_seconds"] and web["seconds"] == expected["seconds"]
    assert (web["covert_bytes"], web["bytes"], tuple(web["size"])) == (expected["covert_bytes"], expected["bytes"], expected["size"])
    # Asked again (the page asks on every change): the cached answer, at once.
    start = time.monotonic()
    again = client.post("/api/capacity", files=files(inputs, cover="cover.png"), data={"platform": "none"})
    assert again.json() == web and time.monotonic() - start < 1


def test_capacity_passes_the_crop_option_and_caches_each_answer(client, inputs, monkeypatch) -> None:
    calls = []

    def measured(cover_path, platform, hd, crop_robust=False):
        calls.append((platform, hd, crop_robust))
        return {"notes": [], "crop_robust": crop_robust}

    monkeypatch.setattr(server, "_measure_capacity", measured)
    for flag in ("1", "", "1"):
        response = client.post("/api/capacity", files=files(inputs, cover="cover.png"), data={"platform": "whatsapp", "crop_robust": flag})
        assert response.status_code == 200 and response.json()["crop_robust"] is bool(flag)
    assert calls == [("whatsapp", False, True), ("whatsapp", False, False)]  # the third from the cache


def test_send_and_receive_give_the_command_line_s_bytes(client, inputs, web_hide, tmp_path, monkeypatch, capsys) -> None:
    status, stages, stego = web_hide
    report = status["report"]
    assert report["platform"] == "whatsapp" and report["psnr_db"] > 25 and report["survives"]
    assert stages[-1] == "done" and len(stages) > 3  # the page saw the stages of api.hide
    # The command line on the same files, the same passphrase.
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", PASSPHRASE)
    monkeypatch.chdir(inputs)
    cli_png, cli_wav = tmp_path / "cli.png", tmp_path / "cli.wav"
    argv = ["hide", "--audio", "speech.wav", "--cover", "cover.png", "--out", str(cli_png), "--platform", "whatsapp", "--detectable-ok"]
    assert app.main(argv) == 0
    capsys.readouterr()
    # Both files as WhatsApp serves them (JPEG at its quality), received through the page and the CLI.
    quality = platforms.PROFILES["whatsapp"].quality_range[0]
    received = {}
    for name, data in (("web", stego), ("cli", cli_png.read_bytes())):
        jpeg = tmp_path / f"{name}.jpg"
        jpeg.write_bytes(platforms.jpeg_bytes(platforms.decode(data), quality))
        response = client.post("/api/reveal", files={"stego": (jpeg.name, jpeg.read_bytes())}, data={"passphrase": PASSPHRASE})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/wav" and response.headers["x-stegavox-codec"] == report["codec"]
        received[name] = response.content
    assert app.main(["reveal", "--stego", str(tmp_path / "web.jpg"), "--out", str(cli_wav)]) == 0
    assert received["web"] == received["cli"] == cli_wav.read_bytes()
    assert sf.info(io.BytesIO(received["web"])).format == "WAV"


def test_enhance_preview_is_the_command_line_s(client, inputs, tmp_path) -> None:
    response = client.post("/api/enhance", files=files(inputs, audio="speech.wav"))
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    assert app.main(["enhance", str(inputs / "speech.wav"), str(tmp_path / "clean.wav")]) == 0
    assert response.content == (tmp_path / "clean.wav").read_bytes()


def test_foreign_host_or_origin_gets_403_and_nothing_is_done(client, guarded, inputs, monkeypatch) -> None:
    calls, jobs = [], dict(guarded.app.state.jobs)
    monkeypatch.setattr(api, "hide", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setattr(api, "reveal", lambda *args, **kwargs: calls.append(args))
    form = {"files": files(inputs, cover="cover.png", audio="speech.wav"), "data": {"passphrase": PASSPHRASE, "platform": "whatsapp"}}
    refused = [
        client.post("/api/hide", headers={"origin": "http://evil.example"}, **form),
        client.post("/api/hide", headers={"origin": "null"}, **form),
        client.post("/api/hide", headers={"host": "evil.example:8765"}, **form),  # DNS rebinding
        client.post("/api/hide", headers={"host": "evil.example:8765", "origin": "http://evil.example:8765"}, **form),
        client.post("/api/hide", headers={"sec-fetch-site": "cross-site"}, **form),
        client.post("/api/reveal", headers={"origin": "http://127.0.0.1:9999"}, files=files(inputs, stego="cover.png"),
                    data={"passphrase": PASSPHRASE}),
        client.get("/", headers={"host": "attacker.test"}),
    ]
    assert [response.status_code for response in refused] == [403] * len(refused)
    assert all("refused" in response.text for response in refused)
    time.sleep(0.2)
    assert calls == [] and guarded.app.state.jobs == jobs
    # The server's own names and origin pass.
    for host in ("127.0.0.1:8765", "localhost:8765"):
        response = client.get("/api/platforms", headers={"host": host, "origin": f"http://{host}", "sec-fetch-site": "same-origin"})
        assert response.status_code == 200


def test_off_loopback_a_token_is_required(temp_root) -> None:
    allowed, token = command.serve_config("0.0.0.0", 8765)
    assert allowed is None and len(token) >= 32
    assert command.serve_config("0.0.0.0", 8765)[1] != token  # fresh each start
    assert command.serve_config("127.0.0.1", 8765) == (server.allowed_host_names("127.0.0.1", 8765), None)
    assert f"?token={token}" in command.page_url("0.0.0.0", 8765, token)
    with pytest.raises(ValueError, match="token"):
        server.create_app(allowed_hosts=None, token=None)
    guarded = server.create_app(allowed_hosts=allowed, token=token, temp_root=temp_root)
    with TestClient(guarded, base_url="http://192.168.1.20:8765") as phone:
        assert phone.get("/").status_code == 403
        assert "token" in phone.get("/api/platforms").text
        assert phone.get("/?token=wrong").status_code == 403
        first = phone.get(f"/?token={token}")
        assert first.status_code == 200 and "httponly" in first.headers["set-cookie"].lower()
        assert phone.get("/api/platforms").status_code == 200  # the cookie now
    with TestClient(guarded, base_url="http://192.168.1.20:8765") as other:
        assert other.get("/api/platforms", headers={"x-stegavox-token": token}).status_code == 200
        assert other.post("/api/reveal", headers={"origin": "http://evil.example"}, params={"token": token}).status_code == 403


def test_refusals_are_the_command_line_s_line(client, inputs, tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "notes.wav").write_bytes(b"these are not samples")
    (tmp_path / "holiday.png").write_bytes(b"\x89PNG but not really")
    (tmp_path / "cover.png").write_bytes((inputs / "cover.png").read_bytes())
    (tmp_path / "speech.wav").write_bytes((inputs / "speech.wav").read_bytes())
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", PASSPHRASE)
    monkeypatch.chdir(tmp_path)
    for cover, audio in (("cover.png", "notes.wav"), ("holiday.png", "speech.wav")):
        expected = cli_error(capsys, ["hide", "--audio", audio, "--cover", cover, "--out", "out.png", "--platform", "whatsapp"])
        response = client.post("/api/hide", files=files(tmp_path, cover=cover, audio=audio),
                               data={"passphrase": PASSPHRASE, "platform": "whatsapp"})
        status, _ = wait(client, response.json())
        assert status["state"] == "error" and status["error"] == expected
        assert str(tmp_path) not in expected
    expected = cli_error(capsys, ["reveal", "--stego", "holiday.png", "--out", "speech_out.wav"])
    response = client.post("/api/reveal", files=files(tmp_path, stego="holiday.png"), data={"passphrase": PASSPHRASE})
    assert response.status_code == 400 and response.json() == {"error": expected, "exit_code": 2}
    # What the form itself lacks.
    response = client.post("/api/hide", files=files(tmp_path, cover="cover.png", audio="speech.wav"), data={"passphrase": "\n"})
    assert response.json()["error"] == "the passphrase is empty"
    response = client.post("/api/hide", files=files(tmp_path, cover="cover.png", audio="speech.wav"),
                           data={"passphrase": PASSPHRASE, "platform": "myspace"})
    assert response.status_code == 400 and response.json()["error"].startswith("unknown platform 'myspace'")


def test_uploads_are_bounded_and_temporary_files_removed(client, inputs, temp_root, monkeypatch) -> None:
    seen: list[Path] = []

    def fake_hide(cover, audio, passphrase, **options):
        seen.extend([Path(cover), Path(audio)])
        assert all(path.is_file() and str(path).startswith(str(temp_root)) for path in seen)
        assert options["progress"] is not None
        raise server.InputError(f"{audio}: a refusal naming the upload")

    monkeypatch.setattr(api, "hide", fake_hide)
    response = client.post("/api/hide", files=files(inputs, cover="cover.png", audio="speech.wav"), data={"passphrase": PASSPHRASE})
    status, _ = wait(client, response.json())
    assert status["error"] == "speech.wav: a refusal naming the upload"  # the upload's name, not the temporary path
    assert seen and not any(path.exists() for path in seen)
    # Too large: the whole body, then one file.
    small = server.create_app(allowed_hosts=server.allowed_host_names(HOST, PORT), temp_root=temp_root, max_body=4096)
    with TestClient(small, base_url=ORIGIN) as limited:
        response = limited.post("/api/reveal", files=files(inputs, stego="cover.png"), data={"passphrase": PASSPHRASE})
        assert response.status_code == 413 and "limit" in response.json()["error"]
        chunks = (b"-" * 1024 for _ in range(10))  # no Content-Length: counted as it arrives
        response = limited.post("/api/reveal", content=chunks, headers={"content-type": "multipart/form-data; boundary=--"})
        assert response.status_code == 413 and response.json()["error"] == "the upload is larger than 4 KiB, this page's limit"
    monkeypatch.setattr(server, "MAX_IMAGE_BYTES", 1024)
    response = client.post("/api/reveal", files=files(inputs, stego="cover.png"), data={"passphrase": PASSPHRASE})
    assert response.status_code == 400 and response.json()["error"] == "cover.png: larger than 1 KiB, this page's limit for a photo"


def test_a_hide_running_at_shutdown_leaves_no_file(inputs, temp_root, monkeypatch) -> None:
    import threading

    started, release = threading.Event(), threading.Event()

    def slow_hide(cover, audio, passphrase, **options):
        started.set()
        release.wait(10)
        raise server.InputError("stopped")

    monkeypatch.setattr(api, "hide", slow_hide)
    guarded = server.create_app(allowed_hosts=server.allowed_host_names(HOST, PORT), temp_root=temp_root)
    with TestClient(guarded, base_url=ORIGIN) as short_lived:
        short_lived.post("/api/hide", files=files(inputs, cover="cover.png", audio="speech.wav"), data={"passphrase": PASSPHRASE})
        assert started.wait(10) and len(list(temp_root.iterdir())) == 1
    assert list(temp_root.iterdir()) == []  # removed at shutdown, the hide still running
    release.set()


def test_json_of_reports() -> None:
    value = {"a": (1, np.float32(0.5)), 75: float("inf"), "n": [np.int64(3), float("nan")]}
    assert server.jsonable(value) == {"a": [1, 0.5], "75": None, "n": [3, None]}


def test_safe_file_names() -> None:
    assert server.safe_filename("../../etc/passwd", "x") == "passwd"
    assert server.safe_filename("C:\\Users\\me\\Ferien 2026.JPG", "x") == "Ferien 2026.JPG"
    assert server.safe_filename("é$;.png", "x") == "___.png"
    assert server.safe_filename("..", "photo") == "photo" and server.safe_filename(None, "photo") == "photo"
    assert len(server.safe_filename("a" * 300 + ".wav", "x")) <= 100


def test_serve_command_parses_and_binds() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    command.add_serve_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--port", "0"])
    assert (args.host, args.port, args.func) == ("127.0.0.1", 0, command.run_serve)
    sock = command.bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        with pytest.raises(server.InputError, match="cannot listen"):
            command.bind("127.0.0.1", port)
    finally:
        sock.close()


def test_serve_is_a_stegavox_command(capsys) -> None:
    from steganography.app import cli

    assert cli.main(["serve", "--help"]) == 0
    assert "token" in capsys.readouterr().out
    assert cli.main(["serve", "--passphrase-file", "x"]) == 2
    assert "serve takes no passphrase" in capsys.readouterr().err

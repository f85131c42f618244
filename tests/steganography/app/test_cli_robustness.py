"""Issue 12: the rough edges of bad input, concurrent and interrupted writes, and the keyed frame
as seen through the command line."""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from common.payload import codecs, container, crypto
from datamodules.synthetic import textured_cover
from steganography.app import api
from steganography.app import cli as app
from steganography.app import files as publishing

REPO = Path(__file__).resolve().parents[3]
PASSPHRASE = "correct horse battery staple"


#: A progress line of a slow command (steganography.app.cli.ProgressLine).
PROGRESS_LINE = re.compile(r"stegavox: [^:]+ +\d+%")


def one_error_line(capsys: pytest.CaptureFixture) -> str:
    """The one error line on stderr (progress lines of a slow command aside)."""
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not PROGRESS_LINE.fullmatch(line)]
    assert len(err) == 1 and err[0].startswith("stegavox: error: "), err
    return err[0]


@pytest.fixture(scope="module")
def files(speech_like, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("robust")
    paths = {"cover": root / "cover.png", "speech": root / "speech.wav", "passphrase": root / "pass.txt"}
    textured_cover(3, 384, 384).save(paths["cover"])
    sf.write(paths["speech"], speech_like(0.03), 16000)
    paths["passphrase"].write_text(PASSPHRASE + "\n")
    return paths


@pytest.fixture(autouse=True)
def passphrase_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", PASSPHRASE)


def hide_argv(files: dict[str, Path], cover: Path, out: Path) -> list[str]:
    return ["hide", "--detectable-ok", "--audio", str(files["speech"]), "--cover", str(cover), "--out", str(out), "--codec", "flac",
            "--bch-t", "16"]


# --- covers ---------------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


@pytest.mark.parametrize("colour_type, channels", [(2, 3), (6, 4)])
def test_16_bit_colour_cover_is_refused(colour_type: int, channels: int, files, tmp_path: Path, capsys) -> None:
    """Issue 12: a 16-bit RGB PNG was silently narrowed to 8 bits (16-bit grey was refused)."""
    rng = np.random.default_rng(0)
    rows = b"".join(b"\x00" + rng.bytes(2 * channels * 256) for _ in range(256))
    cover = tmp_path / "deep.png"
    cover.write_bytes(raw_png(256, 256, 16, colour_type, rows))
    assert app.main(hide_argv(files, cover, tmp_path / "stego.png")) == 2
    line = one_error_line(capsys)
    assert "8-bit" in line and "16-bit" in line
    assert app.main(["capacity", "--cover", str(cover)]) == 2
    one_error_line(capsys)
    assert not (tmp_path / "stego.png").exists()


def converted_covers(root: Path) -> dict[str, tuple[Path, str]]:
    base = textured_cover(4, 384, 384)
    cmyk = root / "cmyk.jpg"
    base.convert("CMYK").save(cmyk, quality=95)
    rgba = root / "rgba.png"
    with_alpha = base.convert("RGBA")
    with_alpha.putalpha(Image.fromarray(np.full((384, 384), 128, dtype=np.uint8)))
    with_alpha.save(rgba)
    gif = root / "animated.gif"
    frames = [base.convert("P"), textured_cover(5, 384, 384).convert("P")]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    return {"cmyk": (cmyk, "CMYK"), "rgba": (rgba, "transparen"), "gif": (gif, "2 frames")}


@pytest.mark.parametrize("kind", ["cmyk", "rgba", "gif"])
def test_lossy_cover_conversions_print_a_note(kind: str, files, tmp_path: Path, capsys) -> None:
    """Issue 12: CMYK, transparent RGBA and animated GIF covers were converted without a note."""
    cover, fragment = converted_covers(tmp_path)[kind]
    out = tmp_path / "stego.png"
    assert app.main(hide_argv(files, cover, out)) == 0
    err = capsys.readouterr().err
    assert "note:" in err and fragment in err
    revealed = tmp_path / "out.flac"
    assert app.main(["reveal", "--stego", str(out), "--out", str(revealed)]) == 0


def test_plain_covers_convert_silently(files, tmp_path: Path, capsys) -> None:
    grey = tmp_path / "grey.png"
    textured_cover(6, 384, 384).convert("L").save(grey)
    opaque = tmp_path / "opaque.png"
    textured_cover(6, 384, 384).convert("RGBA").save(opaque)
    for cover in (grey, opaque):
        assert app.main(hide_argv(files, cover, tmp_path / f"{cover.stem}.stego.png")) == 0
        notes = [line for line in capsys.readouterr().err.splitlines() if "note:" in line]
        assert [line for line in notes if "detectable" not in line] == []  # only --detectable-ok's own line


def test_huge_image_is_refused_from_its_header(files, tmp_path: Path, capsys) -> None:
    """Issue 12: an 11000x11000 PNG of 353 kB made reveal use 3.4 GB and 65 s."""
    huge = tmp_path / "huge.png"
    row = b"\x00" + bytes(11000)
    huge.write_bytes(raw_png(11000, 11000, 8, 0, row * 11000))
    assert huge.stat().st_size < 1_000_000
    start = time.perf_counter()
    assert app.main(["reveal", "--stego", str(huge), "--out", str(tmp_path / "o.flac")]) == 2
    assert time.perf_counter() - start < 2.0
    line = one_error_line(capsys)
    assert "11000x11000" in line and "megapixels" in line


def test_one_pixel_cover_holds_nothing(files, tmp_path: Path, capsys) -> None:
    """Issue 12: capacity on a 1x1 image talked about a 50 % bit-error rate."""
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1), (90, 120, 150)).save(tiny)
    assert app.main(["capacity", "--cover", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "holds nothing" in out and "0 bytes" in out and "50" not in out
    assert app.main(hide_argv(files, tiny, tmp_path / "stego.png")) == 2
    line = one_error_line(capsys)
    assert "cover too small" in line and "holds no payload" in line and "bit-error" not in line


# --- audio ----------------------------------------------------------------------------------


def test_oversized_audio_is_refused_before_encoding(files, tmp_path: Path, monkeypatch, capsys) -> None:
    """Issue 12: one hour of audio was encoded for minutes before "cover too small"."""
    long_audio = tmp_path / "hour.flac"
    with sf.SoundFile(long_audio, "w", samplerate=8000, channels=1, format="FLAC") as file:
        silence = np.zeros(8000 * 60, dtype=np.float32)
        for _ in range(60):
            file.write(silence)
    assert sf.info(str(long_audio)).duration == pytest.approx(3600)

    def never(*args, **kwargs):
        raise AssertionError("the audio was loaded or encoded")

    monkeypatch.setattr(codecs, "encode_audio", never)
    monkeypatch.setattr("common.audio.load_audio", never)
    start = time.perf_counter()
    code = app.main(["hide", "--detectable-ok", "--audio", str(long_audio), "--cover", str(files["cover"]), "--out", str(tmp_path / "s.png")])
    assert code == 2 and time.perf_counter() - start < 2.0
    line = one_error_line(capsys)
    assert "cover too small" in line and "3600.0 s of speech" in line and "with opus" in line


@pytest.mark.parametrize("codec", ["flac", "opus"])
def test_duration_floor_is_below_what_silence_takes(codec: str) -> None:
    """The pre-check may only refuse audio that cannot fit: its floor is below digital silence."""
    import torch

    silence = torch.zeros(1, 16000 * 20)
    rate = (len(codecs.encode_audio(silence, 16000, codec)) - len(codecs.encode_audio(silence[:, :16000], 16000, codec))) / 19
    assert api.MIN_BYTES_PER_SECOND[codec] < rate


def test_codec_choices_match_the_codecs() -> None:
    assert set(app.CODEC_CHOICES) == set(codecs.CODECS)
    assert all(api.MIN_BYTES_PER_SECOND.get(codec, 0) >= 0 for codec in codecs.CODECS)


# --- passphrase -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option", [["--passphrase", "hunter2-secret"], ["--passphrase=hunter2-secret"], ["--pass", "hunter2-secret"]]
)
def test_passphrase_on_the_command_line_is_refused_without_echo(option: list[str], files, tmp_path, capsys) -> None:
    """Issue 12: ``--passphrase VALUE`` was taken as an abbreviation of --passphrase-file."""
    out = tmp_path / "stego.png"
    argv = ["hide", "--detectable-ok", "--audio", str(files["speech"]), "--cover", str(files["cover"]), "--out", str(out), *option]
    assert app.main(argv) == 2
    line = one_error_line(capsys)
    assert "hunter2-secret" not in line
    assert "--passphrase-file" in line or "unrecognized" in line
    assert not out.exists()


def test_abbreviated_options_are_refused(files, tmp_path, capsys) -> None:
    out = tmp_path / "stego.png"
    argv = ["hide", "--detectable-ok", "--audio", str(files["speech"]), "--cov", str(files["cover"]), "--out", str(out)]
    assert app.main(argv) == 2
    assert "--cov" in one_error_line(capsys)


def test_file_and_environment_passphrases_with_newline_agree(files, tmp_path, monkeypatch) -> None:
    """Issue 12: a trailing newline was stripped from a passphrase file but not from the variable."""
    stego, out = tmp_path / "stego.png", tmp_path / "out.flac"
    assert app.main(hide_argv(files, files["cover"], stego) + ["--passphrase-file", str(files["passphrase"])]) == 0
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", PASSPHRASE + "\n")
    assert app.main(["reveal", "--stego", str(stego), "--out", str(out)]) == 0


# --- keyed frame ----------------------------------------------------------------------------


def test_wrong_passphrase_and_clean_photo_do_the_same_work(files, tmp_path, monkeypatch, capsys) -> None:
    """One key derivation and the same answer whether the image holds something or not."""
    stego = tmp_path / "stego.png"
    assert app.main(hide_argv(files, files["cover"], stego)) == 0
    capsys.readouterr()
    calls = []
    real_scrypt = crypto.hashlib.scrypt
    monkeypatch.setattr(crypto.hashlib, "scrypt", lambda *a, **k: calls.append(1) or real_scrypt(*a, **k))
    answers = []
    for image, passphrase in [(stego, "not it"), (files["cover"], "not it either"), (stego, "nor this")]:
        monkeypatch.setenv("STEGAVOX_PASSPHRASE", passphrase)
        code = app.main(["reveal", "--stego", str(image), "--out", str(tmp_path / "o.flac"), "--method", "classical"])
        answers.append((code, one_error_line(capsys)))
    assert len(set(answers)) == 1 and answers[0][0] == 3
    assert len(calls) == 3  # one scrypt per reveal, found or not


@pytest.mark.parametrize("images", [6, pytest.param(48, marks=pytest.mark.slow)])
def test_stego_bits_without_the_key_are_coin_flips_over_many_images(images: int) -> None:
    """The header region of classical stego images, read with public code and no key:
    balance and copy agreement are those of coin flips, and the unkeyed header decoder (the
    attack that read 40/40 headers before) finds nothing."""
    from steganography.embedders.classical import ClassicalEmbedder

    embedder = ClassicalEmbedder().maximal()  # small covers: one coefficient per bit
    copy_bits = container.HEADER_CODEWORD_BITS
    rng = np.random.default_rng(12)
    z_balance, z_agreement, decoded = [], [], 0
    for index in range(images):
        cover = textured_cover(100 + index, 192, 256)
        audio = rng.bytes(int(rng.integers(20, 200)))
        # A body code for many errors (t = 30 of 1023 bits), so that the header is repeated.
        frame = container.pack(audio, container.AudioMeta("opus", 16000, 1), b"key %d" % (index % 3), 30, 10)
        stego = embedder.embed(cover, frame)
        bits = (embedder.extract_soft(stego, frame.size) > 0).astype(np.int64)[: container.HEADER_BITS]
        assert np.array_equal(bits, frame[: container.HEADER_BITS])  # the extraction itself is exact
        z_balance.append((bits.mean() - 0.5) / np.sqrt(0.25 / bits.size))
        copies = bits.reshape(container.HEADER_REPETITIONS, copy_bits)
        z_agreement.append((np.mean(copies[0] == copies[1]) - 0.5) / np.sqrt(0.25 / copy_bits))
        _, (errors,) = container.HEADER_CODE.decode_codewords(copies.sum(axis=0) * 2.0 - 3.0)
        decoded += errors >= 0
    assert decoded == 0
    for z in (np.array(z_balance), np.array(z_agreement)):
        assert np.abs(z).max() < 4.5 and abs(z.mean()) < 1.5


# --- writing the output ---------------------------------------------------------------------


@pytest.mark.parametrize("moment", ["after_mkstemp", "during_write"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_termination_leaves_no_temporary_file(moment: str, signum: int, files, tmp_path, monkeypatch, capsys) -> None:
    """Issue 12: SIGTERM at the wrong moment left a hidden ``.tmp`` file."""
    if moment == "after_mkstemp":
        real = tempfile.mkstemp

        def mkstemp(*args, **kwargs):
            result = real(*args, **kwargs)
            os.kill(os.getpid(), signum)  # the file exists, its name is not yet known to the caller
            return result

        monkeypatch.setattr(publishing.tempfile, "mkstemp", mkstemp)
    else:
        monkeypatch.setattr(publishing.os, "fsync", lambda fd: os.kill(os.getpid(), signum))
    before = signal.getsignal(signum)
    out = tmp_path / "stego.png"
    assert app.main(hide_argv(files, files["cover"], out)) == 128 + signum
    assert "terminated" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signum) == before  # the handler is restored


@pytest.mark.slow
def test_four_concurrent_hide_processes_one_wins(files, tmp_path: Path) -> None:
    out = tmp_path / "stego.png"
    env = {**os.environ, "STEGAVOX_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "steganography.app.cli", *hide_argv(files, files["cover"], out)]
    processes = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    codes = sorted(process.wait(timeout=300) for process in processes)
    assert codes == [0, 2, 2, 2]
    assert [path.name for path in tmp_path.iterdir()] == ["stego.png"]


@pytest.mark.slow
def test_sigterm_to_a_hide_process_leaves_no_temporary_file(files, tmp_path: Path) -> None:
    env = {**os.environ, "STEGAVOX_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO)}
    for delay in (0.5, 1.0, 1.5, 2.0, 3.0):
        folder = tmp_path / f"d{delay}"
        folder.mkdir()
        argv = [sys.executable, "-m", "steganography.app.cli", *hide_argv(files, files["cover"], folder / "s.png")]
        process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) in (0, 128 + signal.SIGTERM, -signal.SIGTERM)
        assert [path.name for path in folder.iterdir()] in ([], ["s.png"])


# --- start-up -------------------------------------------------------------------------------


def test_help_imports_no_torch_and_no_model() -> None:
    """Issue 10: ``stegavox --help`` must not import torch, the enhancer or the models."""
    code = (
        "import sys, contextlib, io\n"
        "import steganography.app.cli as cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert cli.main(['--help']) == 0\n"
        "    for command in ('hide', 'reveal', 'capacity', 'enhance', 'sweep'):\n"
        "        assert cli.main([command, '--help']) == 0\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'torchaudio', 'enhancer', 'lightning', 'scipy')"
        " or m.startswith(('steganography.models', 'steganography.embedders.inn', 'steganography.embedders.classical'))]\n"
        "print(heavy)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from common.payload import codecs
from datamodules.synthetic import textured_cover
from steganography.app import cli as app

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def files(speech_like, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("app")
    paths = {
        "cover": root / "cover.png",
        "small_cover": root / "small.png",
        "speech": root / "speech.wav",
        "long_speech": root / "long.wav",
        "stereo": root / "stereo44k.wav",
        "passphrase": root / "passphrase.txt",
    }
    textured_cover(0, 384, 384).save(paths["cover"])
    textured_cover(1, 64, 96).save(paths["small_cover"])
    sf.write(paths["speech"], speech_like(0.03), 16000)
    sf.write(paths["long_speech"], speech_like(3.0), 16000)
    sf.write(paths["stereo"], speech_like(0.03, 44100, 2), 44100)
    paths["passphrase"].write_text(PASSPHRASE + "\n")
    return paths


@pytest.fixture(autouse=True)
def passphrase_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", PASSPHRASE)


@pytest.fixture(scope="module")
def stego(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Opus payload hidden in the cover (made once for the reveal tests)."""
    out = tmp_path_factory.mktemp("stego") / "stego.png"
    code = app.main(
        ["hide", "--detectable-ok", "--audio", str(files["speech"]), "--cover", str(files["cover"]), "--out", str(out),
         "--passphrase-file", str(files["passphrase"])]
    )
    assert code == 0 and out.is_file()
    return out


#: A progress line of a slow command (steganography.app.cli.ProgressLine).
PROGRESS_LINE = re.compile(r"stegavox: [^:]+ +\d+%")


def one_error_line(capsys: pytest.CaptureFixture) -> str:
    """The one error line on stderr (progress lines of a slow command aside)."""
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not PROGRESS_LINE.fullmatch(line)]
    assert len(err) == 1 and err[0].startswith("stegavox: error: "), err
    return err[0]


@pytest.mark.parametrize("codec", codecs.CODECS)
def test_hide_reveal_round_trip_is_byte_exact(
    codec: str, files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded, encode = [], codecs.encode_audio

    def spy(*args, **kwargs) -> bytes:
        encoded.append(encode(*args, **kwargs))
        return encoded[-1]

    monkeypatch.setattr(codecs, "encode_audio", spy)
    stego, out = tmp_path / "stego.png", tmp_path / f"out{codecs.file_extension(codec)}"
    hide = ["hide", "--detectable-ok", "--audio", str(files["speech"]), "--cover", str(files["cover"]), "--out", str(stego)]
    assert app.main(hide + ["--codec", codec, "--bch-t", "16"]) == 0
    assert app.main(["reveal", "--stego", str(stego), "--out", str(out)]) == 0
    assert out.read_bytes() == encoded[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([stego.name, out.name])  # no temp files left


def test_reveal_after_real_jpeg_at_target_quality(stego: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    jpeg = tmp_path / "shared.jpg"
    Image.open(stego).save(jpeg, format="JPEG", quality=75, subsampling="4:2:0")
    first, second = tmp_path / "a.opus", tmp_path / "b.opus"
    assert app.main(["reveal", "--stego", str(stego), "--out", str(first)]) == 0
    assert app.main(["reveal", "--stego", str(jpeg), "--out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert "revealed" in capsys.readouterr().out


def test_wrong_passphrase_is_answered_like_a_clean_photo(
    stego: Path, files: dict[str, Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    """Issue 12: exit 4 (wrong passphrase) vs exit 3 (no payload) told anyone a message was there."""
    out = tmp_path / "out.opus"
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", "wrong")
    wrong_key = app.main(["reveal", "--stego", str(stego), "--out", str(out)]), one_error_line(capsys)
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", PASSPHRASE)
    reveal_photo = ["reveal", "--stego", str(files["cover"]), "--out", str(out), "--method", "classical"]
    clean_photo = app.main(reveal_photo), one_error_line(capsys)
    assert wrong_key == clean_photo
    assert wrong_key[0] == 3 and "no stegavox payload found for this passphrase" in wrong_key[1]
    assert list(tmp_path.iterdir()) == []
    assert app.main(["reveal", "--stego", str(stego), "--out", str(out)]) == 0  # the right one still works


def test_too_hard_recompression_exits_3_without_output(stego: Path, tmp_path: Path, capsys) -> None:
    jpeg = tmp_path / "crushed.jpg"
    Image.open(stego).save(jpeg, format="JPEG", quality=20)
    out = tmp_path / "out.opus"
    assert app.main(["reveal", "--stego", str(jpeg), "--out", str(out)]) == 3
    one_error_line(capsys)
    assert not out.exists()


def test_truncated_image_exits_2_or_3_without_output(stego: Path, tmp_path: Path, capsys) -> None:
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(stego.read_bytes()[: stego.stat().st_size // 2])
    out = tmp_path / "out.opus"
    assert app.main(["reveal", "--stego", str(truncated), "--out", str(out)]) in (2, 3)
    one_error_line(capsys)
    assert not out.exists()


def test_existing_output_needs_force(stego: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.opus"
    out.write_bytes(b"keep me")
    assert app.main(["reveal", "--stego", str(stego), "--out", str(out)]) == 2
    assert "--force" in one_error_line(capsys)
    assert out.read_bytes() == b"keep me"
    assert app.main(["reveal", "--stego", str(stego), "--out", str(out), "--force"]) == 0
    assert out.read_bytes() != b"keep me"


def test_wrong_output_extension_for_the_hidden_codec(stego: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.flac"
    assert app.main(["reveal", "--stego", str(stego), "--out", str(out)]) == 2
    assert "out.opus" in one_error_line(capsys)
    assert not out.exists()


def test_version_and_help(capsys: pytest.CaptureFixture) -> None:
    assert app.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"stegavox {app.version()}"
    assert app.main(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert "exit codes" in help_text and "no payload for this passphrase" in help_text
    assert all(command in help_text for command in ("hide", "reveal", "capacity", "sweep"))


def test_stereo_44k_is_converted_with_a_note(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "stego.png"
    hide = ["hide", "--detectable-ok", "--audio", str(files["stereo"]), "--cover", str(files["cover"]), "--out", str(out)]
    assert app.main(hide + ["--codec", "flac", "--bch-t", "16"]) == 0
    err = capsys.readouterr().err
    assert "mono" in err and "44100 Hz" in err


def test_cover_too_small_says_what_fits(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "stego.png"
    code = app.main(["hide", "--detectable-ok", "--audio", str(files["long_speech"]), "--cover", str(files["cover"]), "--out", str(out)])
    assert code == 2
    line = one_error_line(capsys)
    assert "cover too small" in line and "bytes as opus" in line
    # It names the longest start of the recording that fits, and that start does fit.
    prefix = float(re.search(r"the first ([0-9.]+) s of this recording fit", line).group(1))
    fit_bytes = int(re.search(r"this cover hides (\d+) bytes", line).group(1))
    wave, rate = sf.read(files["long_speech"], dtype="float32")
    shorter = tmp_path / "shorter.wav"
    sf.write(shorter, wave[: int(prefix * rate)], rate)
    assert app.main(["hide", "--detectable-ok", "--audio", str(shorter), "--cover", str(files["cover"]), "--out", str(out)]) == 0
    assert int(re.search(r"\((\d+) bytes\)", capsys.readouterr().out).group(1)) <= fit_bytes


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bad_inputs(files: dict[str, Path], root: Path) -> list[tuple[list[str], str]]:
    corrupt_wav = root / "corrupt.wav"
    corrupt_wav.write_bytes(b"RIFF not really a wave file")
    nan_wav = root / "nan.wav"
    sf.write(nan_wav, np.full(800, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    deep_png = root / "deep.png"
    Image.fromarray(np.full((64, 64), 40000, dtype=np.uint16)).save(deep_png)
    corrupt_png = root / "corrupt.png"
    corrupt_png.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    bomb_png = root / "bomb.png"  # a 20000x20000 header over almost no data
    bomb_png.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(bytes(100)))
        + png_chunk(b"IEND", b"")
    )
    hide = ["hide", "--detectable-ok", "--out", str(root / "stego.png")]
    speech, cover = str(files["speech"]), str(files["cover"])
    return [
        (hide + ["--audio", str(files["speech"]), "--cover", str(root / "missing.png")], "not found"),
        (hide + ["--audio", str(corrupt_wav), "--cover", str(files["cover"])], "not a readable audio file"),
        (hide + ["--audio", str(nan_wav), "--cover", str(files["cover"])], "NaN"),
        (hide + ["--audio", str(files["speech"]), "--cover", str(deep_png)], "8-bit"),
        (hide + ["--audio", str(files["speech"]), "--cover", str(corrupt_png)], "not a readable image"),
        (hide + ["--audio", str(files["speech"]), "--cover", str(bomb_png)], "too large"),
        (hide + ["--audio", str(files["speech"]), "--cover", str(files["small_cover"])], "cover too small"),
        (["hide", "--detectable-ok", "--audio", speech, "--cover", cover, "--out", str(root / "x.jpg")], ".png"),
        (["hide", "--detectable-ok", "--audio", speech, "--cover", cover, "--out", cover, "--force"], "input"),
        (["hide", "--detectable-ok", "--audio", speech], "required"),
        (["hide", "--detectable-ok", "--audio", "a", "--cover", "b", "--out", "c.png", "--quality-target", "101"], "1..100"),
        (["reveal", "--stego", cover, "--out", str(root / "o.wav"), "--method", "nope"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ]


def test_bad_inputs_exit_2_with_one_line(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    for argv, fragment in bad_inputs(files, tmp_path):
        assert app.main(argv) == 2, argv
        line = one_error_line(capsys)
        assert fragment in line, (argv, line)
    assert not (tmp_path / "stego.png").exists()


def test_no_payload_in_a_plain_image_exits_3(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    reveal = ["reveal", "--stego", str(files["cover"]), "--out", str(tmp_path / "o.opus"), "--method", "classical"]
    assert app.main(reveal) == 3
    assert "no stegavox payload" in one_error_line(capsys)


def test_missing_passphrase_exits_2(files: dict[str, Path], tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("STEGAVOX_PASSPHRASE")
    out = tmp_path / "stego.png"
    assert app.main(["hide", "--detectable-ok", "--audio", str(files["speech"]), "--cover", str(files["cover"]), "--out", str(out)]) == 2
    assert "passphrase" in one_error_line(capsys)


def test_capacity(files: dict[str, Path], capsys) -> None:
    assert app.main(["capacity", "--cover", str(files["cover"])]) == 0
    out = capsys.readouterr().out
    assert "384x384" in out and "bytes" in out
    assert all(codec in out for codec in codecs.CODECS)


def test_sweep_writes_json_plot_and_table(tmp_path: Path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for seed in range(2):
        textured_cover(10 + seed, 256, 256).save(images / f"cover{seed}.png")
    out_dir = tmp_path / "results"
    argv = ["sweep", "--images", str(images), "--out-dir", str(out_dir), "--qualities", "30", "75", "--bch-t", "24"]
    assert app.main(argv) == 0
    report = json.loads((out_dir / "sweep.json").read_text())
    by_quality = {row["quality"]: row for row in report["qualities"]}
    assert by_quality[75]["recovered"] == 2 and by_quality[75]["net_bpp_mean"] > 0.05
    assert by_quality[30]["recovered"] == 0 and by_quality[30]["ber_mean"] > by_quality[75]["ber_mean"]
    assert (out_dir / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "JPEG Q" in capsys.readouterr().out
    assert app.main(argv) == 2  # results exist, no --force


def test_enhance_keeps_rate_channels_and_length(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "enhanced.flac"
    assert app.main(["enhance", str(files["stereo"]), str(out)]) == 0
    enhanced, rate = sf.read(out, always_2d=True)
    original, _ = sf.read(files["stereo"], always_2d=True)
    assert rate == 44100 and enhanced.shape == original.shape
    assert np.isfinite(enhanced).all() and np.abs(enhanced).max() <= 1.0
    assert not np.allclose(enhanced, original, atol=1e-3)


@pytest.mark.parametrize("problem", ["exists", "suffix", "same_file", "garbage"])
def test_enhance_bad_input_exits_2_and_writes_nothing(problem: str, files: dict[str, Path], tmp_path: Path, capsys) -> None:
    source, out = files["speech"], tmp_path / "out.wav"
    if problem == "exists":
        out.write_bytes(b"keep me")
    elif problem == "suffix":
        out = tmp_path / "out.mp3"
    elif problem == "same_file":
        out = source
    else:
        source = tmp_path / "garbage.wav"
        source.write_bytes(b"RIFF\x00\x00not audio")
    before = out.read_bytes() if out.exists() else None
    assert app.main(["enhance", str(source), str(out)]) == 2
    one_error_line(capsys)
    assert (out.read_bytes() if out.exists() else None) == before


def test_hide_with_enhance_round_trips(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    stego, out = tmp_path / "stego.png", tmp_path / "out.flac"
    hide = ["hide", "--detectable-ok", "--audio", str(files["speech"]), "--cover", str(files["cover"]), "--out", str(stego)]
    assert app.main(hide + ["--codec", "flac", "--bch-t", "16", "--enhance"]) == 0
    assert app.main(["reveal", "--stego", str(stego), "--out", str(out)]) == 0
    revealed, rate = sf.read(out)
    plain = sf.read(files["speech"])[0]
    assert rate == 16000 and revealed.shape == plain.shape
    assert not np.allclose(revealed, plain, atol=1e-3), "--enhance did not change the audio"


@pytest.mark.parametrize("size", [(5, 30), (30, 5)])
def test_images_smaller_than_the_hiders_grids_hold_nothing(size: tuple[int, int], files, tmp_path: Path, capsys) -> None:
    """Revealing a 5-pixel-wide image raised a ValueError traceback (exit 1) in the INN."""
    image = tmp_path / "tiny.png"
    Image.fromarray(np.full((size[1], size[0], 3), 128, dtype=np.uint8)).save(image)
    for method in ([], ["--method", "inn"]):
        assert app.main(["reveal", "--stego", str(image), "--out", str(tmp_path / "o.wav"), *method]) == 3
        assert "no stegavox payload found" in one_error_line(capsys)
    hide = ["hide", "--detectable-ok", "--audio", str(files["speech"]), "--cover", str(image), "--out", str(tmp_path / "s.png")]
    for method in ([], ["--method", "inn"], ["--platform", "any"]):
        assert app.main(hide + method) == 2
        assert "cover too small" in one_error_line(capsys)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny.png"]


def test_random_bytes_as_audio_give_one_line_and_nothing_else(files, tmp_path: Path, capfd) -> None:
    """libsndfile said "File does not exist ... (possibly a pipe?)" and its MPEG decoder printed notes."""
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(b"\xff\xfb" + np.random.default_rng(3).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    hide = ["hide", "--detectable-ok", "--audio", str(noise), "--cover", str(files["cover"]), "--out", str(tmp_path / "s.png")]
    error = f"stegavox: error: {noise}: not a readable audio file (unsupported format or corrupt data)"
    for argv in (hide, hide + ["--platform", "telegram"], ["enhance", str(noise), str(tmp_path / "clean.wav")]):
        assert app.main(argv) == 2
        assert capfd.readouterr().err.splitlines() == [error]


def test_cover_with_exif_orientation_is_used_upright_with_a_note(files, tmp_path: Path, capsys) -> None:
    """A phone photo stored sideways (EXIF orientation 6) was hidden in sideways without a word."""
    cover, stego = tmp_path / "phone.jpg", tmp_path / "stego.png"
    exif = Image.Exif()
    exif[0x0112] = 6
    textured_cover(0, 256, 384).save(cover, quality=95, exif=exif)
    note = f"stegavox: note: {cover}: applied EXIF orientation 6 (turned as viewers show it)"
    assert app.main(["capacity", "--cover", str(cover)]) == 0
    out, err = capsys.readouterr()
    assert [line for line in err.splitlines() if not PROGRESS_LINE.fullmatch(line)] == [note] and out.startswith("256x384")
    hide = ["hide", "--detectable-ok", "--audio", str(files["speech"]), "--cover", str(cover), "--out", str(stego)]
    assert app.main(hide) == 0
    assert note in capsys.readouterr().err.splitlines()
    assert Image.open(stego).size == (256, 384)


@pytest.mark.parametrize("given", [["--passphrase-file", "pass.txt"], ["--passphrase-file=pass.txt"]])
def test_a_command_without_passphrase_names_the_option_given(given: list[str], files, capsys) -> None:
    """``capacity --passphrase-file F`` answered "there is no --passphrase option"."""
    assert app.main(["capacity", "--cover", str(files["cover"]), *given]) == 2
    assert one_error_line(capsys) == "stegavox: error: capacity takes no passphrase: drop --passphrase-file"


def test_progress_lines_after_the_delay_and_none_with_quiet(files: dict[str, Path], tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(app.ProgressLine, "delay", 0.0)
    hide = ["hide", "--detectable-ok", "--audio", str(files["speech"]), "--cover", str(files["cover"])]
    assert app.main([*hide, "--out", str(tmp_path / "a.png")]) == 0
    progress = [line for line in capsys.readouterr().err.splitlines() if PROGRESS_LINE.fullmatch(line)]
    assert progress[0] == "stegavox: reading the cover   0%"
    assert "stegavox: embedding   0%" in progress and any(line.startswith("stegavox: checking the stego image") for line in progress)
    assert app.main([*hide, "--out", str(tmp_path / "b.png"), "--quiet"]) == 0
    assert not [line for line in capsys.readouterr().err.splitlines() if PROGRESS_LINE.fullmatch(line)]


def test_progress_on_a_terminal_is_one_line_cleared_at_the_end() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    line = app.ProgressLine(stream)
    line.delay = line.interval = 0.0
    line("embedding", 0.0)
    line("checking the stego image", 0.5)
    line.close()
    assert stream.getvalue() == "\r\x1b[Kstegavox: embedding   0%\r\x1b[Kstegavox: checking the stego image  50%\r\x1b[K"

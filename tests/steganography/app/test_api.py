"""The Python facade (``steganography.app.api``) and the platform options of the ``stegavox`` command."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from common import platforms
from common.errors import StegavoxError
from common.payload import codecs, crypto
from datamodules.sample_photos import photo_cover
from datamodules.synthetic import textured_cover
from steganography.app import api
from steganography.app import cli as app
from steganography.embedders import pipeline

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def telegram_hide(speech_like) -> api.HideOutcome:
    return api.hide(
        textured_cover(0, 360, 480), speech_like(0.5), PASSPHRASE, platform="telegram", sample_rate=16000, detectable_ok=True,
        crop_robust=True,
    )  # fmt: skip


def test_a_platform_design_checks_a_grid_shifting_crop_only_when_asked() -> None:
    cover = textured_cover(0, 360, 480)
    default, robust = api.design(cover, "telegram"), api.design(cover, "telegram", crop_robust=True)
    assert [channel.label for channel in default.channels] == [channel.label for channel in platforms.PROFILES["telegram"].check_channels()]
    assert [channel.crop for channel in robust.channels if channel not in default.channels] == [platforms.MISALIGNED_CROP]
    assert any(channel.crop for channel in default.channels)  # the aligned 16-px crop from every edge


def test_platform_designs_favour_changes_towards_zero_and_plain_hide_does_not() -> None:
    cover = textured_cover(0, 360, 480)
    embedder = api.design(cover, "whatsapp").embedder
    assert (embedder.step_multiple, embedder.shrink_bias) == (platforms.CLASSICAL_STEP_MULTIPLE, platforms.CLASSICAL_SHRINK_BIAS)
    assert all(variant.shrink_bias == platforms.CLASSICAL_SHRINK_BIAS for variant in embedder.gentler())
    assert api.design(cover).embedder.shrink_bias == 1.0


def test_hide_for_a_platform_checks_its_chains_and_crops(speech_like, telegram_hide: api.HideOutcome) -> None:
    report = telegram_hide.report
    assert report.platform == "telegram" and report.design_quality == 75
    assert report.stego_size == (480, 360) and report.output_format == "png"
    # auto: the first (best) codec whose file fits what capacity promises (the maximum: detectable_ok).
    fit = api.capacity(textured_cover(0, 360, 480), "telegram", crop_robust=True)["bytes"]
    import torch

    wave = torch.from_numpy(speech_like(0.5))[None]
    sizes = {}
    for codec, rate in api.AUTO_CODECS:
        sizes[codec, rate] = len(codecs.encode_audio(wave, 16000, codec, rate))
        if sizes[codec, rate] <= fit:
            break
    assert report.survives and (report.codec, report.bitrate) == (codec, rate) and len(sizes) > 1
    expected = {channel.label for channel in platforms.PROFILES["telegram"].check_channels(misaligned_crop=True)}
    assert set(report.bit_error_rates) == expected
    assert telegram_hide.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_auto_takes_the_next_codec_when_the_checked_image_asks_for_a_code_that_no_longer_fits(
    speech_like, telegram_hide: api.HideOutcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_hide, calls = pipeline.hide, []

    def refused_at_the_limit_once(cover, audio, *args, **kwargs):
        calls.append(len(audio))
        if len(calls) == 1:  # as hide refuses when the stego image's own check needs a stronger code
            raise pipeline.CoverTooSmallError("too long to hide covertly", len(audio) - 1, len(audio))
        return real_hide(cover, audio, *args, **kwargs)

    monkeypatch.setattr(pipeline, "hide", refused_at_the_limit_once)
    outcome = api.hide(
        textured_cover(0, 360, 480), speech_like(0.5), PASSPHRASE, platform="telegram", sample_rate=16000, detectable_ok=True,
        crop_robust=True,
    )  # fmt: skip
    first = api.AUTO_CODECS.index((telegram_hide.report.codec, telegram_hide.report.bitrate))
    assert (outcome.report.codec, outcome.report.bitrate) == api.AUTO_CODECS[first + 1]
    assert len(calls) == 2 and calls[1] <= calls[0]
    revealed = api.reveal(outcome.image, PASSPHRASE)
    assert revealed.codec == outcome.report.codec and len(revealed.audio_bytes) == outcome.report.audio_bytes == calls[1]


def test_reveal_needs_only_the_image_and_the_passphrase(telegram_hide: api.HideOutcome) -> None:
    sent = api.reveal(telegram_hide.image, PASSPHRASE)
    assert sent.codec == telegram_hide.report.codec
    # Forwarded twice inside the range; or cropped by a few pixels (crop_robust) and recompressed.
    for channel in (platforms.Channel((87, 80)), platforms.Channel((80,), (2, 7, 5, 1))):
        shared = channel.apply(telegram_hide.image)
        assert api.reveal(shared, PASSPHRASE).audio_bytes == sent.audio_bytes
    wave, rate = sent.decoded()
    assert rate == 16000 and wave.shape[-1] == int(0.5 * 16000)
    with pytest.raises(StegavoxError):
        api.reveal(shared, "wrong passphrase")


def test_reveal_wav_bytes_for_every_codec(speech_like) -> None:
    wave = speech_like(0.5)
    import torch

    for codec in ("pcm16", "flac", "opus", "codec2"):
        data = codecs.encode_audio(torch.from_numpy(wave)[None], 16000, codec)
        outcome = api.RevealOutcome(data, codec, codecs.encoded_sample_rate(codec, 16000), 0, 0.0)
        info = sf.info(io.BytesIO(outcome.wav_bytes()))
        assert info.format == "WAV" and info.subtype == "PCM_16" and info.channels == 1
        assert abs(info.frames / info.samplerate - 0.5) < 0.05, codec
    assert api.RevealOutcome(b"RIFFxx", "pcm16", 16000, 0, 0.0).wav_bytes() == b"RIFFxx"


def test_platform_resizes_and_writes_its_preferred_file(speech_like) -> None:
    outcome = api.hide(
        photo_cover("astronaut", 1000, 1500), speech_like(0.3), PASSPHRASE, platform="wechat", codec="codec2",
        sample_rate=16000, detectable_ok=True,
    )  # fmt: skip
    assert outcome.report.stego_size == (853, 1280) and outcome.report.design_quality == 45
    assert outcome.report.codec == "codec2" and any("resized" in line for line in outcome.report.notes)
    twitter = api.design(textured_cover(2, 300, 400), "twitter")
    assert twitter.output_format == "jpeg" and twitter.output_quality == 85
    assert all(channel.before == (85,) for channel in twitter.channels)


CODEC2_1200 = "codec2 1200 bit/s"


@pytest.mark.parametrize(
    ("seed", "size", "platform", "detectable_ok"),
    [(3, (400, 520), None, True), (8, (480, 360), "whatsapp", True), (5, (960, 1280), None, False)],
)
def test_capacity_is_what_hide_accepts(speech_like, seed: int, size: tuple[int, int], platform: str | None, detectable_ok: bool) -> None:
    """The campaign: capacity promised 0.7-1.9 % more than hide accepted, and refusals took minutes."""
    cover = textured_cover(seed, *size)
    figures = api.capacity(cover, platform)
    fit, seconds = (figures["bytes"], figures["seconds"]) if detectable_ok else (figures["covert_bytes"], figures["covert_seconds"])
    assert seconds[CODEC2_1200] > 0.5
    options = {"platform": platform, "codec": "codec2", "bitrate": 1200, "sample_rate": 16000, "detectable_ok": detectable_ok}
    stages: list[tuple[str, float]] = []
    # Codec2 is constant-rate: the longest audio capacity promises, less one 40 ms frame, is accepted.
    hidden = api.hide(cover, speech_like(seconds[CODEC2_1200] - 0.04), PASSPHRASE, progress=lambda *stage: stages.append(stage), **options)
    assert fit - 6 <= hidden.report.audio_bytes <= fit and hidden.report.survives
    assert {"embedding", "checking the stego image"} <= {stage for stage, _ in stages}
    assert all(0.0 <= fraction <= 1.0 for _, fraction in stages)
    # One frame more than fits is refused, with what fits.
    with pytest.raises(pipeline.CoverTooSmallError, match="the first") as refusal:
        api.hide(cover, speech_like(seconds[CODEC2_1200] + 0.08), PASSPHRASE, **options)
    assert refusal.value.fit_bytes == fit


def test_cli_platforms_hide_and_reveal_to_wav(speech_like, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", PASSPHRASE)
    assert app.main(["platforms"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in platforms.PROFILES)
    cover, speech = tmp_path / "cover.png", tmp_path / "speech.wav"
    textured_cover(4, 360, 480).save(cover)
    sf.write(speech, speech_like(0.5), 16000)
    stego = tmp_path / "stego.jpg"
    hide = ["hide", "--detectable-ok", "--audio", str(speech), "--cover", str(cover), "--platform", "twitter", "--codec", "codec2"]
    assert app.main(hide + ["--out", str(tmp_path / "stego.png")]) == 2  # twitter keeps a JPEG best
    assert ".jpg" in capsys.readouterr().err
    assert app.main(hide + ["--out", str(stego)]) == 0
    assert "checked" in capsys.readouterr().out
    with Image.open(stego) as image:
        assert image.format == "JPEG"
    shared = tmp_path / "shared.jpg"
    shared.write_bytes(platforms.jpeg_bytes(Image.open(stego), 85))
    out_wav, out_c2 = tmp_path / "out.wav", tmp_path / "out.c2"
    assert app.main(["reveal", "--stego", str(shared), "--out", str(out_wav)]) == 0
    assert app.main(["reveal", "--stego", str(shared), "--out", str(out_c2)]) == 0
    assert out_c2.read_bytes()[:3] == b"\xc0\xde\xc2"
    assert sf.info(out_wav).samplerate == 8000
    assert app.main(["reveal", "--stego", str(shared), "--out", str(tmp_path / "out.opus")]) == 2
    assert "out.c2" in capsys.readouterr().err


def test_cli_capacity_prints_covert_and_maximum_seconds_per_codec(tmp_path: Path, capsys) -> None:
    cover = tmp_path / "cover.png"
    textured_cover(7, 720, 960).save(cover)
    assert app.main(["capacity", "--cover", str(cover), "--platform", "whatsapp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    covert = int(lines[0].split("covert: ")[1].split("-> ")[1].split(" bytes")[0])
    fit = int(lines[0].split("maximum")[1].split("-> ")[1].split(" bytes")[0])
    assert 0 < covert < fit
    seconds = {line[:22].strip(): (float(line.split()[-2]), float(line.split()[-1])) for line in lines[2:]}
    assert {"opus 16 kbit/s", "opus 6 kbit/s", "codec2 1200 bit/s", "codec2 3200 bit/s", "flac"} <= set(seconds)
    # Codec2 is constant-rate: 1200 bit/s is 150 bytes a second after the 7-byte header.
    assert seconds["codec2 1200 bit/s"] == pytest.approx(((covert - 7) / 150, (fit - 7) / 150), rel=0.01)
    assert seconds["opus 6 kbit/s"][1] > seconds["opus 16 kbit/s"][1] > seconds["flac"][1]
    # Designed for a grid-shifting crop too: a stronger code, so fewer bytes (never more).
    assert app.main(["capacity", "--cover", str(cover), "--platform", "whatsapp", "--crop-robust"]) == 0
    robust = capsys.readouterr().out.splitlines()[0]
    t, robust_t = (int(line.split("BCH t=")[1].split()[0]) for line in (lines[0], robust))
    assert robust_t > t and int(robust.split("covert: ")[1].split("-> ")[1].split(" bytes")[0]) < covert


def test_capacity_error_says_which_codec_fits(speech_like, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", PASSPHRASE)
    cover, speech, out = tmp_path / "cover.png", tmp_path / "speech.wav", tmp_path / "stego.png"
    textured_cover(5, 256, 320).save(cover)
    sf.write(speech, speech_like(1.5), 16000)
    argv = ["hide", "--detectable-ok", "--audio", str(speech), "--cover", str(cover), "--out", str(out), "--platform", "whatsapp"]
    assert app.main(argv + ["--codec", "flac"]) == 2
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if not line.endswith("%")]
    assert len(lines) == 1 and "cover too small" in lines[0] and "all of it fits as codec2" in lines[0], lines
    assert not out.exists()


def test_method_detection() -> None:
    from steganography.embedders.classical import ClassicalEmbedder

    embedder = ClassicalEmbedder().keyed(crypto.embedding_seed(PASSPHRASE.encode()))
    cover = textured_cover(6, 256, 256)
    stego = embedder.embed(cover, np.ones(100, dtype=np.uint8))
    assert [type(e) for e in pipeline.candidate_embedders(stego, PASSPHRASE.encode())] == [ClassicalEmbedder]
    # The preamble is keyed: under another passphrase (or none) it is not there, as in a photo.
    assert embedder.read_preamble(stego) is not None and ClassicalEmbedder().read_preamble(stego) is None
    assert ClassicalEmbedder not in [type(e) for e in pipeline.candidate_embedders(stego, b"another passphrase")]
    soft = pipeline.extract_all(embedder, stego, min_bits=embedder.capacity_bits(256, 256) + 10)
    assert soft.size == embedder.capacity_bits(256, 256) + 10 and np.all(soft[:100] > 0) and not soft[-10:].any()


def test_cli_hide_for_any_platform_survives_unknown_resize_crop_and_chain(speech_like, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """``--platform any``: the canonical-grid hider, recorded in the header; reveal needs only the image."""
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", PASSPHRASE)
    cover, speech, stego = tmp_path / "cover.png", tmp_path / "speech.wav", tmp_path / "stego.png"
    textured_cover(8, 720, 1280).save(cover)
    sf.write(speech, speech_like(2.0), 16000)
    assert app.main(["platforms"]) == 0 and platforms.ANY_PLATFORM in capsys.readouterr().out
    hide = ["hide", "--audio", str(speech), "--cover", str(cover), "--platform", "any", "--out", str(stego)]
    # Steganalysis detects the canonical hider's images: without the flag, one line and no file.
    assert app.main(hide) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("stegavox: error: not covert: images of the canonical hider are detectable") and "--detectable-ok" in error
    assert not stego.exists()
    assert app.main([*hide, "--detectable-ok"]) == 0
    captured = capsys.readouterr()
    assert "for any platform (method canonical" in captured.out and "long side 1080 > 70" in captured.out
    assert "detectable:" in captured.out + captured.err
    with Image.open(stego) as image:
        assert image.size == (1280, 720)  # the cover keeps its size: the platform's is unknown
        shared = platforms.Channel((88, 72), crop=(9, 14, 0, 3), long_side=1150).apply(image.convert("RGB"))
    shared_path = tmp_path / "shared.jpg"
    shared_path.write_bytes(platforms.jpeg_bytes(shared, 90))
    out = tmp_path / "out.wav"
    assert app.main(["reveal", "--stego", str(shared_path), "--out", str(out)]) == 0
    assert "hidden by canonical" in capsys.readouterr().out and sf.info(out).duration == pytest.approx(2.0, abs=0.1)
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", "another passphrase")
    assert app.main(["reveal", "--stego", str(shared_path), "--out", str(tmp_path / "wrong.wav")]) == 3
    assert not (tmp_path / "wrong.wav").exists()


def test_capacity_for_any_platform_uses_the_canonical_hider() -> None:
    result = api.capacity(textured_cover(9, 720, 1280), "any")
    assert result["method"] == "canonical" and result["design_quality"] == platforms.UNKNOWN_QUALITY_RANGE[0]
    assert result["size"] == (1280, 720) and result["seconds"]["codec2 700 bit/s"] > 5.0
    assert result["covert_bits"] == result["covert_bytes"] == 0 < result["capacity_bits"]  # no covert capacity
    assert api.capacity(textured_cover(9, 400, 600), "any")["bytes"] == 0  # smaller than the canonical grid


def test_the_learned_hider_of_method_inn_is_detectable_only(speech_like) -> None:
    """Steganalysis tells its images from clean photos (P_E 0.008, docs/covertness.md): no covert
    capacity, and ``hide --method inn`` needs ``--detectable-ok``."""
    cover = textured_cover(10, 256, 320)
    result = api.capacity(cover, method="inn")
    assert result["method"] == "inn" and result["covert_bits"] == result["covert_bytes"] == 0 < result["capacity_bits"]
    with pytest.raises(pipeline.CoverTooSmallError, match="not covert: images of the inn hider are detectable") as info:
        api.hide(cover, speech_like(0.5), PASSPHRASE, method="inn", sample_rate=16000)
    assert info.value.exit_code == 2
    outcome = api.hide(cover, speech_like(0.5), PASSPHRASE, method="inn", sample_rate=16000, detectable_ok=True)
    assert api.reveal(outcome.image, PASSPHRASE).method == "inn"


def test_hide_for_a_platform_refuses_audio_that_cannot_fit_before_encoding_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_encoding(*args, **kwargs):
        raise AssertionError("encoded audio that cannot fit")

    monkeypatch.setattr(api, "_encode", no_encoding)
    long_speech = np.zeros(16000 * 300, dtype=np.float32)  # 5 min: 12 kB even at the lowest floor (FLAC)
    with pytest.raises(pipeline.CoverTooSmallError, match=r"300.0 s of speech need at least 12000 bytes with any codec") as info:
        api.hide(textured_cover(1, 360, 480), long_speech, PASSPHRASE, platform="whatsapp", sample_rate=16000, detectable_ok=True)
    assert info.value.fit_bytes < 12000 and info.value.exit_code == 2


@pytest.mark.parametrize("typed", ["pass\n", "pass\r\n", "cafe\u0301"])
def test_api_and_cli_derive_the_same_key(typed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API kept a trailing newline that the command line strips: two keys for one passphrase."""
    path = tmp_path / "pass.txt"
    path.write_bytes(typed.encode())
    monkeypatch.setenv("STEGAVOX_PASSPHRASE", typed)
    cli = {crypto.read_passphrase(None), crypto.read_passphrase(str(path))}
    python = {api._as_passphrase(typed), api._as_passphrase(typed.encode())}
    assert len(cli | python) == 1
    assert len({crypto.frame_keys(secret) for secret in cli | python | {typed.encode()}}) == 1
    with pytest.raises(StegavoxError, match="empty"):
        api._as_passphrase("\r\n")

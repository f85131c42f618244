import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from common.audio import load_audio, save_audio
from common.errors import InputError
from common.image import jpeg_roundtrip, load_image, open_image, tensor_to_pil
from common.metrics import pesq_wb, psnr, snr, ssim, talker_rejection


def test_load_audio_mixes_to_mono_and_resamples(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    sf.write(tmp_path / "a.wav", stereo, 44100)
    wave, rate = load_audio(tmp_path / "a.wav", sample_rate=16000)
    assert rate == 16000 and wave.shape == (1, 16000)
    assert abs(wave.abs().max().item() - 0.5) < 0.02


def test_save_and_load_flac_round_trip(tmp_path):
    wave = torch.randn(1, 8000).clamp(-1, 1) * 0.3
    save_audio(tmp_path / "x.flac", wave, 8000, subtype="PCM_16")
    loaded, rate = load_audio(tmp_path / "x.flac")
    assert rate == 8000
    assert (loaded - wave).abs().max() < 1e-4


@pytest.mark.parametrize(
    "content, message",
    [(None, "not found"), (b"RIFF garbage", "not a readable audio"), ("empty", "empty"), ("nan", "NaN")],
)
def test_load_audio_errors(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content == "empty":
        sf.write(path, np.zeros((0, 1)), 16000)
    elif content == "nan":
        sf.write(path, np.array([0.0, np.nan, 0.1]), 16000, subtype="FLOAT")
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_audio(path)


def test_image_load_and_errors(tmp_path):
    array = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    Image.fromarray(array).save(tmp_path / "x.png")
    image = load_image(tmp_path / "x.png")
    assert image.shape == (3, 20, 30) and image.dtype == torch.float32
    assert np.array_equal(np.asarray(tensor_to_pil(image)), array)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match="not a readable image"):
        open_image(tmp_path / "bad.png")
    Image.fromarray((np.arange(400).reshape(20, 20) * 100).astype(np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(InputError, match="8-bit"):
        open_image(tmp_path / "deep.png")


def test_jpeg_roundtrip_is_lossy_but_close():
    array = (np.random.default_rng(1).random((64, 64, 3)) * 64 + 96).astype(np.uint8)
    out = np.asarray(jpeg_roundtrip(Image.fromarray(array), 75), dtype=np.int16)
    assert out.shape == array.shape
    assert 0 < np.abs(out - array).mean() < 20


def test_metrics():
    reference = torch.randn(2, 1000)
    noisy = reference + 0.1 * torch.randn(2, 1000)
    assert torch.allclose(snr(noisy, reference), torch.full((2,), 20.0), atol=1.0)
    image = torch.rand(1, 3, 32, 32)
    assert psnr(image, image) > 80 and ssim(image, image) > 0.999
    assert torch.isnan(pesq_wb(torch.zeros(1, 16000), torch.randn(1, 16000))).all()


def test_talker_rejection_scores_what_is_removed_where():
    """Target speaks in the first half, a talker in the second, noise throughout (B=2 signals)."""
    generator = torch.Generator().manual_seed(0)
    half = 8000
    target = torch.cat([torch.randn(2, half, generator=generator), torch.zeros(2, half)], dim=-1)
    talker = torch.cat([torch.zeros(2, half), 0.5 * torch.randn(2, half, generator=generator)], dim=-1)
    noise = 0.01 * torch.randn(2, 2 * half, generator=generator)
    mixture = target + talker + noise

    def rejection(estimate, talker=talker):
        return talker_rejection(estimate, target, talker, noise, mixture)

    assert rejection(mixture).abs().max() < 1e-4  # the input itself
    assert rejection(0.1 * mixture).abs().max() < 1e-4  # a gain is no rejection
    assert rejection(target + talker).abs().max() < 0.1  # removing the noise alone
    lowered = rejection(target + 0.1 * talker + noise)  # talker -20 dB; the noise left bounds it
    assert ((lowered > 19.0) & (lowered <= 20.0)).all()
    assert torch.isnan(rejection(mixture, talker=torch.zeros_like(talker))).all()  # no talker: no score


def test_decompression_bomb_guard_is_strict(tmp_path, monkeypatch):
    import common.image

    Image.new("RGB", (15, 10)).save(tmp_path / "big.png")
    monkeypatch.setattr(common.image, "MAX_PIXELS", 100)  # 150 pixels: Pillow would only warn
    with pytest.raises(InputError, match=r"too large \(15x10 = 0\.0 megapixels"):
        open_image(tmp_path / "big.png")


def test_unreadable_audio_is_one_clear_error_and_nothing_on_stderr(tmp_path, capfd):
    """Random bytes behind an MPEG sync word: libsndfile said "File does not exist ... (possibly a
    pipe?)" and its MPEG decoder printed resync notes on stderr."""
    from common.audio import audio_seconds

    path = tmp_path / "noise.mp3"
    path.write_bytes(b"\xff\xfb" + np.random.default_rng(3).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError) as info:
        load_audio(path)
    assert str(info.value) == f"{path}: not a readable audio file (unsupported format or corrupt data)"
    assert audio_seconds(path) is None
    assert capfd.readouterr().err == ""


def test_open_image_applies_exif_orientation_with_a_note(tmp_path):
    stored = Image.fromarray((np.random.default_rng(0).random((20, 40, 3)) * 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    notes = []
    upright = open_image(tmp_path / "phone.jpg", note=notes.append)
    assert upright.size == (20, 40)
    assert notes == [f"{tmp_path / 'phone.jpg'}: applied EXIF orientation 6 (turned as viewers show it)"]
    raw = open_image(tmp_path / "phone.jpg", exif_orientation=False)
    assert raw.size == (40, 20)
    assert np.array_equal(np.asarray(upright), np.asarray(raw.transpose(Image.Transpose.ROTATE_270)))
    stored.save(tmp_path / "plain.jpg", quality=95)
    open_image(tmp_path / "plain.jpg", note=notes.append)
    assert len(notes) == 1

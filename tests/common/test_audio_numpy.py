"""The application's torch-free audio path: reading and resampling with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from common.audio import load_audio, load_audio_array, read_audio, resample, resample_array
from common.errors import InputError


@pytest.mark.parametrize(("orig", "new"), [(16000, 8000), (44100, 16000), (48000, 16000), (8000, 16000), (22050, 16000)])
def test_resample_array_follows_torchaudio(orig: int, new: int) -> None:
    torch = pytest.importorskip("torch")
    wave = (0.3 * np.random.default_rng(0).standard_normal((2, orig // 2 + 7))).astype(np.float32)
    ours = resample_array(wave, orig, new)
    theirs = resample(torch.from_numpy(wave), orig, new).numpy()
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    # The same filter: only rounding apart (torchaudio builds it in float32).
    assert np.abs(ours - theirs).max() < 1e-4
    assert resample(wave, orig, new) is not wave and np.array_equal(resample(wave, orig, new), ours)


def test_resample_array_keeps_a_tone_and_removes_what_cannot_exist() -> None:
    time = np.arange(48000) / 48000
    wave = (0.5 * np.sin(2 * np.pi * 440 * time) + 0.3 * np.sin(2 * np.pi * 12000 * time)).astype(np.float32)
    down = resample_array(wave, 48000, 16000)
    spectrum = np.abs(np.fft.rfft(down[1000:-1000] * np.hanning(down.size - 2000)))
    frequencies = np.fft.rfftfreq(down.size - 2000, 1 / 16000)
    assert abs(frequencies[spectrum.argmax()] - 440) < 5
    assert resample_array(wave, 16000, 16000) is wave


def test_load_audio_array_matches_load_audio(tmp_path) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "stereo.wav"
    sf.write(path, (0.2 * np.random.default_rng(1).standard_normal((4410, 2))).astype(np.float32), 44100)
    for mono in (True, False):
        array, rate = load_audio_array(path, 16000, mono=mono)
        tensor, same_rate = load_audio(path, 16000, mono=mono)
        assert rate == same_rate == 16000 and array.shape == tuple(tensor.shape)
        assert np.abs(array - tensor.numpy()).max() < 1e-4
    raw, rate = read_audio(path)
    assert rate == 44100 and raw.shape == (2, 4410) and raw.dtype == np.float32
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(2).bytes(4000))
    with pytest.raises(InputError, match="not a readable audio file"):
        read_audio(tmp_path / "noise.wav")

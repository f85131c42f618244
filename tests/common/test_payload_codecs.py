from __future__ import annotations

import io
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from common.errors import InputError
from common.payload.codecs import (
    CODECS,
    decode_audio,
    decode_audio_array,
    encode_audio,
    encoded_sample_rate,
    estimate_bytes_per_second,
    file_extension,
    max_duration_seconds,
)


def tone(sample_rate: int, seconds: float = 0.5, channels: int = 1) -> torch.Tensor:
    time = torch.arange(int(sample_rate * seconds)) / sample_rate
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(channels, len(time), generator=generator)
    wave = 0.4 * torch.sin(2 * math.pi * 220 * time) + 0.01 * noise
    return wave.float()


@pytest.mark.parametrize("codec", [codec for codec in CODECS if codec != "codec2"])  # codec2: test_payload_codec2.py
def test_encode_decode_each_codec(codec: str) -> None:
    wave = tone(16000, channels=2)
    data = encode_audio(wave, 16000, codec)
    decoded, sample_rate = decode_audio(data)
    assert sample_rate == 16000
    assert decoded.shape[0] == 2
    assert abs(decoded.shape[1] - wave.shape[1]) <= 0.05 * wave.shape[1]
    info = sf.info(io.BytesIO(data))
    assert info.format == {"pcm16": "WAV", "flac": "FLAC", "opus": "OGG"}[codec]
    if codec != "opus":  # lossless up to 16-bit quantisation
        assert torch.allclose(decoded, wave, atol=1 / 32767)


def test_opus_resamples_to_a_supported_rate() -> None:
    assert encoded_sample_rate("opus", 44100) == 48000
    assert encoded_sample_rate("opus", 22050) == 24000
    assert encoded_sample_rate("flac", 44100) == 44100
    _, sample_rate = decode_audio(encode_audio(tone(44100, 0.2), 44100, "opus"))
    assert sample_rate == 48000


def test_opus_bitrate_controls_size() -> None:
    wave = tone(16000, 2.0)
    small = len(encode_audio(wave, 16000, "opus", bitrate_kbps=8))
    large = len(encode_audio(wave, 16000, "opus", bitrate_kbps=48))
    assert small < 0.5 * large


def test_out_of_range_samples_are_clipped_not_wrapped() -> None:
    wave = torch.full((1, 1000), 1.5)
    decoded, _ = decode_audio(encode_audio(wave, 16000, "pcm16"))
    assert decoded.min() > 0.99


@pytest.mark.parametrize(
    ("wave", "codec", "bitrate"),
    [
        (torch.zeros(1, 0), "pcm16", None),
        (torch.full((1, 100), float("nan")), "flac", None),
        (torch.zeros(1, 100), "mp3", None),
        (torch.zeros(1, 100), "flac", 32),
        (torch.zeros(1, 100), "opus", 1000),
    ],
)
def test_bad_input_raises_input_error(wave: torch.Tensor, codec: str, bitrate: int | None) -> None:
    with pytest.raises(InputError):
        encode_audio(wave, 16000, codec, bitrate)


def test_decode_rejects_non_audio() -> None:
    with pytest.raises(InputError):
        decode_audio(b"not audio at all")


def test_file_extension() -> None:
    assert [file_extension(codec) for codec in CODECS] == [".wav", ".flac", ".opus", ".c2"]


def test_size_estimates() -> None:
    assert estimate_bytes_per_second("pcm16", 16000, 2) == 64000
    flac = estimate_bytes_per_second("flac", 16000, 1)
    assert 0 < flac < 32000
    opus = estimate_bytes_per_second("opus", 16000, 1, 16)
    assert 0.5 * 2000 < opus < 1.5 * 2000  # 16 kbit/s VBR target
    header = len(encode_audio(torch.zeros(1, 1), 16000, "pcm16")) - 2  # WAV header bytes
    assert max_duration_seconds(header + 3 * 32000, "pcm16", 16000, 1) == pytest.approx(3.0)
    assert max_duration_seconds(10, "opus", 16000, 1, 16) == 0


@pytest.mark.parametrize("codec", CODECS)
def test_decoding_is_a_function_of_the_bytes(codec: str) -> None:
    """Codec2 decoded the same bytes to other samples the second time in one process."""
    if codec == "codec2":
        pytest.importorskip("pycodec2")
    data = encode_audio(tone(16000, seconds=1.0), 16000, codec)
    first, rate = decode_audio(data, codec)
    again, same_rate = decode_audio(data, codec)
    assert rate == same_rate and first.abs().max() > 0.01
    assert torch.equal(first, again)
    array, array_rate = decode_audio_array(data, codec)
    assert array_rate == rate and array.dtype == np.float32 and np.array_equal(array, first.numpy())


def test_numpy_and_tensor_waves_encode_alike() -> None:
    """The encoders take numpy arrays (the application's path, without torch) and tensors."""
    wave = tone(16000, seconds=0.5, channels=2)
    for codec in ("pcm16", "flac"):
        assert encode_audio(wave.numpy(), 16000, codec) == encode_audio(wave, 16000, codec)
    assert encode_audio(wave[0].numpy(), 16000, "pcm16") == encode_audio(wave[:1], 16000, "pcm16")
    # Resampled with numpy (torchaudio's filter): 44.1 kHz FLAC to Opus at 48 kHz.
    decoded, rate = decode_audio_array(encode_audio(tone(44100, 0.3).numpy(), 44100, "opus"))
    assert rate == 48000 and decoded.shape == (1, round(0.3 * 48000))

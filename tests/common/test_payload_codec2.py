from __future__ import annotations

import numpy as np
import pytest
import torch

from common.errors import InputError
from common.payload import codecs

pytest.importorskip("pycodec2")


def speech(seconds: float) -> torch.Tensor:
    t = torch.arange(int(seconds * 16000)) / 16000
    wave = sum(torch.sin(2 * torch.pi * 140 * k * t) / k for k in range(1, 8)) * (0.3 + 0.2 * torch.sin(2 * torch.pi * 3 * t))
    return (0.2 * wave)[None, :]


@pytest.mark.parametrize("bitrate", sorted(codecs.CODEC2_MODES))
def test_codec2_file_round_trip_and_size(bitrate: int) -> None:
    data = codecs.encode_audio(speech(2.0), 16000, "codec2", bitrate)
    assert data[:3] == b"\xc0\xde\xc2" and data[5] == codecs.CODEC2_MODES[bitrate]
    # Constant bitrate: the 7-byte header, then whole frames of whole bytes (700 and 1300 bit/s
    # pad their 28- and 52-bit frames to 4 and 7 bytes).
    import pycodec2

    coder = pycodec2.Codec2(bitrate)
    frames = -(-16000 // coder.samples_per_frame())  # 2 s at 8 kHz
    assert len(data) == 7 + frames * coder.bytes_per_frame()
    assert bitrate / 8 <= coder.bytes_per_frame() * 8000 / coder.samples_per_frame() < bitrate / 8 * 1.2
    wave, rate = codecs.decode_audio(data)
    assert rate == 8000 and wave.shape[0] == 1 and abs(wave.shape[1] - 16000) <= 320
    assert float(wave.abs().max()) > 0.01  # speech, not silence
    assert codecs.decode_audio(data, "codec2")[0].shape == wave.shape


def test_codec2_metadata_and_errors() -> None:
    assert "codec2" in codecs.CODECS and codecs.file_extension("codec2") == ".c2"
    assert codecs.encoded_sample_rate("codec2", 16000) == 8000
    assert codecs.codec_available("codec2") and codecs.codec_available("opus")
    with pytest.raises(InputError, match="bit/s"):
        codecs.encode_audio(speech(0.5), 16000, "codec2", 1000)
    with pytest.raises(InputError, match="codec2"):
        codecs.decode_audio(b"\xc0\xde\xc2\x01\x00\x63\x00")
    with pytest.raises(InputError, match="truncated"):
        codecs.decode_audio(codecs.encode_audio(speech(0.5), 16000, "codec2", 1200)[:-1])
    # The size model the capacity report uses: 1200 bit/s is 150 bytes per second.
    rate = codecs.estimate_bytes_per_second("codec2", 8000, 1, 1200)
    assert rate == pytest.approx(150.0, rel=0.02)
    assert codecs.max_duration_seconds(9007, "codec2", 8000, 1, 1200) == pytest.approx(60.0, rel=0.02)
    assert np.isfinite(codecs.max_duration_seconds(100, "codec2", 8000, 1, None))

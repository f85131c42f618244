"""Audio codecs for the payload: complete WAV (PCM16), FLAC, Ogg-Opus (soundfile) or Codec2 files as bytes.

Codec2 (``pycodec2``, which bundles libcodec2: 700-3200 bit/s narrow-band speech at 8 kHz) is
written as a ``.c2`` file: the 7-byte header of codec2's own ``c2enc`` tool (magic C0 DE C2,
version, mode, flags) and the raw frames.

The bytes produced here are what the receiver writes out, bit for bit; nothing is decoded and
re-encoded on the way. Encoding and decoding work on numpy arrays (resampling by
:func:`common.audio.resample_array`) and never import torch; :func:`decode_audio` alone hands
back a tensor, for callers that want one.
"""

from __future__ import annotations

import functools
import io
import subprocess
import sys
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from common.errors import InputError
from common.settings import SPEECH_SAMPLE_RATE

if TYPE_CHECKING:  # only decode_audio imports torch (to hand back a tensor)
    import torch

CODECS = ("pcm16", "flac", "opus", "codec2")

#: Codec2 bitrates (bit/s) and the mode numbers of codec2's ``.c2`` file header.
CODEC2_MODES = {3200: 0, 2400: 1, 1600: 2, 1400: 3, 1300: 4, 1200: 5, 700: 8}
#: Codec2 bitrate when none is given.
DEFAULT_CODEC2_BITRATE = 1600
CODEC2_SAMPLE_RATE = 8000
_CODEC2_MAGIC = b"\xc0\xde\xc2"
_CODEC2_VERSION = (1, 0)

#: Sample rates libopus accepts; other rates are resampled to the next one up (48 kHz at most).
OPUS_SAMPLE_RATES = (8000, 12000, 16000, 24000, 48000)
#: Opus bitrate when none is given (total over channels): good wideband speech at small size.
DEFAULT_OPUS_BITRATE_KBPS = 16
#: libsndfile maps its compression level q in [0, 1] to an Opus target bitrate of
#: ``(6000 + 250000 * (1 - q)) * channels`` bit/s, so per channel 6 to 256 kbit/s are reachable.
_OPUS_KBPS_PER_CHANNEL_RANGE = (6.0, 256.0)

_SOUNDFILE_FORMATS = {"pcm16": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "opus": ("OGG", "OPUS")}
_EXTENSIONS = {"pcm16": ".wav", "flac": ".flac", "opus": ".opus", "codec2": ".c2"}
#: Durations (s) of the synthetic utterance encoded by :func:`estimate_bytes_per_second`.
_ESTIMATE_SECONDS = (2.0, 6.0)
#: The utterance is synthesised once at this rate (always the same call) and then resampled.
_ESTIMATE_SYNTHESIS_RATE = SPEECH_SAMPLE_RATE


def _check_codec(codec: str) -> None:
    if codec not in CODECS:
        raise InputError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")


def file_extension(codec: str) -> str:
    """File suffix (with the dot) of ``codec``'s files: ``.wav``, ``.flac``, ``.opus`` or ``.c2``."""
    _check_codec(codec)
    return _EXTENSIONS[codec]


def encoded_sample_rate(codec: str, sample_rate: int) -> int:
    """Sample rate the encoded file will have: unchanged, except Opus's next supported rate up
    and Codec2's 8 kHz."""
    _check_codec(codec)
    if codec == "codec2":
        return CODEC2_SAMPLE_RATE
    if codec != "opus":
        return sample_rate
    return next((rate for rate in OPUS_SAMPLE_RATES if rate >= sample_rate), OPUS_SAMPLE_RATES[-1])


def _opus_compression_level(bitrate_kbps: float, channels: int) -> float:
    low, high = _OPUS_KBPS_PER_CHANNEL_RANGE
    per_channel = bitrate_kbps / channels
    if not low <= per_channel <= high:
        raise InputError(
            f"opus bitrate {bitrate_kbps} kbit/s for {channels} channel(s) is outside "
            f"{low:g}-{high:g} kbit/s per channel"
        )
    return 1.0 - (per_channel - low) / (high - low)


def _as_samples(wave) -> np.ndarray:
    """``wave`` (numpy array or torch tensor, ``(channels, samples)`` or ``(samples,)``) as a
    float32 numpy array ``(channels, samples)``, without importing torch."""
    if hasattr(wave, "detach"):  # a torch tensor (torch is already imported by whoever made it)
        wave = wave.detach().cpu().float().numpy()
    samples = np.asarray(wave, dtype=np.float32)
    return samples[None, :] if samples.ndim == 1 else samples


def encode_audio(
    wave,
    sample_rate: int,
    codec: str,
    bitrate_kbps: int | None = None,
) -> bytes:
    """Encode ``wave`` into the complete bytes of an audio file.

    Samples are clipped to [-1, 1] (PCM16 would wrap around otherwise). Opus is resampled to
    :func:`encoded_sample_rate`; its bitrate is set through libsndfile's compression level, a
    VBR target (libsndfile 1.2 rejects ``bitrate_mode`` for Opus, so CBR is not available). FLAC
    uses the strongest compression level. Resampling is :func:`common.audio.resample_array`
    (numpy: no torch is imported).

    Args:
        wave: float waveform ``(channels, samples)`` (or ``(samples,)`` for mono), a numpy
            array or a torch tensor.
        sample_rate: rate of ``wave`` in Hz.
        codec: one of :data:`CODECS`.
        bitrate_kbps: Opus target bitrate over all channels (default
            :data:`DEFAULT_OPUS_BITRATE_KBPS`); only valid for ``opus``.

    Returns:
        The file's bytes (WAV, FLAC, or Ogg-Opus).

    Raises:
        InputError: unknown codec, empty or non-finite audio, bitrate for a lossless codec or
            out of range, or a file soundfile cannot write.
    """
    from common.audio import resample_array

    _check_codec(codec)
    if bitrate_kbps is not None and codec not in ("opus", "codec2"):
        raise InputError(f"a bitrate applies to opus and codec2 only, not to {codec}")
    samples = _as_samples(wave)
    if samples.ndim != 2 or samples.size == 0:
        raise InputError("audio is empty or not shaped (channels, samples)")
    if not np.isfinite(samples).all():
        raise InputError("audio contains NaN or infinite samples")
    file_rate = encoded_sample_rate(codec, sample_rate)
    samples = np.clip(resample_array(samples, sample_rate, file_rate), -1.0, 1.0)
    if codec == "codec2":
        return _encode_codec2(samples, bitrate_kbps or DEFAULT_CODEC2_BITRATE)
    file_format, subtype = _SOUNDFILE_FORMATS[codec]
    if codec == "opus":
        level = _opus_compression_level(bitrate_kbps or DEFAULT_OPUS_BITRATE_KBPS, samples.shape[0])
    else:
        level = 1.0 if codec == "flac" else None
    buffer = io.BytesIO()
    try:
        sf.write(buffer, samples.T, file_rate, subtype=subtype, format=file_format, compression_level=level)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise InputError(f"cannot encode audio as {codec}: {err}") from err
    return buffer.getvalue()


def codec_available(codec: str) -> bool:
    """Whether ``codec`` can be encoded here (Codec2 needs the ``pycodec2`` package)."""
    _check_codec(codec)
    if codec != "codec2":
        return True
    try:
        import pycodec2  # noqa: F401
    except ImportError:
        return False
    return True


def _codec2(bitrate: int):
    try:
        import pycodec2
    except ImportError:
        raise InputError("codec2 needs the pycodec2 package (pip install pycodec2)") from None
    if bitrate not in CODEC2_MODES:
        raise InputError(f"codec2 bitrate {bitrate} bit/s is not one of {', '.join(map(str, CODEC2_MODES))}")
    return pycodec2.Codec2(bitrate)


def _encode_codec2(samples: np.ndarray, bitrate: int) -> bytes:
    """A ``.c2`` file of mono 8 kHz float32 ``samples`` ``(1, n)`` (Codec2 is mono only)."""
    coder = _codec2(bitrate)
    if samples.shape[0] != 1:
        raise InputError("codec2 encodes mono audio only")
    pcm = np.round(samples[0] * np.float32(32767.0)).astype(np.int16)
    frame = coder.samples_per_frame()
    pcm = np.concatenate([pcm, np.zeros(-pcm.size % frame, dtype=np.int16)])
    header = _CODEC2_MAGIC + bytes([*_CODEC2_VERSION, CODEC2_MODES[bitrate], 0])
    return header + b"".join(coder.encode(pcm[start : start + frame]) for start in range(0, pcm.size, frame))


#: Run by :func:`_decode_codec2` in a fresh interpreter (``-I``: nothing from the working folder or
#: the environment); argv: the bitrate, then the caller's ``sys.path``; stdin: frames; stdout: PCM.
_CODEC2_DECODER = """\
import sys
sys.path[:] = sys.argv[2:]
from common.payload.codecs import _codec2_pcm
sys.stdout.buffer.write(_codec2_pcm(int(sys.argv[1]), sys.stdin.buffer.read()))
"""


def _codec2_pcm(bitrate: int, frames: bytes) -> bytes:
    """16-bit PCM of whole codec2 ``frames`` (run in a fresh interpreter by :func:`_decode_codec2`)."""
    coder = _codec2(bitrate)
    size = coder.bytes_per_frame()
    return b"".join(coder.decode(frames[start : start + size]).tobytes() for start in range(0, len(frames), size))


def _decode_codec2(data: bytes) -> tuple[np.ndarray, int]:
    """Samples ``(1, n)`` float32 of a ``.c2`` file, a function of its bytes alone.

    libcodec2's decoder draws phases from one random generator per process (``codec2_rand``,
    which nothing resets), so a second decoding in the same process gives other samples; each
    file is therefore decoded in a fresh interpreter (about 0.2 s).

    Raises:
        InputError: a bad header or a truncated frame.
        RuntimeError: the decoding process failed.
    """
    modes = {mode: bitrate for bitrate, mode in CODEC2_MODES.items()}
    if len(data) < 7 or data[:3] != _CODEC2_MAGIC or data[5] not in modes:
        raise InputError("not a readable codec2 file (bad header)")
    bitrate, frames = modes[data[5]], data[7:]
    if len(frames) % _codec2(bitrate).bytes_per_frame():
        raise InputError("not a readable codec2 file (truncated frame)")
    command = [sys.executable, "-I", "-c", _CODEC2_DECODER, str(bitrate), *sys.path]
    result = subprocess.run(command, input=frames, capture_output=True, check=False)
    if result.returncode:
        reason = (result.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the codec2 decoding process failed: {reason}")
    array = np.frombuffer(result.stdout, dtype=np.int16).astype(np.float32) / 32768.0
    return array[None, :], CODEC2_SAMPLE_RATE


def decode_audio_array(data: bytes, codec: str | None = None) -> tuple[np.ndarray, int]:
    """Decode audio file bytes into float32 numpy ``(channels, samples)`` and the sample rate
    (no torch; a pure function of the bytes).

    ``codec`` (or the file's ``.c2`` magic) selects the Codec2 decoder; everything else is read
    by soundfile.

    Raises:
        InputError: the bytes are not an audio file soundfile can read.
    """
    if codec == "codec2" or (codec is None and data[:3] == _CODEC2_MAGIC):
        return _decode_codec2(data)
    try:
        array, sample_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise InputError(f"not a readable audio file: {err}") from err
    return np.ascontiguousarray(array.T), sample_rate


def decode_audio(data: bytes, codec: str | None = None) -> tuple[torch.Tensor, int]:
    """:func:`decode_audio_array` as a float32 tensor ``(channels, samples)`` (imports torch).

    Raises:
        InputError: the bytes are not an audio file soundfile can read.
    """
    import torch

    array, sample_rate = decode_audio_array(data, codec)
    return torch.from_numpy(array), sample_rate


@functools.lru_cache(maxsize=1)
def _estimate_utterance() -> tuple[np.ndarray, dict]:
    """The synthetic utterance of the size model and the generator state after it (synthesised once)."""
    from common.speech_synthesis import synthesise_speech  # scipy.signal: only when estimating sizes

    rng = np.random.default_rng(1)
    num_samples = int(_ESTIMATE_SECONDS[1] * _ESTIMATE_SYNTHESIS_RATE)
    speech = synthesise_speech(rng, num_samples, _ESTIMATE_SYNTHESIS_RATE, f0_range=(100.0, 150.0))
    speech.flags.writeable = False
    return speech, rng.bit_generator.state


@functools.lru_cache(maxsize=64)
def _measured_size_model(
    codec: str, sample_rate: int, channels: int, bitrate_kbps: int | None
) -> tuple[float, float]:
    """(bytes per second, fixed bytes) of ``codec`` on a synthetic utterance (Codec2: exact, from its frame size)."""
    if codec == "codec2":
        coder = _codec2(bitrate_kbps or DEFAULT_CODEC2_BITRATE)
        return coder.bytes_per_frame() * CODEC2_SAMPLE_RATE / coder.samples_per_frame(), 7.0
    from common.audio import resample_array

    short_seconds, long_seconds = _ESTIMATE_SECONDS
    speech, state = _estimate_utterance()
    rng = np.random.default_rng(1)
    rng.bit_generator.state = state
    speech = resample_array(speech[None, :], _ESTIMATE_SYNTHESIS_RATE, sample_rate)
    noise_floor = rng.standard_normal((channels, speech.shape[-1])).astype(np.float32)
    wave = speech + np.float32(1e-4) * noise_floor
    short_wave = wave[:, : int(short_seconds * sample_rate)]
    short = len(encode_audio(short_wave, sample_rate, codec, bitrate_kbps))
    full = len(encode_audio(wave, sample_rate, codec, bitrate_kbps))
    rate = (full - short) / (long_seconds - short_seconds)
    return rate, max(short - rate * short_seconds, 0.0)


def estimate_bytes_per_second(
    codec: str,
    sample_rate: int,
    channels: int,
    bitrate_kbps: int | None = None,
) -> float:
    """Growth of the encoded file per second of speech, in bytes.

    Measured, not computed from nominal rates: a deterministic synthetic utterance (glottal
    pulses at 100-150 Hz through moving vowel formants, fricatives and pauses from
    :func:`common.speech_synthesis.synthesise_speech` at 16 kHz, resampled to ``sample_rate``, plus
    a -80 dBFS noise floor per channel) is encoded for 2 s and 6 s; the slope between the two
    sizes is returned, so the fixed file header does not inflate it (see
    :func:`max_duration_seconds`). Exact for ``pcm16``; for
    ``flac`` and ``opus`` (VBR) a real recording may be somewhat larger or smaller, so senders
    should check the actual encoded size. Cached per argument set.
    """
    _check_codec(codec)
    return _measured_size_model(codec, sample_rate, channels, bitrate_kbps)[0]


def max_duration_seconds(
    capacity_bytes: int,
    codec: str,
    sample_rate: int,
    channels: int,
    bitrate_kbps: int | None = None,
) -> float:
    """Seconds of speech whose encoded file fits in ``capacity_bytes`` (0 if not even the header).

    Uses the same measurement as :func:`estimate_bytes_per_second`, including the file's fixed
    header bytes (about 1 kB for Ogg-Opus, whose comment header libsndfile pads to 512 bytes).
    """
    _check_codec(codec)
    rate, fixed = _measured_size_model(codec, sample_rate, channels, bitrate_kbps)
    return max(capacity_bytes - fixed, 0.0) / rate

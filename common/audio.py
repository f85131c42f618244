"""Audio I/O (soundfile), resampling and mono/level helpers.

The application's audio path (read, mix down, resample, encode, decode) works on numpy arrays and
never imports torch: :func:`read_audio`, :func:`load_audio_array` and :func:`resample` of an
array. Tensors (training, the enhancer) are resampled by torchaudio with the same filter.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from common.errors import InputError

if TYPE_CHECKING:  # torch is imported where waves are made: reading a file's header does without it
    import torch

#: What soundfile raises for a file it cannot read.
_READ_ERRORS = (sf.LibsndfileError, RuntimeError, TypeError, ValueError)


@contextlib.contextmanager
def _native_stderr_discarded() -> Iterator[None]:
    """Discard what native code writes to file descriptor 2 during the block: libsndfile's MPEG
    decoder (mpg123) prints resync notes there while it probes a file that is not audio."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to keep clean
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


#: torchaudio's ``resample`` defaults (``sinc_interp_hann``), which :func:`resample_array` follows.
LOWPASS_FILTER_WIDTH = 6
ROLLOFF = 0.99


@functools.lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int) -> tuple[np.ndarray, int]:
    """torchaudio's windowed-sinc polyphase filter from ``orig`` to ``new`` (rates divided by
    their gcd): ``(new, 2 * width + orig)`` taps, computed in float64, and ``width``."""
    base = min(orig, new) * ROLLOFF
    width = math.ceil(LOWPASS_FILTER_WIDTH * orig / base)
    index = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    t = (np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + index) * base
    t = np.clip(t, -LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH)
    window = np.cos(t * math.pi / LOWPASS_FILTER_WIDTH / 2) ** 2
    t *= math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(t == 0, 1.0, np.sin(t) / t)
    kernel *= window * base / orig
    kernel.flags.writeable = False
    return kernel, width


def resample_array(wave: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited resampling of a float array ``(..., samples)`` with numpy: torchaudio's
    ``resample`` (windowed sinc, Hann window, 6 zero crossings, roll-off 0.99; same filter, same
    output length) without torch; float32 out for float32 in. Identity when the rates match."""
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError("sample rates must be positive")
    wave = np.asarray(wave)
    if orig_sr == new_sr:
        return wave
    gcd = math.gcd(int(orig_sr), int(new_sr))
    orig, new = int(orig_sr) // gcd, int(new_sr) // gcd
    kernel, width = _sinc_kernel(orig, new)
    shape, length = wave.shape[:-1], wave.shape[-1]
    flat = wave.reshape(-1, length).astype(np.float64)
    padded = np.pad(flat, ((0, 0), (width, width + orig)))
    # Frame k of output phase j: the kernel's row j on the input from k * orig on.
    frames = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape[1], axis=-1)[:, ::orig]
    resampled = np.matmul(frames, kernel.T).reshape(flat.shape[0], -1)[:, : math.ceil(new * length / orig)]
    dtype = wave.dtype if np.issubdtype(wave.dtype, np.floating) else np.float32
    return resampled.reshape(*shape, -1).astype(dtype)


def resample(wave, orig_sr: int, new_sr: int):
    """Band-limited resampling of ``wave`` ``(..., samples)``; identity when rates match.

    A numpy array is resampled by :func:`resample_array` (no torch), a tensor by torchaudio
    (the same filter)."""
    if orig_sr == new_sr:
        return wave
    if isinstance(wave, np.ndarray):
        return resample_array(wave, orig_sr, new_sr)
    import torchaudio.functional as AF

    return AF.resample(wave, orig_sr, new_sr)


def audio_seconds(path: str | os.PathLike) -> float | None:
    """Duration of an audio file from its header; ``None`` if the header does not say or the file
    is unreadable (:func:`load_audio` says why)."""
    try:
        with _native_stderr_discarded():
            info = sf.info(str(path))
    except _READ_ERRORS:
        return None
    if info.samplerate <= 0 or info.frames <= 0:
        return None
    return info.frames / info.samplerate


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 ``(channels, samples)`` and its sample rate (numpy, no torch).

    Raises:
        InputError: unreadable, empty or non-finite audio (one line; what the decoding libraries
            print on the way is discarded).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"audio file not found: {path}")
    try:
        with _native_stderr_discarded():
            data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except _READ_ERRORS as err:
        # libsndfile's own words mislead here (random bytes taken for MPEG: "File does not exist").
        raise InputError(f"{path}: not a readable audio file (unsupported format or corrupt data)") from err
    if data.size == 0:
        raise InputError(f"{path}: audio is empty")
    if not np.isfinite(data).all():
        raise InputError(f"{path}: audio contains NaN or infinite samples")
    return np.ascontiguousarray(data.T), file_sr


def load_audio_array(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    mono: bool = True,
) -> tuple[np.ndarray, int]:
    """:func:`load_audio` with numpy: float32 ``(channels, samples)`` and its rate, no torch."""
    wave, file_sr = read_audio(path)
    if mono:
        wave = wave.mean(axis=0, keepdims=True, dtype=np.float32)
    target = sample_rate or file_sr
    return resample_array(wave, file_sr, target), target


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    mono: bool = True,
) -> tuple[torch.Tensor, int]:
    """Read an audio file as float32 ``(channels, samples)``.

    Args:
        path: any file soundfile reads (wav, flac, ogg/opus, ...).
        sample_rate: resample to this rate; keep the file's rate when ``None``.
        mono: average the channels into one.

    Returns:
        The waveform and its sample rate.

    Raises:
        InputError: unreadable, empty or non-finite audio (one line; what the decoding libraries
            print on the way is discarded).
    """
    import torch

    data, file_sr = read_audio(path)
    wave = torch.from_numpy(data)
    if mono:
        wave = wave.mean(dim=0, keepdim=True)
    target = sample_rate or file_sr
    return resample(wave, file_sr, target), target


def save_audio(
    path: str | os.PathLike,
    wave: torch.Tensor,
    sample_rate: int,
    subtype: str | None = None,
    format: str | None = None,
) -> None:
    """Write ``wave`` ``(channels, samples)`` or ``(samples,)`` with soundfile."""
    array = wave.detach().cpu().float()
    if array.dim() == 1:
        array = array.unsqueeze(0)
    sf.write(str(path), array.T.numpy(), sample_rate, subtype=subtype, format=format)


def peak_normalise(wave: torch.Tensor, peak: float = 0.9, eps: float = 1e-8) -> torch.Tensor:
    """Scale each signal ``(..., samples)`` so that its absolute peak equals ``peak``."""
    return wave * (peak / wave.abs().amax(dim=-1, keepdim=True).clamp_min(eps))


def rms(wave: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Root-mean-square level over the last dimension (kept)."""
    return wave.pow(2).mean(dim=-1, keepdim=True).clamp_min(eps).sqrt()

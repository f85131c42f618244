"""Audio I/O (soundfile), resampling (torchaudio) and mono/level helpers."""

from __future__ import annotations

import contextlib
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


def resample(wave: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Band-limited resampling of ``wave`` ``(..., samples)``; identity when rates match."""
    if orig_sr == new_sr:
        return wave
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
    wave = torch.from_numpy(np.ascontiguousarray(data.T))
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

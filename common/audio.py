"""Audio I/O (soundfile), resampling (torchaudio) and mono/level helpers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from common.errors import InputError


def resample(wave: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Band-limited resampling of ``wave`` ``(..., samples)``; identity when rates match."""
    if orig_sr == new_sr:
        return wave
    return AF.resample(wave, orig_sr, new_sr)


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
        InputError: unreadable, empty or non-finite audio.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"audio file not found: {path}")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise InputError(f"{path}: not a readable audio file ({err})") from err
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

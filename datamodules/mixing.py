"""On-the-fly mixing of clean speech with noise and a competing talker, shared by the
enhancement datamodules."""

from __future__ import annotations

import torch

from common.audio import rms


def scale_to_snr(signal: torch.Tensor, interferer: torch.Tensor, snr_db: float) -> torch.Tensor:
    """Scale ``interferer`` so that ``signal`` is ``snr_db`` dB above it (RMS, last dim)."""
    return interferer * (rms(signal) / rms(interferer)) * 10 ** (-snr_db / 20)


def mix(
    clean: torch.Tensor,
    noise: torch.Tensor,
    snr_db: float,
    talker: torch.Tensor | None = None,
    talker_snr_db: float = 10.0,
    level_db: float = -25.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix speech with noise (and optionally a background talker), then set the level.

    Args:
        clean: target speech ``(..., samples)``.
        noise: noise of the same shape.
        snr_db: speech-to-noise ratio in dB.
        talker: competing speech of the same shape, or ``None``.
        talker_snr_db: target-to-talker ratio in dB.
        level_db: RMS level of the mixture in dBFS; both outputs get the same gain.

    Returns:
        ``(noisy, gain)``: the mixture at the requested level (never clipping) and the gain
        ``(..., 1)`` applied to it, which the training target must get too.
    """
    noisy = clean + scale_to_snr(clean, noise, snr_db)
    if talker is not None:
        noisy = noisy + scale_to_snr(clean, talker, talker_snr_db)
    gain = 10 ** (level_db / 20) / rms(noisy)
    gain = torch.minimum(gain, 0.99 / noisy.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8))
    return noisy * gain, gain

"""Quality metrics. Thin wrappers over torchmetrics, plus waveform SNR."""

from __future__ import annotations

import torch
from torchmetrics.functional.audio import (
    perceptual_evaluation_speech_quality,
    scale_invariant_signal_distortion_ratio,
    short_time_objective_intelligibility,
)
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from common.settings import SPEECH_SAMPLE_RATE


def snr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Signal-to-noise ratio in dB per signal ``(..., samples)``: 10·log10(‖ref‖² / ‖est−ref‖²)."""
    signal = reference.pow(2).sum(dim=-1)
    noise = (estimate - reference).pow(2).sum(dim=-1)
    return 10.0 * torch.log10((signal + eps) / (noise + eps))


def psnr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean PSNR in dB of images ``(B, C, H, W)`` in [0, 1]."""
    return peak_signal_noise_ratio(estimate, reference, data_range=1.0)


def ssim(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of images ``(B, C, H, W)`` in [0, 1]."""
    return structural_similarity_index_measure(estimate, reference, data_range=1.0)


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SI-SDR in dB per signal ``(..., samples)``."""
    return scale_invariant_signal_distortion_ratio(estimate, reference)


def pesq_wb(estimate: torch.Tensor, reference: torch.Tensor, sample_rate: int = SPEECH_SAMPLE_RATE) -> torch.Tensor:
    """Wide-band PESQ (MOS-LQO) per signal ``(B, samples)``, computed on CPU by ``pesq``.

    Items where PESQ cannot score (e.g. no utterance detected in silence) get NaN.
    """
    estimate, reference = estimate.detach().float().cpu(), reference.detach().float().cpu()
    scores = torch.full(estimate.shape[:-1], float("nan")).flatten()
    for index, (est, ref) in enumerate(zip(estimate.reshape(-1, estimate.shape[-1]), reference.reshape(-1, reference.shape[-1]))):
        try:
            scores[index] = perceptual_evaluation_speech_quality(est, ref, sample_rate, "wb")
        except ValueError:
            continue
    return scores.reshape(estimate.shape[:-1])


def stoi(estimate: torch.Tensor, reference: torch.Tensor, sample_rate: int = SPEECH_SAMPLE_RATE) -> torch.Tensor:
    """Short-time objective intelligibility per signal ``(..., samples)``, on CPU by ``pystoi``."""
    return short_time_objective_intelligibility(
        estimate.detach().float().cpu(), reference.detach().float().cpu(), sample_rate
    )

"""Losses of the enhancer: negative SI-SDR, a differentiable PESQ proxy (torch-pesq) and the
MetricGAN+ least-squares adversarial losses."""

from __future__ import annotations

import torch
from torch import nn
from torch_pesq import PesqLoss
from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

from common.settings import SPEECH_SAMPLE_RATE


def _flat(wave: torch.Tensor) -> torch.Tensor:
    return wave.reshape(wave.shape[0], -1)


class NegativeSISDR(nn.Module):
    """Mean negative SI-SDR in dB (lower is better) of ``(B, L)`` or ``(B, 1, L)`` signals."""

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return -scale_invariant_signal_distortion_ratio(_flat(estimate), _flat(reference)).mean()


class NegativeSNR(nn.Module):
    """Mean negative SNR in dB of ``(B, L)`` or ``(B, 1, L)`` signals: ``-10 log10(|s|^2 / |s - e|^2)``.

    Unlike SI-SDR, torch-pesq and the magnitude-spectrogram discriminator, it is not invariant
    to the sign or the gain of the estimate: an inverted output scores ``-10 log10(4) = -6 dB``
    at best. A small weight of it pins the enhancer's polarity and level to the target's.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        estimate, reference = _flat(estimate), _flat(reference)
        signal = reference.pow(2).sum(dim=-1) + self.eps
        error = (reference - estimate).pow(2).sum(dim=-1) + self.eps
        return -(10 * torch.log10(signal / error)).mean()


class PerceptualPesqLoss(nn.Module):
    """Differentiable PESQ distortion of torch-pesq (``PesqLoss(factor, sample_rate)``).

    The loss is ``factor * (0.1 d_sym + 0.0309 d_asym)`` (no MOS compression), lower is better;
    :meth:`mos` gives the approximated MOS. Items with a silent reference are ignored (PESQ
    is undefined there).

    Args:
        factor: scale of the loss.
        sample_rate: rate of the signals (torch-pesq resamples to 16 kHz).
    """

    def __init__(self, factor: float = 1.0, sample_rate: int = SPEECH_SAMPLE_RATE) -> None:
        super().__init__()
        self.pesq = PesqLoss(factor, sample_rate=sample_rate)

    @staticmethod
    def _audible(reference: torch.Tensor) -> torch.Tensor:
        return reference.abs().amax(dim=-1) > 1e-6

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        estimate, reference = _flat(estimate).float(), _flat(reference).float()
        keep = self._audible(reference)
        if not keep.any():
            return estimate.sum() * 0.0
        return self.pesq(reference[keep], estimate[keep]).mean()

    @torch.no_grad()
    def mos(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Approximate WB-PESQ MOS per item ``(B,)`` (NaN for a silent reference)."""
        estimate, reference = _flat(estimate).float(), _flat(reference).float()
        scores = torch.full((estimate.shape[0],), float("nan"), device=estimate.device)
        keep = self._audible(reference)
        if keep.any():
            scores[keep] = self.pesq.mos(reference[keep], estimate[keep]).reshape(-1).to(scores.dtype)
        return scores


def metric_regression_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least-squares loss between predicted and target scores, ignoring NaN targets."""
    valid = torch.isfinite(target)
    if not valid.any():
        return predicted.sum() * 0.0
    return (predicted[valid] - target[valid]).pow(2).mean()


def adversarial_generator_loss(predicted: torch.Tensor, target: float = 1.0) -> torch.Tensor:
    """MetricGAN+ generator loss: every discriminator head pushed towards ``target``."""
    return (predicted - target).pow(2).mean()

"""Quality metrics: thin wrappers over torchmetrics for tensors, waveform SNR, an enhancer's talker
rejection, and PSNR of 8-bit images as numpy arrays.

torch and torchmetrics are imported by the functions that use them, so that the ``stegavox``
command can measure an image's PSNR without loading them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from common.settings import SPEECH_SAMPLE_RATE

if TYPE_CHECKING:
    import torch


def psnr_8bit(estimate: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of two 8-bit images (any shape; ``inf`` when they are equal)."""
    estimate, reference = np.asarray(estimate), np.asarray(reference)
    exact = np.issubdtype(estimate.dtype, np.integer) and np.issubdtype(reference.dtype, np.integer)
    error = np.subtract(estimate, reference, dtype=np.int64 if exact else np.float64).ravel()
    mse = float(np.dot(error, error)) / max(error.size, 1)
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def snr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Signal-to-noise ratio in dB per signal ``(..., samples)``: 10·log10(‖ref‖² / ‖est−ref‖²)."""
    signal = reference.pow(2).sum(dim=-1)
    noise = (estimate - reference).pow(2).sum(dim=-1)
    return 10.0 * ((signal + eps) / (noise + eps)).log10()


def psnr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean PSNR in dB of images ``(B, C, H, W)`` in [0, 1]."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    return peak_signal_noise_ratio(estimate, reference, data_range=1.0)


def ssim(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of images ``(B, C, H, W)`` in [0, 1]."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    return structural_similarity_index_measure(estimate, reference, data_range=1.0)


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SI-SDR in dB per signal ``(..., samples)``."""
    from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

    return scale_invariant_signal_distortion_ratio(estimate, reference)


def pesq_wb(estimate: torch.Tensor, reference: torch.Tensor, sample_rate: int = SPEECH_SAMPLE_RATE) -> torch.Tensor:
    """Wide-band PESQ (MOS-LQO) per signal ``(B, samples)``, computed on CPU by ``pesq``.

    Items where PESQ cannot score (e.g. no utterance detected in silence) get NaN.
    """
    import torch
    from pesq import PesqError
    from torchmetrics.functional.audio import perceptual_evaluation_speech_quality

    estimate, reference = estimate.detach().float().cpu(), reference.detach().float().cpu()
    scores = torch.full(estimate.shape[:-1], float("nan")).flatten()
    for index, (est, ref) in enumerate(zip(estimate.reshape(-1, estimate.shape[-1]), reference.reshape(-1, reference.shape[-1]))):
        try:
            scores[index] = perceptual_evaluation_speech_quality(est, ref, sample_rate, "wb")
        except (ValueError, PesqError):  # PesqError: e.g. no utterance detected (a RuntimeError)
            continue
    return scores.reshape(estimate.shape[:-1])


def stoi(estimate: torch.Tensor, reference: torch.Tensor, sample_rate: int = SPEECH_SAMPLE_RATE) -> torch.Tensor:
    """Short-time objective intelligibility per signal ``(..., samples)``, on CPU by ``pystoi``."""
    from torchmetrics.functional.audio import short_time_objective_intelligibility

    return short_time_objective_intelligibility(
        estimate.detach().float().cpu(), reference.detach().float().cpu(), sample_rate
    )


def talker_rejection(
    estimate: torch.Tensor,
    target: torch.Tensor,
    talker: torch.Tensor,
    noise: torch.Tensor,
    mixture: torch.Tensor,
    dominance_db: float = 6.0,
    floor_db: float = 40.0,
    frame: int = 512,
    hop: int = 256,
) -> torch.Tensor:
    """Talker rejection in dB per signal ``(..., samples)``: the mean output/input gain on frames
    dominated by the target minus that on frames dominated by the competing talkers.

    A frame is dominated by a voice when that voice is ``dominance_db`` above everything else in it
    (the other voice plus the noise) and within ``floor_db`` of that voice's loudest frame, so that
    suppressing the noise alone scores about 0 dB and removing only the talkers scores high. NaN
    where a signal has no frame of either kind (e.g. no talker).

    Args:
        estimate: The enhanced signal.
        target: The target voice as mixed.
        talker: The competing talkers as mixed.
        noise: The noise as mixed.
        mixture: The enhancer's input (``target + talker + noise``).
        dominance_db: How far a voice must exceed the rest of its frame.
        floor_db: Frames more than this below a voice's loudest frame do not count for it.
        frame: Frame length in samples (32 ms at 16 kHz).
        hop: Frame hop in samples.
    """

    def energies(wave: torch.Tensor) -> torch.Tensor:
        return wave.detach().float().cpu().unfold(-1, frame, hop).pow(2).mean(dim=-1)

    target_e, talker_e, noise_e, mixture_e, estimate_e = map(energies, (target, talker, noise, mixture, estimate))
    gain = 10.0 * ((estimate_e + 1e-12) / (mixture_e + 1e-12)).log10()
    threshold, floor = 10.0 ** (dominance_db / 10.0), 10.0 ** (-floor_db / 10.0)

    def dominated_by(voice: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
        return ((voice > threshold * rest) & (voice > voice.amax(dim=-1, keepdim=True) * floor)).float()

    target_frames, talker_frames = dominated_by(target_e, talker_e + noise_e), dominated_by(talker_e, target_e + noise_e)
    # 0 / 0 = NaN where a signal has no frame of a kind.
    return (gain * target_frames).sum(-1) / target_frames.sum(-1) - (gain * talker_frames).sum(-1) / talker_frames.sum(-1)

"""TensorBoard media logging for LightningModules (images, audio, spectrogram figures).

Every function is a no-op unless the module's logger is a TensorBoard logger, so the same
LightningModule runs with any logger (or none).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import lightning.pytorch as pl
import matplotlib.pyplot as plt
import torch
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid


def tensorboard(module: pl.LightningModule) -> SummaryWriter | None:
    """The module's TensorBoard ``SummaryWriter``, or ``None`` (other/no logger, non-zero rank)."""
    if module._trainer is None or module.trainer.global_rank != 0:
        return None
    for logger in module.trainer.loggers:
        experiment = getattr(logger, "experiment", None)
        if isinstance(experiment, SummaryWriter):
            return experiment
    return None


def residual_x10(stego: torch.Tensor, cover: torch.Tensor) -> torch.Tensor:
    """The stego-minus-cover residual amplified 10× around mid-grey, for display."""
    return ((stego - cover) * 10 + 0.5).clamp(0, 1)


def log_images(module: pl.LightningModule, tag: str, images: torch.Tensor, step: int, nrow: int = 4) -> None:
    """Log a batch ``(B, C, H, W)`` in [0, 1] as one grid image at ``step``."""
    writer = tensorboard(module)
    if writer is not None:
        grid = make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=2)
        writer.add_image(tag, grid, step)


def log_audio(module: pl.LightningModule, tag: str, wave: torch.Tensor, sample_rate: int, step: int) -> None:
    """Log one waveform ``(samples,)`` or ``(1, samples)`` (peak-limited to [-1, 1]) at ``step``."""
    writer = tensorboard(module)
    if writer is not None:
        mono = wave.detach().float().cpu().reshape(-1)
        writer.add_audio(tag, mono.clamp(-1, 1), step, sample_rate=sample_rate)


def spectrogram_figure(
    wave: torch.Tensor, sample_rate: int, title: str = "", n_fft: int = 512
) -> plt.Figure:
    """A log-magnitude spectrogram figure of a waveform ``(samples,)``."""
    mono = wave.detach().float().cpu().reshape(-1)
    spec = torch.stft(
        mono, n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True
    ).abs()
    decibels = 20 * torch.log10(spec.clamp_min(1e-5))
    figure, axis = plt.subplots(figsize=(6, 3))
    duration = mono.numel() / sample_rate
    axis.imshow(
        decibels.numpy(),
        origin="lower",
        aspect="auto",
        extent=(0.0, duration, 0.0, sample_rate / 2000),
        vmin=float(decibels.max()) - 80,
        cmap="magma",
    )
    axis.set_xlabel("time (s)")
    axis.set_ylabel("frequency (kHz)")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def log_figure(module: pl.LightningModule, tag: str, figure: plt.Figure, step: int) -> None:
    """Log a matplotlib figure at ``step`` and close it."""
    writer = tensorboard(module)
    if writer is not None:
        writer.add_figure(tag, figure, step, close=True)
    else:
        plt.close(figure)


def log_spectrogram(module: pl.LightningModule, tag: str, wave: torch.Tensor, sample_rate: int, step: int) -> None:
    """Log the spectrogram figure of a waveform at ``step``."""
    if tensorboard(module) is not None:
        log_figure(module, tag, spectrogram_figure(wave, sample_rate, title=tag), step)

"""LightningModule for the PixInWav image-in-audio baseline (Geleta et al. 2021)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import torch
from torch import nn

from common.export import instantiate, spec
from common.media import tensorboard
from common.metrics import psnr, snr, ssim
from common.task import LRSchedulerCallable, OptimizerCallable, Task, adam
from steganography.models.pixinwav import PixInWav, PixInWavLoss, make_channel

#: Defaults of :class:`PixInWavTask` (specs: ``class_path`` + ``init_args``, built by the task):
#: the paper's network and the public code's Adam learning rate.
DEFAULT_NETWORK = spec(PixInWav, architecture="res_indep", image_size=256, num_samples=67522, frame_length=4096,
                       hop_length=62, window="hamming", base_channels=64, residual_scale=0.01, reveal_from="waveform")  # fmt: skip
DEFAULT_OPTIMIZER = adam(1e-3)


def stdct_figure(coefficients: torch.Tensor, title: str) -> plt.Figure:
    """Log-magnitude image of STDCT coefficients ``(coefficients, frames)``."""
    decibels = 20 * torch.log10(coefficients.detach().float().cpu().abs().clamp_min(1e-6))
    figure, axis = plt.subplots(figsize=(6, 3))
    image = axis.imshow(decibels.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=float(decibels.max()) - 80)
    axis.set_xlabel("frame")
    axis.set_ylabel("DCT coefficient")
    axis.set_title(title)
    figure.colorbar(image, ax=axis, label="dB")
    figure.tight_layout()
    return figure


class PixInWavTask(Task):
    """Train :class:`~steganography.models.pixinwav.PixInWav` on batches ``{"image": (B, 3, H, W),
    "audio": (B, 1, samples)}``.

    Training sends each batch through one channel drawn uniformly from ``train_channels``.
    Validation and test hide once and reveal through every channel of ``eval_channels``, with
    noise seeded by ``(seed, batch index, channel index)`` so that the numbers are repeatable.
    Logged per stage: ``snr`` (container vs host waveform, dB), ``loss`` terms (clean reveal)
    and, per channel ``<name>``, ``<name>/ssim``, ``<name>/psnr`` (revealed image clamped to
    [0, 1]) and ``<name>/snr`` (received vs host waveform); with ``reveal_from: spectrogram``
    also ``from_waveform/ssim`` and ``from_waveform/psnr``, revealed from the clean waveform alone.

    Args:
        network: the hider and revealer (architecture ``res_indep``, ``res_dep``, ``plain_dep`` or
            ``res_scale``; image size; host length in samples; STDCT frame, hop and window; U-Net
            width; ``reveal_from``: ``waveform`` (real receiver) or ``spectrogram`` (the public
            code's protocol), see :data:`~steganography.models.pixinwav.REVEAL_SOURCES`).
        sample_rate: host audio rate in Hz.
        beta: image weight β of the loss.
        dtw_weight: soft-DTW weight λ.
        dtw_gamma: soft-DTW γ.
        dtw_steps: frames per waveform for soft-DTW.
        dtw_divergence: use the soft-DTW divergence instead of the raw value.
        train_channels: channel specs for training (see :func:`make_channel`).
        eval_channels: channel specs evaluated at validation/test.
        optimizer: optimiser of the network (default: Adam, lr 1e-3 as the public code).
        lr_scheduler: learning-rate scheduler, stepped per epoch (default: none).
        num_logged: fixed validation items shown in TensorBoard.
        seed: base seed of the evaluation noise.
    """

    def __init__(
        self,
        network: PixInWav = DEFAULT_NETWORK,
        sample_rate: int = 44100,
        beta: float = 0.05,
        dtw_weight: float = 1e-4,
        dtw_gamma: float = 1.0,
        dtw_steps: int = 256,
        dtw_divergence: bool = True,
        train_channels: tuple[str, ...] = ("clean",),
        eval_channels: tuple[str, ...] = ("clean", "awgn:0.01", "speckle:0.1", "ota"),
        optimizer: OptimizerCallable = DEFAULT_OPTIMIZER,
        lr_scheduler: LRSchedulerCallable | None = None,
        num_logged: int = 2,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.network = instantiate(network)
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        self.loss = PixInWavLoss(beta, dtw_weight, dtw_gamma, dtw_steps, dtw_divergence)
        self.train_channels = nn.ModuleList(make_channel(name, sample_rate) for name in train_channels)
        self.eval_channels = nn.ModuleList(make_channel(name, sample_rate) for name in eval_channels)
        names = [channel.name for channel in self.eval_channels]
        if not self.train_channels or len(set(names)) != len(names):
            raise ValueError("need at least one training channel and distinct evaluation channels")

    monitor, monitor_mode = "val/loss", "min"
    hparam_metrics = ("val/loss", "val/snr", "val/clean/ssim", "val/clean/psnr")
    exported_module = "network"

    def exported_metadata(self) -> dict[str, Any]:
        return {"sample_rate": self.hparams.sample_rate}

    def forward(self, image: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Hide ``image`` in ``audio`` and reveal it through a clean channel."""
        return self.network(image, audio)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        image, audio = batch["image"], batch["audio"]
        channel = self.train_channels[int(torch.randint(len(self.train_channels), ()))]
        outputs = self.network(image, audio, channel)
        losses = self.loss(outputs, image, audio)
        metrics = {**losses, "snr": snr(outputs["container_wave"].detach(), audio).mean()}
        self.log_stage("train", metrics, image.shape[0], prog_bar=True)
        return losses["loss"]

    def evaluate(self, batch: dict[str, torch.Tensor], batch_idx: int, stage: str) -> None:
        image, audio = batch["image"], batch["audio"]
        hidden = self.network.hide(image, audio)
        container = hidden["container_wave"]
        revealed_clean = self.network.reveal_received(hidden, container)
        losses = self.loss({**hidden, "revealed_image": revealed_clean}, image, audio)
        metrics = dict(losses)
        metrics["snr"] = snr(container, audio).mean()
        if self.network.reveal_from != "waveform":
            # What a real receiver, which has only the waveform, would get.
            from_waveform = self.network.reveal(container).clamp(0, 1)
            metrics["from_waveform/ssim"] = ssim(from_waveform, image)
            metrics["from_waveform/psnr"] = psnr(from_waveform, image)
        revealed_by_channel = {}
        for index, channel in enumerate(self.eval_channels):
            generator = torch.Generator().manual_seed(self.hparams.seed * 1_000_003 + batch_idx * 1009 + index)
            received = channel(container, generator)
            revealed = (revealed_clean if channel.name == "clean" else self.network.reveal_received(hidden, received)).clamp(0, 1)
            revealed_by_channel[channel.name] = revealed
            metrics[f"{channel.name}/ssim"] = ssim(revealed, image)
            metrics[f"{channel.name}/psnr"] = psnr(revealed, image)
            metrics[f"{channel.name}/snr"] = snr(received, audio).mean()
        self.log_stage(stage, metrics, image.shape[0])
        if batch_idx == 0:
            self._log_media(stage, image, audio, hidden, revealed_by_channel)

    def _log_media(
        self,
        stage: str,
        image: torch.Tensor,
        audio: torch.Tensor,
        hidden: dict[str, torch.Tensor],
        revealed_by_channel: dict[str, torch.Tensor],
    ) -> None:
        if tensorboard(self) is None:
            return
        count, rate = min(self.hparams.num_logged, image.shape[0]), self.hparams.sample_rate
        for name, revealed in revealed_by_channel.items():
            self.log_media_images(stage, f"{name}/hidden_vs_revealed", torch.cat([image[:count], revealed[:count]]), nrow=count)
        for item in range(count):
            self.log_media_spectrogram(stage, f"host_spectrogram/{item}", audio[item], rate)
            self.log_media_spectrogram(stage, f"container_spectrogram/{item}", hidden["container_wave"][item], rate)
            residual = (hidden["container_spec"] - hidden["host_spec"])[item, 0]
            self.log_media_figure(stage, f"residual_stdct/{item}", stdct_figure(residual, "container − host STDCT"))
            self.log_media_audio(stage, f"host_audio/{item}", audio[item], rate)
            self.log_media_audio(stage, f"container_audio/{item}", hidden["container_wave"][item], rate)

    def predict(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The container audio and the image revealed from it through the clean channel."""
        hidden = self.network.hide(batch["image"], batch["audio"])
        revealed = self.network.reveal_received(hidden, hidden["container_wave"]).clamp(0, 1)
        return {"container": hidden["container_wave"], "revealed": revealed}

    def configure_optimizers(self) -> Any:
        return self.configure_optimizer_groups((self.network.parameters(), self.optimizer, self.lr_scheduler))

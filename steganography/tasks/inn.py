"""LightningModule of the invertible hider (G) trained through a JPEG channel against Zhu-Net (D).

Each step draws random ±1 bits (the real payload is encrypted and BCH-coded, so uniformly random)
filling :meth:`InvertibleHider.message_shape`, hides them, passes the stego image through
:class:`~steganography.models.channel.JpegChannel` (8-bit quantisation, then identity, kornia's
differentiable JPEG or Pillow's real JPEG with a straight-through gradient) and reveals them.

Generator loss: ``payload_weight·payload + lpips_weight·LPIPS + image_weight·image +
adversarial_weight·adversarial``, with image losses on the *8-bit* stego image. The
discriminator step trains Zhu-Net on covers vs detached 8-bit stego images. Both optimisers clip
their gradient norms; a step whose loss or gradients are not finite is skipped and counted in
``train/skipped_steps``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from common.export import instantiate, load_module, spec
from common.media import residual_x10
from common.metrics import psnr, ssim
from common.settings import JPEG_QUALITY_TARGET, VALIDATION_JPEG_QUALITIES
from common.task import LRSchedulerCallable, OptimizerCallable, Task, adam
from steganography.models.channel import JpegChannel, quantize_ste
from steganography.models.inn import InvertibleHider
from steganography.models.perceptual import LPIPSLoss
from steganography.models.platform_channel import PlatformChannel
from steganography.models.zhunet import ZhuNet

COVER, STEGO = 0, 1

#: Defaults of :class:`INNHidingTask` (specs: ``class_path`` + ``init_args``, built by the task).
DEFAULT_HIDER = spec(InvertibleHider, levels=3, message_channels=1, num_blocks=8, width=32, depth=4, clamp=2.0)
DEFAULT_DETECTOR = spec(ZhuNet, colour="rgb", channels=[32, 32, 64, 128], hidden_features=1024)
DEFAULT_CHANNEL = spec(JpegChannel, identity_weight=1.0, differentiable_weight=2.0, real_weight=1.0, quality_range=[50, 95],
                       real_backward="differentiable")  # fmt: skip
DEFAULT_OPTIMIZER = adam(1e-4)


def random_message(hider: InvertibleHider, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniformly random ±1 bits filling the message of ``images (B, 3, H, W)``, drawn from
    ``generator`` (on its device) when one is given, else from the global generator."""
    shape = (images.shape[0], *hider.message_shape(images.shape[-2], images.shape[-1]))
    device = images.device if generator is None else generator.device
    return torch.randint(0, 2, shape, device=device, generator=generator).to(images) * 2 - 1


def bit_accuracy(revealed: torch.Tensor, message: torch.Tensor) -> torch.Tensor:
    """Fraction of bits whose sign is right, per image ``(B,)``."""
    return ((revealed > 0) == (message > 0)).flatten(1).float().mean(dim=1)


class INNHidingTask(Task):
    """Train an :class:`InvertibleHider` through a JPEG channel, optionally against a Zhu-Net.

    The networks, the channel and the optimisers are given by the config (``class_path`` +
    ``init_args``); the defaults (:data:`DEFAULT_HIDER`, ...: 1 bit per 8×8 block, Adam at 1e-4
    for both networks, no scheduler) are those the task had before they became arguments.

    Args:
        hider: the invertible hider trained and exported.
        detector: the Zhu-Net steganalyser of the adversarial term (``None``: no adversary).
        channel: the JPEG channel of training (8-bit quantisation, then identity, kornia's
            differentiable JPEG or Pillow's real JPEG with a straight-through gradient); its
            real JPEG also measures the validation bit accuracies.
        optimizer: optimiser of the hider (default: Adam, lr 1e-4).
        lr_scheduler: learning-rate scheduler of the hider, stepped per epoch (default: none).
        detector_optimizer: optimiser of the detector (default: Adam, lr 1e-4).
        detector_lr_scheduler: learning-rate scheduler of the detector (default: none).
        payload_loss: ``"bce"`` (BCE-with-logits, revealed values as logits) or ``"l1"`` (to ±1).
        payload_weight: λ1.
        lpips_weight: λ2; 0 never builds LPIPS (needs local pretrained weights otherwise).
        image_loss: ``"mse"`` or ``"l1"`` between the 8-bit stego image and the cover.
        image_weight: λ3.
        adversarial_weight: λ4; 0 (or no ``detector``) skips the adversarial term and the
            discriminator step, and keeps no detector.
        detector_view: what the detector judges: ``"stego"``, the 8-bit stego image as the hider
            wrote it, against the cover; ``"served"`` (needs ``platform_channel``), cover and
            stego image as the platform serves them — each pair through the same condition, at
            the received size before the receiver's resampling, cut to a common 8-aligned square
            (:meth:`~steganography.models.platform_channel.PlatformChannel.views`):
            what a steganalyst sees. Validation's ``detector_accuracy`` then uses the channel's
            :meth:`~steganography.models.platform_channel.PlatformChannel.view_condition`.
        gradient_clip: max gradient norm of both optimisers.
        val_qualities: real Pillow JPEG qualities of the validation bit accuracies.
        num_logged_images: fixed validation images shown in TensorBoard.
        tile_size: side of the tiles in which the shipped embedder runs the hider (normally the
            training crop size, so that the attention statistics match training; ``None``: whole
            images). Recorded in the exported file.
        platform_channel: when given, training goes through this
            :class:`~steganography.models.platform_channel.PlatformChannel` (unknown downscale,
            crop, JPEG chains, noise) instead of ``channel``, and validation also logs the
            bit accuracy per condition of its
            :meth:`~steganography.models.platform_channel.PlatformChannel.validation_conditions`
            (``val/platform/bit_accuracy_<condition>``) and their mean
            (``val/platform/bit_accuracy``), the monitored metric.
        init_weights: shipped-format hider file (:mod:`common.export`) whose weights start the
            training (fine-tuning a shipped model for a new channel); its architecture must match.
        canonical_size: side of the square canonical grid the shipped embedder hides on
            (:mod:`steganography.embedders.canonical`; ``None``: the cover's own pixel grid).
            Recorded in the exported file; train such a model through a platform channel whose
            ``scale_range`` is the received size over this grid.
    """

    exported_module = "hider"

    def __init__(
        self,
        hider: InvertibleHider = DEFAULT_HIDER,
        detector: ZhuNet | None = DEFAULT_DETECTOR,
        channel: JpegChannel = DEFAULT_CHANNEL,
        optimizer: OptimizerCallable = DEFAULT_OPTIMIZER,
        lr_scheduler: LRSchedulerCallable | None = None,
        detector_optimizer: OptimizerCallable = DEFAULT_OPTIMIZER,
        detector_lr_scheduler: LRSchedulerCallable | None = None,
        payload_loss: str = "bce",
        payload_weight: float = 1.0,
        lpips_weight: float = 1.0,
        image_loss: str = "mse",
        image_weight: float = 1000.0,
        adversarial_weight: float = 0.01,
        detector_view: str = "stego",
        gradient_clip: float = 1.0,
        val_qualities: tuple[int, ...] = VALIDATION_JPEG_QUALITIES,
        num_logged_images: int = 4,
        tile_size: int | None = None,
        platform_channel: PlatformChannel | None = None,
        init_weights: str | None = None,
        canonical_size: int | None = None,
    ) -> None:
        super().__init__()
        if payload_loss not in {"bce", "l1"} or image_loss not in {"mse", "l1"}:
            raise ValueError(f"payload_loss must be 'bce' or 'l1' and image_loss 'mse' or 'l1', got {payload_loss!r}, {image_loss!r}")
        if min(payload_weight, lpips_weight, image_weight, adversarial_weight) < 0:
            raise ValueError("loss weights must be >= 0")
        if detector_view not in {"stego", "served"} or (detector_view == "served" and platform_channel is None):
            raise ValueError(f"detector_view must be 'stego' or, with a platform_channel, 'served'; got {detector_view!r}")
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.hider = instantiate(hider)
        if init_weights is not None:
            self.hider.load_state_dict(load_module(init_weights, InvertibleHider)[0].state_dict())
        self.channel = instantiate(channel)
        self.platform_channel = instantiate(platform_channel)
        self.lpips = LPIPSLoss() if lpips_weight > 0 else None
        self.detector = instantiate(detector) if adversarial_weight > 0 else None
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        self.detector_optimizer, self.detector_lr_scheduler = detector_optimizer, detector_lr_scheduler
        headline = JPEG_QUALITY_TARGET if JPEG_QUALITY_TARGET in val_qualities else max(val_qualities)
        self.monitor, self.monitor_mode = f"val/bit_accuracy_q{headline}", "max"
        if platform_channel is not None:
            self.monitor = "val/platform/bit_accuracy"
        self.hparam_metrics = (
            *(("val/platform/bit_accuracy",) if platform_channel is not None else ()),
            *(f"val/bit_accuracy_q{quality}" for quality in val_qualities),
            "val/bit_accuracy_identity",
            "val/psnr",
            "val/ssim",
        )

    def exported_metadata(self) -> dict[str, Any]:
        metadata = {} if self.hparams.tile_size is None else {"tile_size": self.hparams.tile_size}
        if self.hparams.canonical_size is not None:
            metadata["canonical_size"] = self.hparams.canonical_size
        return metadata

    def state_dict(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        """Module state without the frozen LPIPS network (pretrained weights are not ours to ship)."""
        state = super().state_dict(*args, **kwargs)
        return {key: value for key, value in state.items() if not key.startswith("lpips.")}

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load a state saved by :meth:`state_dict` (the LPIPS weights come from disk, not from it)."""
        if self.lpips is not None:
            state_dict = {**state_dict, **{f"lpips.{k}": v for k, v in self.lpips.state_dict().items()}}
        return super().load_state_dict(state_dict, strict, assign)

    def payload_loss(self, revealed: torch.Tensor, message: torch.Tensor) -> torch.Tensor:
        """Mean bit loss of revealed values against the ±1 ``message``."""
        if self.hparams.payload_loss == "bce":
            return F.binary_cross_entropy_with_logits(revealed, (message > 0).to(revealed.dtype))
        return F.l1_loss(revealed, message)

    def image_loss(self, stego8: torch.Tensor, cover: torch.Tensor) -> torch.Tensor:
        """Mean pixel loss of the 8-bit stego image."""
        return F.mse_loss(stego8, cover) if self.hparams.image_loss == "mse" else F.l1_loss(stego8, cover)

    def detector_loss(self, cover: torch.Tensor, stego8: torch.Tensor) -> torch.Tensor:
        """Zhu-Net cross-entropy on covers (label 0) and stego images (label 1)."""
        logits = self.detector(torch.cat([cover, stego8]))
        labels = torch.cat([torch.full_like(cover[:, 0, 0, 0], COVER), torch.full_like(cover[:, 0, 0, 0], STEGO)])
        return F.cross_entropy(logits, labels.long())

    def generator_losses(self, cover: torch.Tensor) -> dict[str, torch.Tensor]:
        """Hide random bits in ``cover``, pass the channel, reveal; every weighted term and the total."""
        message = random_message(self.hider, cover)
        stego, _ = self.hider(cover, message)
        stego8 = quantize_ste(stego)
        cover_view, stego_view = cover, stego8
        if self.platform_channel is not None:
            self.platform_channel.step = self.global_step
            if self.detector is not None and self.hparams.detector_view == "served":
                received, cover_view, stego_view = self.platform_channel.forward_with_views(stego, cover)
            else:
                received = self.platform_channel(stego)
            revealed = self.hider.reveal(received)
        else:
            revealed = self.hider.reveal(self.channel(stego))
        losses = {"payload": self.payload_loss(revealed, message), "image": self.image_loss(stego8, cover)}
        total = self.hparams.payload_weight * losses["payload"] + self.hparams.image_weight * losses["image"]
        if self.lpips is not None:
            losses["lpips"] = self.lpips(stego8, cover).mean()
            total = total + self.hparams.lpips_weight * losses["lpips"]
        if self.detector is not None:
            fooled = torch.full_like(cover[:, 0, 0, 0], COVER).long()
            losses["adversarial"] = F.cross_entropy(self.detector(stego_view), fooled)
            total = total + self.hparams.adversarial_weight * losses["adversarial"]
        losses["bit_accuracy"] = bit_accuracy(revealed.detach(), message).mean()
        return {**losses, "loss": total, "cover_view": cover_view, "stego_view": stego_view.detach()}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        cover = batch["image"]
        optimizers = self.optimizers()
        hider_optimizer = optimizers[0] if isinstance(optimizers, list) else optimizers
        out = self.generator_losses(cover)
        skipped = not self.optimizer_step_guarded(hider_optimizer, out["loss"], self.hparams.gradient_clip)
        logs = {k: v.detach() for k, v in out.items() if k not in ("cover_view", "stego_view")}
        if self.detector is not None:
            detector_loss = self.detector_loss(out["cover_view"], out["stego_view"])
            skipped += not self.optimizer_step_guarded(optimizers[1], detector_loss, self.hparams.gradient_clip)
            logs["detector_loss"] = detector_loss.detach()
        logs["skipped_steps"] = torch.tensor(float(skipped))
        self.log_stage("train", logs, cover.shape[0])
        self.log("train/bits", logs["bit_accuracy"], prog_bar=True, logger=False, batch_size=cover.shape[0])

    def hide(self, cover: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Hide bits drawn from ``seed`` in ``cover``; return ``(8-bit stego, message)``."""
        message = random_message(self.hider, cover, torch.Generator().manual_seed(seed))
        return quantize_ste(self.hider(cover, message)[0]), message

    def evaluate(self, batch: dict[str, torch.Tensor], batch_idx: int, stage: str) -> None:
        cover = batch["image"]
        stego8, message = self.hide(cover, batch_idx)
        metrics = {
            "bit_accuracy_identity": bit_accuracy(self.hider.reveal(stego8), message).mean(),
            "psnr": psnr(stego8, cover),
            "ssim": ssim(stego8, cover),
        }
        for quality in self.hparams.val_qualities:
            accuracy = bit_accuracy(self.hider.reveal(self.channel.real_jpeg(stego8, int(quality))), message)
            metrics[f"bit_accuracy_q{quality}"] = accuracy.mean()
            metrics[f"bit_exact_q{quality}"] = (accuracy == 1).float().mean()
        if self.platform_channel is not None:
            accuracies = []
            for name, condition in self.platform_channel.validation_conditions().items():
                received = self.platform_channel.apply(stego8, condition)
                accuracies.append(bit_accuracy(self.hider.reveal(received), message).mean())
                metrics[f"platform/bit_accuracy_{name}"] = accuracies[-1]
            metrics["platform/bit_accuracy"] = torch.stack(accuracies).mean()
        if self.lpips is not None:
            metrics["lpips"] = self.lpips(stego8, cover).mean()
        if self.detector is not None:
            cover_view, stego_view = cover, stego8
            if self.hparams.detector_view == "served":
                _, cover_view, stego_view = self.platform_channel.views(stego8, cover, self.platform_channel.view_condition())
            logits = self.detector(torch.cat([cover_view, stego_view]))
            labels = torch.cat([torch.zeros_like(cover[:, 0, 0, 0]), torch.ones_like(cover[:, 0, 0, 0])])
            metrics["detector_accuracy"] = (logits.argmax(dim=1) == labels.long()).float().mean()
        self.log_stage(stage, metrics, cover.shape[0])
        if batch_idx == 0:
            k = self.hparams.num_logged_images
            self.log_media_images(stage, "cover", cover[:k])
            self.log_media_images(stage, "stego", stego8[:k])
            self.log_media_images(stage, "residual_x10", residual_x10(stego8[:k], cover[:k]))

    def predict(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Stego images (random bits) and their residuals ×10."""
        stego8, _ = self.hide(batch["image"], 0)
        return {"stego": stego8, "residual_x10": residual_x10(stego8, batch["image"])}

    def configure_optimizers(self) -> Any:
        groups = [(self.hider.parameters(), self.optimizer, self.lr_scheduler)]
        if self.detector is not None:
            groups.append((self.detector.parameters(), self.detector_optimizer, self.detector_lr_scheduler))
        return self.configure_optimizer_groups(*groups)

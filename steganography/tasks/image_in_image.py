"""LightningModule for the Rehman et al. (2017) image-in-image CNN baseline."""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from common.image import to_uint8
from common.media import log_images
from common.metrics import psnr, ssim
from steganography.image_in_image import (
    ImageInImageDecoder,
    ImageInImageEncoder,
    ImageInImageLoss,
    to_grey,
)

PAYLOAD_BITS_PER_PIXEL = 8  # one 8-bit grey payload pixel per cover pixel


class ImageInImageTask(pl.LightningModule):
    """Hide the grey version of ``batch["secret"]`` in ``batch["image"]`` and reveal it.

    Args:
        depth: encoder host-branch depth (paper: 7).
        channels: conv width (paper: 16).
        alpha: cover loss weight.
        beta: payload loss weight.
        lr: Adam learning rate (paper: 1e-4).
        weight_decay: L2 weight penalty λ (paper: 1e-4).
        num_logged_images: fixed validation images shown in TensorBoard.
    """

    def __init__(
        self,
        depth: int = 7,
        channels: int = 16,
        alpha: float = 1.0,
        beta: float = 1.0,
        lr: float = 1e-4,
        weight_decay: float = 1e-4,
        num_logged_images: int = 4,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.encoder = ImageInImageEncoder(depth, channels)
        self.decoder = ImageInImageDecoder(channels)
        self.loss = ImageInImageLoss(alpha, beta)

    def forward(self, cover: torch.Tensor, secret: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(stego, revealed)``; the stego image is rounded to 8 bits before revealing
        at evaluation time."""
        stego = self.encoder(cover, secret)
        channel = stego if self.training else to_uint8(stego).float() / 255.0
        return stego, self.decoder(channel)

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
        cover, secret = batch["image"], to_grey(batch["secret"])
        stego, revealed = self(cover, secret)
        losses = self.loss(cover, stego, secret, revealed)
        on_step = stage == "train"
        self.log_dict({f"{stage}/{k}": v for k, v in losses.items()}, on_step=on_step, on_epoch=not on_step, sync_dist=not on_step, prog_bar=on_step)
        if stage != "train":
            stego8 = to_uint8(stego).float() / 255.0
            self.log_dict(
                {
                    f"{stage}/cover_psnr": psnr(stego8, cover),
                    f"{stage}/cover_ssim": ssim(stego8, cover),
                    f"{stage}/secret_psnr": psnr(revealed.clamp(0, 1), secret),
                    f"{stage}/secret_ssim": ssim(revealed.clamp(0, 1), secret),
                    f"{stage}/bpp": float(PAYLOAD_BITS_PER_PIXEL),
                },
                sync_dist=True,
            )
        return {"stego": stego, "revealed": revealed, **losses}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self._step(batch, "val")
        if batch_idx == 0:
            k = self.hparams.num_logged_images
            cover, stego = batch["image"][:k], out["stego"][:k].clamp(0, 1)
            log_images(self, "val/cover", cover)
            log_images(self, "val/stego", stego)
            log_images(self, "val/residual_x10", ((stego - cover) * 10 + 0.5).clamp(0, 1))
            log_images(self, "val/secret", to_grey(batch["secret"][:k]).expand(-1, 3, -1, -1))
            log_images(self, "val/revealed", out["revealed"][:k].clamp(0, 1).expand(-1, 3, -1, -1))

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

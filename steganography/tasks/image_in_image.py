"""LightningModules that hide a grey image in a colour image: the Rehman et al. (2017) CNN
baseline and an invertible (HiNet-style) variant built from :mod:`steganography.models.inn`.

Both share one batch contract (``{"image": cover RGB, "secret": RGB turned grey}``), one loss
(α·MSE(stego, cover) + β·MSE(revealed, secret)), the same logged metrics and the same TensorBoard
images, so their runs compare directly in TensorBoard.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from common.image import to_uint8
from common.media import residual_x10
from common.metrics import psnr, ssim
from common.task import Task
from steganography.models.channel import quantize_ste
from steganography.models.image_in_image import ImageInImageLoss, ImageInImageNetwork, to_grey
from steganography.models.inn import InvertibleHider

PAYLOAD_BITS_PER_PIXEL = 8  # one 8-bit grey payload pixel per cover pixel


class ImageInImageTaskBase(Task):
    """Steps, metrics and TensorBoard images shared by the image-in-image tasks.

    Subclasses set ``self.loss`` (an :class:`ImageInImageLoss`), save the hyperparameters
    ``num_logged_images``, ``lr`` and ``weight_decay``, and implement
    ``forward(cover, secret) -> (stego, revealed)`` that reveals from the 8-bit-rounded stego
    image at evaluation time.
    """

    monitor, monitor_mode = "val/loss", "min"
    hparam_metrics = ("val/loss", "val/cover_psnr", "val/cover_ssim", "val/secret_psnr", "val/secret_ssim")

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
        cover, secret = batch["image"], to_grey(batch["secret"])
        stego, revealed = self(cover, secret)
        losses = self.loss(cover, stego, secret, revealed)
        metrics = dict(losses)
        if stage != "train":
            stego8 = to_uint8(stego).float() / 255.0
            metrics |= {
                "cover_psnr": psnr(stego8, cover),
                "cover_ssim": ssim(stego8, cover),
                "secret_psnr": psnr(revealed.clamp(0, 1), secret),
                "secret_ssim": ssim(revealed.clamp(0, 1), secret),
                "bpp": float(PAYLOAD_BITS_PER_PIXEL),
            }
        self.log_stage(stage, metrics, cover.shape[0], prog_bar=stage == "train")
        return {"stego": stego, "revealed": revealed, **losses}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")["loss"]

    def evaluate(self, batch: dict[str, torch.Tensor], batch_idx: int, stage: str) -> None:
        out = self._step(batch, stage)
        if batch_idx == 0:
            k = self.hparams.num_logged_images
            cover, stego = batch["image"][:k], out["stego"][:k].clamp(0, 1)
            self.log_media_images(stage, "cover", cover)
            self.log_media_images(stage, "stego", stego)
            self.log_media_images(stage, "residual_x10", residual_x10(stego, cover))
            self.log_media_images(stage, "secret", to_grey(batch["secret"][:k]).expand(-1, 3, -1, -1))
            self.log_media_images(stage, "revealed", out["revealed"][:k].clamp(0, 1).expand(-1, 3, -1, -1))

    def predict(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The 8-bit stego images and the secrets revealed from them."""
        stego, revealed = self(batch["image"], to_grey(batch["secret"]))
        return {"stego": to_uint8(stego).float() / 255.0, "revealed": revealed.clamp(0, 1)}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)


class ImageInImageTask(ImageInImageTaskBase):
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

    exported_module = "network"

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
        self.network = ImageInImageNetwork(depth, channels)
        self.loss = ImageInImageLoss(alpha, beta)

    def exported_init_args(self) -> dict[str, Any]:
        return {"depth": self.hparams.depth, "channels": self.hparams.channels}

    def forward(self, cover: torch.Tensor, secret: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(stego, revealed)``; the stego image is rounded to 8 bits before revealing
        at evaluation time."""
        return self.network(cover, secret)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load a state, also one saved before :attr:`network` held the encoder and decoder."""
        state_dict = {f"network.{key}" if key.startswith(("encoder.", "decoder.")) else key: value
                      for key, value in state_dict.items()}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


class INNImageInImageTask(ImageInImageTaskBase):
    """Hide the grey secret in the cover with an :class:`~steganography.models.inn.InvertibleHider`.

    The centred secret (``secret − 0.5``, zero-mean like the reveal's constant ``z = 0``) is
    folded into the message branch by ``pixel_unshuffle(·, 2**levels)`` (``4**levels`` channels at
    ``H/s × W/s``); the revealed secret is the ``pixel_shuffle`` of the message that the hider
    reveals from the stego image alone. The payload loss goes through that reveal, so the network
    learns to leave ``z`` uninformative; there is no separate ``z`` loss. The stego image passes
    the 8-bit channel with a straight-through gradient (:func:`~steganography.models.channel.quantize_ste`,
    the same values as 8-bit rounding), in training and evaluation alike.

    Args:
        levels: Haar levels of the hider; image sides must be multiples of ``2**levels``.
        num_blocks: affine coupling blocks.
        width: dense-layer growth rate of the coupling subnets.
        depth: dense layers per subnet.
        clamp: soft-clamp bound of the coupling log-scales.
        alpha: cover loss weight.
        beta: payload loss weight.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        num_logged_images: fixed validation images shown in TensorBoard.
    """

    exported_module = "hider"

    def __init__(
        self,
        levels: int = 1,
        num_blocks: int = 16,
        width: int = 32,
        depth: int = 4,
        clamp: float = 2.0,
        alpha: float = 1.0,
        beta: float = 1.0,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        num_logged_images: int = 4,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.hider = InvertibleHider(levels, 4**levels, num_blocks, width, depth, clamp)
        self.loss = ImageInImageLoss(alpha, beta)

    def exported_init_args(self) -> dict[str, Any]:
        args = {key: self.hparams[key] for key in ("levels", "num_blocks", "width", "depth", "clamp")}
        return {**args, "message_channels": 4**self.hparams.levels}

    def forward(self, cover: torch.Tensor, secret: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(stego, revealed)`` for ``cover (B, 3, H, W)`` and grey ``secret (B, 1, H, W)``;
        ``stego`` is unclamped and ``revealed`` comes from its 8-bit rounding."""
        block = self.hider.block_size
        stego, _ = self.hider(cover, F.pixel_unshuffle(secret - 0.5, block))
        revealed = F.pixel_shuffle(self.hider.reveal(quantize_ste(stego)), block) + 0.5
        return stego, revealed

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

from common.export import instantiate, spec
from common.image import to_uint8
from common.media import residual_x10
from common.metrics import psnr, ssim
from common.task import LRSchedulerCallable, OptimizerCallable, Task, adam
from steganography.models.channel import quantize_ste
from steganography.models.image_in_image import (
    ImageInImageLoss,
    ImageInImageNetwork,
    to_grey,
)
from steganography.models.inn import InvertibleHider

PAYLOAD_BITS_PER_PIXEL = 8  # one 8-bit grey payload pixel per cover pixel

#: Defaults of the tasks (specs: ``class_path`` + ``init_args``, built by the task): the paper's
#: CNN and its optimiser (the L2 weight penalty λ = 1e-4 as Adam's weight decay); HiNet's one
#: Haar level and 16 couplings, ``message_channels = 4**levels``.
DEFAULT_NETWORK = spec(ImageInImageNetwork, depth=7, channels=16)
DEFAULT_CNN_OPTIMIZER = adam(1e-4, weight_decay=1e-4)
DEFAULT_HIDER = spec(InvertibleHider, levels=1, message_channels=4, num_blocks=16, width=32, depth=4, clamp=2.0)
DEFAULT_INN_OPTIMIZER = adam(1e-4)


class ImageInImageTaskBase(Task):
    """Steps, metrics and TensorBoard images shared by the image-in-image tasks.

    Subclasses set ``self.loss`` (an :class:`ImageInImageLoss`), ``self.optimizer`` and
    ``self.lr_scheduler`` (of all parameters), save the hyperparameter ``num_logged_images``, and
    implement ``forward(cover, secret) -> (stego, revealed)`` that reveals from the 8-bit-rounded
    stego image at evaluation time.
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

    def configure_optimizers(self) -> Any:
        return self.configure_optimizer_groups((self.parameters(), self.optimizer, self.lr_scheduler))


class ImageInImageTask(ImageInImageTaskBase):
    """Hide the grey version of ``batch["secret"]`` in ``batch["image"]`` and reveal it.

    Args:
        network: the encoder and decoder (paper: depth 7, 16 channels).
        alpha: cover loss weight.
        beta: payload loss weight.
        optimizer: optimiser (paper: Adam, lr 1e-4, the L2 weight penalty λ = 1e-4 as weight decay).
        lr_scheduler: learning-rate scheduler, stepped per epoch (default: none).
        num_logged_images: fixed validation images shown in TensorBoard.
    """

    exported_module = "network"

    def __init__(
        self,
        network: ImageInImageNetwork = DEFAULT_NETWORK,
        alpha: float = 1.0,
        beta: float = 1.0,
        optimizer: OptimizerCallable = DEFAULT_CNN_OPTIMIZER,
        lr_scheduler: LRSchedulerCallable | None = None,
        num_logged_images: int = 4,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.network = instantiate(network)
        self.loss = ImageInImageLoss(alpha, beta)
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler

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
        hider: the invertible hider; image sides must be multiples of its ``2**levels``, and its
            ``message_channels`` must be ``4**levels`` (one grey pixel per cover pixel).
        alpha: cover loss weight.
        beta: payload loss weight.
        optimizer: optimiser (default: Adam, lr 1e-4).
        lr_scheduler: learning-rate scheduler, stepped per epoch (default: none).
        num_logged_images: fixed validation images shown in TensorBoard.
    """

    exported_module = "hider"

    def __init__(
        self,
        hider: InvertibleHider = DEFAULT_HIDER,
        alpha: float = 1.0,
        beta: float = 1.0,
        optimizer: OptimizerCallable = DEFAULT_INN_OPTIMIZER,
        lr_scheduler: LRSchedulerCallable | None = None,
        num_logged_images: int = 4,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.hider = instantiate(hider)
        if self.hider.message_channels != 4**self.hider.levels:
            raise ValueError(f"the hider needs message_channels = 4**levels = {4**self.hider.levels}, got {self.hider.message_channels}")
        self.loss = ImageInImageLoss(alpha, beta)
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler

    def forward(self, cover: torch.Tensor, secret: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(stego, revealed)`` for ``cover (B, 3, H, W)`` and grey ``secret (B, 1, H, W)``;
        ``stego`` is unclamped and ``revealed`` comes from its 8-bit rounding."""
        block = self.hider.block_size
        stego, _ = self.hider(cover, F.pixel_unshuffle(secret - 0.5, block))
        revealed = F.pixel_shuffle(self.hider.reveal(quantize_ste(stego)), block) + 0.5
        return stego, revealed

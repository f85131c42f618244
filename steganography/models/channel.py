"""The channel between hider and revealer: 8-bit quantisation, then identity or JPEG.

Training draws, per call, one of three paths (weights configurable):

* ``identity``: only 8-bit quantisation (the stego PNG itself);
* ``differentiable``: kornia's differentiable JPEG (Reich et al., WACV 2024) at a random quality;
* ``real``: Pillow's real JPEG encoder (the platform's), made trainable with a straight-through
  gradient: the forward value is exactly Pillow's output, the backward pass goes through the
  differentiable approximation (``real_backward="differentiable"``) or is the identity
  (``real_backward="identity"``).

Qualities are drawn per image, uniformly from ``quality_range`` (integers, inclusive). In eval mode
the channel is deterministic: real JPEG at ``eval_quality``, or quantisation only when it is None.
Every path clamps to [0, 1] and quantises to 8 bits first, with a straight-through gradient.
"""

from __future__ import annotations

import torch
from kornia.enhance import jpeg_codec_differentiable
from torch import nn

from common.export import exportable
from common.image import jpeg_roundtrip_tensor

#: Channel paths, in the order of the ``*_weight`` arguments of :class:`JpegChannel`.
MODES = ("identity", "differentiable", "real")


def straight_through(forward_value: torch.Tensor, gradient_path: torch.Tensor) -> torch.Tensor:
    """``forward_value`` exactly in the forward pass, the gradient of ``gradient_path`` backward."""
    return forward_value.detach() + (gradient_path - gradient_path.detach())


def quantize_ste(images: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to 8-bit levels (``k/255``), with gradient 1 (straight through)."""
    quantized = torch.round(images.detach().clamp(0.0, 1.0) * 255.0) / 255.0
    return straight_through(quantized, images)


@exportable
class JpegChannel(nn.Module):
    """Random JPEG channel for training, fixed-quality real JPEG for evaluation.

    Args:
        identity_weight: relative probability of the quantisation-only path.
        differentiable_weight: relative probability of kornia's differentiable JPEG.
        real_weight: relative probability of Pillow's JPEG with a straight-through gradient.
        quality_range: inclusive ``(low, high)`` JPEG qualities drawn in training.
        real_backward: gradient of the real path, ``"differentiable"`` or ``"identity"``.
        eval_quality: real-JPEG quality in eval mode; ``None`` means quantisation only.
        subsampling: chroma subsampling of the real encoder (platforms use ``"4:2:0"``).
    """

    def __init__(
        self,
        identity_weight: float = 1.0,
        differentiable_weight: float = 2.0,
        real_weight: float = 1.0,
        quality_range: tuple[int, int] = (50, 95),
        real_backward: str = "differentiable",
        eval_quality: int | None = None,
        subsampling: str = "4:2:0",
    ) -> None:
        super().__init__()
        weights = (identity_weight, differentiable_weight, real_weight)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"mode weights must be >= 0 with a positive sum, got {weights}")
        low, high = quality_range
        if not 1 <= low <= high <= 100:
            raise ValueError(f"quality_range must satisfy 1 <= low <= high <= 100, got {quality_range}")
        if real_backward not in {"differentiable", "identity"}:
            raise ValueError(f"real_backward must be 'differentiable' or 'identity', got {real_backward!r}")
        if eval_quality is not None and not 1 <= eval_quality <= 100:
            raise ValueError(f"eval_quality must be in [1, 100], got {eval_quality}")
        self.mode_probabilities = torch.tensor(weights, dtype=torch.float64) / sum(weights)
        self.quality_range = (int(low), int(high))
        self.real_backward = real_backward
        self.eval_quality = eval_quality
        self.subsampling = subsampling

    def sample_mode(self) -> str:
        """Draw one of :data:`MODES` with the configured probabilities."""
        return MODES[int(torch.multinomial(self.mode_probabilities, 1))]

    def sample_qualities(self, batch_size: int) -> torch.Tensor:
        """Integer qualities ``(B,)`` drawn uniformly from ``quality_range``."""
        low, high = self.quality_range
        return torch.randint(low, high + 1, (batch_size,))

    def differentiable_jpeg(self, images: torch.Tensor, qualities: torch.Tensor) -> torch.Tensor:
        """Kornia's differentiable JPEG of ``images`` in [0, 1] at per-image ``qualities (B,)``."""
        return jpeg_codec_differentiable(images, qualities.to(images.device, images.dtype))

    def real_jpeg(self, images: torch.Tensor, qualities: torch.Tensor | int) -> torch.Tensor:
        """Pillow's JPEG of 8-bit ``images`` in [0, 1] (forward exact) with a straight-through gradient."""
        if isinstance(qualities, int):
            qualities = torch.full((images.shape[0],), qualities)
        decoded = torch.cat(
            [
                jpeg_roundtrip_tensor(image.unsqueeze(0), int(quality), self.subsampling)
                for image, quality in zip(images, qualities.tolist())
            ]
        )
        if self.real_backward == "identity" or not images.requires_grad:
            return straight_through(decoded, images)
        return straight_through(decoded, self.differentiable_jpeg(images, qualities))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pass stego ``images (B, 3, H, W)`` (any range; clamped and quantised first) through the channel."""
        quantized = quantize_ste(images)
        if not self.training:
            if self.eval_quality is None:
                return quantized
            return self.real_jpeg(quantized, self.eval_quality)
        mode = self.sample_mode()
        if mode == "identity":
            return quantized
        qualities = self.sample_qualities(images.shape[0])
        if mode == "differentiable":
            return self.differentiable_jpeg(quantized, qualities)
        return self.real_jpeg(quantized, qualities)

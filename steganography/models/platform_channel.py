"""A sharing platform as a trainable channel: unknown downscale, crop, JPEG chains, noise.

What a photo goes through between sender and receiver, in order (each step switchable in YAML):

1. 8-bit quantisation (the sender's PNG), straight-through gradient;
2. **crop**: a random share in ``[0, max_crop]`` cut from each edge (a forwarded or re-shared copy);
3. **downscale**: a random factor in ``downscale_range`` with one of ``kernels`` (antialiased
   bilinear / bicubic / area), never upscaling (the platform's size rule);
4. **JPEG**: one or (with ``chain_probability``) two JPEGs at qualities drawn from
   ``quality_range`` — by default the union of the platform profiles' reported ranges from
   :mod:`common.platforms` minus their margin, up to 95. The forward value is real Pillow JPEG
   (4:2:0 like the platforms) and the gradient that of kornia's differentiable JPEG
   (``jpeg="real"``), or kornia's approximation both ways (``jpeg="differentiable"``);
5. **noise**: Gaussian, standard deviation up to ``noise_std``;
6. **back to the canonical grid**: the receiver resamples what it got to the size the hider
   worked at (antialiased bilinear), so the revealer always sees the hider's grid, shifted and
   blurred by the crop and the round trip through the smaller size.

A **curriculum** scales every strength by ``min(1, step / curriculum_steps)``: no crop, no
downscale, quality 95 and no noise at step 0, the full ranges from ``curriculum_steps`` on.
:meth:`PlatformChannel.apply` runs one fixed condition (validation per condition, benchmarks).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from kornia.enhance import jpeg_codec_differentiable
from torch import nn

from common.image import jpeg_roundtrip_tensor
from common.platforms import MAX_CHECK_QUALITY, PROFILES
from steganography.models.channel import quantize_ste, straight_through

#: Resampling kernels a platform may downscale with (``F.interpolate`` modes).
KERNELS = ("bilinear", "bicubic", "area")


def platform_quality_range() -> tuple[int, int]:
    """Lowest design quality of any platform profile, up to :data:`MAX_CHECK_QUALITY`."""
    return min(profile.design_quality for profile in PROFILES.values()), MAX_CHECK_QUALITY


@dataclasses.dataclass(frozen=True)
class Condition:
    """One trip through the channel.

    Attributes:
        crop: share of the side cut from the left, top, right and bottom edges.
        scale: downscale factor (1 = none).
        kernel: resampling kernel of the downscale (one of :data:`KERNELS`).
        qualities: JPEG qualities in order (empty: no JPEG).
        noise_std: Gaussian noise standard deviation (in [0, 1] units).
    """

    crop: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    scale: float = 1.0
    kernel: str = "bilinear"
    qualities: tuple[int, ...] = ()
    noise_std: float = 0.0


def resize(images: torch.Tensor, height: int, width: int, kernel: str) -> torch.Tensor:
    """Differentiable resize of ``(B, C, H, W)``, antialiased where the kernel supports it."""
    if kernel == "area":
        return F.interpolate(images, size=(height, width), mode="area")
    return F.interpolate(images, size=(height, width), mode=kernel, align_corners=False, antialias=True)


class PlatformChannel(nn.Module):
    """Random platform channel for training (see the module docstring).

    Args:
        crop_probability: probability that an image is cropped.
        max_crop: largest share cut from one edge (0.03 = 3 %).
        downscale_probability: probability that an image is downscaled.
        downscale_range: inclusive range of the downscale factor (≤ 1).
        kernels: downscale kernels drawn uniformly.
        jpeg_probability: probability of at least one JPEG.
        chain_probability: probability of a second JPEG, given the first.
        quality_range: inclusive JPEG quality range; ``None``: :func:`platform_quality_range`.
        jpeg: ``"real"`` (Pillow forward, kornia gradient) or ``"differentiable"`` (kornia both ways).
        noise_std: largest Gaussian noise standard deviation.
        curriculum_steps: steps over which the strengths ramp up from none (0: full from the start).
    """

    def __init__(
        self,
        crop_probability: float = 0.5,
        max_crop: float = 0.03,
        downscale_probability: float = 0.8,
        downscale_range: tuple[float, float] = (0.5, 1.0),
        kernels: tuple[str, ...] = KERNELS,
        jpeg_probability: float = 0.9,
        chain_probability: float = 0.3,
        quality_range: tuple[int, int] | None = None,
        jpeg: str = "real",
        noise_std: float = 0.01,
        curriculum_steps: int = 0,
    ) -> None:
        super().__init__()
        low, high = quality_range if quality_range is not None else platform_quality_range()
        if not 1 <= low <= high <= 100:
            raise ValueError(f"quality_range must satisfy 1 <= low <= high <= 100, got {(low, high)}")
        if not 0 < downscale_range[0] <= downscale_range[1] <= 1:
            raise ValueError(f"downscale_range must lie in (0, 1], got {downscale_range}")
        if not 0 <= max_crop < 0.5 or not kernels or set(kernels) - set(KERNELS) or jpeg not in ("real", "differentiable"):
            raise ValueError("max_crop must be in [0, 0.5), kernels among %s, jpeg 'real' or 'differentiable'" % (KERNELS,))
        for name, value in (("crop", crop_probability), ("downscale", downscale_probability), ("jpeg", jpeg_probability), ("chain", chain_probability)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name}_probability must be in [0, 1], got {value}")
        self.crop_probability, self.max_crop = crop_probability, max_crop
        self.downscale_probability, self.downscale_range, self.kernels = downscale_probability, tuple(downscale_range), tuple(kernels)
        self.jpeg_probability, self.chain_probability, self.quality_range, self.jpeg = jpeg_probability, chain_probability, (int(low), int(high)), jpeg
        self.noise_std, self.curriculum_steps = noise_std, curriculum_steps
        #: Training step that sets the curriculum strength.
        self.step = 0

    def strength(self) -> float:
        """Curriculum factor in [0, 1] at the current :attr:`step`."""
        return 1.0 if self.curriculum_steps <= 0 else min(1.0, self.step / self.curriculum_steps)

    def sample_condition(self, generator: torch.Generator | None = None) -> Condition:
        """Draw one condition at the current curriculum strength."""
        strength = self.strength()

        def uniform(low: float, high: float) -> float:
            return low + (high - low) * float(torch.rand((), generator=generator))

        def happens(probability: float) -> bool:
            return float(torch.rand((), generator=generator)) < probability

        crop = tuple(uniform(0.0, strength * self.max_crop) for _ in range(4)) if happens(self.crop_probability) else (0.0,) * 4
        low, high = self.downscale_range
        scale = 1.0 - strength * (1.0 - uniform(low, high)) if happens(self.downscale_probability) else 1.0
        kernel = self.kernels[int(torch.randint(len(self.kernels), (), generator=generator))]
        qualities: tuple[int, ...] = ()
        if happens(self.jpeg_probability):
            count = 2 if happens(self.chain_probability) else 1
            q_low, q_high = self.quality_range
            floor = round(MAX_CHECK_QUALITY - strength * (MAX_CHECK_QUALITY - q_low)) if q_low < MAX_CHECK_QUALITY else q_low
            qualities = tuple(int(torch.randint(min(floor, q_high), q_high + 1, (), generator=generator)) for _ in range(count))
        noise = uniform(0.0, strength * self.noise_std)
        return Condition(crop, scale, kernel, qualities, noise)  # type: ignore[arg-type]

    def jpeg_once(self, images: torch.Tensor, quality: int) -> torch.Tensor:
        """One JPEG of 8-bit ``images`` at ``quality``: real forward + kornia gradient, or kornia only."""
        qualities = torch.full((images.shape[0],), float(quality), device=images.device, dtype=images.dtype)
        approximation = jpeg_codec_differentiable(images, qualities)
        if self.jpeg == "differentiable":
            return quantize_ste(approximation)
        return straight_through(jpeg_roundtrip_tensor(images.detach(), quality), approximation)

    def apply(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        """``images (B, 3, H, W)`` in [0, 1] after ``condition``, resampled back to ``H × W``."""
        height, width = images.shape[-2:]
        received = quantize_ste(images)
        left, top, right, bottom = (math.floor(share * side) for share, side in zip(condition.crop, (width, height, width, height)))
        received = received[..., top : height - bottom, left : width - right]
        if condition.scale < 1.0:
            small = (max(8, round(received.shape[-2] * condition.scale)), max(8, round(received.shape[-1] * condition.scale)))
            received = quantize_ste(resize(received, *small, condition.kernel))
        for quality in condition.qualities:
            received = self.jpeg_once(received, quality)
        if condition.noise_std > 0:
            received = quantize_ste(received + condition.noise_std * torch.randn_like(received))
        if received.shape[-2:] != (height, width):
            received = resize(received, height, width, "bilinear")
        return received

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Each image through its own random condition at the curriculum's :attr:`step` (the
        training task sets it to its global step, so a resumed run continues the curriculum)."""
        return torch.cat([self.apply(image[None], self.sample_condition()) for image in images])

"""A sharing platform as a trainable channel: unknown rescale, crop, JPEG chains, noise.

What a photo goes through between sender and receiver, in order (each step switchable in YAML):

1. 8-bit quantisation (the sender's PNG), straight-through gradient;
2. **crop**: a random share in ``[0, max_crop]`` cut from each edge (a forwarded or re-shared copy);
3. **rescale**: the received size relative to the grid the hider worked at, a random factor in
   ``scale_range`` (drawn per axis with ``independent_axes``) with one of ``kernels`` (antialiased
   bilinear / bicubic / area). Factors below 1 are a platform's downscale of a hider that works at
   full resolution; factors above 1 model a hider that works on a small *canonical grid* whose
   residual the sender upsamples to the cover, which the platform then shrinks to a size that is
   still larger than the grid (:mod:`steganography.embedders.canonical`);
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
rescale, quality 95 and no noise at step 0, the full ranges from ``curriculum_steps`` on.
:meth:`PlatformChannel.apply` runs one fixed condition and
:meth:`PlatformChannel.validation_conditions` names the fixed conditions that span the channel's
own ranges (validation per band, benchmarks).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from kornia.enhance import jpeg_codec_differentiable
from torch import nn

from common.export import exportable
from common.image import jpeg_roundtrip_tensor
from common.platforms import MAX_CHECK_QUALITY, PROFILES
from steganography.models.channel import quantize_ste, straight_through

#: Resampling kernels a platform may resize with (``F.interpolate`` modes).
KERNELS = ("bilinear", "bicubic", "area")


def platform_quality_range() -> tuple[int, int]:
    """Lowest design quality of any platform profile, up to :data:`MAX_CHECK_QUALITY`."""
    return min(profile.design_quality for profile in PROFILES.values()), MAX_CHECK_QUALITY


@dataclasses.dataclass(frozen=True)
class Condition:
    """One trip through the channel.

    Attributes:
        crop: share of the side cut from the left, top, right and bottom edges.
        scale: received width over the hider's grid width (1 = same size).
        kernel: resampling kernel of the rescale (one of :data:`KERNELS`).
        qualities: JPEG qualities in order (empty: no JPEG).
        noise_std: Gaussian noise standard deviation (in [0, 1] units).
        scale_y: received height over the grid height (``None``: same as ``scale``).
    """

    crop: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    scale: float = 1.0
    kernel: str = "bilinear"
    qualities: tuple[int, ...] = ()
    noise_std: float = 0.0
    scale_y: float | None = None

    @property
    def scales(self) -> tuple[float, float]:
        """Height and width factors (``scale_y`` defaults to ``scale``: aspect preserved)."""
        return (self.scale if self.scale_y is None else self.scale_y), self.scale


def resize(images: torch.Tensor, height: int, width: int, kernel: str) -> torch.Tensor:
    """Differentiable resize of ``(B, C, H, W)``, antialiased where the kernel supports it."""
    if kernel == "area":
        return F.interpolate(images, size=(height, width), mode="area")
    return F.interpolate(images, size=(height, width), mode=kernel, align_corners=False, antialias=True)


@exportable
class PlatformChannel(nn.Module):
    """Random platform channel for training (see the module docstring).

    Args:
        crop_probability: probability that an image is cropped.
        max_crop: largest share cut from one edge (0.03 = 3 %).
        scale_probability: probability that an image is rescaled.
        scale_range: inclusive range of the rescale factor (received size / hider grid size).
        independent_axes: draw the height factor independently of the width factor (a square
            canonical grid maps to covers of any aspect ratio).
        kernels: rescale kernels drawn uniformly.
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
        scale_probability: float = 0.8,
        scale_range: tuple[float, float] = (0.5, 1.0),
        independent_axes: bool = False,
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
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
        if not 0 <= max_crop < 0.5 or not kernels or set(kernels) - set(KERNELS) or jpeg not in ("real", "differentiable"):
            raise ValueError("max_crop must be in [0, 0.5), kernels among %s, jpeg 'real' or 'differentiable'" % (KERNELS,))
        for name, value in (("crop", crop_probability), ("scale", scale_probability), ("jpeg", jpeg_probability), ("chain", chain_probability)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name}_probability must be in [0, 1], got {value}")
        self.crop_probability, self.max_crop = crop_probability, max_crop
        self.scale_probability, self.scale_range, self.kernels = scale_probability, tuple(scale_range), tuple(kernels)
        self.independent_axes = independent_axes
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
        low, high = self.scale_range
        rescaled = happens(self.scale_probability)
        scale = 1.0 + strength * (uniform(low, high) - 1.0) if rescaled else 1.0
        scale_y = 1.0 + strength * (uniform(low, high) - 1.0) if rescaled and self.independent_axes else None
        kernel = self.kernels[int(torch.randint(len(self.kernels), (), generator=generator))]
        qualities: tuple[int, ...] = ()
        if happens(self.jpeg_probability):
            count = 2 if happens(self.chain_probability) else 1
            q_low, q_high = self.quality_range
            floor = round(MAX_CHECK_QUALITY - strength * (MAX_CHECK_QUALITY - q_low)) if q_low < MAX_CHECK_QUALITY else q_low
            qualities = tuple(int(torch.randint(min(floor, q_high), q_high + 1, (), generator=generator)) for _ in range(count))
        noise = uniform(0.0, strength * self.noise_std)
        return Condition(crop, scale, kernel, qualities, noise, scale_y)  # type: ignore[arg-type]

    def jpeg_once(self, images: torch.Tensor, quality: int) -> torch.Tensor:
        """One JPEG of 8-bit ``images`` at ``quality``: real forward + kornia gradient, or kornia only."""
        qualities = torch.full((images.shape[0],), float(quality), device=images.device, dtype=images.dtype)
        approximation = jpeg_codec_differentiable(images, qualities)
        if self.jpeg == "differentiable":
            return quantize_ste(approximation)
        return straight_through(jpeg_roundtrip_tensor(images.detach(), quality), approximation)

    def serve(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        """``images (B, 3, H, W)`` in [0, 1] as the platform serves them after ``condition``: at
        the received size, before the receiver resamples them to the grid (what a steganalyst sees)."""
        height, width = images.shape[-2:]
        received = quantize_ste(images)
        left, top, right, bottom = (math.floor(share * side) for share, side in zip(condition.crop, (width, height, width, height)))
        received = received[..., top : height - bottom, left : width - right]
        if condition.scales != (1.0, 1.0):
            size = (max(8, round(side * factor)) for side, factor in zip(received.shape[-2:], condition.scales))
            received = quantize_ste(resize(received, *size, condition.kernel))
        for quality in condition.qualities:
            received = self.jpeg_once(received, quality)
        if condition.noise_std > 0:
            received = quantize_ste(received + condition.noise_std * torch.randn_like(received))
        return received

    @staticmethod
    def to_grid(served: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """What the receiver does with ``served`` images: resample them to the ``height × width`` grid."""
        return served if served.shape[-2:] == (height, width) else resize(served, height, width, "bilinear")

    def apply(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        """``images (B, 3, H, W)`` in [0, 1] after ``condition``, resampled back to ``H × W``."""
        return self.to_grid(self.serve(images, condition), *images.shape[-2:])

    def view_condition(self) -> Condition:
        """The fixed condition of validation's steganalysis: the middle of the scale and quality
        ranges, one JPEG, no crop."""
        (low, high), (q_low, q_high) = self.scale_range, self.quality_range
        return Condition(scale=round((low + high) / 2, 2), qualities=((q_low + q_high) // 2,))

    def views(
        self, images: torch.Tensor, covers: torch.Tensor, condition: Condition | None = None, generator: torch.Generator | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """What a steganalyst sees of stego ``images`` and their ``covers``.

        Each pair goes through one condition (``condition``, or its own random one at the
        curriculum's :attr:`step`). The served cover and stego image (:meth:`serve`) are cut to
        one square side for the whole batch: the largest multiple of 8 that every served image
        holds, at most the grid's shorter side (as many pixels to judge as the hider wrote). The
        cut is at one 8-aligned offset per pair (random, or the top-left corner with a fixed
        ``condition``), so the JPEG block grid is kept. The cover passes without gradient.

        Returns:
            ``(served stego images, each (1, 3, h, w) at its received size; cover views (B, 3, S, S);
            stego views (B, 3, S, S))``.
        """
        height, width = images.shape[-2:]
        cover_served, stego_served = [], []
        for image, cover in zip(images, covers):
            drawn = condition if condition is not None else self.sample_condition(generator)
            stego_served.append(self.serve(image[None], drawn))
            with torch.no_grad():
                cover_served.append(self.serve(cover[None], drawn))
        side = min(min(height, width), *(min(served.shape[-2:]) for served in stego_served)) // 8 * 8
        if side < 8:
            raise ValueError("the served images are smaller than one 8x8 block")
        cover_views, stego_views = [], []
        for cover, stego in zip(cover_served, stego_served):
            top, left = ((int(torch.randint((extent - side) // 8 + 1, (), generator=generator)) * 8 if condition is None else 0)
                         for extent in stego.shape[-2:])  # fmt: skip
            cover_views.append(cover[..., top : top + side, left : left + side])
            stego_views.append(stego[..., top : top + side, left : left + side])
        return stego_served, torch.cat(cover_views), torch.cat(stego_views)

    def forward_with_views(
        self, images: torch.Tensor, covers: torch.Tensor, condition: Condition | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stego ``images`` through the channel for the revealer (:meth:`apply`, one condition per
        pair), and what a steganalyst sees of the same trip (:meth:`views`).

        Returns:
            ``(received (B, 3, H, W), cover views (B, 3, S, S), stego views (B, 3, S, S))``.
        """
        served, cover_views, stego_views = self.views(images, covers, condition, generator)
        return torch.cat([self.to_grid(image, *images.shape[-2:]) for image in served]), cover_views, stego_views

    def validation_conditions(self) -> dict[str, Condition]:
        """Fixed conditions spanning this channel's ranges, by name: each end and the middle of
        the scale range at a middle quality, each end and the middle of the quality range at the
        middle scale, the largest crop, and a two-JPEG chain (used for per-band validation)."""
        low, high = self.scale_range
        q_low, q_high = self.quality_range
        q_mid, scale_mid = (q_low + q_high) // 2, round((low + high) / 2, 2)

        def name(scale: float, qualities: tuple[int, ...], crop: float = 0.0) -> str:
            prefix = f"crop{round(100 * crop)}_" if crop else ""
            return f"{prefix}scale{round(100 * scale)}_" + "_".join(f"q{quality}" for quality in qualities)

        conditions = {name(scale, (q_mid,)): Condition(scale=scale, qualities=(q_mid,)) for scale in (low, scale_mid, high)}
        conditions |= {name(scale_mid, (quality,)): Condition(scale=scale_mid, qualities=(quality,)) for quality in (q_low, q_high)}
        if self.max_crop > 0:
            conditions[name(scale_mid, (q_mid,), self.max_crop)] = Condition(
                crop=(self.max_crop, self.max_crop, 0.0, 0.0), scale=scale_mid, qualities=(q_mid,)
            )
        conditions[name(scale_mid, (q_high, q_low))] = Condition(scale=scale_mid, qualities=(q_high, q_low))
        return conditions

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Each image through its own random condition at the curriculum's :attr:`step` (the
        training task sets it to its global step, so a resumed run continues the curriculum)."""
        return torch.cat([self.apply(image[None], self.sample_condition()) for image in images])

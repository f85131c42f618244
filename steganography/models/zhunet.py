"""Zhu-Net steganalyser (Zhang/Zhu et al. 2019): SRM high-pass front end, separable convolutions,
spatial pyramid pooling and a fully connected cover-vs-stego classifier.

Used both as the adversary of the hiding network and as a stand-alone detector. Logit 0 is
*cover*, logit 1 is *stego*.

Colour: the 30 SRM kernels are applied to each RGB channel separately (90 residual maps by
default, ``colour="rgb"``): a learned hider may write into any channel and JPEG treats luma and
chroma differently, so per-channel residuals keep that evidence. ``colour="grey"`` converts to
ITU-R BT.601 luma first (30 maps, as in the paper, about 3× cheaper).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from common.export import exportable

#: Number of SRM kernels.
NUM_SRM_KERNELS = 30
_LUMA = (0.299, 0.587, 0.114)


def _kernel(taps: dict[tuple[int, int], float], scale: float = 1.0) -> torch.Tensor:
    """5×5 kernel with ``taps[(row, col)]`` at offsets from the centre, divided by ``scale``."""
    kernel = torch.zeros(5, 5, dtype=torch.float64)
    for (row, col), value in taps.items():
        kernel[2 + row, 2 + col] += value
    return kernel / scale


def srm_kernels() -> torch.Tensor:
    """The 30 high-pass filters of the spatial rich model (Fridrich & Kodovský 2012), ``(30, 5, 5)``.

    Classes, each normalised as in Ye-Net/Zhu-Net: 8 first-order (neighbour − centre), 4
    second-order ``[1, −2, 1]/2``, 8 third-order ``[1, −3, 3, −1]/3`` (all directions), SQUARE 3×3
    ``/4``, 4 EDGE 3×3 ``/4``, SQUARE 5×5 ``/12``, 4 EDGE 5×5 ``/12``. Every kernel sums to zero.
    """
    neighbours = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    first = [_kernel({(0, 0): -1.0, offset: 1.0}) for offset in neighbours]
    axes = [(0, 1), (1, 0), (1, 1), (1, -1)]
    second = [_kernel({(-r, -c): 1.0, (0, 0): -2.0, (r, c): 1.0}, 2.0) for r, c in axes]
    third = [
        _kernel({(-r, -c): 1.0, (0, 0): -3.0, (r, c): 3.0, (2 * r, 2 * c): -1.0}, 3.0) for r, c in neighbours
    ]
    square3 = torch.tensor([[-1.0, 2.0, -1.0], [2.0, -4.0, 2.0], [-1.0, 2.0, -1.0]], dtype=torch.float64)
    square5 = torch.tensor(
        [
            [-1.0, 2.0, -2.0, 2.0, -1.0],
            [2.0, -6.0, 8.0, -6.0, 2.0],
            [-2.0, 8.0, -12.0, 8.0, -2.0],
            [2.0, -6.0, 8.0, -6.0, 2.0],
            [-1.0, 2.0, -2.0, 2.0, -1.0],
        ],
        dtype=torch.float64,
    )
    square3_5x5 = F.pad(square3, (1, 1, 1, 1))

    def edges(square: torch.Tensor) -> list[torch.Tensor]:
        """The four half-squares (top, right, bottom, left) that keep the centre row/column."""
        top = square.clone()
        top[3:, :] = 0
        return [torch.rot90(top, -quarter_turns) for quarter_turns in range(4)]

    kernels = (
        first
        + second
        + third
        + [square3_5x5 / 4.0]
        + [edge / 4.0 for edge in edges(square3_5x5)]
        + [square5 / 12.0]
        + [edge / 12.0 for edge in edges(square5)]
    )
    return torch.stack(kernels)


class SRMFilter(nn.Module):
    """First layer: the 30 SRM kernels applied per input channel (``(B, C, H, W)`` → ``(B, 30C, H, W)``).

    Args:
        in_channels: image channels (3 for RGB, 1 for grey).
        trainable: learn the kernels (initialised to SRM) instead of keeping them fixed.
    """

    def __init__(self, in_channels: int = 3, trainable: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        weight = srm_kernels().float().unsqueeze(1).repeat(in_channels, 1, 1, 1)
        if trainable:
            self.weight = nn.Parameter(weight)
        else:
            self.register_buffer("weight", weight, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Residual maps; channel ``30c + k`` is kernel ``k`` on input channel ``c``."""
        return F.conv2d(images, self.weight.to(images.dtype), padding=2, groups=self.in_channels)


class ConvPoolBlock(nn.Module):
    """3×3 conv, batch norm, ReLU and (optionally) 5×5 average pooling with stride 2."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)
        self.pool = nn.AvgPool2d(5, stride=2, padding=2) if pool else nn.Identity()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.norm(self.conv(features))))


@exportable
class ZhuNet(nn.Module):
    """Zhu-Net cover/stego classifier for images in [0, 1] of any size ≥ 32×32.

    Args:
        colour: ``"rgb"`` (SRM per channel) or ``"grey"`` (SRM on BT.601 luma).
        trainable_srm: learn the SRM kernels instead of keeping them fixed.
        channels: output channels of the conv/pool blocks (all but the last are pooled).
        pyramid_levels: spatial pyramid pooling grid sizes (average pooling to ``n×n`` each).
        hidden_features: width of the hidden fully connected layer.

    Inputs are scaled to 8-bit units (×255) so that SRM residuals count grey levels.
    """

    def __init__(
        self,
        colour: str = "rgb",
        trainable_srm: bool = False,
        channels: Sequence[int] = (32, 32, 64, 128),
        pyramid_levels: Sequence[int] = (1, 2, 4),
        hidden_features: int = 1024,
    ) -> None:
        super().__init__()
        if colour not in {"rgb", "grey"}:
            raise ValueError(f"colour must be 'rgb' or 'grey', got {colour!r}")
        if not channels or not pyramid_levels:
            raise ValueError("channels and pyramid_levels must not be empty")
        self.colour = colour
        self.pyramid_levels = tuple(pyramid_levels)
        image_channels = 3 if colour == "rgb" else 1
        residuals = NUM_SRM_KERNELS * image_channels
        self.srm = SRMFilter(image_channels, trainable_srm)
        # Two separable (depthwise ×2 + pointwise) convolutions with a residual connection.
        self.depthwise1 = nn.Conv2d(residuals, 2 * residuals, kernel_size=3, padding=1, groups=residuals)
        self.pointwise1 = nn.Conv2d(2 * residuals, residuals, kernel_size=1)
        self.norm1 = nn.BatchNorm2d(residuals)
        self.depthwise2 = nn.Conv2d(residuals, 2 * residuals, kernel_size=3, padding=1, groups=residuals)
        self.pointwise2 = nn.Conv2d(2 * residuals, residuals, kernel_size=1)
        self.norm2 = nn.BatchNorm2d(residuals)
        widths = [residuals, *channels]
        self.blocks = nn.Sequential(
            *(
                ConvPoolBlock(widths[index], widths[index + 1], pool=index < len(channels) - 1)
                for index in range(len(channels))
            )
        )
        pooled = channels[-1] * sum(level * level for level in self.pyramid_levels)
        self.classifier = nn.Sequential(
            nn.Linear(pooled, hidden_features), nn.ReLU(inplace=True), nn.Linear(hidden_features, 2)
        )

    def _pyramid_pool(self, features: torch.Tensor) -> torch.Tensor:
        pooled = [F.adaptive_avg_pool2d(features, level).flatten(1) for level in self.pyramid_levels]
        return torch.cat(pooled, dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1], ``H, W ≥ 32`` → logits ``(B, 2)`` (cover, stego)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        if min(images.shape[-2:]) < 32:
            raise ValueError(f"images must be at least 32x32, got {tuple(images.shape[-2:])}")
        if self.colour == "grey":
            luma = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
            images = (images * luma).sum(dim=1, keepdim=True)
        # Channels-last makes the depthwise convolutions several times faster on CPU.
        residuals = self.srm(images * 255.0).contiguous(memory_format=torch.channels_last)
        features = F.relu(self.norm1(self.pointwise1(self.depthwise1(residuals).abs())))
        features = self.norm2(self.pointwise2(self.depthwise2(features)))
        features = F.relu(features + residuals)
        return self.classifier(self._pyramid_pool(self.blocks(features)))

    def stego_probability(self, images: torch.Tensor) -> torch.Tensor:
        """Probability ``(B,)`` that each image carries a hidden message."""
        return torch.softmax(self(images), dim=1)[:, 1]

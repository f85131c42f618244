"""Channel and spatial attention (CBAM, Woo et al. 2018) for the hiding network's subnets.

The gates let a coupling subnet decide *which* feature channels and *where* in the image to write:
textured regions hide a change better than flat sky.
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelAttention(nn.Module):
    """Gate each channel by a weight from its average- and max-pooled statistics.

    Args:
        channels: number of feature channels.
        reduction: bottleneck ratio of the shared two-layer MLP (at least four hidden units).
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` → same shape, channels rescaled by a gate in (0, 1)."""
        average = features.mean(dim=(2, 3), keepdim=True)
        maximum = features.amax(dim=(2, 3), keepdim=True)
        gate = torch.sigmoid(self.mlp(average) + self.mlp(maximum))
        return features * gate


class SpatialAttention(nn.Module):
    """Gate each position by a weight computed from the channel-wise mean and max maps.

    Args:
        kernel_size: odd size of the convolution over the two pooled maps.
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` → same shape, positions rescaled by a gate in (0, 1)."""
        pooled = torch.cat([features.mean(dim=1, keepdim=True), features.amax(dim=1, keepdim=True)], dim=1)
        return features * torch.sigmoid(self.conv(pooled))


class ChannelSpatialAttention(nn.Module):
    """CBAM: channel attention followed by spatial attention.

    Args:
        channels: number of feature channels.
        reduction: channel-MLP bottleneck ratio.
        kernel_size: spatial-attention kernel size (odd).
    """

    def __init__(self, channels: int, reduction: int = 8, kernel_size: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` → same shape."""
        return self.spatial(self.channel(features))

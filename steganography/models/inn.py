"""Invertible hiding network (HiNet-style INN) that hides a bit tensor in an RGB cover.

Layout of one pass (``s = 2**L``, ``K`` coupling blocks)::

    cover (B, 3, H, W) -> -0.5 -> Haar DWT x L -> cover branch   (B, 3*4^L, H/s, W/s)
    message (B, C_m, H/s, W/s)                  -> message branch (B, C_m,   H/s, W/s)
    K affine couplings, each updating the cover branch from the message branch and vice versa
    cover branch -> inverse DWT x L -> +0.5 -> stego (B, 3, H, W);  message branch -> z

``s`` is the *block size*. Every operation is invertible by construction (orthonormal
Haar transform, affine couplings with soft-clamped log-scales), so :meth:`InvertibleHider.reverse`
recovers ``(cover, message)`` from ``(stego, z)`` up to float rounding. The network is fully
convolutional: any ``H, W`` that are multiples of ``s`` work, and the number of hidden bits is
``C_m · H·W / s²``.

The receiver never sees ``z``. :meth:`InvertibleHider.reveal` therefore runs the reverse pass with
``z`` filled with a constant (``reveal_z``, 0 by default, the mean of HiNet's Gaussian ``z``);
training must optimise the payload loss through ``reveal`` (or ``reverse`` with random ``z``) so the
network learns to put every bit into the stego image and leave ``z`` uninformative.

The stego image is *not* clamped to [0, 1] (that would break invertibility); the channel
(:mod:`steganography.models.channel`) clamps and quantises it to 8 bits.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from common.export import exportable
from steganography.models.attention import ChannelSpatialAttention

#: Named size configurations (keyword arguments of :class:`InvertibleHider`).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"levels": 1, "message_channels": 1, "num_blocks": 2, "width": 8, "depth": 2},
    "small": {"levels": 3, "message_channels": 1, "num_blocks": 4, "width": 16, "depth": 3},
    "default": {"levels": 3, "message_channels": 1, "num_blocks": 8, "width": 32, "depth": 4},
}


class HaarWavelet(nn.Module):
    """Orthonormal 2-D Haar transform, ``(B, C, H, W)`` ↔ ``(B, 4C, H/2, W/2)``.

    Output channel ``4c + k`` holds sub-band ``k`` (LL, LH, HL, HH) of input channel ``c``. The
    4×4 analysis matrix is orthonormal, so the inverse is the transposed convolution with the
    same kernel.
    """

    def __init__(self) -> None:
        super().__init__()
        low, high = torch.tensor([1.0, 1.0]), torch.tensor([1.0, -1.0])
        # Entries are exactly ±1/2, so the transform is orthonormal in every float precision.
        kernels = [0.5 * torch.outer(rows, cols) for rows in (low, high) for cols in (low, high)]
        self.register_buffer("kernel", torch.stack(kernels).unsqueeze(1), persistent=False)

    def _weight(self, like: torch.Tensor, channels: int) -> torch.Tensor:
        return self.kernel.to(like).repeat(channels, 1, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Analysis: ``(B, C, H, W)`` with even ``H, W`` → ``(B, 4C, H/2, W/2)``."""
        channels = images.shape[1]
        return F.conv2d(images, self._weight(images, channels), stride=2, groups=channels)

    def inverse(self, bands: torch.Tensor) -> torch.Tensor:
        """Synthesis: ``(B, 4C, H/2, W/2)`` → ``(B, C, H, W)``."""
        channels = bands.shape[1] // 4
        return F.conv_transpose2d(bands, self._weight(bands, channels), stride=2, groups=channels)


def soft_clamp(log_scale: torch.Tensor, clamp: float) -> torch.Tensor:
    """Smoothly limit a log-scale to ``(-clamp, clamp)`` with unit slope at 0: ``2c/π·atan(πx/2c)``."""
    return (2.0 * clamp / math.pi) * torch.atan(log_scale * (math.pi / (2.0 * clamp)))


class AttentionDenseBlock(nn.Module):
    """Coupling subnet: densely connected 3×3 convs, CBAM attention, zero-initialised output conv.

    The zero output makes every coupling the identity at initialisation (stego = cover), the
    usual stable starting point of HiNet-style networks.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        width: channels added by each dense layer (growth rate).
        depth: number of dense layers.
        attention_reduction: channel-attention bottleneck ratio.
    """

    def __init__(
        self, in_channels: int, out_channels: int, width: int = 32, depth: int = 4, attention_reduction: int = 8
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Conv2d(in_channels + index * width, width, kernel_size=3, padding=1) for index in range(depth)
        )
        features = in_channels + depth * width
        self.attention = ChannelSpatialAttention(features, attention_reduction)
        self.output = nn.Conv2d(features, out_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, h, w)`` → ``(B, out_channels, h, w)``."""
        features = inputs
        for layer in self.layers:
            features = torch.cat([features, F.leaky_relu(layer(features), 0.2)], dim=1)
        return self.output(self.attention(features))


class AffineCouplingBlock(nn.Module):
    """Two-sided affine coupling: the cover branch is updated from the message, then vice versa.

    ``cover ← cover·exp(sc(s₁(message))) + t₁(message)``;
    ``message ← message·exp(sc(s₂(cover))) + t₂(cover)``, with ``sc`` the soft clamp.

    Args:
        cover_channels: channels of the (wavelet-domain) cover branch.
        message_channels: channels of the message branch.
        width: dense-layer growth rate of both subnets.
        depth: dense layers per subnet.
        clamp: bound of the soft-clamped log-scales.
        attention_reduction: channel-attention bottleneck ratio.
    """

    def __init__(
        self,
        cover_channels: int,
        message_channels: int,
        width: int = 32,
        depth: int = 4,
        clamp: float = 2.0,
        attention_reduction: int = 8,
    ) -> None:
        super().__init__()
        self.clamp = clamp
        self.cover_subnet = AttentionDenseBlock(message_channels, 2 * cover_channels, width, depth, attention_reduction)
        self.message_subnet = AttentionDenseBlock(
            cover_channels, 2 * message_channels, width, depth, attention_reduction
        )

    def _scale_shift(self, subnet: nn.Module, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_scale, shift = subnet(condition).chunk(2, dim=1)
        return soft_clamp(log_scale, self.clamp), shift

    def forward(self, cover: torch.Tensor, message: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hiding direction."""
        log_scale, shift = self._scale_shift(self.cover_subnet, message)
        cover = cover * torch.exp(log_scale) + shift
        log_scale, shift = self._scale_shift(self.message_subnet, cover)
        message = message * torch.exp(log_scale) + shift
        return cover, message

    def reverse(self, cover: torch.Tensor, message: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact inverse of :meth:`forward`."""
        message = self.reverse_message(cover, message)
        log_scale, shift = self._scale_shift(self.cover_subnet, message)
        cover = (cover - shift) * torch.exp(-log_scale)
        return cover, message

    def reverse_message(self, cover: torch.Tensor, message: torch.Tensor) -> torch.Tensor:
        """The message half of :meth:`reverse` (all a receiver needs of the last block it undoes)."""
        log_scale, shift = self._scale_shift(self.message_subnet, cover)
        return (message - shift) * torch.exp(-log_scale)


@exportable
class InvertibleHider(nn.Module):
    """Invertible network that hides a bit tensor in an RGB image and reveals it again.

    Args:
        levels: Haar decomposition levels ``L``; the block size is ``s = 2**L`` and the cover
            branch has ``3·4^L`` channels at ``H/s × W/s``.
        message_channels: message channels ``C_m`` (bits per ``s×s`` block).
        num_blocks: number of affine coupling blocks.
        width: dense-layer growth rate of the coupling subnets.
        depth: dense layers per subnet.
        clamp: soft-clamp bound of the coupling log-scales (limits each block's gain to e^clamp).
        attention_reduction: channel-attention bottleneck ratio.
        reveal_z: constant that fills ``z`` in :meth:`reveal` (the receiver does not know ``z``).

    Messages may be ±1 or {0, 1} floats; the network is agnostic and ``reverse`` returns them in the
    representation they went in. ±1 is recommended (zero mean, like ``reveal_z = 0``); decide bits
    by the sign of the revealed values (or by > 0.5 for {0, 1}).
    """

    def __init__(
        self,
        levels: int = 3,
        message_channels: int = 1,
        num_blocks: int = 8,
        width: int = 32,
        depth: int = 4,
        clamp: float = 2.0,
        attention_reduction: int = 8,
        reveal_z: float = 0.0,
    ) -> None:
        super().__init__()
        if levels < 1 or message_channels < 1 or num_blocks < 1 or width < 1 or depth < 1 or clamp <= 0:
            raise ValueError("levels, message_channels, num_blocks, width, depth must be >= 1 and clamp > 0")
        self.levels = levels
        self.message_channels = message_channels
        self.reveal_z = reveal_z
        self.cover_channels = 3 * 4**levels
        self.wavelet = HaarWavelet()
        self.blocks = nn.ModuleList(
            AffineCouplingBlock(self.cover_channels, message_channels, width, depth, clamp, attention_reduction)
            for _ in range(num_blocks)
        )

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> InvertibleHider:
        """Build a named configuration from :data:`PRESETS` (``tiny``, ``small``, ``default``)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    @property
    def block_size(self) -> int:
        """Image sides must be multiples of this; each message cell covers a block of this size."""
        return 2**self.levels

    def message_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """Shape ``(C_m, H/s, W/s)`` of the message for a ``height × width`` cover."""
        size = self.block_size
        if height <= 0 or width <= 0 or height % size or width % size:
            raise ValueError(f"image size {height}x{width} must be a positive multiple of {size}")
        return self.message_channels, height // size, width // size

    def bits_per_image(self, height: int, width: int) -> int:
        """Number of message bits hidden in one ``height × width`` cover."""
        return math.prod(self.message_shape(height, width))

    def _analyse(self, images: torch.Tensor) -> torch.Tensor:
        bands = images - 0.5
        for _ in range(self.levels):
            bands = self.wavelet(bands)
        return bands

    def _synthesise(self, bands: torch.Tensor) -> torch.Tensor:
        for _ in range(self.levels):
            bands = self.wavelet.inverse(bands)
        return bands + 0.5

    def _check(self, images: torch.Tensor, branch: torch.Tensor, name: str) -> None:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        expected = (images.shape[0], *self.message_shape(images.shape[2], images.shape[3]))
        if tuple(branch.shape) != expected:
            raise ValueError(f"{name} must have shape {expected}, got {tuple(branch.shape)}")

    def forward(self, cover: torch.Tensor, message: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hide ``message (B, C_m, H/s, W/s)`` in ``cover (B, 3, H, W)`` in [0, 1].

        Returns:
            ``stego (B, 3, H, W)`` (unclamped, unquantised) and ``z (B, C_m, H/s, W/s)``, the
            information the receiver lacks.
        """
        self._check(cover, message, "message")
        bands = self._analyse(cover)
        for block in self.blocks:
            bands, message = block(bands, message)
        return self._synthesise(bands), message

    def reverse(self, stego: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Invert :meth:`forward`: ``(stego, z)`` → ``(cover_hat, message_hat)``."""
        self._check(stego, z, "z")
        bands = self._analyse(stego)
        for block in reversed(self.blocks):
            bands, z = block.reverse(bands, z)
        return self._synthesise(bands), z

    def reveal(self, stego: torch.Tensor) -> torch.Tensor:
        """Receiver side: ``message_hat (B, C_m, H/s, W/s)`` from ``stego`` alone (``z = reveal_z``)."""
        shape = (stego.shape[0], *self.message_shape(stego.shape[-2], stego.shape[-1]))
        z = torch.full(shape, self.reveal_z, dtype=stego.dtype, device=stego.device)
        # As :meth:`reverse`, less the first block's cover update and the inverse wavelet
        # transform, which only the cover needs (15 % of a pass).
        self._check(stego, z, "z")
        bands = self._analyse(stego)
        *undone, first = reversed(self.blocks)
        for block in undone:
            bands, z = block.reverse(bands, z)
        return first.reverse_message(bands, z)

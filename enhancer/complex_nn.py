"""Complex-valued building blocks for DCCRN, on real tensors.

Layout: a complex feature map with ``C`` complex channels is a real tensor whose channel
dimension (dim 1) holds the ``C`` real parts followed by the ``C`` imaginary parts, i.e.
``(B, 2C, F, T)`` for 2-D maps and ``(B, T, 2D)`` (last dimension) for sequences. Complex
products ``(a + ib)(x + iy) = (ax - by) + i(ay + bx)`` are computed with ONE real convolution
whose weight is the block matrix ``[[Wr, -Wi], [Wi, Wr]]``, which is equivalent to the four
real convolutions of Trabelsi et al. (2018) but faster.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def complex_split(x: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary halves of ``x`` along ``dim``."""
    real, imag = torch.chunk(x, 2, dim=dim)
    return real, imag


def complex_cat(tensors: list[torch.Tensor], dim: int = 1) -> torch.Tensor:
    """Concatenate complex maps along their channel dimension (real parts, then imaginary)."""
    parts = [complex_split(t, dim) for t in tensors]
    return torch.cat([p[0] for p in parts] + [p[1] for p in parts], dim=dim)


class ComplexConv2d(nn.Module):
    """Complex 2-D convolution ``W * x + b`` with complex weight ``W = Wr + iWi``.

    Args:
        in_channels: complex input channels.
        out_channels: complex output channels.
        kernel_size: kernel ``(freq, time)``.
        stride: stride ``(freq, time)``.
        padding: zero padding ``(freq, time)`` applied on both sides.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int],
        stride: tuple[int, int] = (1, 1),
        padding: tuple[int, int] = (0, 0),
    ) -> None:
        super().__init__()
        self.stride, self.padding = tuple(stride), tuple(padding)
        # Two real convolutions hold (and initialise) the real and imaginary weights.
        self.real = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)
        self.imag = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2*in, F, T)`` -> ``(B, 2*out, F', T')``."""
        wr, wi = self.real.weight, self.imag.weight
        weight = torch.cat([torch.cat([wr, -wi], dim=1), torch.cat([wi, wr], dim=1)], dim=0)
        bias = torch.cat([self.real.bias, self.imag.bias])
        return F.conv2d(x, weight, bias, self.stride, self.padding)


class ComplexConvTranspose2d(nn.Module):
    """Complex 2-D transposed convolution (the adjoint of :class:`ComplexConv2d` plus bias).

    Args:
        in_channels: complex input channels.
        out_channels: complex output channels.
        kernel_size: kernel ``(freq, time)``.
        stride: stride ``(freq, time)``.
        padding: ``(freq, time)`` padding removed from both sides of the output.
        output_padding: extra ``(freq, time)`` size added to one side of the output.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int],
        stride: tuple[int, int] = (1, 1),
        padding: tuple[int, int] = (0, 0),
        output_padding: tuple[int, int] = (0, 0),
    ) -> None:
        super().__init__()
        self.stride, self.padding, self.output_padding = tuple(stride), tuple(padding), tuple(output_padding)
        self.real = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, output_padding)
        self.imag = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, output_padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2*in, F, T)`` -> ``(B, 2*out, F', T')``."""
        wr, wi = self.real.weight, self.imag.weight  # (in, out, kf, kt)
        weight = torch.cat([torch.cat([wr, wi], dim=1), torch.cat([-wi, wr], dim=1)], dim=0)
        bias = torch.cat([self.real.bias, self.imag.bias])
        return F.conv_transpose2d(x, weight, bias, self.stride, self.padding, self.output_padding)


class ComplexBatchNorm2d(nn.BatchNorm2d):
    """"Naive" complex batch normalisation: the real and the imaginary part of each channel are
    normalised independently (own mean, variance, scale and shift), as in the DCCRN authors'
    default configuration (``use_cbn=False``). It does not whiten the 2x2 covariance of
    Trabelsi et al.; with the channel layout of this module it is exactly a ``BatchNorm2d`` over
    ``2 * num_features`` real channels.

    Args:
        num_features: complex channels.
        momentum: running-statistics momentum.
    """

    def __init__(self, num_features: int, momentum: float = 0.1) -> None:
        super().__init__(2 * num_features, momentum=momentum)


class ComplexLinear(nn.Module):
    """Complex affine map on the last dimension ``(..., 2*in)`` -> ``(..., 2*out)``."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.real = nn.Linear(in_features, out_features)
        self.imag = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wr, wi = self.real.weight, self.imag.weight  # (out, in)
        weight = torch.cat([torch.cat([wr, -wi], dim=1), torch.cat([wi, wr], dim=1)], dim=0)
        return F.linear(x, weight, torch.cat([self.real.bias, self.imag.bias]))


class ComplexLSTM(nn.Module):
    """Stacked "naive" complex LSTM of DCCRN-CL.

    Each layer holds two real LSTMs ``L_r`` and ``L_i`` and maps ``x = x_r + i x_i`` to
    ``(L_r(x_r) - L_i(x_i)) + i (L_r(x_i) + L_i(x_r))`` (Hu et al. 2020, Eq. 2), followed by
    an optional complex linear projection after the last layer. Unidirectional (causal).

    Args:
        input_size: complex input features.
        hidden_size: complex hidden units per layer.
        num_layers: stacked layers.
        projection_size: complex output features of the final linear layer (``None``: none).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 2, projection_size: int | None = None) -> None:
        super().__init__()
        sizes = [input_size] + [hidden_size] * num_layers
        self.real = nn.ModuleList(nn.LSTM(sizes[i], hidden_size, batch_first=True) for i in range(num_layers))
        self.imag = nn.ModuleList(nn.LSTM(sizes[i], hidden_size, batch_first=True) for i in range(num_layers))
        self.projection = ComplexLinear(hidden_size, projection_size) if projection_size else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, 2*input_size)`` -> ``(B, T, 2*out)`` (``out`` = projection or hidden size)."""
        batch = x.shape[0]
        for lstm_real, lstm_imag in zip(self.real, self.imag):
            # Run each LSTM once on the real and imaginary inputs stacked along the batch.
            stacked = torch.cat(complex_split(x, dim=-1), dim=0)
            real_out, _ = lstm_real(stacked)
            imag_out, _ = lstm_imag(stacked)
            rr, ri = real_out[:batch], real_out[batch:]
            ir, ii = imag_out[:batch], imag_out[batch:]
            x = torch.cat([rr - ii, ri + ir], dim=-1)
        if self.projection is not None:
            x = self.projection(x)
        return x

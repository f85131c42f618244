from __future__ import annotations

import torch
from torch.nn import functional as F

from enhancer.complex_nn import (
    ComplexBatchNorm2d,
    ComplexConv2d,
    ComplexConvTranspose2d,
    ComplexLinear,
    ComplexLSTM,
    complex_cat,
    complex_split,
)


def _four_real(x: torch.Tensor, module, op, **kwargs) -> torch.Tensor:
    """Reference complex operation from four real ones: (Wr + iWi)(xr + ixi) + (br + ibi)."""
    xr, xi = complex_split(x)
    wr, wi = module.real.weight, module.imag.weight
    br, bi = module.real.bias, module.imag.bias
    real = op(xr, wr, br, **kwargs) - op(xi, wi, None, **kwargs)
    imag = op(xi, wr, bi, **kwargs) + op(xr, wi, None, **kwargs)
    return torch.cat([real, imag], dim=1)


def test_complex_conv_matches_four_real_convolutions():
    torch.manual_seed(0)
    conv = ComplexConv2d(3, 5, (5, 2), (2, 1), (2, 0))
    x = torch.randn(2, 6, 16, 7)
    expected = _four_real(x, conv, F.conv2d, stride=(2, 1), padding=(2, 0))
    assert torch.allclose(conv(x), expected, atol=1e-5)


def test_complex_conv_transpose_matches_four_real_convolutions():
    torch.manual_seed(0)
    deconv = ComplexConvTranspose2d(4, 3, (5, 2), (2, 1), (2, 0), (1, 0))
    x = torch.randn(2, 8, 8, 5)
    expected = _four_real(x, deconv, F.conv_transpose2d, stride=(2, 1), padding=(2, 0), output_padding=(1, 0))
    out = deconv(x)
    assert out.shape == (2, 6, 16, 6)
    assert torch.allclose(out, expected, atol=1e-5)


def test_complex_linear_is_complex_matrix_product():
    torch.manual_seed(0)
    linear = ComplexLinear(4, 3)
    x = torch.randn(5, 8)
    weight = torch.complex(linear.real.weight, linear.imag.weight)
    bias = torch.complex(linear.real.bias, linear.imag.bias)
    expected = torch.complex(*complex_split(x, -1)) @ weight.T + bias
    out = torch.complex(*complex_split(linear(x), -1))
    assert torch.allclose(out, expected, atol=1e-5)


def test_complex_lstm_combines_real_lstms_as_in_dccrn():
    torch.manual_seed(0)
    lstm = ComplexLSTM(6, 4, num_layers=1)
    x = torch.randn(2, 9, 12)
    xr, xi = complex_split(x, -1)
    rr, ii = lstm.real[0](xr)[0], lstm.imag[0](xi)[0]
    ri, ir = lstm.real[0](xi)[0], lstm.imag[0](xr)[0]
    assert torch.allclose(lstm(x), torch.cat([rr - ii, ri + ir], -1), atol=1e-6)


def test_complex_lstm_projection_shape_and_causality():
    torch.manual_seed(0)
    lstm = ComplexLSTM(6, 4, num_layers=2, projection_size=6)
    x = torch.randn(1, 10, 12)
    y = lstm(x)
    assert y.shape == x.shape
    changed = x.clone()
    changed[:, 6:] += 1.0
    assert torch.allclose(lstm(changed)[:, :6], y[:, :6])


def test_complex_cat_and_batch_norm_layout():
    a, b = torch.randn(2, 4, 3, 3), torch.randn(2, 6, 3, 3)
    joined = complex_cat([a, b])
    real, imag = complex_split(joined)
    assert torch.equal(real, torch.cat([a[:, :2], b[:, :3]], 1))
    assert torch.equal(imag, torch.cat([a[:, 2:], b[:, 3:]], 1))
    norm = ComplexBatchNorm2d(5).train()
    out = norm(torch.randn(4, 10, 6, 6) * 3 + 2)
    assert out.shape == (4, 10, 6, 6)
    assert out.mean(dim=(0, 2, 3)).abs().max() < 1e-4

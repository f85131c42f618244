from __future__ import annotations

import pytest
import torch

from steganography.models.attention import ChannelAttention, ChannelSpatialAttention, SpatialAttention


@pytest.mark.parametrize("module", [ChannelAttention(6, reduction=2), SpatialAttention(3), ChannelSpatialAttention(6)])
def test_gates_keep_shape_and_scale_features_down(module: torch.nn.Module) -> None:
    features = torch.rand(2, 6, 9, 7) + 0.1
    gated = module(features)
    assert gated.shape == features.shape
    # Sigmoid gates lie in (0, 1): every positive feature shrinks but stays positive.
    assert torch.all(gated > 0) and torch.all(gated < features)


def test_spatial_attention_depends_on_position() -> None:
    torch.manual_seed(0)
    module = SpatialAttention(3)
    features = torch.ones(1, 4, 8, 8)
    features[..., 2, 5] = 10.0
    gate = module(features) / features
    assert gate[0, 0, 2, 5] != gate[0, 0, 6, 1]


def test_channel_attention_depends_on_channel() -> None:
    torch.manual_seed(0)
    module = ChannelAttention(4, reduction=2)
    features = torch.rand(1, 4, 5, 5) + torch.arange(4.0).view(1, 4, 1, 1)
    gate = (module(features) / features)[0, :, 0, 0]
    assert len(set(gate.tolist())) == 4


def test_gradients_reach_all_parameters() -> None:
    torch.manual_seed(0)
    module = ChannelSpatialAttention(8, reduction=4)
    inputs = torch.randn(2, 8, 6, 6, requires_grad=True)
    module(inputs).square().sum().backward()
    assert inputs.grad is not None and torch.isfinite(inputs.grad).all()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_spatial_kernel_must_be_odd() -> None:
    with pytest.raises(ValueError, match="odd"):
        SpatialAttention(4)

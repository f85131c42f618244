from __future__ import annotations

import pytest
import torch

from steganography.models.zhunet import NUM_SRM_KERNELS, SRMFilter, ZhuNet, srm_kernels

TINY = {"channels": (4, 4, 8), "hidden_features": 16}


def test_srm_bank_has_30_distinct_high_pass_kernels() -> None:
    kernels = srm_kernels()
    assert kernels.shape == (NUM_SRM_KERNELS, 5, 5)
    assert torch.allclose(kernels.sum(dim=(1, 2)), torch.zeros(NUM_SRM_KERNELS, dtype=kernels.dtype), atol=1e-12)
    assert len({tuple(kernel.flatten().tolist()) for kernel in kernels}) == NUM_SRM_KERNELS


def test_srm_kernels_match_published_examples() -> None:
    kernels = srm_kernels()
    # Third-order residual to the right: [1, -3, 3, -1] / 3 through the centre row.
    assert torch.allclose(kernels[15][2], torch.tensor([0.0, 1.0, -3.0, 3.0, -1.0], dtype=torch.float64) / 3)
    # KV (SQUARE 5x5) kernel / 12 and its top half (EDGE 5x5).
    square = torch.tensor(
        [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]],
        dtype=torch.float64,
    )
    assert torch.allclose(kernels[25], square / 12)
    assert torch.allclose(kernels[26][:3], square[:3] / 12) and kernels[26][3:].abs().sum() == 0
    # SQUARE 3x3 / 4 sits in the centre of the 5x5 support.
    assert torch.allclose(kernels[20][1:4, 1:4], torch.tensor([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]]).double() / 4)


def test_srm_filter_removes_constant_and_is_per_channel() -> None:
    layer = SRMFilter(in_channels=3)
    flat = torch.full((1, 3, 12, 12), 0.7)
    assert layer(flat)[..., 2:-2, 2:-2].abs().max() < 1e-5
    images = torch.zeros(1, 3, 12, 12)
    images[0, 1, 6, 6] = 1.0  # impulse in the green channel only
    residuals = layer(images)
    assert residuals.shape == (1, 90, 12, 12)
    assert residuals[:, 30:60].abs().sum() > 0
    assert residuals[:, :30].abs().sum() == 0 and residuals[:, 60:].abs().sum() == 0
    assert not list(layer.parameters()) and "weight" not in layer.state_dict()
    assert [name for name, _ in SRMFilter(trainable=True).named_parameters()] == ["weight"]


@pytest.mark.parametrize("colour", ["rgb", "grey"])
@pytest.mark.parametrize(("height", "width"), [(32, 32), (48, 80)])
def test_logits_for_any_size(colour: str, height: int, width: int) -> None:
    model = ZhuNet(colour=colour, **TINY)
    logits = model(torch.rand(2, 3, height, width))
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()
    probability = model.stego_probability(torch.rand(2, 3, height, width))
    assert probability.shape == (2,) and ((probability >= 0) & (probability <= 1)).all()


def test_rejects_small_or_non_rgb_images() -> None:
    model = ZhuNet(**TINY)
    with pytest.raises(ValueError, match="at least 32x32"):
        model(torch.rand(1, 3, 16, 64))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="colour"):
        ZhuNet(colour="cmyk")


def test_learns_to_detect_a_simple_embedding() -> None:
    """A dozen steps on smooth 8-bit covers vs. covers with ±1-level noise separate the two classes."""
    torch.manual_seed(0)
    model = ZhuNet(colour="grey", **TINY)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    smooth = torch.nn.functional.interpolate(torch.rand(8, 3, 4, 4), size=(32, 32), mode="bilinear")
    covers = torch.round(smooth * 255) / 255
    stegos = (covers + torch.randint(-1, 2, covers.shape) / 255.0).clamp(0, 1)
    images = torch.cat([covers, stegos])
    labels = torch.cat([torch.zeros(8), torch.ones(8)]).long()
    for _ in range(12):
        optimiser.zero_grad()
        logits = model(images)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        optimiser.step()
    assert loss < 0.45
    assert (logits.argmax(dim=1) == labels).float().mean() >= 0.9


def test_gradient_reaches_the_input_for_adversarial_training() -> None:
    model = ZhuNet(**TINY)
    images = torch.rand(2, 3, 32, 32, requires_grad=True)
    model(images)[:, 1].sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0

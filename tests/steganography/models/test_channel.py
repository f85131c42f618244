from __future__ import annotations

import pytest
import torch

from common.image import jpeg_roundtrip_tensor
from steganography.models.channel import JpegChannel, quantize_ste


def _images(batch: int = 2, height: int = 16, width: int = 24) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(batch, 3, 4, 4, generator=generator), size=(height, width))
    return (smooth + 0.05 * torch.rand(batch, 3, height, width, generator=generator)).clamp(0, 1)


def _only(mode: str, **kwargs) -> JpegChannel:
    weights = {f"{name}_weight": float(name == mode) for name in ("identity", "differentiable", "real")}
    return JpegChannel(**weights, **kwargs)


def test_quantize_ste_rounds_to_8_bit_and_passes_gradient_one() -> None:
    images = torch.tensor([-0.3, 0.0, 0.1234, 0.5, 0.99, 1.7], requires_grad=True)
    quantized = quantize_ste(images)
    expected = torch.round(images.detach().clamp(0, 1) * 255) / 255
    assert torch.equal(quantized, expected)
    quantized.backward(torch.arange(6.0))
    assert torch.equal(images.grad, torch.arange(6.0))


def test_identity_mode_only_quantises() -> None:
    images = _images().requires_grad_(True)
    channel = _only("identity")
    assert torch.equal(channel(images), quantize_ste(images))


@pytest.mark.parametrize("backward", ["differentiable", "identity"])
def test_real_jpeg_forward_equals_pillow_exactly(backward: str) -> None:
    images = _images().requires_grad_(True)
    channel = _only("real", real_backward=backward, quality_range=(60, 60))
    output = channel(images)
    assert torch.equal(output, jpeg_roundtrip_tensor(quantize_ste(images).detach(), 60))
    output.square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    if backward == "identity":
        assert torch.allclose(images.grad, 2 * output.detach())


def test_real_jpeg_gradient_follows_the_differentiable_codec() -> None:
    images = _images().requires_grad_(True)
    channel = _only("real", quality_range=(70, 70))
    channel(images).square().sum().backward()
    reference = images.detach().clone().requires_grad_(True)
    quantized = quantize_ste(reference)
    real = jpeg_roundtrip_tensor(quantized.detach(), 70)
    (channel.differentiable_jpeg(quantized, torch.tensor([70, 70])) * 2 * real).sum().backward()
    assert torch.allclose(images.grad, reference.grad, atol=1e-6)


def test_differentiable_path_is_differentiable_and_close_to_pillow() -> None:
    images = _images(height=32, width=40).requires_grad_(True)
    channel = _only("differentiable", quality_range=(75, 75))
    output = channel(images)
    assert output.shape == images.shape
    output.mean().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    real = jpeg_roundtrip_tensor(quantize_ste(images).detach(), 75)
    assert (output.detach() - real).abs().mean() < 0.02


def test_mode_probabilities_are_respected() -> None:
    torch.manual_seed(0)
    channel = JpegChannel(identity_weight=1.0, differentiable_weight=3.0, real_weight=0.0)
    modes = [channel.sample_mode() for _ in range(400)]
    assert "real" not in modes
    assert 0.65 < modes.count("differentiable") / len(modes) < 0.85
    qualities = torch.cat([JpegChannel(quality_range=(70, 72)).sample_qualities(50) for _ in range(4)])
    assert set(qualities.tolist()) == {70, 71, 72}


def test_eval_mode_is_deterministic() -> None:
    images = _images()
    fixed = JpegChannel(eval_quality=50).eval()
    assert torch.equal(fixed(images), jpeg_roundtrip_tensor(quantize_ste(images), 50))
    assert torch.equal(fixed(images), fixed(images))
    assert torch.equal(JpegChannel().eval()(images), quantize_ste(images))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"identity_weight": 0.0, "differentiable_weight": 0.0, "real_weight": 0.0},
        {"real_weight": -1.0},
        {"quality_range": (90, 50)},
        {"quality_range": (0, 50)},
        {"real_backward": "magic"},
        {"eval_quality": 101},
    ],
)
def test_rejects_bad_configuration(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        JpegChannel(**kwargs)

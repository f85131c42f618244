"""The platform channel: exact real JPEG forward, gradients through every step, shapes kept,
curriculum from no distortion to the full ranges, platform-derived quality range."""

from __future__ import annotations

import pytest
import torch

from common.image import jpeg_roundtrip_tensor
from common.platforms import MAX_CHECK_QUALITY, PROFILES
from steganography.models.channel import quantize_ste
from steganography.models.platform_channel import Condition, PlatformChannel, platform_quality_range


@pytest.fixture
def images() -> torch.Tensor:
    torch.manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(2, 3, 8, 8), size=(48, 64), mode="bilinear")
    return (smooth + 0.02 * torch.randn_like(smooth)).clamp(0, 1)


def test_real_jpeg_forward_is_pillows_and_identity_is_quantisation(images):
    channel = PlatformChannel()
    quantized = quantize_ste(images)
    assert torch.equal(channel.apply(images, Condition()), quantized)
    assert torch.equal(channel.apply(images, Condition(qualities=(70,))), jpeg_roundtrip_tensor(quantized, 70))


def test_every_step_keeps_the_shape_and_passes_gradients(images):
    channel = PlatformChannel(jpeg="real")
    stego = images.clone().requires_grad_(True)
    condition = Condition(crop=(0.03, 0.02, 0.01, 0.0), scale=0.6, kernel="bicubic", qualities=(90, 60), noise_std=0.01)
    received = channel.apply(stego, condition)
    assert received.shape == images.shape
    received.pow(2).sum().backward()
    assert stego.grad is not None and stego.grad.abs().sum() > 0


def test_curriculum_ramps_from_no_distortion_to_the_full_ranges():
    channel = PlatformChannel(crop_probability=1.0, downscale_probability=1.0, jpeg_probability=1.0, curriculum_steps=100)
    generator = torch.Generator().manual_seed(0)
    start = [channel.sample_condition(generator) for _ in range(20)]
    assert all(c.crop == (0.0,) * 4 and c.scale == 1.0 and set(c.qualities) == {MAX_CHECK_QUALITY} and c.noise_std == 0 for c in start)
    channel.step = 100
    full = [channel.sample_condition(generator) for _ in range(200)]
    assert min(c.scale for c in full) < 0.6 and max(max(c.crop) for c in full) > 0.02
    assert min(min(c.qualities) for c in full) < 60 and any(len(c.qualities) == 2 for c in full)


def test_default_quality_range_covers_every_platform_with_its_margin():
    low, high = platform_quality_range()
    assert PlatformChannel().quality_range == (low, high) and high == MAX_CHECK_QUALITY
    assert low == min(profile.design_quality for profile in PROFILES.values())


@pytest.mark.parametrize(
    "arguments",
    [{"quality_range": (0, 90)}, {"downscale_range": (0.5, 1.2)}, {"max_crop": 0.6}, {"kernels": ("nearest",)}, {"jpeg": "fake"}, {"chain_probability": 2.0}],
)
def test_bad_settings_are_refused(arguments):
    with pytest.raises(ValueError):
        PlatformChannel(**arguments)

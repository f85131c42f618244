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
    channel = PlatformChannel(crop_probability=1.0, scale_probability=1.0, jpeg_probability=1.0, curriculum_steps=100)
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
    [{"quality_range": (0, 90)}, {"scale_range": (1.2, 0.5)}, {"scale_range": (0.0, 1.0)}, {"max_crop": 0.6}, {"kernels": ("nearest",)}, {"jpeg": "fake"}, {"chain_probability": 2.0}],
)
def test_bad_settings_are_refused(arguments):
    with pytest.raises(ValueError):
        PlatformChannel(**arguments)


def test_canonical_grid_scales_up_per_axis_and_resamples_back(images):
    """A hider on a canonical grid sees received sizes above its grid, per axis (any aspect ratio)."""
    channel = PlatformChannel(scale_probability=1.0, scale_range=(1.1, 3.2), independent_axes=True)
    generator = torch.Generator().manual_seed(0)
    drawn = [channel.sample_condition(generator) for _ in range(50)]
    assert all(1.1 <= c.scale <= 3.2 and 1.1 <= c.scale_y <= 3.2 for c in drawn)
    assert any(abs(c.scale - c.scale_y) > 0.5 for c in drawn)
    stego = images.clone().requires_grad_(True)
    received = channel.apply(stego, Condition(scale=2.5, scale_y=1.2, qualities=(70,)))
    assert received.shape == images.shape
    received.sum().backward()
    assert stego.grad.abs().sum() > 0
    # An upscale-and-back without JPEG is close to the identity; the JPEG at the larger size is milder.
    assert (channel.apply(images, Condition(scale=3.0)) - images).abs().mean() < 0.02
    assert Condition(scale=2.0).scales == (2.0, 2.0) and Condition(scale=2.0, scale_y=1.5).scales == (1.5, 2.0)


def test_validation_conditions_span_the_channels_own_ranges():
    channel = PlatformChannel(max_crop=0.01, scale_range=(1.1, 3.2), quality_range=(60, 95))
    conditions = channel.validation_conditions()
    assert {c.scale for c in conditions.values()} == {1.1, 2.15, 3.2}
    assert {q for c in conditions.values() for q in c.qualities} == {60, 77, 95}
    assert conditions["crop1_scale215_q77"].crop == (0.01, 0.01, 0.0, 0.0)
    assert conditions["scale215_q95_q60"].qualities == (95, 60)
    assert "crop" not in " ".join(PlatformChannel(max_crop=0.0).validation_conditions())


def test_views_are_what_the_platform_serves_for_both_images_of_a_pair(images):
    """The steganalyst's views: the served cover and stego image of one condition, on one 8-aligned square."""
    channel = PlatformChannel(noise_std=0.0)
    condition = Condition(scale=1.5, scale_y=1.25, qualities=(70,))
    covers = images.flip(0)
    received, cover_views, stego_views = channel.forward_with_views(images, covers, condition)
    assert torch.equal(received, channel.apply(images, condition))
    served = channel.serve(images, condition)
    assert served.shape[-2:] == (60, 96)  # the received size, not the grid's
    assert cover_views.shape == stego_views.shape == (2, 3, 48, 48)  # at most the grid's shorter side
    assert torch.equal(stego_views, served[..., :48, :48])
    assert torch.equal(cover_views, channel.serve(covers, condition)[..., :48, :48])
    # Validation takes the views alone: the same, without resampling the received images.
    served_each, cover_only, stego_only = channel.views(images, covers, condition)
    assert torch.equal(cover_only, cover_views) and torch.equal(stego_only, stego_views)
    assert all(torch.equal(image, served[index : index + 1]) for index, image in enumerate(served_each))
    _, small_views, _ = channel.forward_with_views(images, covers, Condition(scale=0.8, qualities=(70,)))
    assert small_views.shape[-2:] == (32, 32)  # a downscale: the largest multiple of 8 inside 38 x 51


def test_random_views_keep_the_jpeg_grid_and_the_stego_gradient(images):
    channel = PlatformChannel(crop_probability=1.0, max_crop=0.05, scale_probability=1.0, scale_range=(1.1, 2.0),
                              independent_axes=True, jpeg_probability=1.0, noise_std=0.0)  # fmt: skip
    stego = images.clone().requires_grad_(True)
    generator = torch.Generator().manual_seed(3)
    received, cover_views, stego_views = channel.forward_with_views(stego, images, generator=generator)
    assert received.shape == images.shape
    side = cover_views.shape[-1]
    assert side == 48 and cover_views.shape == stego_views.shape  # every served image holds the grid's 48
    assert not cover_views.requires_grad
    stego_views.sum().backward()
    assert stego.grad.abs().sum() > 0
    # Each view is an 8-aligned window of what that pair was served: find it among the aligned offsets.
    drawn = torch.Generator().manual_seed(3)
    conditions = [channel.sample_condition(drawn) for _ in images]  # drawn first, then the offsets
    for index, condition in enumerate(conditions):
        served = channel.serve(images[index : index + 1], condition)
        windows = [served[..., top : top + side, left : left + side]
                   for top in range(0, served.shape[-2] - side + 1, 8) for left in range(0, served.shape[-1] - side + 1, 8)]  # fmt: skip
        assert any(torch.equal(window, cover_views[index : index + 1]) for window in windows)

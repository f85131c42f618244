from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from common import platforms
from common.platforms import MAX_CHECK_QUALITY, PROFILES, QUALITY_MARGIN, Channel


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    image = 128 + 60 * np.sin(7 * x + 3 * y)[..., None] * rng.uniform(-1, 1, 3) + rng.normal(0, 8, (height, width, 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def test_every_issue_platform_has_a_profile_with_the_reported_values() -> None:
    assert set(PROFILES) == {"whatsapp", "signal", "telegram", "instagram", "facebook", "twitter", "wechat"}
    reported = {
        "whatsapp": ("long_side", 1600, (75, 75)),
        "signal": ("long_side", 1600, (70, 70)),
        "telegram": ("long_side", 1280, (80, 87)),
        "instagram": ("width", 1080, (70, 80)),
        "facebook": ("long_side", 2048, (75, 85)),
        "twitter": ("long_side", 4096, (85, 85)),
        "wechat": ("long_side", 1280, (50, 50)),
    }
    for name, (rule, size, qualities) in reported.items():
        profile = PROFILES[name]
        assert (profile.size_rule, profile.max_size, profile.quality_range) == (rule, size, qualities)
        assert profile.design_quality == qualities[0] - QUALITY_MARGIN
        assert "reported" in profile.notes
    assert PROFILES["whatsapp"].hd_max_size == 4096 and PROFILES["telegram"].hd_max_size == 2560
    assert PROFILES["signal"].max_bytes == 2**20 and PROFILES["signal"].ladder == (1024, 768)
    assert PROFILES["twitter"].keeps_jpeg_up_to == 85
    assert platforms.get_profile("WhatsApp") is PROFILES["whatsapp"]
    with pytest.raises(KeyError, match="choose one of"):
        platforms.get_profile("myspace")


def test_target_size_limits_the_long_side_or_the_width_and_never_upscales() -> None:
    whatsapp, instagram = PROFILES["whatsapp"], PROFILES["instagram"]
    assert whatsapp.target_size(4000, 3000) == (1600, 1200)
    assert whatsapp.target_size(3000, 4000) == (1200, 1600)
    assert whatsapp.target_size(4000, 3000, hd=True) == (4000, 3000)
    assert whatsapp.target_size(800, 600) == (800, 600)
    assert instagram.target_size(2160, 2700) == (1080, 1350)  # the width rule, portrait
    assert instagram.target_size(1000, 3000) == (1000, 3000)


def test_fit_to_platform_resizes_only_when_needed() -> None:
    image = photo(400, 300)
    assert platforms.fit_to_platform(image, PROFILES["whatsapp"]) is image
    small = PROFILES["wechat"].target_size(2000, 1500)
    assert platforms.fit_to_platform(photo(2000, 1500), PROFILES["wechat"]).size == small == (1280, 960)


def test_check_chains_cover_the_range_with_a_margin_and_two_jpeg_chains() -> None:
    for profile in PROFILES.values():
        chains = profile.check_chains()
        low, high = profile.quality_range
        qualities = {quality for chain in chains for quality in chain}
        assert min(qualities) == profile.design_quality and max(qualities) == MAX_CHECK_QUALITY
        assert {(low,), (high,)} <= set(chains)
        assert any(len(chain) == 2 for chain in chains) and (high, low) in chains or (low, low) in chains
        aligned, robust = profile.check_channels(), profile.check_channels(misaligned_crop=True)
        assert not any(channel.crop == platforms.MISALIGNED_CROP for channel in aligned)
        assert [channel for channel in robust if channel.crop == platforms.MISALIGNED_CROP] == [Channel((low,), platforms.MISALIGNED_CROP)]
        assert len(robust) == len(aligned) + 1 and set(aligned) < set(robust)
        assert len(profile.check_channels(crops=False)) == len(chains)
        assert profile.name in profile.summary()
    assert "whatsapp" in platforms.format_table() and "reported" in platforms.format_table()


def test_channel_label_and_apply() -> None:
    image = photo(96, 80)
    assert Channel((75,)).label == 75
    assert Channel((80, 85)).label == "80 > 85"
    channel = Channel((75,), (3, 5, 1, 2), before=(90,))
    assert channel.label == "file Q90 > crop 3,5,1,2 > 75"
    out = channel.apply(image)
    assert out.size == (92, 73) and out.mode == "RGB"
    assert np.array_equal(np.asarray(Channel(()).apply(image)), np.asarray(image))


def test_jpeg_helpers() -> None:
    image = photo(256, 192)
    data = platforms.jpeg_bytes(image, 80)
    assert data[:2] == b"\xff\xd8" and platforms.decode(data).size == image.size
    quality, fitted = platforms.best_jpeg_under(image, len(data), 50)
    assert len(fitted) <= len(data) and quality >= 80
    assert platforms.best_jpeg_under(image, 100, 50) is None
    served = platforms.simulate_upload(photo(2000, 1000), PROFILES["telegram"])
    assert served.size == (1280, 640)


def test_imports_without_torch() -> None:
    code = "import sys, common.platforms; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)

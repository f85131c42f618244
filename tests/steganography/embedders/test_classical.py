from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from common.image import jpeg_roundtrip
from steganography.embedders.classical import (
    AC_POSITIONS,
    PREAMBLE_BITS,
    ClassicalEmbedder,
    dct_basis,
    estimate_quantisation_step,
    jpeg_luma_quantisation,
    luma_blocks,
    qim_soft_decision,
    zigzag_order,
)


def textured_cover(seed: int, height: int = 256, width: int = 256) -> Image.Image:
    """A small natural-looking RGB cover: gradients, a periodic texture, grain and a hard-edged patch."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = rng.uniform(60, 190, 3) + 50 * (x[..., None] * rng.uniform(-1, 1, 3) + y[..., None] * rng.uniform(-1, 1, 3))
    image += 18 * np.sin(2 * np.pi * (rng.uniform(2, 12) * x + rng.uniform(2, 12) * y))[..., None]
    image += rng.normal(0.0, 5.0, image.shape)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    image[top : top + height // 3, left : left + width // 3] = rng.uniform(20, 235, 3)
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def random_bits(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, count, dtype=np.uint8)


def psnr(a: Image.Image, b: Image.Image) -> float:
    error = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return 10 * np.log10(255.0**2 / np.mean(error**2))


def test_jpeg_tables_match_pillow() -> None:
    # The embedding's alignment with JPEG rests on these tables being the encoder's own.
    for quality in (30, 50, 75, 90):
        buffer = io.BytesIO()
        textured_cover(0, 64, 64).save(buffer, format="JPEG", quality=quality)
        with Image.open(buffer) as decoded:
            pillow_table = np.array(decoded.quantization[0]).reshape(8, 8)
        np.testing.assert_array_equal(jpeg_luma_quantisation(quality), pillow_table)


def test_zigzag_order() -> None:
    order = zigzag_order()
    assert order[:10] == [(0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0)]
    assert sorted(order) == [(r, c) for r in range(8) for c in range(8)]
    assert len(AC_POSITIONS) == 63


def test_capacity_scales_with_area_and_bits_per_block() -> None:
    four = ClassicalEmbedder(bits_per_block=4)
    eight = ClassicalEmbedder(bits_per_block=8)
    assert eight.capacity_bits(256, 256) == 1024 * 8 - PREAMBLE_BITS
    assert eight.capacity_bits(512, 512) + PREAMBLE_BITS == 4 * (eight.capacity_bits(256, 256) + PREAMBLE_BITS)
    assert eight.capacity_bits(1920, 1080) + PREAMBLE_BITS == 2 * (four.capacity_bits(1920, 1080) + PREAMBLE_BITS)
    assert eight.capacity_bits(263, 259) == eight.capacity_bits(256, 256)  # partial blocks are unused
    assert eight.capacity_bits(64, 64) == 0  # too small for the preamble


@pytest.mark.parametrize("quality_target, bits_per_block", [(75, 8), (50, 4), (90, 12)])
def test_round_trip_without_compression(quality_target: int, bits_per_block: int) -> None:
    embedder = ClassicalEmbedder(quality_target=quality_target, bits_per_block=bits_per_block)
    cover = textured_cover(1)
    capacity = embedder.capacity_bits(*cover.size)
    bits = random_bits(capacity)
    stego = embedder.embed(cover, bits)
    assert stego.size == cover.size and stego.mode == "RGB"
    np.testing.assert_array_equal(embedder.extract(stego, capacity), bits)
    # A partial payload leaves the rest of the capacity alone and still reads back.
    partial = random_bits(capacity // 3, seed=1)
    partial_stego = embedder.embed(cover, partial)
    np.testing.assert_array_equal(embedder.extract(partial_stego, partial.size), partial)
    assert psnr(cover, partial_stego) > psnr(cover, stego)


def test_receiver_reads_settings_from_the_image() -> None:
    sender = ClassicalEmbedder(quality_target=60, bits_per_block=6)
    cover = textured_cover(2)
    bits = random_bits(sender.capacity_bits(*cover.size))
    stego = jpeg_roundtrip(sender.embed(cover, bits), 60)
    soft = ClassicalEmbedder().extract_soft(stego, bits.size)  # defaults: 75, 8
    assert np.mean((soft > 0) != bits) < 0.01


def test_soft_values_and_extra_bits() -> None:
    embedder = ClassicalEmbedder()
    cover = textured_cover(3)
    capacity = embedder.capacity_bits(*cover.size)
    bits = random_bits(capacity)
    soft = embedder.extract_soft(embedder.embed(cover, bits), capacity + 100)
    assert soft.dtype == np.float32 and soft.shape == (capacity + 100,)
    assert np.all(np.abs(soft) <= 1.0)
    assert np.all(soft[capacity:] == 0.0)  # beyond the capacity: unknown
    assert np.median(np.abs(soft[:capacity])) > 0.8  # lossless: close to the lattice


def test_embed_rejects_too_many_or_non_binary_bits() -> None:
    embedder = ClassicalEmbedder()
    cover = textured_cover(4, 128, 128)
    with pytest.raises(ValueError, match="do not fit"):
        embedder.embed(cover, random_bits(embedder.capacity_bits(128, 128) + 1))
    with pytest.raises(ValueError, match="0 or 1"):
        embedder.embed(cover, np.full(10, 2, dtype=np.uint8))
    assert embedder.capacity_bits(64, 64) == 0  # the preamble alone does not fit
    with pytest.raises(ValueError, match="do not fit"):
        embedder.embed(textured_cover(4, 64, 64), random_bits(0))


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_survives_real_jpeg_at_and_above_target(seed: int) -> None:
    embedder = ClassicalEmbedder(quality_target=75)
    cover = textured_cover(seed)
    capacity = embedder.capacity_bits(*cover.size)
    bits = random_bits(capacity, seed)
    stego = embedder.embed(cover, bits)
    assert psnr(cover, stego) > 41.0
    for quality in (75, 85, 95):
        errors = np.mean(embedder.extract(jpeg_roundtrip(stego, quality), capacity) != bits)
        assert errors < 0.005, (quality, errors)
    # Far below the target the lattice is requantised away: the bound above is not vacuous.
    assert np.mean(embedder.extract(jpeg_roundtrip(stego, 30), capacity) != bits) > 0.05


def test_estimate_quantisation_step_finds_jpeg_step() -> None:
    embedder = ClassicalEmbedder(quality_target=75)
    cover = textured_cover(8)
    bits = random_bits(embedder.capacity_bits(*cover.size))
    recompressed = np.asarray(jpeg_roundtrip(embedder.embed(cover, bits), 85), dtype=np.float32)
    positions = AC_POSITIONS[: embedder.bits_per_block]
    coefficients = (luma_blocks(torch.from_numpy(recompressed)) @ dct_basis(positions).T).numpy()
    table = jpeg_luma_quantisation(85)[positions[:, 0], positions[:, 1]]
    for index, step in enumerate(embedder.steps):
        estimate = estimate_quantisation_step(coefficients[:, index], step)
        assert estimate == table[index] or step % table[index] == 0, (index, estimate, table[index], step)
    # Without recompression nothing concentrates on a finer grid than the lattice.
    noise = np.random.default_rng(0).normal(0, 30, 5000).astype(np.float32)
    assert estimate_quantisation_step(noise, 6.0) == 6.0


def test_qim_soft_decision() -> None:
    steps = np.full(4, 6.0, dtype=np.float32)
    values = np.array([0.0, 6.0, 12.5, -4.5], dtype=np.float32)
    soft = qim_soft_decision(values, steps, steps)
    np.testing.assert_allclose(soft, [-1.0, 1.0, -1 + 1 / 6, 1 - 3 / 6], atol=1e-6)
    # Lattice 6 requantised with step 4: 6 -> 4 or 8 (a tie), 12 -> 12, 18 -> 16 or 20.
    requantised = qim_soft_decision(
        np.array([4.0, 8.0, 12.0, 16.0], dtype=np.float32), steps, np.full(4, 4.0, dtype=np.float32)
    )
    assert list(requantised > 0) == [True, True, False, True]

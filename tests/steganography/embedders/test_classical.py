from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from common.image import jpeg_roundtrip
from common.platforms import apply_chain, crop
from datamodules.synthetic import textured_cover
from steganography.embedders.classical import (
    AC_POSITIONS,
    GRID_MARGIN,
    PREAMBLE_BITS,
    ClassicalEmbedder,
    Preamble,
    dct_basis,
    estimate_quantisation_step,
    grid_size,
    jpeg_luma_quantisation,
    luma_blocks,
    preamble_positions,
    qim_soft_decision,
    zigzag_order,
)


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
    # 256 px: a 28 x 28-block grid inside the 16-px margins, minus the preamble positions.
    assert grid_size(256, 256) == (28, 28)
    preamble = preamble_positions(28, 28)[0].size
    assert eight.capacity_bits(256, 256) == 28 * 28 * 8 - preamble
    assert PREAMBLE_BITS <= preamble <= 4 * PREAMBLE_BITS
    cols, rows = grid_size(1920, 1080)
    assert eight.capacity_bits(1920, 1080) + preamble_positions(cols, rows)[0].size == 2 * (
        four.capacity_bits(1920, 1080) + preamble_positions(cols, rows)[0].size
    )
    assert eight.capacity_bits(263, 259) == eight.capacity_bits(256, 256)  # partial blocks are unused
    assert eight.capacity_bits(128, 128) == 0  # smaller than one preamble tile inside the margins


def test_preamble_round_trip_and_rejects_corruption() -> None:
    preamble = Preamble(70, 12, 2.0, 196, 146)
    bits = preamble.to_bits()
    assert bits.size == PREAMBLE_BITS and Preamble.from_bits(bits) == preamble
    for index in (0, 20, PREAMBLE_BITS - 1):
        flipped = bits.copy()
        flipped[index] ^= 1
        assert Preamble.from_bits(flipped) is None
    assert Preamble.from_bits(np.zeros(PREAMBLE_BITS, dtype=np.uint8)) is None
    with pytest.raises(ValueError):
        Preamble(70, 12, 1.25, 196, 146)


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
    sender = ClassicalEmbedder(quality_target=60, bits_per_block=6, step_multiple=1.5)
    cover = textured_cover(2)
    bits = random_bits(sender.capacity_bits(*cover.size))
    stego = jpeg_roundtrip(sender.embed(cover, bits), 60)
    receiver = ClassicalEmbedder()  # defaults: 75, 12, 2.0
    x, y, preamble = receiver.read_preamble(stego)
    assert (x, y) == (GRID_MARGIN, GRID_MARGIN)
    assert preamble == Preamble(60, 6, 1.5, *grid_size(*cover.size))
    soft = receiver.extract_soft(stego, bits.size)
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
    cover = textured_cover(4, 192, 192)
    with pytest.raises(ValueError, match="do not fit"):
        embedder.embed(cover, random_bits(embedder.capacity_bits(192, 192) + 1))
    with pytest.raises(ValueError, match="0 or 1"):
        embedder.embed(cover, np.full(10, 2, dtype=np.uint8))
    assert embedder.capacity_bits(64, 64) == 0  # the preamble alone does not fit
    with pytest.raises(ValueError, match="do not fit"):
        embedder.embed(textured_cover(4, 64, 64), random_bits(0))


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_aligned_lattice_survives_real_jpeg_at_and_above_target(seed: int) -> None:
    embedder = ClassicalEmbedder(quality_target=75, step_multiple=1.0)
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
    embedder = ClassicalEmbedder(quality_target=75, step_multiple=1.0)
    cover = textured_cover(8)
    bits = random_bits(embedder.capacity_bits(*cover.size))
    recompressed = np.asarray(jpeg_roundtrip(embedder.embed(cover, bits), 85), dtype=np.float32)
    recompressed = recompressed[GRID_MARGIN:, GRID_MARGIN:]
    positions = AC_POSITIONS[: embedder.bits_per_block]
    coefficients = luma_blocks(recompressed) @ dct_basis(positions).T
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


@pytest.mark.parametrize("seed", [10, 11])
def test_default_lattice_survives_jpeg_chains_above_the_design_quality(seed: int) -> None:
    # Step multiple 2: any single JPEG and any two-JPEG chain at or above the design quality,
    # in any order, decoded without knowing the qualities.
    embedder = ClassicalEmbedder(quality_target=70)
    cover = textured_cover(seed, 320, 320)
    capacity = embedder.capacity_bits(*cover.size)
    bits = random_bits(capacity, seed)
    stego = embedder.embed(cover, bits)
    assert psnr(cover, stego) > 30.0
    for chain in [(70,), (75,), (95,), (80, 85), (85, 80), (78, 85), (90, 80), (95, 70), (73, 77)]:
        errors = np.mean(embedder.extract(apply_chain(stego, chain), capacity) != bits)
        assert errors < 0.01, (chain, errors)
    # Far below the design quality the lattice is requantised away: the bound is not vacuous.
    assert np.mean(embedder.extract(apply_chain(stego, (30,)), capacity) != bits) > 0.05


def test_receiver_finds_the_grid_after_crops_from_any_edge() -> None:
    embedder = ClassicalEmbedder(quality_target=70)
    cover = textured_cover(12, 288, 320)
    capacity = embedder.capacity_bits(*cover.size)
    bits = random_bits(capacity, 12)
    stego = embedder.embed(cover, bits)
    for left, top, right, bottom in [(0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 0), (16, 16, 16, 16), (3, 5, 7, 2), (8, 0, 0, 16)]:
        cropped = crop(stego, left, top, right, bottom)
        x, y, preamble = embedder.read_preamble(cropped)
        assert (x, y) == (GRID_MARGIN - left, GRID_MARGIN - top)
        assert (preamble.cols, preamble.rows) == grid_size(*cover.size)
        soft = embedder.extract_soft(cropped, capacity)
        assert np.mean((soft > 0) != bits) < 1e-3, (left, top, right, bottom)
    # After a misaligned crop the platform's JPEG grid differs from the embedding's: more errors,
    # but the grid is still found and most bits survive.
    shifted = apply_chain(crop(stego, 3, 5, 0, 0), (75,))
    assert embedder.read_preamble(shifted)[:2] == (GRID_MARGIN - 3, GRID_MARGIN - 5)
    assert np.mean(embedder.extract(shifted, capacity) != bits) < 0.06


def test_plain_images_have_no_preamble() -> None:
    embedder = ClassicalEmbedder()
    for image in (textured_cover(13), Image.new("RGB", (256, 256), (128, 128, 128)), Image.new("RGB", (256, 256))):
        assert embedder.read_preamble(image) is None
        assert not np.any(embedder.extract_soft(image, 100))

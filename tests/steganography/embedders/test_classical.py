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
    DEFAULT_SEED,
    DEFAULT_SPREAD,
    GRID_MARGIN,
    PREAMBLE_BITS,
    PREAMBLE_COPIES,
    ClassicalEmbedder,
    Preamble,
    dct_basis,
    dithered_qim_margin,
    grid_size,
    jpeg_luma_quantisation,
    keyed_uniform,
    luma_blocks,
    preamble_layout,
    uerd_costs,
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


def preamble_payload_slots(cols: int, rows: int, bits_per_block: int, seed: int = DEFAULT_SEED) -> int:
    layout = preamble_layout(seed)
    return int(np.count_nonzero(layout.present(cols, rows) & (layout.frequency < bits_per_block)))


def test_capacity_scales_with_area_and_bits_per_block() -> None:
    four = ClassicalEmbedder(spread=1, bits_per_block=4)
    eight = ClassicalEmbedder(spread=1, bits_per_block=8)
    # 256 px: a 28 x 28-block grid inside the 16-px margins, minus every preamble copy a grid may hold.
    preamble = PREAMBLE_COPIES * PREAMBLE_BITS
    assert grid_size(256, 256) == (28, 28)
    assert eight.capacity_bits(256, 256) == 28 * 28 * 8 - preamble
    cols, rows = grid_size(1920, 1080)
    # Every copy of the preamble lies in the corner region, all present in a large grid.
    assert np.all(preamble_layout().present(cols, rows)) and preamble_payload_slots(cols, rows, 8) == preamble
    assert eight.capacity_bits(1920, 1080) == cols * rows * 8 - preamble
    assert four.capacity_bits(1920, 1080) == cols * rows * 4 - preamble
    # In a grid smaller than the preamble's region the copies inside depend on the key; the capacity does not.
    assert len({eight.keyed(seed).capacity_bits(320, 256) for seed in range(8)}) == 1
    assert len({preamble_payload_slots(40, 32, 8, seed) for seed in range(8)}) > 1
    assert eight.capacity_bits(263, 259) == eight.capacity_bits(256, 256)  # partial blocks are unused
    assert eight.capacity_bits(160, 160) > 0 and eight.capacity_bits(152, 160) == 0  # the preamble's corner inside the margins


def test_preamble_layout_holds_a_copy_of_every_bit_in_the_corner() -> None:
    layout = preamble_layout(1234)
    corner = layout.present(16, 16)
    assert set(layout.bit[corner]) == set(range(PREAMBLE_BITS))
    positions = set(zip(layout.rows, layout.cols, layout.frequency, strict=True))
    assert len(positions) == layout.rows.size  # no position carries two copies
    assert preamble_layout(1235).rows.tolist() != layout.rows.tolist()  # keyed


def test_preamble_round_trip_and_rejects_corruption() -> None:
    preamble = Preamble(0x1BCDEF, 70, 12, 2.0, 16, 196, 146)
    bits = preamble.to_bits()
    assert bits.size == PREAMBLE_BITS and Preamble.from_bits(bits) == preamble
    for index in (0, 20, PREAMBLE_BITS - 1):
        flipped = bits.copy()
        flipped[index] ^= 1
        assert Preamble.from_bits(flipped) is None
    assert Preamble.from_bits(np.zeros(PREAMBLE_BITS, dtype=np.uint8)) is None
    for step_multiple in (1.25, 1.5):
        with pytest.raises(ValueError):
            Preamble(0, 70, 12, step_multiple, 1, 196, 146)
    with pytest.raises(ValueError, match="2.0..3.5"):
        ClassicalEmbedder(step_multiple=1.0)
    for spread in (3, 256):
        with pytest.raises(ValueError):
            Preamble(0, 70, 12, 2.0, spread, 196, 146)


@pytest.mark.parametrize("quality_target, bits_per_block", [(75, 8), (50, 4), (90, 12)])
def test_round_trip_without_compression(quality_target: int, bits_per_block: int) -> None:
    embedder = ClassicalEmbedder(spread=1, quality_target=quality_target, bits_per_block=bits_per_block)
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
    sender = ClassicalEmbedder(spread=1, quality_target=60, bits_per_block=6, step_multiple=2.5)
    cover = textured_cover(2)
    bits = random_bits(sender.capacity_bits(*cover.size))
    stego = jpeg_roundtrip(sender.embed(cover, bits), 60)
    receiver = ClassicalEmbedder(spread=1)  # defaults: 75, 12, 2.0
    x, y, preamble = receiver.read_preamble(stego)
    assert (x, y) == (GRID_MARGIN, GRID_MARGIN)
    assert preamble == Preamble(preamble.salt, 60, 6, 2.5, 1, *grid_size(*cover.size))
    soft = receiver.extract_soft(stego, bits.size)
    assert np.mean((soft > 0) != bits) < 0.01


def test_soft_values_and_extra_bits() -> None:
    embedder = ClassicalEmbedder(spread=1)
    cover = textured_cover(3)
    capacity = embedder.capacity_bits(*cover.size)
    bits = random_bits(capacity)
    soft = embedder.extract_soft(embedder.embed(cover, bits), capacity + 100)
    assert soft.dtype == np.float32 and soft.shape == (capacity + 100,)
    assert np.all(np.abs(soft) <= 1.0)
    assert np.all(soft[capacity:] == 0.0)  # beyond the capacity: unknown
    assert np.median(np.abs(soft[:capacity])) > 0.8  # lossless: close to the lattice


def test_embed_rejects_too_many_or_non_binary_bits() -> None:
    embedder = ClassicalEmbedder(spread=1)
    cover = textured_cover(4, 192, 192)
    with pytest.raises(ValueError, match="do not fit"):
        embedder.embed(cover, random_bits(embedder.capacity_bits(192, 192) + 1))
    with pytest.raises(ValueError, match="0 or 1"):
        embedder.embed(cover, np.full(10, 2, dtype=np.uint8))
    assert embedder.capacity_bits(64, 64) == 0  # the preamble alone does not fit
    with pytest.raises(ValueError, match="do not fit"):
        embedder.embed(textured_cover(4, 64, 64), random_bits(0))


def test_dither_hides_the_lattice() -> None:
    # Keyed dither is uniform: coefficients on their dithered lattices show no common lattice.
    dither = keyed_uniform(99, np.arange(20000))
    assert 0.0 <= dither.min() and dither.max() < 1.0
    assert abs(dither.mean() - 0.5) < 0.01
    step = 10.0
    on_lattice = (np.random.default_rng(0).integers(-20, 20, dither.size) + dither) * step
    assert abs(np.mean(np.exp(2j * np.pi * on_lattice / step))) < 0.03  # a scan at the step finds nothing
    assert np.all(dithered_qim_margin(on_lattice, np.full(dither.size, step), dither) ** 2 > 0.99)


@pytest.mark.parametrize("seed", [10, 11])
def test_default_lattice_survives_jpeg_chains_above_the_design_quality(seed: int) -> None:
    # Step multiple 2: any single JPEG and any two-JPEG chain at or above the design quality,
    # in any order, decoded without knowing the qualities.
    embedder = ClassicalEmbedder(spread=1, quality_target=70)
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
    embedder = ClassicalEmbedder(spread=1, quality_target=70)
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
    embedder = ClassicalEmbedder(spread=1)
    for image in (textured_cover(13), Image.new("RGB", (256, 256), (128, 128, 128)), Image.new("RGB", (256, 256))):
        assert embedder.read_preamble(image) is None
        assert not np.any(embedder.extract_soft(image, 100))


def test_footprint_follows_the_message_and_images_are_not_linkable() -> None:
    embedder = ClassicalEmbedder(spread=1, quality_target=70)
    cover = textured_cover(14, 320, 320)
    bits = random_bits(500, 14)
    basis = dct_basis(AC_POSITIONS[:12])

    def changed_positions(stego: Image.Image) -> set[int]:
        def coefficients(image: Image.Image) -> np.ndarray:
            region = np.asarray(image, dtype=np.float32)[GRID_MARGIN:-GRID_MARGIN, GRID_MARGIN:-GRID_MARGIN]
            return (luma_blocks(region) @ basis.T).ravel()

        return set(np.flatnonzero(np.abs(coefficients(stego) - coefficients(cover)) > 2.0).tolist())

    first, second = embedder.embed(cover, bits), embedder.embed(cover, bits ^ 1)
    assert np.array_equal(np.asarray(embedder.embed(cover, bits)), np.asarray(first))  # a function of the bits
    assert embedder.read_preamble(first)[2].salt != embedder.read_preamble(second)[2].salt
    np.testing.assert_array_equal(embedder.extract(first, bits.size), bits)
    np.testing.assert_array_equal(embedder.extract(second, bits.size), bits ^ 1)
    # Only the message's coefficients (and the preamble's copies) move, beyond rounding noise;
    # the rest of the capacity is untouched.
    preamble = int(np.count_nonzero(preamble_layout().present(*grid_size(*cover.size))))
    one, two = changed_positions(first), changed_positions(second)
    assert len(one) <= bits.size + preamble and len(two) <= bits.size + preamble
    assert embedder.capacity_bits(*cover.size) > 10 * len(one)
    # Another message gets another salt and goes elsewhere: the two images share only chance positions
    # and the preamble's.
    assert len(one & two) < preamble + 0.2 * bits.size


def test_uerd_costs_match_conseal() -> None:
    uerd = pytest.importorskip("conseal.uerd")
    rng = np.random.default_rng(3)
    table = jpeg_luma_quantisation(75)
    quantised = np.round(rng.laplace(0, 3, (6, 7, 8, 8)) * (rng.random((6, 7, 1, 1)) < 0.8))
    quantised[2, 3] = 0  # an empty block: wet
    ours = uerd_costs((quantised * table).reshape(-1, 64), 6, 7, table.ravel())
    theirs = uerd._costmap.compute_cost(quantised, table).reshape(-1, 64)
    np.testing.assert_allclose(ours[np.isfinite(theirs)], theirs[np.isfinite(theirs)], rtol=1e-9)
    assert np.array_equal(np.isinf(ours), np.isinf(theirs))


@pytest.mark.parametrize("spread", [2, 8])
def test_spread_puts_changes_in_textured_blocks_and_survives_chains(spread: int) -> None:
    # Left half flat, right half textured: the projection's change goes to the textured members.
    cover = _flat_and_textured_cover(spread)
    embedder = ClassicalEmbedder(quality_target=70, spread=spread)
    unspread = ClassicalEmbedder(quality_target=70, spread=1).capacity_bits(*cover.size)
    assert embedder.capacity_bits(*cover.size) == unspread // spread
    bits = random_bits(800, spread)
    stego = embedder.embed(cover, bits)
    assert embedder.read_preamble(stego)[2].spread == spread
    change = np.abs(np.asarray(stego, dtype=np.float64) - np.asarray(cover, dtype=np.float64))[..., 0]
    # The preamble sits in the top-left corner whatever the texture: compare below it.
    below = slice(GRID_MARGIN + 8 * 48, None)
    assert change[below, 160:].sum() > 2.5 * change[below, :160].sum()
    for chain in [(), (70,), (95, 70), (80, 85)]:
        received = apply_chain(stego, chain) if chain else stego
        assert np.mean(embedder.extract(received, bits.size) != bits) < 0.01, chain


def _flat_and_textured_cover(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    flat = np.full((560, 160, 3), 120.0)
    busy = np.clip(120 + rng.normal(0, 25, (560, 160, 1)), 0, 255).repeat(3, axis=2)
    return Image.fromarray(np.concatenate([flat, busy], axis=1).astype(np.uint8))


def test_a_shallower_margin_changes_less_and_keeps_every_bit_that_deep() -> None:
    cover = _flat_and_textured_cover(5)
    bits = random_bits(900, 5)
    change = {}
    for margin in (0.5, 0.3):
        embedder = ClassicalEmbedder(quality_target=70, margin=margin, salt=77)
        stego = embedder.embed(cover, bits)
        soft = embedder.extract_soft(stego, bits.size)
        assert np.array_equal(soft > 0, bits.astype(bool))
        # Soft values are twice the distance from the decision boundary: at least the margin's
        # (less a little for the pixels' rounding).
        assert np.quantile(np.abs(soft), 0.02) > 2 * margin - 0.15
        change[margin] = np.abs(np.asarray(stego, dtype=np.float64) - np.asarray(cover, dtype=np.float64)).sum()
    assert change[0.3] < 0.85 * change[0.5]
    with pytest.raises(ValueError, match="margin"):
        ClassicalEmbedder(margin=0.6)


def test_a_higher_cost_exponent_concentrates_the_change_in_texture() -> None:
    cover = _flat_and_textured_cover(6)
    bits = random_bits(800, 6)
    below = slice(GRID_MARGIN + 8 * 48, None)  # under the preamble's corner
    flat_share = {}
    for exponent in (1.0, 2.0):
        embedder = ClassicalEmbedder(quality_target=70, cost_exponent=exponent, salt=78)
        stego = embedder.embed(cover, bits)
        assert np.array_equal(embedder.extract(jpeg_roundtrip(stego, 75), bits.size), bits)
        change = np.abs(np.asarray(stego, dtype=np.float64) - np.asarray(cover, dtype=np.float64))[below, :, 0]
        flat_share[exponent] = change[:, :160].sum() / change.sum()
    assert flat_share[2.0] < 0.7 * flat_share[1.0]
    with pytest.raises(ValueError, match="cost_exponent"):
        ClassicalEmbedder(cost_exponent=0)


def test_the_default_design_is_spread_and_its_maximal_variant_is_not() -> None:
    covert = ClassicalEmbedder(quality_target=70)
    maximal = covert.maximal()
    assert covert.spread == DEFAULT_SPREAD > 1 and maximal.spread == 1 and maximal.quality_target == 70
    assert covert.capacity_bits(1600, 1200) == maximal.capacity_bits(1600, 1200) // DEFAULT_SPREAD


def test_finer_lattices_are_gentler_variants_the_receiver_reads() -> None:
    design = ClassicalEmbedder(quality_target=70, step_multiple=3.0).keyed(9)
    finer = design.gentler()
    assert [variant.step_multiple for variant in finer] == [2.0, 2.5] and design.step_multiple == 3.0
    assert ClassicalEmbedder(step_multiple=2.0).gentler() == []
    for variant in finer:
        assert variant.seed == 9 and variant.spread == design.spread
        np.testing.assert_array_equal(variant.steps, ClassicalEmbedder(quality_target=70, step_multiple=variant.step_multiple).steps)
    # Frame bits times the step: a finer lattice pays for its stronger code.
    assert finer[0].footprint(1000) == 2000 < design.footprint(700) == 2100
    cover = textured_cover(4)
    bits = random_bits(200, 4)
    stego = jpeg_roundtrip(finer[0].embed(cover, bits), 80)
    np.testing.assert_array_equal(design.extract(stego, bits.size), bits)  # the step is in the preamble


def test_fast_grid_search_equals_reading_every_origin() -> None:
    """find_grid reads all origins at once and reads exactly only where a preamble may be: the
    answer must be that of reading every origin exactly (the search as it was)."""
    from steganography.embedders import classical

    embedder = ClassicalEmbedder().keyed(4242)
    cover = textured_cover(3, 300, 260)
    stego = embedder.embed(cover, random_bits(embedder.capacity_bits(*cover.size)))
    images = {
        "stego": stego,
        "jpeg": jpeg_roundtrip(stego, 60),
        "cropped": jpeg_roundtrip(crop(stego, 5, 3, 2, 11), 85),
        "cover": cover,
        "flat": Image.new("RGB", (200, 170), (90, 90, 90)),
    }
    for name, image in images.items():
        luma = np.asarray(image, dtype=np.float32) @ np.asarray(classical.LUMA_WEIGHTS, dtype=np.float32)
        height, width = luma.shape
        smallest = 8 * classical.MIN_GRID_BLOCKS + GRID_MARGIN
        best = None
        for y in range(min(GRID_MARGIN, height - smallest) + 1):
            for x in range(min(GRID_MARGIN, width - smallest) + 1):
                found = classical._find_grid_at(luma, preamble_layout(4242), x, y)
                if found is not None and (best is None or found[0] > best[0]):
                    best = (found[0], x, y, found[1])
        assert classical.find_grid(luma, 4242) == (None if best is None else best[1:]), name
        assert (best is not None) == (name in ("stego", "jpeg", "cropped")), name


def test_cached_cover_work_gives_the_same_stego_image() -> None:
    """embed keeps what it computes from the cover for the next embedding into it (hide probes,
    then embeds): the stego image is the same as from a fresh start, and a changed cover is
    another cover."""
    from steganography.embedders import classical

    embedder = ClassicalEmbedder().keyed(7)
    cover = textured_cover(5, 240, 200)
    bits = random_bits(embedder.capacity_bits(*cover.size) // 2, seed=3)
    classical._COVER_WORK.clear()
    fresh = np.asarray(embedder.embed(cover, bits))
    assert np.array_equal(np.asarray(embedder.embed(cover, bits)), fresh)
    changed = cover.copy()
    changed.putpixel((100, 100), (0, 0, 0))
    classical._COVER_WORK.clear()
    expected = np.asarray(embedder.embed(changed, bits))
    embedder.embed(cover, bits)
    assert np.array_equal(np.asarray(embedder.embed(changed, bits)), expected)


def test_the_shrink_bias_keeps_the_spread_of_the_dct_histogram() -> None:
    """Changes shared by cost alone widen the cover's DCT histogram (a first-order tell of the
    platform JPEG); favouring coefficients the change takes towards 0 keeps its spread."""
    cover = _flat_and_textured_cover(7)
    bits = random_bits(900, 7)
    basis = dct_basis(AC_POSITIONS[:12])

    def energy(image: Image.Image) -> float:
        return float(np.abs(luma_blocks(np.asarray(image, dtype=np.float32)) @ basis.T).sum())

    growth = {}
    for bias in (1.0, 1.75):
        embedder = ClassicalEmbedder(quality_target=70, shrink_bias=bias, salt=79)
        stego = embedder.embed(cover, bits)
        assert np.array_equal(embedder.extract(jpeg_roundtrip(stego, 75), bits.size), bits)
        growth[bias] = energy(stego) - energy(cover)
    assert growth[1.0] > 0
    assert abs(growth[1.75]) < 0.5 * growth[1.0]
    with pytest.raises(ValueError, match="shrink_bias"):
        ClassicalEmbedder(shrink_bias=0)

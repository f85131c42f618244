"""The steganalysis benchmark's helpers (benchmarks/steganalysis.py) on tiny images: lossless DCT
crops, peers, keyless statistics, AUC, P_E and the photo splits."""

from __future__ import annotations

from pathlib import Path

import jpeglib
import numpy as np
import pytest
from PIL import Image

from common.platforms import jpeg_bytes


@pytest.fixture(scope="module")
def sa(load_benchmark):
    return load_benchmark("steganalysis")


def photo_like(height: int, width: int, seed: int = 0) -> Image.Image:
    """Smooth colour gradients plus noise: textured enough for non-zero AC coefficients."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([96 + 60 * np.sin(x / 9.0), 128 + 50 * np.cos(y / 7.0), 110 + 40 * np.sin((x + y) / 13.0)], axis=-1)
    return Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))


def decode_luma(data: bytes, path: Path) -> np.ndarray:
    path.write_bytes(data)
    return jpeglib.read_spatial(str(path), jpeglib.JCS_GRAYSCALE).spatial[..., 0].astype(int)


def image_from_blocks(coefficients: np.ndarray, rows: int, cols: int, sa) -> np.ndarray:
    """RGB (grey) float image whose 8×8 blocks have the given DCT ``(blocks, 64)`` (natural order)."""
    everything = np.array([(row, col) for row in range(8) for col in range(8)])
    blocks = coefficients @ sa.dct_basis(everything)
    grey = blocks.reshape(rows, cols, 8, 8).transpose(0, 2, 1, 3).reshape(rows * 8, cols * 8)
    return np.repeat(grey[..., None], 3, axis=2)


def test_dct_crop_is_lossless(sa, tmp_path: Path) -> None:
    data = jpeg_bytes(photo_like(128, 160), 75)
    top, left, size = 32, 48, 64
    cropped = sa.crop_jpeg(data, top, left, size)
    full, part = sa.read_dct(data), sa.read_dct(cropped)
    assert np.array_equal(part.Y, full.Y[top // 8 : (top + size) // 8, left // 8 : (left + size) // 8])
    assert np.array_equal(part.Cb, full.Cb[top // 16 : (top + size) // 16, left // 16 : (left + size) // 16])
    assert np.array_equal(part.qt, full.qt)
    # Luma decodes block by block: exactly the crop of the decoded image.
    luma = decode_luma(cropped, tmp_path / "crop.jpg")
    assert np.array_equal(luma, decode_luma(data, tmp_path / "full.jpg")[top : top + size, left : left + size])
    # RGB: within 1 level inside; the outermost pixels may differ by a few (chroma upsampling
    # reads the neighbouring chroma blocks that the crop removed).
    rgb, reference = sa.decode(cropped).astype(int), sa.decode(data)[top : top + size, left : left + size].astype(int)
    assert np.abs(rgb - reference)[1:-1, 1:-1].max() <= 1
    with pytest.raises(ValueError, match="aligned"):
        sa.crop_jpeg(data, 8, 16, 64)


def test_crop_positions_are_aligned_inside_and_seeded(sa) -> None:
    positions = sa.crop_positions(200, 120, 64, 20, seed=3)
    assert positions == sa.crop_positions(200, 120, 64, 20, seed=3)
    assert all(top % 16 == 0 and left % 16 == 0 and top + 64 <= 120 and left + 64 <= 200 for top, left in positions)
    assert len(set(positions)) > 1


@pytest.mark.parametrize("peer", ["J-UNIWARD", "UERD", "nsF5"])
def test_peers_change_only_the_luma_dct(sa, peer: str) -> None:
    cover = jpeg_bytes(photo_like(64, 64, seed=1), 75)
    stego = sa.simulate_peer(peer, cover, 0.4, seed=5)
    before, after = sa.read_dct(cover), sa.read_dct(stego)
    changes = int(np.count_nonzero(before.Y != after.Y))
    assert 0 < changes < 0.5 * sa.nzac(before.Y)
    assert np.array_equal(before.Cb, after.Cb) and np.array_equal(before.Cr, after.Cr) and np.array_equal(before.qt, after.qt)
    assert sa.simulate_peer(peer, cover, 0.0, seed=5) == cover


def test_lattice_scan_finds_a_lattice_but_not_a_dithered_one(sa) -> None:
    rng = np.random.default_rng(0)
    rows = cols = 16  # 128 x 128
    step = 2.0 * float(sa.jpeg_luma_quantisation(50)[0, 1])  # a candidate step of frequency (0, 1)
    values = rng.laplace(0, 30, rows * cols)
    plain = np.zeros((rows * cols, 64))
    plain[:, 0] = 1024.0  # mid-grey DC
    plain[:, 1] = values
    on_lattice, dithered = plain.copy(), plain.copy()
    on_lattice[:, 1] = np.round(values / step) * step
    offset = rng.random(rows * cols)
    dithered[:, 1] = (np.round(values / step - offset) + offset) * step
    candidates = sa.lattice_candidates()
    scores = {name: sa.lattice_score(image_from_blocks(c, rows, cols, sa), candidates) for name, c in
              (("plain", plain), ("lattice", on_lattice), ("dithered", dithered))}
    assert scores["lattice"] > 0.6
    assert scores["plain"] < 0.3 and scores["dithered"] < 0.3
    # The old preamble tell: first AC coefficients on the Q30 x 2 lattice (36).
    preamble = plain.copy()
    preamble[:, 1] = np.round(values / 36.0) * 36.0
    assert sa.preamble_fraction(image_from_blocks(preamble, rows, cols, sa)) > 0.95
    assert sa.preamble_fraction(image_from_blocks(plain, rows, cols, sa)) < 0.4


def test_auc(sa) -> None:
    assert sa.auc([0, 1, 2], [3, 4]) == 1.0
    assert sa.auc([3, 4], [0, 1, 2]) == 0.0
    assert sa.auc([1, 1], [1, 1]) == 0.5
    assert sa.auc([0, 2], [1, 3]) == 0.75
    assert np.isnan(sa.auc([], [1]))


def test_error_probabilities(sa) -> None:
    assert sa.pe_min_threshold([0.1, 0.2], [0.3, 0.4]) == 0.0
    assert sa.pe_min_threshold([1.0, 1.0], [1.0, 1.0]) == 0.5
    assert sa.pe_min_threshold([0.0, 0.5, 0.9], [0.4, 0.6, 1.0]) == pytest.approx(0.5 * (1 / 3 + 1 / 3))
    assert sa.pe_from_decisions(np.array([-1, -1, 1, -1]), np.array([1, 1, -1, -1])) == pytest.approx(0.5 * (0.25 + 0.5))


def test_photo_splits_never_share_a_photo(sa) -> None:
    splits = sa.photo_splits(9, 5, seed=1)
    again = sa.photo_splits(9, 5, seed=1)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(splits, again))
    for train, test in splits:
        assert not set(train) & set(test) and set(train) | set(test) == set(range(9))
        assert len(train) == 4 and len(test) == 5
    assert len({tuple(train) for train, _ in splits}) > 1
    with pytest.raises(ValueError):
        sa.photo_splits(1, 1, seed=0)


def test_fld_ensemble_separates_a_shifted_feature(sa) -> None:
    rng = np.random.default_rng(0)
    cover = rng.normal(size=(24, 6))
    stego = cover + np.array([3.0, 0, 0, 0, 0, 0]) + 0.1 * rng.normal(size=cover.shape)
    photo = np.repeat(np.arange(12), 2)  # two crops per photo
    result = sa.fld_errors(cover, stego, photo, sa.photo_splits(12, 2, seed=0), seed=1)
    assert len(result["pe_splits"]) == 2 and result["pe"]["mean"] < 0.1
    assert result["pe_min_threshold"]["mean"] <= result["pe"]["mean"] + 1e-9


def test_a_canonical_checkpoint_applies_to_the_any_modes_only(sa) -> None:
    modes = sa.select_modes(["whatsapp 10 s", "any 5 s"], Path("data/candidate.pt"))
    assert [mode.name for mode in modes] == ["whatsapp 10 s", "any 5 s, candidate"]
    assert modes[0] == sa.select_modes(["whatsapp 10 s"])[0]
    assert modes[1].platform == "any" and modes[1].embedder_options == (("checkpoint", "data/candidate.pt"),)
    assert sa.select_modes(None) == sa.MODES
    with pytest.raises(SystemExit, match="unknown modes"):
        sa.select_modes(["any 7 s"])


def test_the_public_inn_finds_the_old_filler_and_its_confidence_finds_any_inn_image(sa) -> None:
    cover = photo_like(96, 128, seed=4)
    embedder = sa.shipped_inn()
    capacity = embedder.capacity_bits(*cover.size)
    old_filler = np.random.default_rng(sa.OLD_INN_FILLER_SEED).integers(0, 2, capacity, dtype=np.uint8)
    message = np.random.default_rng(5).integers(0, 2, 64, dtype=np.uint8)
    old_image = embedder.embed(cover, np.concatenate([message, old_filler[message.size :]]))  # what 1 s wrote before
    assert sa.public_inn_reveal(old_image)[0] > 0.8
    keyed_image = embedder.keyed(9).embed(cover, message)
    (cover_agreement, cover_confidence), (keyed_agreement, keyed_confidence) = map(sa.public_inn_reveal, (cover, keyed_image))
    assert abs(cover_agreement) < 0.15 and abs(keyed_agreement) < 0.15
    assert keyed_confidence > 1.3 * cover_confidence  # the public network still sees that it hid something


def test_the_inn_modes_hide_with_the_learned_hider(sa) -> None:
    modes = sa.select_modes(["inn 1 s"])
    settings = sa.Settings(75, 256, 1, modes, modes[0], ())
    assert settings.public_inn and not sa.Settings(75, 256, 1, sa.select_modes(["plain 1 s"]), modes[0], ()).public_inn
    stego, bits = modes[0].stego(photo_like(512, 640, seed=6), seed=3)
    assert stego.size == (640, 512) and 0 < bits < sa.shipped_inn().capacity_bits(640, 512)
    statistics = sa.public_inn_statistics(stego, sa.jpeg_bytes(stego, 75), settings)
    assert set(statistics) == {"filler_png", "filler_jpeg", "inn_confidence_png", "inn_confidence_jpeg"}

"""The steganalysis benchmark's learned detector (benchmarks/steganalysis.py, Zhu-Net) on tiny
synthetic pairs: the decompressed luma, the pair augmentation, the photo-split protocol, and that
an obvious embedding is learned."""

from __future__ import annotations

from pathlib import Path

import jpeglib
import numpy as np
import pytest
import torch
from PIL import Image

from common.platforms import jpeg_bytes


@pytest.fixture(scope="module")
def sa(load_benchmark):
    return load_benchmark("steganalysis")


def smooth_luma(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random grey image (sums of low-frequency waves), grey levels as float32."""
    y, x = np.mgrid[0:size, 0:size] / size
    waves = sum(rng.uniform(10, 30) * np.sin(2 * np.pi * (rng.integers(1, 3) * x + rng.integers(1, 3) * y) + rng.uniform(0, 6))
                for _ in range(3))
    return (128 + waves).astype(np.float32)


def test_decompressed_luma_is_the_decoded_luma_before_rounding(sa, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = np.clip(np.repeat(smooth_luma(rng, 64)[..., None], 3, axis=2) + rng.normal(0, 6, (64, 64, 3)), 0, 255).astype(np.uint8)
    data = jpeg_bytes(Image.fromarray(rgb), 75)
    luma = sa.decompress_luma(data)
    (tmp_path / "a.jpg").write_bytes(data)
    decoded = jpeglib.read_spatial(str(tmp_path / "a.jpg"), jpeglib.JCS_GRAYSCALE).spatial[..., 0].astype(np.float32)
    assert luma.shape == (64, 64) and luma.dtype == np.float32
    assert np.abs(np.clip(luma, 0, 255) - decoded).max() <= 1.0  # libjpeg rounds (its integer IDCT within 1 level)
    assert np.abs(luma - np.round(luma)).mean() > 0.1  # not rounded


def test_pair_augmentation_is_identical_and_keeps_the_grid(sa) -> None:
    rng = np.random.default_rng(1)
    cover = rng.normal(size=(64, 64)).astype(np.float32)
    marks = np.zeros((64, 64), dtype=np.float32)
    marks[::8, ::8] = 1.0  # the top-left pixel of every 8x8 block
    stego = cover + marks
    for _ in range(20):
        c, s = sa.augment_pair(cover, stego, rng, 32)
        assert c.shape == s.shape == (32, 32)
        # The same transform on both images; block corners land on block corners (a flip or turn
        # maps them to another corner of the same block).
        assert np.all(np.isin(np.argwhere(s - c > 0.5) % 8, (0, 7)))
        assert np.count_nonzero(s - c > 0.5) == 16
    assert sa.augment_pair(cover, stego, rng, 0)[0].shape == (64, 64)


def test_zhunet_learns_an_obvious_embedding_on_unseen_photos(sa) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(2)
    photos, crops, size = 12, 4, 32
    cover = [smooth_luma(rng, size) for _ in range(photos * crops)]
    stego = [c + rng.choice(np.float32([-6.0, 6.0]), c.shape) for c in cover]  # ±6 grey levels on every pixel
    photo = np.repeat(np.arange(photos), crops)
    splits = sa.photo_splits(photos, 2, seed=0)
    settings = sa.ZhuNetSettings(max_epochs=4, patience=2, val_photos=2, train_crop=0, batch_pairs=2, lr=1e-3, splits=1)
    result = sa.zhunet_errors(cover, stego, photo, splits, settings, seed=0)
    run = result["runs"][0]
    train, test = splits[0]
    assert set(run["photos"]["val"]) < set(train.tolist()) and not set(run["photos"]["val"]) & set(run["photos"]["train"])
    assert run["photos"]["test"] == test.tolist() and not set(run["photos"]["train"]) & set(test.tolist())
    assert run["pairs"] == {"train": 16, "val": 8, "test": 24}
    assert [point["epoch"] for point in run["curve"]] == list(range(1, run["epochs"] + 1)) and 1 <= run["best_epoch"] <= run["epochs"]
    assert len(result["pe_splits"]) == 1 and result["pe"]["mean"] < 0.2  # chance is 0.5
    # Unlearnable: stego = cover, the detector stays at chance.
    blind = sa.zhunet_errors(cover, [c.copy() for c in cover], photo, splits, settings, seed=0)
    assert blind["pe"]["mean"] >= 0.4


def test_zhunet_variants_must_name_a_mode_or_peer_of_the_run(sa, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        sa.main(["--skimage", "--modes", "whatsapp 10 s", "--peers", "UERD", "--zhunet-epochs", "1", "--zhunet-variants", "UERD", "nsF5"])
    assert exit_info.value.code == 2
    assert "['nsF5'] are neither a --modes mode nor a --peers peer" in capsys.readouterr().err

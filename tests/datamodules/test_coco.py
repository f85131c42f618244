"""COCODataModule on a tiny COCO layout built in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules.coco import COCODataModule

SIZES = {"train": [(48, 40), (40, 56), (20, 64), (64, 48)], "val": [(48, 48), (56, 40), (24, 30)]}


@pytest.fixture
def coco_root(tmp_path: Path) -> Path:
    """``{split}2017/`` jpgs of the :data:`SIZES` (width, height) and their annotation files."""
    rng = np.random.default_rng(0)
    (tmp_path / "annotations").mkdir()
    for split, sizes in SIZES.items():
        folder = tmp_path / f"{split}2017"
        folder.mkdir()
        images = []
        for index, (width, height) in enumerate(sizes):
            name = f"{index:012d}.jpg"
            Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(folder / name)
            images.append({"id": index, "file_name": name, "width": width, "height": height})
        annotation = {"images": images, "annotations": [], "categories": []}
        (tmp_path / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(annotation))
    return tmp_path


def test_folders_give_square_crops_in_unit_range(coco_root: Path) -> None:
    data = COCODataModule(str(coco_root), image_size=32, batch_size=2)
    data.setup("fit")
    assert len(data.train_set) == 4 and len(data.val_set) == 3
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (2, 3, 32, 32)
    assert 0.0 <= float(batch["image"].min()) and float(batch["image"].max()) <= 1.0
    assert "secret" not in batch


def test_validation_crops_are_fixed_and_training_crops_random(coco_root: Path) -> None:
    data = COCODataModule(str(coco_root), image_size=32)
    data.setup("fit")
    assert torch.equal(data.val_set[1]["image"], data.val_set[1]["image"])
    # Image 1 of train2017 is 40x56: resized to 32x44, so the random crop moves vertically.
    crops = [data.train_set[1]["image"] for _ in range(8)]
    assert any(not torch.equal(crops[0], crop) for crop in crops[1:])


def test_annotations_give_the_image_list_and_drop_images_smaller_than_the_crop(coco_root: Path) -> None:
    data = COCODataModule(str(coco_root), image_size=32, annotations=True)
    data.setup("fit")
    assert [p.name for p in data.train_set.files] == ["000000000000.jpg", "000000000001.jpg", "000000000003.jpg"]
    assert [p.name for p in data.val_set.files] == ["000000000000.jpg", "000000000001.jpg"]


def test_num_val_caps_validation(coco_root: Path) -> None:
    data = COCODataModule(str(coco_root), image_size=16, num_val=2)
    data.setup("validate")
    assert len(data.val_set) == 2


def test_with_secret_pairs_each_image_with_a_different_one(coco_root: Path) -> None:
    data = COCODataModule(str(coco_root), image_size=16, with_secret=True, batch_size=3)
    data.setup("fit")
    for index in range(len(data.val_set)):
        item = data.val_set[index]
        assert item["secret"].shape == item["image"].shape == (3, 16, 16)
        assert not torch.equal(item["secret"], item["image"])
        assert torch.equal(item["secret"], data.val_set[index]["secret"])  # fixed pairing
    batch = next(iter(data.train_dataloader()))
    assert batch["secret"].shape == (3, 3, 16, 16)


def test_missing_folder_or_annotation_is_a_clear_error(tmp_path: Path, coco_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match="folder not found"):
        COCODataModule(str(tmp_path / "nowhere")).setup("fit")
    (coco_root / "annotations" / "instances_val2017.json").unlink()
    with pytest.raises(FileNotFoundError, match="annotation file not found"):
        COCODataModule(str(coco_root), image_size=16, annotations=True).setup("fit")

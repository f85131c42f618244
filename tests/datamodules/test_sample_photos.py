"""Sample-photo crops: held-out photos never trained on, crop shapes, repeatable validation."""

from __future__ import annotations

import pytest
import torch

from datamodules.sample_photos import HELD_OUT_PHOTOS, SamplePhotoDataModule


def test_training_crops_and_held_out_validation():
    module = SamplePhotoDataModule(crop_size=32, val_crop_size=48, train_photos=("coins", "camera"), epoch_length=6, batch_size=3)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["image"].shape == (3, 3, 32, 32) and 0 <= batch["image"].min() and batch["image"].max() <= 1
    val = [b["image"] for b in module.val_dataloader()]
    again = SamplePhotoDataModule(crop_size=32, val_crop_size=48, train_photos=("coins",))
    again.setup("fit")
    assert sum(len(v) for v in val) == len(HELD_OUT_PHOTOS)
    assert torch.equal(torch.cat(val), torch.cat([b["image"] for b in again.val_dataloader()]))


def test_a_photo_cannot_be_both_trained_and_held_out():
    with pytest.raises(ValueError, match="both trained and validated"):
        SamplePhotoDataModule(train_photos=("astronaut", "coins"))

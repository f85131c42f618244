"""COCO 2017 images as covers (and optionally secrets) for the image hiders.

Layout (the official archives unpacked under ``root``)::

    root/train2017/*.jpg
    root/val2017/*.jpg
    root/annotations/instances_train2017.json   (optional)
    root/annotations/instances_val2017.json     (optional)

Without annotations every image file of a split folder is used. With ``annotations=True`` the
image list comes from the annotation file's ``images`` entries, and images whose shorter side is
below ``image_size`` are dropped (a crop would have to upsample them). Training items are random
crops (shorter side resized to ``image_size``), validation items fixed centre crops.

With ``with_secret`` each item also carries an independent second image (``"secret"``) for
image-in-image hiding: a random other image in training, a fixed seeded pairing in validation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.base import SplitDataModule, require_folders
from datamodules.image_audio import IMAGE_EXTENSIONS, ImageFolderDataset, list_files


def annotated_images(annotation_file: Path, image_dir: Path, min_side: int) -> list[Path]:
    """Sorted files of the annotation's ``images`` list whose shorter side is at least ``min_side``.

    Raises:
        FileNotFoundError: the annotation file is missing, or no listed image is usable.
        ValueError: the file is not a COCO annotation (no ``images`` list).
    """
    if not annotation_file.is_file():
        raise FileNotFoundError(f"annotation file not found: {annotation_file}")
    with annotation_file.open() as file:
        entries = json.load(file).get("images")
    if not isinstance(entries, list):
        raise ValueError(f"{annotation_file} has no 'images' list; is it a COCO instances file?")
    files = sorted(
        image_dir / entry["file_name"]
        for entry in entries
        if min(entry["width"], entry["height"]) >= min_side and (image_dir / entry["file_name"]).is_file()
    )
    if not files:
        raise FileNotFoundError(f"no image of {annotation_file} at least {min_side} px on its shorter side in {image_dir}")
    return files


class SecretPairs(Dataset):
    """Adds an independent ``"secret"`` image to every item of an image dataset.

    Args:
        images: dataset of ``{"image"}`` items (at least 2).
        deterministic: fixed pairing from ``seed`` (validation); otherwise a random other item.
        seed: pairing seed.
    """

    def __init__(self, images: Dataset, deterministic: bool, seed: int = 0) -> None:
        if len(images) < 2:
            raise ValueError("secret pairing needs at least 2 images")
        self.images, self.deterministic = images, deterministic
        # A seeded non-zero shift pairs every validation image with a different one.
        self.shift = int(np.random.default_rng(seed).integers(1, len(images)))

    def __len__(self) -> int:
        return len(self.images)

    def secret_index(self, index: int) -> int:
        """Index of the image hidden in item ``index`` (never ``index`` itself)."""
        if self.deterministic:
            return (index + self.shift) % len(self.images)
        return (index + int(torch.randint(1, len(self.images), ()))) % len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {**self.images[index], "secret": self.images[self.secret_index(index)]["image"]}


class COCODataModule(SplitDataModule):
    """COCO ``train2017``/``val2017`` crops ``{"image": (3, S, S)}`` (+ ``"secret"``), see the module docstring.

    Args:
        root: dataset root holding ``train2017/``, ``val2017/`` (and ``annotations/``).
        image_size: crop side ``S``.
        annotations: take the image lists from ``annotations/instances_{split}2017.json`` and drop
            images smaller than the crop.
        num_val: cap on validation images (the first ones in sorted order); ``None`` keeps all.
        with_secret: also yield an independent secret image per item.
        seed: validation pairing seed.
        batch_size: see :class:`SplitDataModule`.
        num_workers: see :class:`SplitDataModule`.
        pin_memory: see :class:`SplitDataModule`.
    """

    def __init__(
        self,
        root: str = "data/coco",
        image_size: int = 256,
        annotations: bool = False,
        num_val: int | None = None,
        with_secret: bool = False,
        seed: int = 0,
        batch_size: int = 8,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size, num_workers, pin_memory)
        self.save_hyperparameters()

    def split_files(self, split: str) -> list[Path]:
        """Image files of ``split`` (``"train"`` or ``"val"``)."""
        root = Path(self.hparams.root)
        image_dir = root / f"{split}2017"
        if self.hparams.annotations:
            annotation_file = root / "annotations" / f"instances_{split}2017.json"
            return annotated_images(annotation_file, image_dir, self.hparams.image_size)
        return list_files(image_dir, IMAGE_EXTENSIONS)

    def check_data(self) -> None:
        root = Path(self.hparams.root)
        folders = [root / "train2017", root / "val2017"]
        if self.hparams.annotations:
            folders.append(root / "annotations")
        require_folders("COCO 2017", f"{root}/{{train2017,val2017}}/*.jpg" + (f" and {root}/annotations/instances_*2017.json" if self.hparams.annotations else ""), *folders)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        val_files = self.split_files("val")
        if hp.num_val is not None:
            val_files = val_files[: hp.num_val]
        train: Dataset = ImageFolderDataset(self.split_files("train"), hp.image_size, random_crop=True)
        val: Dataset = ImageFolderDataset(val_files, hp.image_size)
        if hp.with_secret:
            train, val = SecretPairs(train, deterministic=False), SecretPairs(val, deterministic=True, seed=hp.seed)
        self.train_set, self.val_set, self.test_set = train, val, val

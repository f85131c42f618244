"""Real photos without a download: scikit-image's bundled sample images, cropped for training.

Training items are random crops (random horizontal flips) of :data:`TRAIN_PHOTOS`, mixed with
procedural demo scenes; validation items are fixed centre crops of :data:`HELD_OUT_PHOTOS`, which
are never trained on (the benchmarks evaluate on them). This is the data of the shipped INN hider.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.base import SplitDataModule
from datamodules.demo import item_rng
from datamodules.synthetic import procedural_image

#: Photos the shipped hider is trained on.
TRAIN_PHOTOS = (
    "hubble_deep_field", "retina", "immunohistochemistry", "colorwheel", "cat",
    "grass", "gravel", "brick", "camera", "coins", "moon",
)  # fmt: skip
#: Photos kept for validation and benchmarks only.
HELD_OUT_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def sample_photo(name: str) -> np.ndarray:
    """A scikit-image sample as ``(H, W, 3)`` uint8 RGB (grey images are replicated)."""
    import skimage.data  # imported on use: only these datamodules and the benchmarks need it

    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo pairs: the left view
        image = image[0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def photo_cover(name: str, width: int, height: int):
    """A scikit-image sample as a ``width`` x ``height`` RGB Pillow image (see :func:`fit_cover`). Benchmark covers."""
    from PIL import Image

    return fit_cover(Image.fromarray(sample_photo(name)), width, height)


def fit_cover(image, width: int, height: int):
    """``image`` as a ``width`` x ``height`` RGB Pillow image: the largest centre crop of that
    aspect ratio, resized with Lanczos (smaller originals are upscaled)."""
    from PIL import Image

    image = image.convert("RGB")
    src_w, src_h = image.size
    if src_w * height > src_h * width:  # too wide: crop the sides
        new_w = round(src_h * width / height)
        image = image.crop(((src_w - new_w) // 2, 0, (src_w - new_w) // 2 + new_w, src_h))
    else:
        new_h = round(src_w * height / width)
        image = image.crop((0, (src_h - new_h) // 2, src_w, (src_h - new_h) // 2 + new_h))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 → ``(3, H, W)`` float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float() / 255.0


class RandomPhotoCrops(Dataset):
    """Random ``size`` crops (random flips) of photos, mixed with procedural scenes.

    Each item draws its own generator from ``torch``'s global RNG, so Lightning's seeding and
    worker seeding make runs repeatable.

    Args:
        photos: ``(H, W, 3)`` uint8 images, each at least ``size`` on both sides.
        size: crop side.
        length: items per epoch.
        procedural_fraction: share of items that are procedural scenes instead of photo crops.
    """

    def __init__(self, photos: list[np.ndarray], size: int, length: int, procedural_fraction: float) -> None:
        small = [image.shape[:2] for image in photos if min(image.shape[:2]) < size]
        if small:
            raise ValueError(f"photos smaller than the {size}-pixel crop: {small}")
        self.photos, self.size, self.length, self.procedural_fraction = photos, size, length, procedural_fraction

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng(int(torch.randint(2**31, ())))
        if not self.photos or rng.random() < self.procedural_fraction:
            return {"image": to_tensor(procedural_image(rng, self.size, self.size))}
        image = self.photos[int(rng.integers(len(self.photos)))]
        top = int(rng.integers(image.shape[0] - self.size + 1))
        left = int(rng.integers(image.shape[1] - self.size + 1))
        crop = image[top : top + self.size, left : left + self.size]
        return {"image": to_tensor(crop[:, ::-1] if rng.random() < 0.5 else crop)}


class CentreCrops(Dataset):
    """Fixed centre crops of photos (and, if no photo is given, ``count`` seeded procedural scenes)."""

    def __init__(self, photos: list[np.ndarray], size: int, count: int, seed: int) -> None:
        self.photos, self.size, self.count, self.seed = photos, size, count, seed

    def __len__(self) -> int:
        return len(self.photos) or self.count

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not self.photos:
            return {"image": to_tensor(procedural_image(item_rng(self.seed, "val", index), self.size, self.size))}
        image = self.photos[index]
        side = min(self.size, *image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        return {"image": to_tensor(image[top : top + side, left : left + side])}


class SamplePhotoDataModule(SplitDataModule):
    """Crops of scikit-image's sample photos + procedural scenes (``{"image": (B, 3, S, S)}``).

    Args:
        crop_size: side of the training crops.
        val_crop_size: side of the validation centre crops.
        train_photos: scikit-image sample names to train on.
        val_photos: sample names to validate on (never trained on).
        epoch_length: training items per epoch.
        procedural_fraction: share of training items that are procedural scenes.
        seed: seed of the procedural validation scenes (used when ``val_photos`` is empty).
        batch_size: training batch size; validation uses one batch of all held-out crops.
        num_workers: loader worker processes.
    """

    def __init__(
        self,
        crop_size: int = 64,
        val_crop_size: int = 128,
        train_photos: tuple[str, ...] = TRAIN_PHOTOS,
        val_photos: tuple[str, ...] = HELD_OUT_PHOTOS,
        epoch_length: int = 1200,
        procedural_fraction: float = 0.3,
        seed: int = 0,
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        overlap = set(train_photos) & set(val_photos)
        if overlap:
            raise ValueError(f"photos both trained and validated on: {sorted(overlap)}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        self.train_set = RandomPhotoCrops([sample_photo(n) for n in hp.train_photos], hp.crop_size, hp.epoch_length, hp.procedural_fraction)
        self.val_set = CentreCrops([sample_photo(n) for n in hp.val_photos], hp.val_crop_size, 4, hp.seed)

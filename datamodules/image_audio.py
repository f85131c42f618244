"""Images paired with host audio for image-in-audio hiding (PixInWav).

Images come from an image folder (COCO layout: ``<image_root>/train2017``, ``<image_root>/val2017``;
any folder of jpg/png works), host audio from any folder of wav/flac files (LibriSpeech
``train-clean-100``/``dev-clean``, DNS folders, FSDnoisy18K ``audio_train``/``audio_test``).
Audio is mono, resampled to ``sample_rate`` and cropped (or zero-padded) to ``num_samples``.

Training pairs each image with a random audio file and a random crop. Validation pairing is
deterministic: item ``i`` takes the ``i``-th validation image, audio file ``perm[i mod n]`` of
a permutation seeded by ``seed`` and a crop offset drawn from a generator seeded by
``(seed, i)``, so every run, worker count and rank sees the same pairs. Validation images and
audio never come from the training split: separate folders when given, otherwise a seeded
split of one folder, and any validation file found under the training folder is removed from
training.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch.utils.data import Dataset

from common.audio import load_audio
from common.image import load_image
from datamodules.base import SplitDataModule, require_folders

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
AUDIO_EXTENSIONS = (".wav", ".flac")


def list_files(root: str | os.PathLike, extensions: tuple[str, ...]) -> list[Path]:
    """Sorted files under ``root`` (recursive) whose suffix is in ``extensions``.

    Raises:
        FileNotFoundError: ``root`` is missing or holds no such file.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in extensions and p.is_file())
    if not files:
        raise FileNotFoundError(f"no {'/'.join(extensions)} files under {root}")
    return files


def split_files(files: list[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """Seeded, disjoint ``(train, val)`` split of ``files`` (at least one file each)."""
    if len(files) < 2:
        raise ValueError("need at least 2 files to split into train and validation")
    order = np.random.default_rng(seed).permutation(len(files))
    num_val = min(len(files) - 1, max(1, round(val_fraction * len(files))))
    val = sorted(files[i] for i in order[:num_val])
    train = sorted(files[i] for i in order[num_val:])
    return train, val


def crop_or_pad(wave: torch.Tensor, num_samples: int, offset_fraction: float) -> torch.Tensor:
    """``(C, L)`` → ``(C, num_samples)``: the crop starting at ``offset_fraction`` of the
    slack, or the whole wave zero-padded at the end when it is too short."""
    slack = wave.shape[-1] - num_samples
    if slack < 0:
        return torch.nn.functional.pad(wave, (0, -slack))
    start = min(int(offset_fraction * (slack + 1)), slack)
    return wave[..., start : start + num_samples]


class ImageFolderDataset(Dataset):
    """Square RGB images ``{"image": (3, S, S)}`` in [0, 1] from a list of files: shorter side
    resized to ``image_size`` (antialiased), then a random (``random_crop``) or centre crop.

    A generic image-folder dataset, written for this module while no COCO datamodule exists.

    Args:
        files: image paths.
        image_size: output side ``S``.
        random_crop: random crop position (training) instead of the centre (validation).
    """

    def __init__(self, files: list[Path], image_size: int, random_crop: bool = False) -> None:
        self.files, self.image_size, self.random_crop = list(files), image_size, random_crop

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image = TF.resize(load_image(self.files[index]), self.image_size, antialias=True)
        height, width = image.shape[-2:]
        if self.random_crop:
            top = int(torch.randint(height - self.image_size + 1, ()))
            left = int(torch.randint(width - self.image_size + 1, ()))
        else:
            top, left = (height - self.image_size) // 2, (width - self.image_size) // 2
        return {"image": TF.crop(image, top, left, self.image_size, self.image_size).clamp(0, 1)}


class ImageAudioPairs(Dataset):
    """``{"image": (3, S, S), "audio": (1, num_samples)}``, one item per image.

    Args:
        images: the image dataset (defines the length).
        audio_files: host audio paths.
        num_samples: host length in samples.
        sample_rate: host rate in Hz (files are resampled).
        deterministic: fixed pairing and crops from ``seed`` (validation); otherwise random.
        seed: pairing seed.
    """

    def __init__(
        self,
        images: ImageFolderDataset,
        audio_files: list[Path],
        num_samples: int,
        sample_rate: int,
        deterministic: bool,
        seed: int = 0,
    ) -> None:
        self.images, self.audio_files = images, list(audio_files)
        self.num_samples, self.sample_rate = num_samples, sample_rate
        self.deterministic, self.seed = deterministic, seed
        self.pairing = np.random.default_rng(seed).permutation(len(self.audio_files))

    def __len__(self) -> int:
        return len(self.images)

    def audio_choice(self, index: int) -> tuple[Path, float]:
        """The audio file and crop offset (fraction of the slack) of item ``index``."""
        if self.deterministic:
            offset = float(np.random.default_rng([self.seed, index]).random())
            return self.audio_files[self.pairing[index % len(self.audio_files)]], offset
        return self.audio_files[int(torch.randint(len(self.audio_files), ()))], float(torch.rand(()))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        path, offset = self.audio_choice(index)
        wave, _ = load_audio(path, self.sample_rate)
        return {**self.images[index], "audio": crop_or_pad(wave, self.num_samples, offset)}


class ImageAudioDataModule(SplitDataModule):
    """Image folder × audio folder pairs for PixInWav (see the module docstring).

    Args:
        image_root: image folder.
        audio_root: audio folder.
        train_image_dir: training images under ``image_root`` (COCO: ``train2017``); ``None``
            uses ``image_root`` itself.
        val_image_dir: validation images under ``image_root`` (COCO: ``val2017``); ``None``
            splits the training images with ``val_fraction``.
        train_audio_dir: training audio under ``audio_root``; ``None`` uses ``audio_root``.
        val_audio_dir: validation audio under ``audio_root``; ``None`` splits the training audio.
        val_fraction: share of files held out when a split is needed.
        num_val: cap on validation pairs (the first ones, in sorted order); ``None`` keeps all.
        image_size: side of the square images.
        num_samples: host audio length in samples (paper: 67,522).
        sample_rate: host audio rate in Hz (paper: 44,100).
        seed: split and pairing seed.
        batch_size: see :class:`SplitDataModule`.
        num_workers: see :class:`SplitDataModule`.
    """

    def __init__(
        self,
        image_root: str,
        audio_root: str,
        train_image_dir: str | None = "train2017",
        val_image_dir: str | None = "val2017",
        train_audio_dir: str | None = None,
        val_audio_dir: str | None = None,
        val_fraction: float = 0.05,
        num_val: int | None = None,
        image_size: int = 256,
        num_samples: int = 67522,
        sample_rate: int = 44100,
        seed: int = 0,
        batch_size: int = 1,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        self.save_hyperparameters()

    @staticmethod
    def _splits(
        root: str, train_dir: str | None, val_dir: str | None, extensions: tuple[str, ...], val_fraction: float, seed: int
    ) -> tuple[list[Path], list[Path]]:
        train = list_files(Path(root) / train_dir if train_dir else root, extensions)
        if val_dir is None:
            return split_files(train, val_fraction, seed)
        val = list_files(Path(root) / val_dir, extensions)
        held_out = {path.resolve() for path in val}
        train = [path for path in train if path.resolve() not in held_out]
        if not train:
            raise FileNotFoundError(f"no training files left under {root} once the validation files are removed")
        return train, val

    def check_data(self) -> None:
        hp = self.hparams
        images = [Path(hp.image_root) / d for d in (hp.train_image_dir, hp.val_image_dir) if d] or [Path(hp.image_root)]
        audio = [Path(hp.audio_root) / d for d in (hp.train_audio_dir, hp.val_audio_dir) if d] or [Path(hp.audio_root)]
        require_folders("images", f"{hp.image_root}/{{{hp.train_image_dir},{hp.val_image_dir}}}/*.jpg (e.g. COCO 2017)", *images)
        require_folders("host audio", f"{hp.audio_root}/{{{hp.train_audio_dir},{hp.val_audio_dir}}}/*.wav|flac (e.g. FSDnoisy18k)", *audio)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        train_images, val_images = self._splits(hp.image_root, hp.train_image_dir, hp.val_image_dir, IMAGE_EXTENSIONS, hp.val_fraction, hp.seed)
        train_audio, val_audio = self._splits(hp.audio_root, hp.train_audio_dir, hp.val_audio_dir, AUDIO_EXTENSIONS, hp.val_fraction, hp.seed)
        if hp.num_val is not None:
            val_images = val_images[: hp.num_val]
        self.train_set = ImageAudioPairs(
            ImageFolderDataset(train_images, hp.image_size, random_crop=True), train_audio, hp.num_samples, hp.sample_rate, deterministic=False
        )
        self.val_set = ImageAudioPairs(
            ImageFolderDataset(val_images, hp.image_size), val_audio, hp.num_samples, hp.sample_rate, deterministic=True, seed=hp.seed
        )
        self.test_set = self.val_set

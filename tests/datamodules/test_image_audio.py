from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from datamodules.image_audio import ImageAudioDataModule, crop_or_pad, split_files


def write_images(folder: Path, count: int, size: tuple[int, int] = (40, 30)) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(str(folder)))
    for index in range(count):
        array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"{index:03d}.{'png' if index % 2 else 'jpg'}")


def write_audio(folder: Path, count: int, sample_rate: int = 8000) -> None:
    folder.mkdir(parents=True)
    for index in range(count):
        length = sample_rate // 2 + 100 * index
        ramp = np.linspace(0.0, 0.001, length, dtype=np.float32)
        suffix = "flac" if index % 2 else "wav"
        sf.write(folder / f"{index:03d}.{suffix}", 0.1 + 0.01 * index + ramp, sample_rate)


@pytest.fixture
def coco_layout(tmp_path: Path) -> tuple[Path, Path]:
    write_images(tmp_path / "coco" / "train2017", 6)
    write_images(tmp_path / "coco" / "val2017", 4)
    write_audio(tmp_path / "speech" / "train-clean", 5)
    write_audio(tmp_path / "speech" / "dev-clean", 3)
    return tmp_path / "coco", tmp_path / "speech"


def make_module(image_root: Path, audio_root: Path, **kwargs) -> ImageAudioDataModule:
    options = dict(image_size=16, num_samples=2000, sample_rate=8000, batch_size=2, seed=3)
    options.update(kwargs)
    module = ImageAudioDataModule(str(image_root), str(audio_root), **options)
    module.setup("fit")
    return module


def test_shapes_and_ranges(coco_layout: tuple[Path, Path]) -> None:
    module = make_module(*coco_layout, train_audio_dir="train-clean", val_audio_dir="dev-clean")
    batch = next(iter(module.train_dataloader()))
    assert batch["image"].shape == (2, 3, 16, 16) and batch["audio"].shape == (2, 1, 2000)
    assert 0.0 <= batch["image"].min() and batch["image"].max() <= 1.0
    assert len(module.val_set) == 4


def test_validation_pairing_is_deterministic(coco_layout: tuple[Path, Path]) -> None:
    first = make_module(*coco_layout, train_audio_dir="train-clean", val_audio_dir="dev-clean")
    torch.manual_seed(123)  # must not matter for validation
    second = make_module(*coco_layout, train_audio_dir="train-clean", val_audio_dir="dev-clean")
    for index in range(len(first.val_set)):
        a, b = first.val_set[index], second.val_set[index]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["audio"], b["audio"])
    # Every validation audio file is used before any repeats.
    chosen = {first.val_set.audio_choice(i)[0] for i in range(3)}
    assert len(chosen) == 3 and all("dev-clean" in str(path) for path in chosen)


def test_validation_never_from_training(coco_layout: tuple[Path, Path]) -> None:
    # Training audio = the whole audio root (which contains dev-clean): the held-out files go.
    module = make_module(*coco_layout, train_audio_dir=None, val_audio_dir="dev-clean")
    train_audio = set(module.train_set.audio_files)
    assert train_audio.isdisjoint(module.val_set.audio_files) and len(train_audio) == 5
    assert set(module.train_set.images.files).isdisjoint(module.val_set.images.files)


def test_single_folder_split(tmp_path: Path) -> None:
    write_images(tmp_path / "images", 10)
    write_audio(tmp_path / "audio", 4)
    module = make_module(tmp_path / "images", tmp_path / "audio", train_image_dir=None, val_image_dir=None, val_fraction=0.2, num_val=1)
    assert len(module.train_set) == 8 and len(module.val_set) == 1
    assert set(module.train_set.audio_files).isdisjoint(module.val_set.audio_files)
    _, val = split_files(sorted((tmp_path / "images").iterdir()), 0.2, seed=3)
    assert module.val_set.images.files == val[:1]


def test_crop_or_pad() -> None:
    wave = torch.arange(10.0).unsqueeze(0)
    assert torch.equal(crop_or_pad(wave, 4, 0.0), torch.tensor([[0.0, 1, 2, 3]]))
    assert torch.equal(crop_or_pad(wave, 4, 0.999), torch.tensor([[6.0, 7, 8, 9]]))
    assert torch.equal(crop_or_pad(wave, 12, 0.5)[0, 10:], torch.zeros(2))


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    write_audio(tmp_path / "audio", 2)
    with pytest.raises(FileNotFoundError, match="folder not found"):
        make_module(tmp_path / "nothing", tmp_path / "audio")

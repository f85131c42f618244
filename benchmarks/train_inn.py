"""CPU training of the shipped INN hider on scikit-image photos and procedural scenes.

Training crops come from :data:`TRAIN_PHOTOS` (random crops, flips) and from procedural demo
scenes; the photos of :data:`HELD_OUT_PHOTOS` are never trained on (validation and benchmarks
only). Trains :class:`~steganography.tasks.inn.INNHidingTask` with Lightning for ``--minutes``,
then exports the hider (weights + hyper-parameters) with
:func:`steganography.embedders.inn.save_hider`.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/train_inn.py --minutes 35 --crop 64 --batch-size 8 --lr 1e-3 \\
        --image-weight 300 --message-channels 4 --num-blocks 4 --width 16 --depth 3 --val-every 150 \\
        --out runs/inn_4bit.pt   # the shipped checkpoint (2026-11-22), then copied to steganography/checkpoints/inn_small.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import skimage.data
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader, Dataset

from datamodules.synthetic import procedural_image
from steganography.embedders.inn import save_hider
from steganography.tasks.inn import INNHidingTask

#: Photos the hider is trained on.
TRAIN_PHOTOS = (
    "hubble_deep_field", "retina", "immunohistochemistry", "colorwheel", "cat",
    "grass", "gravel", "brick", "camera", "coins", "moon",
)  # fmt: skip
#: Photos kept for evaluation only (never trained on).
HELD_OUT_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def photo(name: str) -> np.ndarray:
    """A scikit-image sample as ``(H, W, 3)`` uint8 RGB (grey images are replicated)."""
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1).float() / 255.0


class RandomCrops(Dataset):
    """Random ``size`` crops (random flips) of photos, mixed with procedural scenes.

    Args:
        photos: ``(H, W, 3)`` uint8 images, each at least ``size`` on both sides.
        size: crop side.
        length: items per epoch.
        procedural_fraction: share of items that are procedural scenes instead of photo crops.
    """

    def __init__(self, photos: list[np.ndarray], size: int, length: int, procedural_fraction: float = 0.3) -> None:
        self.photos, self.size, self.length, self.procedural_fraction = photos, size, length, procedural_fraction

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng(int(torch.randint(2**31, ())))
        if rng.random() < self.procedural_fraction:
            return {"image": to_tensor(procedural_image(rng, self.size, self.size))}
        image = self.photos[int(rng.integers(len(self.photos)))]
        top = int(rng.integers(image.shape[0] - self.size + 1))
        left = int(rng.integers(image.shape[1] - self.size + 1))
        crop = image[top : top + self.size, left : left + self.size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return {"image": to_tensor(np.ascontiguousarray(crop))}


def held_out_crops(size: int) -> torch.Tensor:
    """Fixed centre crops ``(N, 3, size, size)`` of the held-out photos (validation)."""
    crops = []
    for name in HELD_OUT_PHOTOS:
        image = photo(name)
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        crops.append(to_tensor(image[top : top + size, left : left + size]))
    return torch.stack(crops)


class CropDataModule(pl.LightningDataModule):
    """Training crops of :data:`TRAIN_PHOTOS` + procedural scenes; validation on held-out crops."""

    def __init__(self, size: int, batch_size: int, epoch_length: int) -> None:
        super().__init__()
        self.size, self.batch_size, self.epoch_length = size, batch_size, epoch_length

    def train_dataloader(self) -> DataLoader:
        dataset = RandomCrops([photo(name) for name in TRAIN_PHOTOS], self.size, self.epoch_length)
        return DataLoader(dataset, batch_size=self.batch_size, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        images = held_out_crops(2 * self.size)
        return DataLoader([{"image": image} for image in images], batch_size=len(images))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--out", type=Path, default=Path("steganography/checkpoints/inn_small.pt"))
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--message-channels", type=int, default=1)
    parser.add_argument("--num-blocks", type=int, default=4)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--image-weight", type=float, default=1000.0)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--quality-low", type=int, default=50)
    parser.add_argument("--quality-high", type=int, default=90)
    parser.add_argument("--adversarial-weight", type=float, default=0.0)
    parser.add_argument("--val-every", type=int, default=200, help="training steps between validations")
    parser.add_argument("--name", default="inn_cpu")
    parser.add_argument("--init-from", type=Path, help="Lightning checkpoint whose hider weights start the training")
    args = parser.parse_args()
    torch.manual_seed(0)
    task = INNHidingTask(
        levels=args.levels,
        message_channels=args.message_channels,
        num_blocks=args.num_blocks,
        width=args.width,
        depth=args.depth,
        lpips_weight=0.0,
        image_weight=args.image_weight,
        adversarial_weight=args.adversarial_weight,
        detector_channels=(16, 16, 32),
        detector_hidden=64,
        detector_colour="grey",
        quality_range=(args.quality_low, args.quality_high),
        lr=args.lr,
        detector_lr=args.lr,
    )
    if args.init_from is not None:
        state = torch.load(args.init_from, map_location="cpu", weights_only=False)["state_dict"]
        task.hider.load_state_dict({k.removeprefix("hider."): v for k, v in state.items() if k.startswith("hider.")})
    data = CropDataModule(args.crop, args.batch_size, epoch_length=args.val_every * args.batch_size)
    logger = TensorBoardLogger("runs", name=args.name)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_time={"minutes": args.minutes},
        max_epochs=-1,
        logger=logger,
        log_every_n_steps=20,
        enable_progress_bar=False,
        callbacks=[ModelCheckpoint(save_last=True, every_n_train_steps=args.val_every)],
    )
    trainer.fit(task, datamodule=data)
    training = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    save_hider(
        args.out, task.hider, dict(task.hparams), trained_steps=int(trainer.global_step), tile_size=args.crop, training=training
    )
    print(f"saved {args.out} after {trainer.global_step} steps")


if __name__ == "__main__":
    main()

"""A LightningDataModule base that turns train/val(/test) datasets into loaders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from torch.utils.data import DataLoader, Dataset

from common.errors import ResourceUnavailableError


class DatasetNotFoundError(ResourceUnavailableError):
    """A dataset folder is missing: the message names the expected layout and the docs section."""


def require_folders(dataset: str, layout: str, *folders: str | Path) -> None:
    """Raise :class:`DatasetNotFoundError` unless every folder exists.

    Args:
        dataset: the dataset's name, as in docs/training.md, section "Datasets".
        layout: the expected on-disk layout, one line.
        folders: folders that must exist.
    """
    for folder in folders:
        if not Path(folder).is_dir():
            raise DatasetNotFoundError(
                f"{dataset} not found: {folder} is not a folder; expected layout {layout} "
                f"(docs/training.md, section 'Datasets', says how to obtain it)"
            )


class SplitDataModule(pl.LightningDataModule):
    """Subclasses build ``self.train_set``/``self.val_set`` (and optionally ``self.test_set``)
    in :meth:`setup`; this class provides the loaders.

    Args:
        batch_size: samples per batch and per device.
        num_workers: loader worker processes.
        pin_memory: pin host memory (useful on GPU).
    """

    #: Batches a list of items; ``None`` is PyTorch's default collation.
    collate_fn: Callable[[list], Any] | None = None

    def __init__(self, batch_size: int = 8, num_workers: int = 0, pin_memory: bool = False) -> None:
        super().__init__()
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def check_data(self) -> None:
        """Raise :class:`DatasetNotFoundError` if the data is not on disk; cheap, reads no file.

        The training CLI calls it before anything else, so a run without its data fails in
        seconds with one line. Datamodules of generated data have nothing to check.
        """

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() built no dataset for this stage")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            drop_last=shuffle,
            persistent_workers=self.num_workers > 0,
            collate_fn=self.collate_fn,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set if self.test_set is not None else self.val_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

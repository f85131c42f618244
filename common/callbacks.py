"""Training callbacks shared by every experiment."""

from __future__ import annotations

import os
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint


class ExperimentCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``ckpt_path="last"`` looks across every run of the experiment.

    Each run logs to a new ``<save_dir>/<name>/version_N``; Lightning's own lookup only sees
    the current version, so ``--ckpt_path last`` would never resume. This finds the newest
    ``last.ckpt`` in all versions of the experiment (and in ``dirpath`` if one is set).
    """

    def _find_last_checkpoints(self, trainer: pl.Trainer) -> set[str]:
        found = super()._find_last_checkpoints(trainer)
        logger = trainer.loggers[0] if trainer.loggers else None
        if self.dirpath is None and logger is not None:
            experiment_dir = Path(logger.save_dir or trainer.default_root_dir) / str(logger.name)
            found |= {os.path.normpath(p) for p in experiment_dir.glob(f"*/checkpoints/{self.CHECKPOINT_NAME_LAST}*{self.FILE_EXTENSION}")}
        return found

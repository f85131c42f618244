"""Training callbacks shared by every experiment."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint


class ExperimentCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that keeps the task's best checkpoint and resumes across runs.

    Unless ``monitor`` is set explicitly, it monitors the metric that the LightningModule declares
    (``monitor`` / ``monitor_mode`` of :class:`common.task.Task`) and keeps the best checkpoint as
    ``best.ckpt`` beside ``last.ckpt``.

    Each run logs to a new ``<save_dir>/<name>/version_N``; Lightning's own lookup only sees
    the current version, so ``--ckpt_path last`` would never resume. This finds the newest
    ``last.ckpt`` in all versions of the experiment (and in ``dirpath`` if one is set).

    A checkpoint's state is restored when its folder is this callback's, however the two paths
    are spelled (relative or absolute).
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        declared = getattr(pl_module, "monitor", None)
        if self.monitor is None and declared:
            mode = getattr(pl_module, "monitor_mode", "min")
            if mode not in ("min", "max"):
                raise ValueError(f"{type(pl_module).__name__}.monitor_mode must be 'min' or 'max', got {mode!r}")
            self.monitor, self.mode = declared, mode
            self.kth_value = torch.tensor(math.inf if mode == "min" else -math.inf)
            self.filename = self.filename or "best"
            self.auto_insert_metric_name = False
        super().setup(trainer, pl_module, stage)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def _save_last_if_missed(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` where Lightning did not: 2.6 writes it only beside a new top-k
        checkpoint, so ``--ckpt_path last`` would resume from the best epoch, not the latest."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer) and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        recorded = state_dict.get("dirpath")
        if recorded and self.dirpath and os.path.realpath(recorded) == os.path.realpath(self.dirpath):
            state_dict = {**state_dict, "dirpath": self.dirpath}
        super().load_state_dict(state_dict)

    def _find_last_checkpoints(self, trainer: pl.Trainer) -> set[str]:
        found = super()._find_last_checkpoints(trainer)
        logger = trainer.loggers[0] if trainer.loggers else None
        if self.dirpath is None and logger is not None:
            experiment_dir = Path(logger.save_dir or trainer.default_root_dir) / str(logger.name)
            found |= {os.path.normpath(p) for p in experiment_dir.glob(f"*/checkpoints/{self.CHECKPOINT_NAME_LAST}*{self.FILE_EXTENSION}")}
        return found

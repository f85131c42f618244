"""The shared task base: guarded manual steps and the declared best-checkpoint metric."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from common.callbacks import ExperimentCheckpoint
from common.task import Task


class Regression(Task):
    """One linear layer trained by manual steps; ``poison`` makes chosen steps non-finite."""

    monitor, monitor_mode = "val/error", "max"  # "max" on purpose: the best is the worst epoch
    hparam_metrics = ("val/error",)

    def __init__(self, poison: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.layer = torch.nn.Linear(2, 1)
        self.taken: list[bool] = []

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = (self.layer(inputs) - targets).pow(2).mean()
        if batch_idx in self.hparams.poison:
            loss = loss * float("nan")
        self.taken.append(self.optimizer_step_guarded(self.optimizers(), loss, gradient_clip=1.0))

    def evaluate(self, batch, batch_idx, stage):
        inputs, targets = batch
        self.log_stage(stage, {"error": (self.layer(inputs) - targets).pow(2).mean()}, inputs.shape[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader() -> DataLoader:
    inputs = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(inputs, inputs.sum(dim=1, keepdim=True)), batch_size=4)


def test_non_finite_steps_are_skipped_and_leave_the_weights_finite(tmp_path):
    task = Regression(poison=(1, 2))
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.fit(task, loader(), loader())
    assert task.taken == [True, False, False, True]
    assert all(torch.isfinite(p).all() for p in task.parameters())


def test_checkpoint_keeps_the_best_epoch_of_the_declared_metric(tmp_path):
    checkpoint = ExperimentCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = pl.Trainer(max_epochs=3, logger=False, callbacks=[checkpoint], enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.fit(Regression(), loader(), loader())
    assert checkpoint.monitor == "val/error" and checkpoint.mode == "max"
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == ["best.ckpt", "last.ckpt"]
    best = torch.load(tmp_path / "best.ckpt", weights_only=False)
    assert best["epoch"] == 0, "the error is largest after the first epoch, so 'max' keeps that one"

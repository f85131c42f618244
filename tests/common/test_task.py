"""The shared task base: guarded manual steps, the declared best-checkpoint metric, and networks,
optimisers and schedulers given by the config."""

from __future__ import annotations

import functools

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from common.callbacks import ExperimentCheckpoint
from common.export import exportable, instantiate, spec
from common.task import LRSchedulerCallable, OptimizerCallable, Task, adam, flat_hparams


@exportable
class ExportableLinear(torch.nn.Linear):
    """``nn.Linear`` that records its constructor arguments."""

    def __init__(self, in_features: int = 2, out_features: int = 1, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)


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


LAYER, ADAM = spec(ExportableLinear, in_features=2, out_features=1), adam(1e-3)


class Line(Task):
    """One linear layer with its optimiser and scheduler from the config; ``manual`` steps it by
    hand (as the GAN tasks do)."""

    exported_module = "layer"

    def __init__(
        self,
        layer: torch.nn.Module = LAYER,
        optimizer: OptimizerCallable = ADAM,
        lr_scheduler: LRSchedulerCallable | None = None,
        manual: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = not manual
        self.layer = instantiate(layer)
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = (self.layer(inputs) - targets).pow(2).mean()
        if self.automatic_optimization:
            return loss
        self.optimizer_step_guarded(self.optimizers(), loss, gradient_clip=0.0)

    def evaluate(self, batch, batch_idx, stage):
        inputs, targets = batch
        self.log_stage(stage, {"loss": (self.layer(inputs) - targets).pow(2).mean()}, inputs.shape[0])

    def configure_optimizers(self):
        return self.configure_optimizer_groups((self.parameters(), self.optimizer, self.lr_scheduler))


def fit(task: Task, tmp_path, epochs: int = 3) -> pl.Trainer:
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(task, loader(), loader())
    return trainer


def test_the_default_optimizer_is_the_declared_adam_without_a_scheduler():
    optimizer = Line().configure_optimizers()
    assert type(optimizer) is torch.optim.Adam and optimizer.defaults["lr"] == 1e-3


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
def test_a_swapped_optimizer_and_scheduler_are_used_and_stepped_once_per_epoch(manual, tmp_path):
    task = Line(optimizer=spec("torch.optim.SGD", lr=0.1, momentum=0.5),
                lr_scheduler=spec("torch.optim.lr_scheduler.StepLR", step_size=1, gamma=0.5), manual=manual)  # fmt: skip
    trainer = fit(task, tmp_path)
    (optimizer,) = trainer.optimizers
    assert type(optimizer) is torch.optim.SGD and optimizer.defaults["momentum"] == 0.5
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)


def test_callables_work_as_well_as_specs_and_a_plateau_scheduler_watches_the_monitor(tmp_path):
    task = Line(optimizer=functools.partial(torch.optim.SGD, lr=0.1),
                lr_scheduler=functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=0, factor=0.5, threshold=10.0),
                manual=True)  # fmt: skip
    trainer = fit(task, tmp_path)
    # No epoch improves on the best by the relative threshold of 1000 %: each one halves the rate.
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)
    assert task.hparams.optimizer == spec(torch.optim.SGD, lr=0.1)


def test_hyper_parameters_keep_networks_and_optimisers_as_specs_and_rebuild_the_task(tmp_path):
    task = Line(layer=ExportableLinear(2, 1, bias=False), optimizer=torch.optim.SGD)
    assert task.hparams.layer == spec(ExportableLinear, in_features=2, out_features=1, bias=False)
    assert task.hparams.optimizer == {"class_path": "torch.optim.sgd.SGD", "init_args": {}}
    assert not any(isinstance(value, torch.nn.Module) for value in task.hparams.values())
    assert task.exported_init_args() == {"in_features": 2, "out_features": 1, "bias": False}
    checkpoint = ExperimentCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = pl.Trainer(max_epochs=1, logger=False, callbacks=[checkpoint], enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.fit(task, loader(), loader())
    restored = Line.load_from_checkpoint(tmp_path / "last.ckpt", weights_only=True)
    assert restored.layer.bias is None and torch.equal(restored.layer.weight, task.layer.weight)


def test_flat_hparams_spell_specs_as_the_command_line_does():
    flat = flat_hparams({"optimizer": adam(1e-3, betas=(0.9, 0.99)), "lr_scheduler": None, "seed": 1, "nested": {"a": [1]}})
    assert flat == {"optimizer": "torch.optim.Adam", "optimizer.lr": 1e-3, "optimizer.betas": "(0.9, 0.99)",
                    "lr_scheduler": "None", "seed": 1, "nested.a": "[1]"}  # fmt: skip

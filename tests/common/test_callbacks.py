"""The shared checkpoint callback."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from common.callbacks import ExperimentCheckpoint


class _WorseningTask(pl.LightningModule):
    """A task whose monitored validation loss is best after the first epoch and worse after each later one."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        return (self.weight - batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx) -> None:
        self.log("val/loss", float(self.current_epoch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_last_checkpoint_follows_every_epoch_not_only_the_best(tmp_path) -> None:
    data = DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=2)
    checkpoint = ExperimentCheckpoint(dirpath=tmp_path, monitor="val/loss", mode="min", filename="best", save_last=True)
    trainer = pl.Trainer(
        max_epochs=3, callbacks=[checkpoint], logger=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(_WorseningTask(), data, data)
    assert torch.load(tmp_path / "best.ckpt", weights_only=False)["epoch"] == 0
    last = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert last["epoch"] == 2 and last["global_step"] == 6

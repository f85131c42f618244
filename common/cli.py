"""The training command: ``lightning fit -c trainer_configs/<experiment>.yaml``.

A LightningCLI in subclass mode: ``model:`` and ``data:`` take any LightningModule /
LightningDataModule by ``class_path`` + ``init_args``. Defaults: TensorBoard logs under
``runs/<name>/version_N`` and checkpoints (with ``last.ckpt``) beside them; ``--ckpt_path last``
resumes the newest run of the experiment. Also reachable as ``python -m common.cli``.
"""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from common.callbacks import ExperimentCheckpoint

TRAINER_DEFAULTS = {
    "accelerator": "auto",
    "logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        "init_args": {"save_dir": "runs", "name": "default", "default_hp_metric": False},
    },
}


class StegavoxCLI(LightningCLI):
    """LightningCLI with the project's checkpointing defaults."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ExperimentCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``lightning`` console script."""
    StegavoxCLI(
        pl.LightningModule,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        args=args,
    )


if __name__ == "__main__":
    main()

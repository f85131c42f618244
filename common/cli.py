"""The training command: ``lightning fit -c trainer_configs/<experiment>.yaml``.

A LightningCLI in subclass mode: ``model:`` and ``data:`` take any LightningModule /
LightningDataModule by ``class_path`` + ``init_args``. Defaults: TensorBoard logs under
``runs/<name>/version_N`` and checkpoints (with ``last.ckpt``) beside them; ``--ckpt_path last``
resumes the newest run of the experiment. Also reachable as ``python -m common.cli``.

``validate``, ``test`` and ``predict`` with ``--ckpt_path <run>/checkpoints/<file>.ckpt`` log into
that run folder (TensorBoard events, ``<subcommand>_config.yaml``, ``predictions/``) instead of
opening a new version.

Networks, optimisers and learning-rate schedulers are arguments of the task (``model.init_args``,
see :mod:`common.task`), so LightningCLI's own top-level ``optimizer`` / ``lr_scheduler`` keys,
which would replace a task's ``configure_optimizers``, are turned off: one place to set them.

Before anything is built, the datamodule checks that its data is on disk; a missing dataset
(or pretrained weights that cannot be obtained) ends the command with one line on stderr and exit
status 2, before the Trainer starts and without creating a run folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import lightning.pytorch as pl
from jsonargparse import Namespace
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities import rank_zero_only

from common.callbacks import ExperimentCheckpoint
from common.errors import ResourceUnavailableError
from common.export import import_class

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

    def before_instantiate_classes(self) -> None:
        """Check the datamodule's data before the model, the Trainer or a run folder exist, and
        point an evaluation at its checkpoint's run folder."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        data = config.get("data")
        if isinstance(data, Namespace) and data.get("class_path"):
            init_args = data.init_args.as_dict() if isinstance(data.get("init_args"), Namespace) else {}
            datamodule = import_class(data.class_path)(**init_args)
            if hasattr(datamodule, "check_data"):
                datamodule.check_data()
        if self.subcommand in ("validate", "test", "predict"):
            self._log_into_checkpoint_run(config)

    def _log_into_checkpoint_run(self, config: Namespace) -> None:
        """Make the logger of a ``<run>/checkpoints/*.ckpt`` evaluation write into ``<run>``."""
        checkpoint = Path(os.path.abspath(config.ckpt_path)) if config.get("ckpt_path") else None
        if checkpoint is None or not checkpoint.is_file() or checkpoint.parent.name != "checkpoints":
            return
        logger = config.trainer.get("logger")
        init_args = logger.get("init_args") if isinstance(logger, Namespace) else None
        if not isinstance(init_args, Namespace) or not all(key in init_args for key in ("save_dir", "name", "version")):
            return
        run = checkpoint.parent.parent
        init_args.save_dir, init_args.name, init_args.version = str(run.parent.parent), run.parent.name, run.name
        self.save_config_kwargs = {**self.save_config_kwargs, "config_filename": f"{self.subcommand}_config.yaml"}


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``lightning`` console script."""
    try:
        _run(args)
    except ResourceUnavailableError as err:
        rank_zero_only(print)(f"lightning: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def _run(args: list[str] | None) -> StegavoxCLI:
    return StegavoxCLI(
        pl.LightningModule,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        args=args,
    )


if __name__ == "__main__":
    main()

"""Fixtures of the CLI and export tests: demo experiments run in this process."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from common.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "trainer_configs"
#: One training batch and one validation batch of two items: enough for ``best.ckpt`` and
#: ``last.ckpt``. (Not ``--trainer.limit_train_batches=1``: the CLI reads that as 1.0, all batches.)
ONE_STEP = ["--trainer.max_epochs=1", "--trainer.max_steps=-1", "--trainer.num_sanity_val_steps=0",
            "--data.init_args.num_train=2", "--data.init_args.num_val=2", "--data.init_args.batch_size=2"]


def demo_args(name: str, save_dir: Path) -> list[str]:
    """Arguments of the demo of experiment ``name`` on one CPU, logging under ``save_dir``."""
    return [
        "-c", str(CONFIGS / f"{name}.yaml"),
        "-c", str(CONFIGS / "demo" / f"{name}.yaml"),
        f"--trainer.logger.init_args.save_dir={save_dir}",
        "--trainer.accelerator=cpu",
        "--trainer.devices=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
    ]


@pytest.fixture
def experiment_args() -> Callable[[str, Path], list[str]]:
    """:func:`demo_args`."""
    return demo_args


@pytest.fixture
def fit_one_step(tmp_path, monkeypatch) -> Callable[[str], Path]:
    """``fit_one_step(name)``: fit the demo of ``name`` for :data:`ONE_STEP`, logging under ``runs``
    (relative, as the configs do) in ``tmp_path``, the working directory; return the run folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning"])

    def fit(name: str) -> Path:
        main(["fit", *demo_args(name, Path("runs")), *ONE_STEP])
        (run_dir,) = (tmp_path / "runs").glob("*/version_0")
        return run_dir

    return fit

"""The training CLI: every experiment config trains, DDP on 2 CPU processes, resume; evaluations
log into the run of their checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from common.cli import _run, main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "trainer_configs"
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "demo").glob("*.yaml"))
SMOKE_CONFIG = "cnn_image_in_image"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests" / "common"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "common.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_every_experiment_has_a_research_config_and_a_demo_overlay():
    assert SMOKE_CONFIG in EXPERIMENTS
    for name in EXPERIMENTS:
        assert (CONFIGS / f"{name}.yaml").is_file(), f"demo overlay without research config: {name}"


def read_events(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(next(run_dir.glob("events.out.tfevents.*"))), size_guidance={"images": 0, "audio": 0})
    events.Reload()
    return events


def hparams_metric_tags(events: EventAccumulator) -> list[str]:
    content = events.PluginTagToContent("hparams")["_hparams_/experiment"]
    return [info.name.tag for info in HParamsPluginData.FromString(content).experiment.metric_infos]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_fit_test_and_predict_on_every_config(name, fit_one_step, experiment_args):
    run_dir = fit_one_step(name)
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"last.ckpt", "best.ckpt"}
    assert (run_dir / "config.yaml").is_file()
    events = read_events(run_dir)
    task_class = yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["class_path"]
    metrics = hparams_metric_tags(events)
    assert metrics and "hp_metric" not in events.Tags()["scalars"], task_class
    assert set(metrics) <= set(events.Tags()["scalars"]), "an HParams metric that the task never logs"
    media = events.Tags()["images"] + events.Tags()["audio"]
    assert media and all(tag.startswith("val/media/") for tag in media)
    scalar_steps = {event.step for event in events.Scalars(metrics[0])}
    first_media = events.Images(media[0]) if media[0] in events.Tags()["images"] else events.Audio(media[0])
    assert {event.step for event in first_media} == scalar_steps, "media and scalars at different steps"

    checkpoint = str(run_dir / "checkpoints" / "best.ckpt")
    args = experiment_args(name, Path("runs"))
    main(["test", *args, "--trainer.limit_test_batches=1", f"--ckpt_path={checkpoint}"])
    main(["predict", *args, "--trainer.limit_predict_batches=1", f"--ckpt_path={checkpoint}"])
    predictions = list((run_dir / "predictions").iterdir())
    assert predictions and {p.suffix for p in predictions} <= {".png", ".wav"}


def test_validate_and_predict_log_into_the_run_of_their_checkpoint(fit_one_step, experiment_args, capsys, recwarn):
    run_dir = fit_one_step(SMOKE_CONFIG)
    fit_config = (run_dir / "config.yaml").read_text()
    args = experiment_args(SMOKE_CONFIG, Path("runs"))
    best = run_dir / "checkpoints" / "best.ckpt"
    main(["validate", *args, f"--ckpt_path={best.relative_to(Path.cwd())}"])  # runs/<name>/version_0/... as in docs/training.md
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 2, "validate logged elsewhere"
    main(["predict", *args, "--trainer.limit_predict_batches=1", f"--ckpt_path={best}"])  # the same run, spelled absolute
    assert [p.name for p in run_dir.parent.iterdir()] == ["version_0"], "a new version folder"
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)]
    assert (run_dir / "config.yaml").read_text() == fit_config
    assert (run_dir / "validate_config.yaml").is_file() and (run_dir / "predict_config.yaml").is_file()
    printed = [line for line in capsys.readouterr().out.splitlines() if "predictions" in line]
    assert printed == [f"wrote predictions to {run_dir / 'predictions'}"]
    assert any((run_dir / "predictions").iterdir())


def test_print_config_and_model_help(tmp_path, experiment_args):
    printed = run_cli("fit", *experiment_args(SMOKE_CONFIG, tmp_path), "--print_config", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert "class_path: steganography.tasks.image_in_image.ImageInImageTask" in printed.stdout
    helped = run_cli("fit", "--model.help", "steganography.tasks.image_in_image.ImageInImageTask", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "--model.network" in helped.stdout and "--model.optimizer" in helped.stdout


def test_a_config_swaps_the_optimizer_and_adds_a_scheduler(tmp_path, monkeypatch, experiment_args):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning"])
    overlay = tmp_path / "sgd.yaml"
    overlay.write_text(yaml.safe_dump({"model": {"init_args": {
        "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.05, "momentum": 0.9}},
        "lr_scheduler": {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 1, "gamma": 0.5}},
    }}}))  # fmt: skip
    cli = _run(["fit", *experiment_args(SMOKE_CONFIG, Path("runs")), "-c", str(overlay), "--trainer.max_epochs=2",
                "--trainer.num_sanity_val_steps=0", "--data.init_args.num_train=2", "--data.init_args.num_val=2",
                "--data.init_args.batch_size=2"])  # fmt: skip
    (optimizer,) = cli.trainer.optimizers
    assert type(optimizer) is torch.optim.SGD and optimizer.defaults["momentum"] == 0.9
    assert [type(config.scheduler) for config in cli.trainer.lr_scheduler_configs] == [torch.optim.lr_scheduler.StepLR]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 0.5**2), "one scheduler step per epoch"
    (run_dir,) = (tmp_path / "runs").glob("*/version_0")
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["init_args"]["optimizer"]["class_path"] == "torch.optim.SGD"
    content = read_events(run_dir).PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["optimizer"].string_value == "torch.optim.SGD" and hparams["optimizer.lr"].number_value == 0.05
    assert hparams["lr_scheduler.step_size"].number_value == 1 and hparams["network.depth"].number_value == 7


def probe_args(out_dir: Path) -> list[str]:
    return ["--trainer.callbacks+=probe.TrainingProbe", f"--trainer.callbacks.out_dir={out_dir}"]


def test_resume_from_last_checkpoint_continues_global_step(tmp_path, experiment_args):
    base = [*experiment_args(SMOKE_CONFIG, tmp_path / "runs"), "--trainer.limit_val_batches=1",
            "--trainer.num_sanity_val_steps=0", "--trainer.max_epochs=-1", "--trainer.limit_train_batches=2"]
    first = run_cli("fit", *base, "--trainer.max_steps=2", *probe_args(tmp_path / "first"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_cli("fit", *base, "--trainer.max_steps=4", "--ckpt_path=last", *probe_args(tmp_path / "second"), cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    record = json.loads((tmp_path / "second" / "rank0.json").read_text())
    assert record["start_step"] == 2 and record["end_step"] == 4
    newest = max((tmp_path / "runs").rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    assert torch.load(newest, weights_only=False)["global_step"] == 4


#: Automatic optimisation (Rehman CNN) and the two manual G/D tasks (INN + Zhu-Net, DCCRN + MetricGAN+;
#: the second shares the first's manual step in the tasks' base, so it runs with ``-m slow``).
DDP_EXPERIMENTS = [SMOKE_CONFIG, "inn", pytest.param("enhancer", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", DDP_EXPERIMENTS)
def test_ddp_two_cpu_processes_split_data_and_sync_weights(name, tmp_path, experiment_args):
    strategy = yaml.safe_load((CONFIGS / "fragments" / "ddp.yaml").read_text())["trainer"]["strategy"]
    result = run_cli(
        "fit", *experiment_args(name, tmp_path / "runs"),
        f"--trainer.strategy={strategy}", "--trainer.devices=2", "--trainer.max_steps=4",
        "--trainer.limit_val_batches=1", "--trainer.num_sanity_val_steps=0",
        "--data.init_args.batch_size=2", *probe_args(tmp_path / "probe"), cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / "probe" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["end_step"] == ranks[1]["end_step"] == 4
    assert len(ranks[0]["items"]) == len(ranks[1]["items"]) >= 4
    assert not set(ranks[0]["items"]) & set(ranks[1]["items"]), "both ranks saw the same items"
    assert ranks[0]["weights"] == ranks[1]["weights"], "ranks ended with different weights"


RESEARCH_CONFIGS = sorted(p.stem for p in CONFIGS.glob("*.yaml"))


def _one_config_per_datamodule() -> list:
    """The research configs, those whose datamodule an earlier one already has marked ``slow``
    (the layout check that fails is the datamodule's; each command costs a process start)."""
    seen, params = set(), []
    for name in RESEARCH_CONFIGS:
        datamodule = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())["data"]["class_path"]
        params.append(pytest.param(name, marks=[pytest.mark.slow] if datamodule in seen else []))
        seen.add(datamodule)
    return params


@pytest.mark.parametrize("name", _one_config_per_datamodule())
def test_research_config_without_its_data_fails_fast_with_one_line(name, tmp_path):
    result = run_cli("fit", "-c", str(CONFIGS / f"{name}.yaml"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("lightning: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "expected layout" in errors[0] and "docs/training.md" in errors[0]
    assert list(tmp_path.iterdir()) == [], "the failed run left files behind"

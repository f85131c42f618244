"""One shipped format: every shipped file has the config that rebuilds it, and that config trains
and exports to the same kind of module; every demo task exports its network."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from common import export
from common.cli import main
from common.export import FORMAT, export_checkpoint, import_class, load_module, save_module
from enhancer.dccrn import DCCRN
from steganography.models.image_in_image import ImageInImageNetwork
from steganography.models.inn import InvertibleHider
from steganography.models.pixinwav import PixInWav

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_FILES = sorted(ROOT.glob("*/checkpoints/*.pt"))
SHIPPED_CONFIGS = sorted((ROOT / "trainer_configs" / "shipped").glob("*.yaml"))
#: Shipped configs whose module kind another shipped config already checks by default (the DCCRN of
#: dccrn_talker): run with ``-m slow``.
SAME_KIND_AS_ANOTHER = {"dccrn_demo", "dccrn_talker_2026-12-01", "dccrn_talker_2026-12-02"}
DEMO_EXPERIMENTS = sorted(p.stem for p in (ROOT / "trainer_configs" / "demo").glob("*.yaml"))


def test_every_shipped_file_has_its_config_and_loads():
    assert SHIPPED_FILES
    for path in SHIPPED_FILES:
        assert (ROOT / "trainer_configs" / "shipped" / f"{path.stem}.yaml").is_file(), f"no shipped config for {path}"
        module, metadata = load_module(path, nn.Module)
        assert not module.training and metadata["task"]


def test_save_and_load_round_trip_and_refusals(tmp_path):
    layer = nn.Linear(3, 2)
    save_module(tmp_path / "layer.pt", layer, {"in_features": 3, "out_features": 2}, note="x")
    loaded, metadata = load_module(tmp_path / "layer.pt", nn.Linear)
    assert metadata == {"note": "x"} and torch.equal(loaded.weight, layer.weight)
    assert [p.name for p in tmp_path.iterdir()] == ["layer.pt"]
    with pytest.raises(ValueError, match="not a Conv1d"):
        load_module(tmp_path / "layer.pt", nn.Conv1d)
    torch.save({"state_dict": layer.state_dict()}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=FORMAT):
        load_module(tmp_path / "old.pt", nn.Linear)


@pytest.mark.parametrize(
    "config",
    [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SAME_KIND_AS_ANOTHER else []) for p in SHIPPED_CONFIGS],
)
def test_shipped_config_trains_and_exports_the_shipped_kind_of_module(config, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning"])
    settings = yaml.safe_load(config.read_text())
    overrides = []
    if settings["data"]["class_path"] == "datamodules.real_speech.DominantTalkerDataModule":  # a tiny copy of the corpus
        overrides.append(f"--data.init_args.root={request.getfixturevalue('real_speech_corpus')}")
        if settings["data"]["init_args"].get("val_speakers"):  # the tiny copy's held-out speaker
            overrides.append("--data.init_args.val_speakers=[dora]")
    if settings["model"]["init_args"].get("init_weights"):  # relative to the repository root
        overrides.append(f"--model.init_args.init_weights={ROOT / settings['model']['init_args']['init_weights']}")
    main(["fit", "-c", str(config), "--trainer.logger.init_args.save_dir=runs", "--trainer.max_epochs=1",
          "--trainer.max_time=null", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",
          "--trainer.num_sanity_val_steps=0", "--trainer.enable_model_summary=false", *overrides])
    (best,) = (tmp_path / "runs").rglob("best.ckpt")
    export_checkpoint(best, tmp_path / "exported.pt")
    shipped = torch.load(ROOT / next(p for p in SHIPPED_FILES if p.stem == config.stem), weights_only=True)
    exported = torch.load(tmp_path / "exported.pt", weights_only=True)
    assert exported["class_path"] == shipped["class_path"]
    assert all_init_args(exported) == all_init_args(shipped), "another architecture than the shipped file's"


def all_init_args(exported: dict) -> dict:
    """The constructor arguments of an exported module, defaults included (an older file may
    list only those that differ from the defaults)."""
    bound = inspect.signature(import_class(exported["class_path"])).bind(**exported["init_args"])
    bound.apply_defaults()
    return {key: list(value) if isinstance(value, tuple) else value for key, value in bound.arguments.items()}


def fixed_inputs(network: nn.Module) -> tuple[torch.Tensor, ...]:
    """Seeded inputs of one item for each kind of network that a task exports."""
    generator = torch.Generator().manual_seed(0)
    if isinstance(network, DCCRN):
        return (0.1 * torch.randn(1, 1, 8000, generator=generator),)
    if isinstance(network, InvertibleHider):
        bits = torch.randint(0, 2, (1, *network.message_shape(64, 64)), generator=generator)
        return torch.rand(1, 3, 64, 64, generator=generator), 2.0 * bits - 1
    if isinstance(network, ImageInImageNetwork):
        return torch.rand(1, 3, 64, 64, generator=generator), torch.rand(1, 1, 64, 64, generator=generator)
    if isinstance(network, PixInWav):
        size = network.mapping.image_size
        return torch.rand(1, 3, size, size, generator=generator), 0.1 * torch.randn(1, 1, network.num_samples, generator=generator)
    raise TypeError(f"no test inputs for {type(network).__name__}")


def tensors(outputs: torch.Tensor | tuple | dict) -> list[torch.Tensor]:
    """The tensors of a network's outputs, in order."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [tensor for value in (outputs.values() if isinstance(outputs, dict) else outputs) for tensor in tensors(value)]


@pytest.mark.parametrize("name", DEMO_EXPERIMENTS)
def test_every_demo_task_exports_its_network_and_the_export_computes_the_same(name, fit_one_step):
    run_dir = fit_one_step(name)
    checkpoint = run_dir / "checkpoints" / "best.ckpt"
    export.main([str(checkpoint), "exported.pt"])
    exported, metadata = load_module("exported.pt", nn.Module)
    task_class_path = yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["class_path"]
    task = import_class(task_class_path).load_from_checkpoint(checkpoint, map_location="cpu").eval()
    trained = getattr(task, task.exported_module)
    assert type(exported) is type(trained) and metadata["task"] == task_class_path
    inputs = fixed_inputs(trained)
    with torch.no_grad():
        expected, actual = tensors(trained(*inputs)), tensors(exported(*inputs))
    assert len(actual) == len(expected) > 0
    for value, reference in zip(actual, expected):
        torch.testing.assert_close(value, reference)


def test_a_task_without_a_network_is_refused_in_one_line(tmp_path, capsys):
    torch.save({"task_class_path": "common.task.Task", "hyper_parameters": {}, "state_dict": {}}, tmp_path / "task.ckpt")
    with pytest.raises(SystemExit) as exit_info:
        export.main([str(tmp_path / "task.ckpt"), str(tmp_path / "out.pt")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "python -m common.export: error: common.task.Task has no network to export\n"
    assert not (tmp_path / "out.pt").exists()


def test_a_checkpoint_from_before_networks_were_config_objects_is_refused_in_one_line(tmp_path, capsys):
    flat = {"levels": 3, "message_channels": 4, "num_blocks": 4, "width": 16, "depth": 3, "lr": 1e-3}  # the old INN task's
    torch.save({"task_class_path": "steganography.tasks.inn.INNHidingTask", "hyper_parameters": flat, "state_dict": {}},
               tmp_path / "old.ckpt")  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        export.main([str(tmp_path / "old.ckpt"), str(tmp_path / "out.pt")])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "do not build today's steganography.tasks.inn.INNHidingTask" in line and "levels" in line

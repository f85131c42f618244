"""One shipped format: every shipped file has the config that rebuilds it, and that config trains
and exports to the same kind of module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from common.cli import main
from common.export import FORMAT, export_checkpoint, load_module, save_module

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_FILES = sorted(ROOT.glob("*/checkpoints/*.pt"))
SHIPPED_CONFIGS = sorted((ROOT / "trainer_configs" / "shipped").glob("*.yaml"))


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


@pytest.mark.parametrize("config", SHIPPED_CONFIGS, ids=[p.stem for p in SHIPPED_CONFIGS])
def test_shipped_config_trains_and_exports_the_shipped_kind_of_module(config, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning"])
    settings = yaml.safe_load(config.read_text())
    overrides = []
    if settings["data"]["class_path"] == "datamodules.real_speech.DominantTalkerDataModule":  # a tiny copy of the corpus
        overrides.append(f"--data.init_args.root={request.getfixturevalue('real_speech_corpus')}")
    if settings["model"]["init_args"].get("init_weights"):  # relative to the repository root
        overrides.append(f"--model.init_args.init_weights={ROOT / settings['model']['init_args']['init_weights']}")
    main(["fit", "-c", str(config), "--trainer.logger.init_args.save_dir=runs", "--trainer.max_epochs=1",
          "--trainer.max_time=null", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",
          "--trainer.num_sanity_val_steps=0", "--trainer.enable_model_summary=false", *overrides])
    (best,) = (tmp_path / "runs").rglob("best.ckpt")
    export_checkpoint(best, tmp_path / "exported.pt")
    shipped = torch.load(ROOT / next(p for p in SHIPPED_FILES if p.stem == config.stem), weights_only=True)
    exported = torch.load(tmp_path / "exported.pt", weights_only=True)
    assert exported["class_path"] == shipped["class_path"] and exported["init_args"] == shipped["init_args"]

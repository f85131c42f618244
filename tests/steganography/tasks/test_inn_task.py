"""INNHidingTask: the demo config trains with finite losses, the NaN guard skips bad steps,
LPIPS is never built on random weights and never saved in checkpoints."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import torchvision
import yaml
from lightning.pytorch.loggers import CSVLogger

from common.cli import main
from common.export import spec
from steganography.models.inn import InvertibleHider
from steganography.models.perceptual import PretrainedWeightsMissingError, default_backbone_checkpoint
from steganography.models.platform_channel import PlatformChannel
from steganography.tasks.inn import INNHidingTask, bit_accuracy, random_message

ROOT = Path(__file__).resolve().parents[3]
DEMO_CONFIG = ROOT / "trainer_configs" / "demo" / "inn.yaml"


def demo_task(**overrides) -> INNHidingTask:
    """The task with the demo overlay's model arguments."""
    init_args = yaml.safe_load(DEMO_CONFIG.read_text())["model"]["init_args"]
    return INNHidingTask(**{**init_args, **overrides})


def test_demo_config_trains_with_finite_losses_and_logs_validation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lightning"])
    main(
        [
            "fit",
            "-c", str(ROOT / "trainer_configs" / "inn.yaml"),
            "-c", str(DEMO_CONFIG),
            "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--trainer.accelerator=cpu",
            "--trainer.max_steps=4",
            "--trainer.limit_train_batches=2",
            "--trainer.val_check_interval=1",
            "--trainer.limit_val_batches=1",
            "--trainer.num_sanity_val_steps=0",
            "--trainer.log_every_n_steps=1",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
        ]
    )  # fmt: skip
    metrics_file = next(tmp_path.rglob("metrics.csv"))
    header, *rows = [line.split(",") for line in metrics_file.read_text().splitlines()]
    values: dict[str, list[float]] = {}
    for row in rows:
        for name, value in zip(header, row):
            if value:
                values.setdefault(name, []).append(float(value))
    for name in ("train/loss", "train/payload", "train/image", "train/adversarial", "train/detector_loss"):
        assert values[name] and all(math.isfinite(v) for v in values[name]), name
    assert values["train/skipped_steps"] == [0.0, 0.0]  # max_steps counts G and D steps: 2 batches
    for name in ("bit_accuracy_identity", "bit_accuracy_q50", "bit_accuracy_q75", "bit_accuracy_q90", "detector_accuracy"):
        assert 0.0 <= values[f"val/{name}"][0] <= 1.0, name
    assert values["val/psnr"][0] > 30.0  # near-identity at initialisation, measured on 8-bit stego
    assert "val/lpips" not in values
    platform = {name for name in values if name.startswith("val/platform/bit_accuracy_")}
    channel_args = yaml.safe_load((ROOT / "trainer_configs" / "inn.yaml").read_text())["model"]["init_args"]["platform_channel"]["init_args"]
    conditions = PlatformChannel(**channel_args).validation_conditions()  # the research config's channel
    assert platform == {f"val/platform/bit_accuracy_{condition}" for condition in conditions}
    assert all(0.0 <= values[name][0] <= 1.0 for name in platform)
    assert values["val/platform/bit_accuracy"][0] == pytest.approx(sum(values[name][0] for name in platform) / len(platform), abs=1e-4)


def test_non_finite_loss_skips_the_step_and_leaves_weights_unchanged(tmp_path):
    task = demo_task(adversarial_weight=0.0)
    before = {k: v.clone() for k, v in task.hider.state_dict().items()}
    original = task.generator_losses

    def poisoned(cover):
        out = original(cover)
        return {**out, "loss": out["loss"] * float("nan")}

    task.generator_losses = poisoned
    images = torch.rand(2, 3, 64, 64)
    loader = torch.utils.data.DataLoader(list(images), batch_size=2, collate_fn=lambda items: {"image": torch.stack(items)})
    trainer = pl.Trainer(
        max_epochs=1, logger=CSVLogger(tmp_path), enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(task, train_dataloaders=loader)
    assert trainer.callback_metrics["train/skipped_steps"] == 1.0
    for key, value in task.hider.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_lpips_offline_raises_and_zero_weight_never_builds_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(PretrainedWeightsMissingError):
        demo_task(lpips_weight=1.0)
    assert demo_task(lpips_weight=0.0).lpips is None


def test_lpips_weights_stay_out_of_checkpoints(tmp_path, monkeypatch):
    # Random AlexNet features stand in for the pretrained file, only to build the loss offline.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = default_backbone_checkpoint("alex")
    path.parent.mkdir(parents=True)
    features = torchvision.models.alexnet().features.state_dict()
    torch.save({f"features.{name}": tensor for name, tensor in features.items()}, path)
    task = demo_task(lpips_weight=1.0, adversarial_weight=0.0)
    state = task.state_dict()
    assert state and not any(key.startswith("lpips.") for key in state)
    assert any(key.startswith("hider.") for key in state)
    restored = demo_task(lpips_weight=1.0, adversarial_weight=0.0)
    restored.load_state_dict(state)
    assert torch.equal(restored.hider.blocks[0].cover_subnet.output.weight, task.hider.blocks[0].cover_subnet.output.weight)


def test_random_message_is_balanced_signs_of_the_hider_shape():
    task = demo_task()
    message = random_message(task.hider, torch.rand(4, 3, 64, 128))
    assert message.shape == (4, 1, 8, 16)
    assert set(message.unique().tolist()) == {-1.0, 1.0}
    assert bit_accuracy(message, message).tolist() == [1.0] * 4
    assert bit_accuracy(-message, message).tolist() == [0.0] * 4


def test_canonical_grid_fragment_builds_a_task_whose_export_records_the_grid():
    fragment = yaml.safe_load((ROOT / "trainer_configs" / "fragments" / "canonical_grid.yaml").read_text())["model"]["init_args"]
    channel = PlatformChannel(**fragment["platform_channel"]["init_args"])
    assert channel.scale_range == (1.1, 3.2) and channel.independent_axes
    task = demo_task(canonical_size=fragment["canonical_size"], platform_channel=channel, adversarial_weight=0.0)
    assert task.exported_metadata() == {"tile_size": 64, "canonical_size": 512}
    assert task.monitor == "val/platform/bit_accuracy" and task.hparam_metrics[0] == "val/platform/bit_accuracy"
    assert demo_task().exported_metadata() == {"tile_size": 64} and demo_task().monitor == "val/bit_accuracy_q75"


def test_init_weights_start_from_a_shipped_hider(tmp_path):
    from common.export import save_module

    source = demo_task(adversarial_weight=0.0)
    with torch.no_grad():
        for parameter in source.hider.parameters():
            parameter.add_(0.01)
    save_module(tmp_path / "hider.pt", source.hider, source.exported_init_args())
    started = demo_task(adversarial_weight=0.0, init_weights=str(tmp_path / "hider.pt"))
    assert all(torch.equal(a, b) for a, b in zip(source.hider.state_dict().values(), started.hider.state_dict().values()))
    with pytest.raises(RuntimeError):  # another architecture
        other = InvertibleHider(**{**source.exported_init_args(), "width": 4})
        demo_task(hider=other, adversarial_weight=0.0, init_weights=str(tmp_path / "hider.pt"))


def test_defaults_are_adam_at_1e_4_for_both_networks_and_no_scheduler():
    task = INNHidingTask(lpips_weight=0.0)
    assert task.exported_init_args() == {"levels": 3, "message_channels": 1, "num_blocks": 8, "width": 32, "depth": 4,
                                         "clamp": 2.0, "attention_reduction": 8, "reveal_z": 0.0}  # fmt: skip
    assert type(task.detector).__name__ == "ZhuNet" and task.channel.quality_range == (50, 95)
    optimizers = task.configure_optimizers()
    assert [type(o) for o in optimizers] == [torch.optim.Adam] * 2
    assert [o.defaults["lr"] for o in optimizers] == [1e-4, 1e-4]
    assert {id(p) for p in optimizers[1].param_groups[0]["params"]} == {id(p) for p in task.detector.parameters()}


def test_swapped_optimizers_and_schedulers_of_both_networks_step_once_per_epoch(tmp_path):
    sgd = spec("torch.optim.SGD", lr=0.1)
    halve = spec("torch.optim.lr_scheduler.StepLR", step_size=1, gamma=0.5)
    quantise_only = spec("steganography.models.channel.JpegChannel", differentiable_weight=0.0, real_weight=0.0)
    task = demo_task(channel=quantise_only, optimizer=sgd, lr_scheduler=halve, detector_optimizer=sgd, detector_lr_scheduler=halve)
    images = torch.rand(2, 3, 32, 32)
    loader = torch.utils.data.DataLoader(list(images), batch_size=2, collate_fn=lambda items: {"image": torch.stack(items)})
    trainer = pl.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(task, train_dataloaders=loader)
    assert [type(o) for o in trainer.optimizers] == [torch.optim.SGD] * 2
    assert [o.param_groups[0]["lr"] for o in trainer.optimizers] == pytest.approx([0.1 * 0.5**2] * 2)


def test_served_detector_judges_what_the_platform_serves_and_trains_the_hider_against_it(tmp_path):
    """``detector_view="served"``: both networks step on the pair as the platform serves it (the
    received size, 8-aligned, not the hider's grid); refused without a platform channel."""
    with pytest.raises(ValueError, match="detector_view"):
        demo_task(detector_view="served")
    channel = PlatformChannel(crop_probability=0.0, scale_probability=1.0, scale_range=(1.5, 1.5), jpeg_probability=1.0,
                              quality_range=(75, 75), noise_std=0.0)  # fmt: skip
    task = demo_task(platform_channel=channel, detector_view="served", adversarial_weight=1.0, num_logged_images=0)
    seen = []
    task.detector.register_forward_hook(lambda module, inputs, output: seen.append(tuple(inputs[0].shape)))
    detector_before = [p.clone() for p in task.detector.parameters()]
    hider_before = [p.clone() for p in task.hider.parameters()]
    images = torch.rand(2, 3, 64, 64)
    loader = torch.utils.data.DataLoader(list(images), batch_size=2, collate_fn=lambda items: {"image": torch.stack(items)})
    trainer = pl.Trainer(
        max_steps=2, logger=CSVLogger(tmp_path), enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=1, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(task, train_dataloaders=loader, val_dataloaders=loader)
    # Views of the 96-px served images, as many pixels as the 64-px grid; adversarial term (2 stego
    # views), detector step (2 + 2), validation (2 + 2).
    assert seen == [(2, 3, 64, 64), (4, 3, 64, 64), (4, 3, 64, 64)]
    assert all(math.isfinite(trainer.callback_metrics[name]) for name in ("train/adversarial", "train/detector_loss"))
    assert 0.0 <= trainer.callback_metrics["val/detector_accuracy"] <= 1.0
    assert any(not torch.equal(a, b) for a, b in zip(detector_before, task.detector.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(hider_before, task.hider.parameters()))


def test_served_adversary_fragment_builds_on_the_platform_hider_config():
    base = yaml.safe_load((ROOT / "trainer_configs" / "shipped" / "inn_platform.yaml").read_text())["model"]["init_args"]
    fragment = yaml.safe_load((ROOT / "trainer_configs" / "fragments" / "served_adversary.yaml").read_text())["model"]["init_args"]
    task = INNHidingTask(**{**base, **fragment, "init_weights": None})
    assert task.hparams.detector_view == "served" and task.detector is not None and task.detector.colour == "grey"
    assert [type(o) for o in task.configure_optimizers()] == [torch.optim.Adam, torch.optim.Adamax]

from __future__ import annotations

import copy

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader

from common.export import spec
from common.metrics import pesq_wb, si_sdr, talker_rejection
from datamodules.audio_files import pad_collate
from datamodules.demo import DemoSpeechDataModule
from datamodules.real_speech import DominantTalkerDataModule
from enhancer.dccrn import DCCRN
from enhancer.discriminator import MetricDiscriminator
from enhancer.history import ScoredHistory
from enhancer.task import EnhancerTask

TINY = {"channels": [2, 4, 4, 8, 8, 8], "lstm_hidden": 8, "lstm_layers": 1}


def _fit(task: EnhancerTask, steps: int = 2, logger: TensorBoardLogger | bool = False) -> pl.Trainer:
    data = DemoSpeechDataModule(segment_seconds=1.0, num_train=4, num_val=2, batch_size=2)
    trainer = pl.Trainer(
        max_steps=steps, limit_val_batches=1, num_sanity_val_steps=0, logger=logger,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        accelerator="cpu", devices=1,
    )
    trainer.fit(task, data)
    return trainer


def _changed(before: torch.nn.Module, after: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values()) if a.is_floating_point())


def test_metricgan_step_updates_both_networks_fills_history_and_validates(tmp_path):
    torch.manual_seed(0)
    task = EnhancerTask(generator=spec(DCCRN, **TINY), discriminator=spec(MetricDiscriminator, channels=4, hidden=[8, 4]), replay_fraction=0.5, num_logged_items=1,
                        stoi_weight=1.0, over_suppression_weight=1.0, leakage_weight=1.0)
    generator, discriminator = copy.deepcopy(task.generator), copy.deepcopy(task.discriminator)
    logger = TensorBoardLogger(tmp_path, name="enhancer")
    trainer = _fit(task, logger=logger)
    assert {"train/discriminator_loss", "train/adversarial_loss", "train/score_pesq", "train/score_stoi",
            "train/stoi_loss", "train/over_suppression", "train/leakage"} <= set(trainer.callback_metrics)
    assert _changed(generator, task.generator) and _changed(discriminator, task.discriminator)
    assert 0 < len(task.history) <= 4
    metrics = trainer.validate(task, trainer.datamodule, verbose=False)[0]
    for name in ("pesq", "stoi", "si_sdr", "noisy_pesq", "noisy_stoi", "noisy_si_sdr", "delta_pesq", "delta_stoi", "delta_si_sdr", "quality"):
        assert torch.isfinite(torch.tensor(metrics[f"val/{name}"])), name
    assert abs(metrics["val/quality"] - ((metrics["val/pesq"] + 0.5) / 5 + metrics["val/stoi"]) / 2) < 1e-4
    assert "val/talker_rejection" not in metrics  # the demo data has no separate talker
    assert task.monitor == "val/quality" and task.monitor_mode == "max"
    logger.experiment.flush()
    events = EventAccumulator(logger.log_dir).Reload()
    assert {"val/media/0/noisy", "val/media/0/enhanced", "val/media/0/clean"} <= set(events.Tags()["audio"])
    assert "val/media/0/enhanced_spectrogram" in events.Tags()["images"]


def test_without_adversarial_weight_the_discriminator_is_untouched():
    torch.manual_seed(0)
    task = EnhancerTask(generator=spec(DCCRN, **TINY), adversarial_weight=0.0)
    discriminator = copy.deepcopy(task.discriminator)
    _fit(task, steps=1)
    assert not _changed(discriminator, task.discriminator)
    assert len(task.history) == 0


def test_validation_logs_talker_rejection_of_dominant_talker_mixtures(real_speech_corpus):
    torch.manual_seed(0)
    data = DominantTalkerDataModule(root=str(real_speech_corpus), segment_seconds=1.0, num_train=2, num_val=4, talker_probability=1.0,
                                    batch_size=2)
    task = EnhancerTask(generator=spec(DCCRN, **TINY))
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
    metrics = trainer.validate(task, data, verbose=False)[0]
    data.setup("validate")
    items = [data.val_set[i] for i in range(4)]
    with torch.no_grad():
        task.eval()
        expected = torch.stack([talker_rejection(task(item["noisy"][None])[0, 0], *(item[k][0] for k in ("clean", "talker", "noise", "noisy")))
                                for item in items]).nanmean()
    assert torch.isfinite(expected) and abs(metrics["val/talker_rejection"] - expected.item()) < 1e-3


def test_history_replays_uniform_sample_and_skips_nan():
    history = ScoredHistory(capacity=3, seed=0)
    assert history.sample(2) is None
    history.add(torch.randn(2, 1, 10), torch.randn(2, 1, 10), torch.tensor([[0.5, 0.5], [float("nan"), 0.1]]))
    assert len(history) == 1
    history.add(torch.randn(5, 8), torch.randn(5, 8), torch.rand(5, 2))
    assert len(history) == 3 and history.seen == 6
    estimates, references, scores = history.sample(5)
    assert estimates.shape == (3, 8) and references.shape == (3, 8) and scores.shape == (3, 2)


def test_validation_scores_zero_padded_variable_length_batches_per_item(clean_speech, noisy_speech):
    items = [
        {"noisy": noisy_speech[10.0][:, :12000], "clean": clean_speech[:, :12000]},
        {"noisy": noisy_speech[10.0][:, :20000], "clean": clean_speech[:, :20000]},
    ]
    loader = DataLoader(items, batch_size=2, collate_fn=pad_collate)
    task = EnhancerTask(generator=spec(DCCRN, **TINY))
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
    metrics = trainer.validate(task, loader, verbose=False)[0]
    expected = si_sdr(items[0]["noisy"], items[0]["clean"]).add(si_sdr(items[1]["noisy"], items[1]["clean"])).item() / 2
    assert abs(metrics["val/noisy_si_sdr"] - expected) < 1e-3


def test_pesq_is_nan_where_pesq_finds_no_utterance(clean_speech):
    """pesq's "no utterances" is a RuntimeError (PesqError): one silent clip must not stop a batch."""
    silent = torch.zeros_like(clean_speech)
    scores = pesq_wb(torch.cat([clean_speech, silent]), torch.cat([clean_speech, silent]), 16000)
    assert scores[0] > 4.0 and torch.isnan(scores[1])

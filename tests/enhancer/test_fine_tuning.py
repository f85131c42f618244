"""EnhancerTask options added for the real-speech model: the plain-SNR term and fine-tuning
from exported weights."""

from __future__ import annotations

import pytest
import torch

from common.errors import InputError
from common.export import save_module, spec
from enhancer.dccrn import DCCRN
from enhancer.discriminator import MetricDiscriminator
from enhancer.pretrained import flip_polarity, output_polarity
from enhancer.task import EnhancerTask

TINY = {"channels": [2, 4, 4, 8, 8, 8], "lstm_hidden": 8, "lstm_layers": 1}


def _export(model: DCCRN, path) -> None:
    save_module(path, model, model.config)


def test_init_weights_load_the_exported_generator_with_positive_polarity(tmp_path):
    torch.manual_seed(0)
    source = DCCRN(**TINY)
    if output_polarity(source) > 0:
        flip_polarity(source)  # an inverted model, like dccrn_demo.pt
    _export(source, tmp_path / "inverted.pt")
    task = EnhancerTask(generator=spec(DCCRN, **TINY), snr_weight=0.1, init_weights=str(tmp_path / "inverted.pt"))
    assert output_polarity(task.generator) == pytest.approx(-output_polarity(source), abs=1e-5)
    flipped = flip_polarity(task.generator)
    assert all(torch.equal(a, b) for a, b in zip(flipped.state_dict().values(), source.state_dict().values()))


def test_init_weights_of_another_architecture_are_refused(tmp_path):
    _export(DCCRN(**{**TINY, "lstm_hidden": 4}), tmp_path / "other.pt")
    with pytest.raises(InputError, match="architecture"):
        EnhancerTask(generator=spec(DCCRN, **TINY), init_weights=str(tmp_path / "other.pt"))


def test_snr_term_is_logged_and_trains(tmp_path):
    import lightning.pytorch as pl

    from datamodules.demo import DemoSpeechDataModule

    torch.manual_seed(0)
    task = EnhancerTask(generator=spec(DCCRN, **TINY), discriminator=spec(MetricDiscriminator, channels=4, hidden=[8, 4]), snr_weight=0.5, scored_items=1)
    trainer = pl.Trainer(max_steps=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
    trainer.fit(task, DemoSpeechDataModule(segment_seconds=0.5, num_train=2, num_val=1, batch_size=2))
    assert "train/snr" in trainer.callback_metrics

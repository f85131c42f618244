"""Personalised DCCRN: shapes, causality, identity start from a blind model, and training on
batches that carry an enrollment."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch

from common.errors import InputError
from common.export import load_module, save_module, spec
from datamodules.real_speech import DominantTalkerDataModule
from enhancer.dccrn import DCCRN
from enhancer.personal import PersonalDCCRN
from enhancer.pretrained import enhance_waveform, flip_polarity, output_polarity
from enhancer.task import EnhancerTask

TINY = {"channels": [2, 4, 4, 8, 8, 8], "lstm_hidden": 8, "lstm_layers": 1}
CONDITIONING = {"embedding_dim": 8, "encoder_channels": 8, "n_mels": 16}


def _personal(**overrides) -> PersonalDCCRN:
    return PersonalDCCRN(**TINY, **CONDITIONING, **overrides)


def _randomise_film(model: PersonalDCCRN) -> PersonalDCCRN:
    with torch.no_grad():
        for layer in model.film:
            layer.weight.normal_(0, 0.5)
            layer.bias.normal_(0, 0.5)
    return model


def test_shapes_and_enrollment_layouts():
    torch.manual_seed(0)
    model = _randomise_film(_personal()).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1234), torch.randn(3, 8000)).shape == (3, 1234)
        assert model(torch.randn(2, 1, 999), torch.randn(2, 1, 4000)).shape == (2, 1, 999)
        shared = model(torch.randn(2, 1600), torch.randn(1, 4000))  # one enrollment for the batch
        assert shared.shape == (2, 1600)
        assert model.enrollment_encoder(torch.randn(3, 4000)).norm(dim=-1).sub(1).abs().max() < 1e-5


def test_enhanced_path_is_causal_for_a_fixed_enrollment():
    torch.manual_seed(0)
    model = _randomise_film(_personal(normalise_input=False)).eval()
    x, enrollment = torch.randn(1, 6000), torch.randn(1, 8000)
    changed = x.clone()
    changed[:, 4000:] += torch.randn(1, 2000)
    with torch.no_grad():
        difference = (model(x, enrollment) - model(changed, enrollment)).abs()[0]
    assert difference[: 4000 - model.stft.win_length].max() == 0
    assert difference[4000:].max() > 0


def test_identity_start_reproduces_the_blind_model_exactly():
    torch.manual_seed(0)
    blind = DCCRN(**TINY).eval()
    model = _personal().eval()
    model.load_blind_state_dict(blind.state_dict())
    x = torch.randn(2, 3000)
    with torch.no_grad():
        expected = blind(x)
        assert torch.equal(model(x, torch.randn(2, 6000)), expected)
        assert torch.equal(model(x), expected)
    with pytest.raises(ValueError, match="architecture"):
        _personal().load_blind_state_dict(DCCRN(**{**TINY, "lstm_hidden": 4}).state_dict())


def test_export_round_trip_and_enhance_waveform_takes_the_enrollment(tmp_path):
    torch.manual_seed(0)
    model = _randomise_film(_personal()).eval()
    save_module(tmp_path / "personal.pt", model, model.config)
    loaded, _ = load_module(tmp_path / "personal.pt", DCCRN)
    wave, enrollment = torch.randn(2, 8000) * 0.1, torch.randn(12000) * 0.1
    out = enhance_waveform(loaded, wave, 8000, enrollment=enrollment)
    assert isinstance(loaded, PersonalDCCRN) and out.shape == wave.shape
    assert not torch.equal(out, enhance_waveform(loaded, wave, 8000))
    with pytest.raises(InputError, match="personalised"):
        enhance_waveform(DCCRN(**TINY).eval(), wave, 8000, enrollment=enrollment)


def test_task_starts_from_blind_weights_and_a_training_step_makes_the_enrollment_matter(tmp_path, real_speech_corpus):
    torch.manual_seed(0)
    blind = DCCRN(**TINY).eval()
    if output_polarity(blind) < 0:
        flip_polarity(blind)  # else fine-tuning starts from the flipped model
    save_module(tmp_path / "blind.pt", blind, blind.config)
    task = EnhancerTask(generator=spec(PersonalDCCRN, **TINY, **CONDITIONING), adversarial_weight=0.0, init_weights=str(tmp_path / "blind.pt"),
                        optimizer=spec(torch.optim.Adam, lr=1e-3), conditioning_lr=1e-2)
    x, first = torch.randn(1, 4000) * 0.1, torch.randn(1, 8000)  # white noise, and a low hum: different spectra
    second = torch.sin(2 * torch.pi * 150 * torch.arange(8000) / 16000)[None] + 0.01 * torch.randn(1, 8000)
    with torch.no_grad():
        task.eval()
        start = task(x, first)
        assert torch.equal(start, task(x, second))
        assert torch.equal(start, blind(x))
    task.train()
    data = DominantTalkerDataModule(root=str(real_speech_corpus), segment_seconds=0.5, num_train=4, num_val=2, enrollment_seconds=0.5, batch_size=2)
    trainer = pl.Trainer(max_steps=2, limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
    trainer.fit(task, data)
    backbone, conditioning = trainer.optimizers[0].param_groups
    assert (backbone["lr"], conditioning["lr"]) == (1e-3, 1e-2)
    assert sum(p.numel() for p in conditioning["params"]) == sum(
        p.numel() for m in (task.generator.enrollment_encoder, task.generator.film) for p in m.parameters())
    with torch.no_grad():
        task.eval()
        assert (task(x, first) - task(x, second)).abs().max() > 1e-6  # exactly 0 before the step

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pystoi import stoi as pystoi_stoi

from datamodules.mixing import scale_to_snr
from datamodules.synthetic import synthesise_noise
from enhancer.losses import (
    DifferentiableSTOI,
    LeakageLoss,
    NegativeSISDR,
    OverSuppressionLoss,
    PerceptualPesqLoss,
    adversarial_generator_loss,
    metric_regression_loss,
)


def test_negative_si_sdr_orders_signals(clean_speech, noisy_speech):
    loss = NegativeSISDR()
    assert loss(clean_speech, clean_speech) < -40
    assert loss(3.0 * clean_speech, clean_speech) < -40  # scale invariant
    assert loss(noisy_speech[20.0], clean_speech) < loss(noisy_speech[0.0], clean_speech)
    assert abs(loss(noisy_speech[10.0], clean_speech).item() + 10.0) < 0.5


def test_pesq_loss_is_lower_for_cleaner_audio_and_differentiable(clean_speech, noisy_speech):
    loss = PerceptualPesqLoss(factor=1.0, sample_rate=16000)
    values = [loss(noisy_speech[snr], clean_speech).item() for snr in (0.0, 10.0, 20.0)]
    assert values[0] > values[1] > values[2] > loss(clean_speech, clean_speech).item() - 1e-6
    mos = loss.mos(torch.cat([clean_speech, noisy_speech[0.0]]), torch.cat([clean_speech, clean_speech]))
    assert mos[0] > 4.0 and mos[1] < mos[0]
    estimate = noisy_speech[10.0].clone().requires_grad_(True)
    loss(estimate, clean_speech).backward()
    assert torch.isfinite(estimate.grad).all() and estimate.grad.abs().sum() > 0


def test_pesq_loss_ignores_silent_references(clean_speech):
    loss = PerceptualPesqLoss()
    references = torch.cat([clean_speech, torch.zeros_like(clean_speech)])
    estimates = torch.cat([clean_speech, clean_speech])
    assert torch.isfinite(loss(estimates, references))
    assert math.isnan(loss.mos(estimates, references)[1].item())


def test_adversarial_losses():
    predicted = torch.tensor([[1.0, 1.0], [0.5, 0.0]])
    assert adversarial_generator_loss(predicted[:1]) == 0
    assert torch.isclose(adversarial_generator_loss(predicted), torch.tensor((0.25 + 1.0) / 4))
    target = torch.tensor([[1.0, float("nan")], [0.5, 0.5]])
    assert torch.isclose(metric_regression_loss(predicted, target), torch.tensor(0.25 / 3))
    assert metric_regression_loss(predicted, torch.full_like(target, float("nan"))) == 0


@pytest.mark.parametrize("extended", [False, True])
def test_differentiable_stoi_tracks_pystoi(clean_speech, extended):
    """Noisy and attenuated versions of one utterance: the torch measure follows pystoi's values
    (correlation, not identity: it skips the overlap-add and resamples differently)."""
    clean = clean_speech[0]
    noise = torch.from_numpy(synthesise_noise(np.random.default_rng(3), clean.shape[-1]))
    estimates = [clean + scale_to_snr(clean, noise, snr) for snr in (-10.0, -5.0, 0.0, 5.0, 15.0)]
    estimates.append(clean * torch.linspace(0.1, 1.0, clean.shape[-1]) + scale_to_snr(clean, noise, 5.0))
    estimates = torch.stack(estimates)
    references = clean.expand_as(estimates)
    ours = DifferentiableSTOI(16000, extended=extended).score(estimates, references).numpy()
    theirs = np.array([pystoi_stoi(clean.numpy(), e.numpy(), 16000, extended=extended) for e in estimates])
    assert np.corrcoef(ours, theirs)[0, 1] > 0.99
    assert np.abs(ours - theirs).max() < 0.05
    assert float(DifferentiableSTOI(16000, extended=extended).score(clean[None], clean[None])) > 0.99


def test_differentiable_stoi_loss_has_gradients_and_skips_short_items(clean_speech, noisy_speech):
    loss = DifferentiableSTOI(16000)
    estimate = noisy_speech[0.0].clone().requires_grad_(True)
    value = loss(estimate, clean_speech)
    value.backward()
    assert 0.0 < float(value) < 1.0 and torch.isfinite(estimate.grad).all() and estimate.grad.abs().sum() > 0
    short = torch.randn(2, 1, 3000)  # fewer than 30 frames at 10 kHz
    assert torch.isnan(loss.score(short, short)).all()
    assert float(loss(short, short)) == 0.0
    assert loss(noisy_speech[20.0], clean_speech) < loss(noisy_speech[0.0], clean_speech)


def test_over_suppression_penalises_removed_speech_only(clean_speech, noisy_speech):
    loss = OverSuppressionLoss()
    assert float(loss(clean_speech, clean_speech)) < 1e-6
    assert float(loss(2.0 * clean_speech, clean_speech)) < 1e-6  # too loud is not over-suppression
    halved, tenth = float(loss(0.5 * clean_speech, clean_speech)), float(loss(0.1 * clean_speech, clean_speech))
    assert 0.0 < halved < tenth < 1.0
    estimate = (0.3 * clean_speech).requires_grad_(True)
    loss(estimate, clean_speech).backward()
    assert torch.isfinite(estimate.grad).all() and estimate.grad.abs().sum() > 0


def test_leakage_penalises_added_energy_only(clean_speech, noisy_speech):
    loss = LeakageLoss()
    assert float(loss(clean_speech, clean_speech)) < 1e-6
    assert float(loss(0.3 * clean_speech, clean_speech)) < 1e-6  # too quiet is over-suppression, not leakage
    assert 0.0 < float(loss(noisy_speech[20.0], clean_speech)) < float(loss(noisy_speech[0.0], clean_speech))
    estimate = noisy_speech[10.0].clone().requires_grad_(True)
    loss(estimate, clean_speech).backward()
    assert torch.isfinite(estimate.grad).all() and estimate.grad.abs().sum() > 0


def test_leakage_weighs_quiet_interference_in_pauses(clean_speech):
    """Interference 30 dB down where the target pauses costs a sizeable share of the same
    interference at full level (compression), where SI-SDR is nearly perfect."""
    pause = torch.zeros_like(clean_speech)
    pause[..., : pause.shape[-1] // 4] = 1.0
    target = clean_speech * (1 - pause)
    interference = torch.randn_like(clean_speech) * clean_speech.std() * pause
    loud, quiet = (float(LeakageLoss()(target + level * interference, target)) for level in (1.0, 10 ** (-30 / 20)))
    assert NegativeSISDR()(target + 10 ** (-30 / 20) * interference, target) < -25
    assert quiet > 0.05 * loud > 0

from __future__ import annotations

import math

import torch

from enhancer.losses import NegativeSISDR, PerceptualPesqLoss, adversarial_generator_loss, metric_regression_loss


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

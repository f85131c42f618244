from __future__ import annotations

import torch

from enhancer.discriminator import MetricDiscriminator


def test_two_heads_for_pesq_and_stoi_on_any_length():
    torch.manual_seed(0)
    discriminator = MetricDiscriminator()
    for length in (300, 16000):
        scores = discriminator(torch.randn(3, 1, length), torch.randn(3, length))
        assert scores.shape == (3, 2)
    assert discriminator.metrics == ("pesq", "stoi")


def test_metricgan_plus_layout_with_spectral_norm():
    discriminator = MetricDiscriminator()
    convs = [m for m in discriminator.convs if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in discriminator.head if isinstance(m, torch.nn.Linear)]
    assert [c.out_channels for c in convs] == [15] * 4 and convs[0].in_channels == 2
    assert all(c.kernel_size == (5, 5) for c in convs)
    assert [(l.in_features, l.out_features) for l in linears] == [(15, 50), (50, 10), (10, 2)]
    assert all(hasattr(m, "parametrizations") for m in convs + linears)


def test_bounded_outputs_and_gradients():
    torch.manual_seed(0)
    discriminator = MetricDiscriminator(metrics=["pesq"], bounded=True)
    estimate = torch.randn(2, 4000, requires_grad=True)
    scores = discriminator(estimate, torch.randn(2, 4000))
    assert scores.shape == (2, 1) and ((scores > 0) & (scores < 1)).all()
    scores.sum().backward()
    assert estimate.grad is not None and estimate.grad.abs().sum() > 0

from __future__ import annotations

import pytest
import torch

from enhancer.scores import MetricScorer


def test_clean_scores_about_one_and_noisy_lower(clean_speech, noisy_speech):
    scorer = MetricScorer(("pesq", "stoi"))
    scores = scorer(torch.cat([clean_speech, noisy_speech[0.0]]), torch.cat([clean_speech, clean_speech]))
    assert scores.shape == (2, 2) and scores.dtype == torch.float32
    assert torch.allclose(scores[0], torch.ones(2), atol=0.05)
    assert (scores[1] < scores[0] - 0.05).all()


def test_silent_and_non_finite_items_get_nan(clean_speech):
    scorer = MetricScorer(("stoi", "pesq"))
    estimates = torch.cat([clean_speech, torch.full_like(clean_speech, float("nan"))])
    references = torch.cat([torch.zeros_like(clean_speech), clean_speech])
    assert torch.isnan(scorer(estimates, references)).all()


@pytest.mark.slow  # spawning a worker that imports torch takes ~15 s on the shared 2-core machine
def test_process_pool_matches_serial_scores_and_other_rates(clean_speech, noisy_speech):
    references = torch.cat([clean_speech, clean_speech]).unsqueeze(1)
    estimates = torch.stack([noisy_speech[10.0], noisy_speech[20.0]])
    serial = MetricScorer(("pesq",))(estimates, references)
    pooled = MetricScorer(("pesq",), num_workers=1)
    try:
        assert torch.allclose(pooled(estimates, references), serial)
    finally:
        pooled.close()


def test_other_sample_rates_are_resampled_for_pesq(clean_speech, noisy_speech):
    scores = MetricScorer(("pesq", "stoi"), sample_rate=8000)(noisy_speech[20.0][:, ::2], clean_speech[:, ::2])
    assert not torch.isnan(scores).any() and (scores < 1.0).all()

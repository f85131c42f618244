from __future__ import annotations

import numpy as np
import pytest
import torch

from datamodules.mixing import scale_to_snr
from datamodules.synthetic import synthesise_noise, synthesise_speech


@pytest.fixture(scope="session")
def clean_speech() -> torch.Tensor:
    """Two seconds of synthesised speech at 16 kHz, ``(1, 32000)``."""
    return torch.from_numpy(synthesise_speech(np.random.default_rng(1), 32000)).unsqueeze(0)


@pytest.fixture(scope="session")
def noisy_speech(clean_speech) -> dict[float, torch.Tensor]:
    """``clean_speech`` plus noise at 0, 10 and 20 dB SNR, keyed by SNR."""
    noise = torch.from_numpy(synthesise_noise(np.random.default_rng(2), clean_speech.shape[-1])).unsqueeze(0)
    return {snr: clean_speech + scale_to_snr(clean_speech, noise, snr) for snr in (0.0, 10.0, 20.0)}

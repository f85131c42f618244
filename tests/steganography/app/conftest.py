"""Fixtures shared by the application's tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def _speech_like(seconds: float, sample_rate: int = 16000, channels: int | None = None) -> np.ndarray:
    """A vowel-like harmonic signal with a slow envelope: float32 ``(samples,)``, or
    ``(samples, channels)`` with ``channels``."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 8)) * (0.3 + 0.2 * np.sin(2 * np.pi * 3 * t))
    wave = (0.2 * wave).astype(np.float32)
    return wave if channels is None else np.repeat(wave[:, None], channels, axis=1)


@pytest.fixture(scope="session")
def speech_like() -> Callable[..., np.ndarray]:
    """``speech_like(seconds, sample_rate=16000, channels=None)``: a speech-like test signal."""
    return _speech_like

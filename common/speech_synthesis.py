"""Speech-like audio synthesis: glottal pulses through moving vowel formants, fricatives, pauses.

A pure function of a numpy ``Generator``: the demo datamodules use it as embedded speech data and
the payload codecs use it to measure encoded sizes, so it lives at the bottom layer.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from common.settings import SPEECH_SAMPLE_RATE

# Formant targets (F1, F2, F3 in Hz) of an adult male voice for a few vowels.
VOWEL_FORMANTS = np.array(
    [
        [730, 1090, 2440],  # a
        [270, 2290, 3010],  # i
        [300, 870, 2240],  # u
        [530, 1840, 2480],  # e
        [570, 840, 2410],  # o
        [660, 1720, 2410],  # ae
        [490, 1350, 1690],  # er
    ],
    dtype=np.float64,
)
FORMANT_BANDWIDTHS = np.array([80.0, 100.0, 140.0, 200.0, 250.0])
HIGH_FORMANTS = np.array([3300.0, 3750.0])
BLOCK_SECONDS = 0.005


def _resonator(frequency: float, bandwidth: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Second-order resonator (unit gain at DC) for one formant."""
    radius = np.exp(-np.pi * bandwidth / sample_rate)
    theta = 2 * np.pi * frequency / sample_rate
    denominator = np.array([1.0, -2 * radius * np.cos(theta), radius**2])
    return np.array([denominator.sum()]), denominator


def _formant_filter(
    source: np.ndarray, formants: np.ndarray, sample_rate: int
) -> np.ndarray:
    """Cascade of time-varying formant resonators; ``formants`` is ``(blocks, n_formants)``."""
    block = int(BLOCK_SECONDS * sample_rate)
    output = source.copy()
    for index in range(formants.shape[1]):
        state = np.zeros(2)
        bandwidth = FORMANT_BANDWIDTHS[index]
        for b, start in enumerate(range(0, len(output), block)):
            frequency = min(formants[min(b, len(formants) - 1), index], 0.45 * sample_rate)
            numerator, denominator = _resonator(frequency, bandwidth, sample_rate)
            output[start : start + block], state = signal.lfilter(
                numerator, denominator, output[start : start + block], zi=state
            )
    return output


def synthesise_speech(
    rng: np.random.Generator,
    num_samples: int,
    sample_rate: int = SPEECH_SAMPLE_RATE,
    f0_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Speech-like audio: voiced syllables (glottal pulses through moving vowel formants),
    fricatives and pauses, for a random speaker. Returns float32 ``(num_samples,)``, peak 0.5.

    Args:
        rng: random generator; the same state gives the same utterance.
        num_samples: output length.
        sample_rate: sampling rate in Hz.
        f0_range: pitch range of the speaker; drawn at random (male to child) when ``None``.
    """
    tract_scale = rng.uniform(0.95, 1.3)
    if f0_range is None:
        low = rng.uniform(80, 200)
        f0_range = (low, low * rng.uniform(1.3, 1.8))
    block = int(BLOCK_SECONDS * sample_rate)
    num_blocks = num_samples // block + 1
    f0 = np.empty(num_blocks)
    formants = np.empty((num_blocks, 5))
    voiced = np.zeros(num_blocks)
    frication = np.zeros(num_blocks)
    position = int(rng.integers(0, 20))
    while position < num_blocks:
        if rng.random() < 0.35:  # fricative onset
            length = int(rng.integers(12, 30))
            frication[position : position + length] = np.hanning(length)[: num_blocks - position]
            position += length // 2
            if position >= num_blocks:
                break
        length = int(rng.integers(24, 60))
        start_vowel, end_vowel = VOWEL_FORMANTS[rng.integers(0, len(VOWEL_FORMANTS), size=2)]
        glide = np.linspace(0, 1, length)[:, None]
        segment = slice(position, min(position + length, num_blocks))
        count = segment.stop - segment.start
        formants[segment, :3] = (tract_scale * (start_vowel * (1 - glide) + end_vowel * glide))[:count]
        formants[segment, 3:] = tract_scale * HIGH_FORMANTS
        contour = np.linspace(rng.uniform(*f0_range), rng.uniform(*f0_range), length)
        f0[segment] = contour[:count]
        voiced[segment] = np.hanning(length + 8)[4:-4][:count]
        position += length + (int(rng.integers(10, 50)) if rng.random() < 0.3 else 0)
    unset = voiced == 0
    formants[unset] = tract_scale * np.r_[VOWEL_FORMANTS[0], HIGH_FORMANTS]
    f0[unset] = f0_range[0]

    per_sample = lambda blocks: np.repeat(blocks, block)[:num_samples]  # noqa: E731
    jitter = 1 + 0.01 * rng.standard_normal(num_samples)
    phase = np.cumsum(per_sample(f0) * jitter / sample_rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    glottal = signal.lfilter([1.0, -1.0], [1.0, -1.94, 0.9409], pulses)
    aspiration = 0.02 * rng.standard_normal(num_samples)
    excitation = (glottal + aspiration) * per_sample(voiced)
    speech = _formant_filter(excitation, formants, sample_rate)

    hiss = signal.lfilter(*signal.butter(4, rng.uniform(2500, 0.4 * sample_rate) / (sample_rate / 2), "high"), rng.standard_normal(num_samples))
    speech = speech / max(np.abs(speech).max(), 1e-8) + 0.3 * hiss * per_sample(frication)
    return (0.5 * speech / max(np.abs(speech).max(), 1e-8)).astype(np.float32)

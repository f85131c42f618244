"""Procedural content for the embedded demo data: natural-looking images and speech-like audio.

Everything is a pure function of a numpy ``Generator``, so an item is fully determined by its
seed and needs no download.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import signal

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


def fractal_noise(
    rng: np.random.Generator, height: int, width: int, octaves: int | None = None
) -> np.ndarray:
    """Cloud-like 1/f noise in [0, 1] of shape ``(height, width)``, detailed down to ~2 pixels
    unless ``octaves`` limits it."""
    if octaves is None:
        octaves = max(1, int(np.log2(min(height, width))) - 1)
    total = np.zeros((height, width), dtype=np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = 2 ** (octave + 1)
        coarse = rng.random((cells, cells)).astype(np.float32)
        layer = Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC)
        total += amplitude * np.asarray(layer)
        weight += amplitude
        amplitude *= 0.6
    total /= weight
    return (total - total.min()) / max(float(total.max() - total.min()), 1e-6)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


def procedural_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A natural-looking RGB scene ``(height, width, 3)`` uint8: textured gradient sky/ground,
    textured shapes with soft and hard edges, and sensor-like grain."""
    noise = fractal_noise(rng, height, width)[..., None]
    top, bottom = _random_colour(rng), _random_colour(rng)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    base = top * (1 - ramp) + bottom * ramp
    texture_colour = _random_colour(rng)
    strength = rng.uniform(0.2, 0.7)
    canvas = base * (1 - strength * noise) + texture_colour * strength * noise
    image = Image.fromarray(canvas.clip(0, 255).astype(np.uint8), mode="RGB")

    for _ in range(int(rng.integers(3, 12))):
        layer = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(layer)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.05, 0.35) * width, rng.uniform(0.05, 0.35) * height
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
        elif kind == 1:
            draw.rectangle((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
        else:
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
            points = [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]
            draw.polygon(points, fill=255)
        if rng.random() < 0.5:
            layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 4.0)))
        shape_texture = fractal_noise(rng, height, width, octaves=4)[..., None]
        colour = _random_colour(rng)
        fill = colour * (0.75 + 0.5 * (shape_texture - 0.5))
        fill_image = Image.fromarray(fill.clip(0, 255).astype(np.uint8), mode="RGB")
        image = Image.composite(fill_image, image, layer)

    array = np.asarray(image, dtype=np.float32)
    array += rng.normal(0.0, rng.uniform(0.5, 4.0), size=array.shape)
    return array.clip(0, 255).round().astype(np.uint8)


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
    sample_rate: int = 16000,
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


def coloured_noise(rng: np.random.Generator, num_samples: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ∝ 1/f^exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    frequencies = np.fft.rfftfreq(num_samples)
    frequencies[0] = frequencies[1]
    noise = np.fft.irfft(spectrum / frequencies ** (exponent / 2), n=num_samples)
    return (noise / max(noise.std(), 1e-8)).astype(np.float32)


def synthesise_noise(rng: np.random.Generator, num_samples: int, sample_rate: int = 16000) -> np.ndarray:
    """A random background noise (coloured, babble, hum or modulated machine noise), unit RMS."""
    kind = rng.integers(0, 4)
    if kind == 0:
        noise = coloured_noise(rng, num_samples, rng.uniform(0.0, 2.0))
    elif kind == 1:
        noise = sum(synthesise_speech(rng, num_samples, sample_rate) for _ in range(int(rng.integers(4, 8))))
    elif kind == 2:
        t = np.arange(num_samples) / sample_rate
        mains = rng.choice([50.0, 60.0])
        noise = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 8))
        noise = noise + 0.3 * coloured_noise(rng, num_samples, 1.0)
    else:
        t = np.arange(num_samples) / sample_rate
        modulation = 1 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.5, 8.0) * t)
        band = signal.butter(2, sorted(rng.uniform(100, 0.45 * sample_rate, 2)), "band", fs=sample_rate)
        noise = modulation * signal.lfilter(*band, coloured_noise(rng, num_samples, 0.0))
    noise = np.asarray(noise, dtype=np.float64)
    return (noise / max(noise.std(), 1e-8)).astype(np.float32)

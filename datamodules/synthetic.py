"""Procedural content for the embedded demo data: natural-looking images and speech-like audio.

Everything is a pure function of a numpy ``Generator``, so an item is fully determined by its
seed and needs no download.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import signal

from common.speech_synthesis import synthesise_speech


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



def textured_cover(seed: int, height: int = 256, width: int = 256) -> Image.Image:
    """A natural-looking RGB cover for tests and benchmarks: gradients, a periodic texture, grain
    and a hard-edged patch, a pure function of ``seed``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = rng.uniform(60, 190, 3) + 50 * (x[..., None] * rng.uniform(-1, 1, 3) + y[..., None] * rng.uniform(-1, 1, 3))
    image += 18 * np.sin(2 * np.pi * (rng.uniform(2, 12) * x + rng.uniform(2, 12) * y))[..., None]
    image += rng.normal(0.0, 5.0, image.shape)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    image[top : top + height // 3, left : left + width // 3] = rng.uniform(20, 235, 3)
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))

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

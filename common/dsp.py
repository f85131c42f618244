"""Differentiable, batched signal transforms on plain torch (CPU and CUDA).

Shapes: waveforms are ``(..., samples)``; STFTs are complex ``(..., freqs, frames)``; STDCTs
are real ``(..., coefficients, frames)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

WINDOWS = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "sqrt_hann": lambda n, **kw: torch.hann_window(n, **kw).sqrt(),
}


def make_window(name: str, length: int) -> torch.Tensor:
    """Periodic window of ``length`` samples by name (``hann``, ``hamming``, ``sqrt_hann``)."""
    if name not in WINDOWS:
        raise ValueError(f"unknown window {name!r}; choose from {sorted(WINDOWS)}")
    return WINDOWS[name](length, periodic=True)


def _flatten_batch(x: torch.Tensor, keep: int) -> tuple[torch.Tensor, torch.Size]:
    """Reshape to ``(batch, *last keep dims)`` and return the leading shape to restore."""
    lead = x.shape[: x.dim() - keep]
    return x.reshape(-1, *x.shape[x.dim() - keep :]), lead


class STFT(nn.Module):
    """Short-time Fourier transform and its exact inverse (``torch.stft``/``torch.istft``).

    Args:
        n_fft: FFT size.
        hop_length: frame hop in samples.
        win_length: window length (``<= n_fft``), zero-padded to ``n_fft``.
        window: window name, see :func:`make_window`.
        center: pad so that frame ``t`` is centred on sample ``t * hop_length``.
    """

    def __init__(
        self,
        n_fft: int = 512,
        hop_length: int = 100,
        win_length: int = 400,
        window: str = "hann",
        center: bool = True,
    ) -> None:
        super().__init__()
        if win_length > n_fft:
            raise ValueError("win_length must not exceed n_fft")
        self.n_fft, self.hop_length, self.win_length, self.center = n_fft, hop_length, win_length, center
        self.register_buffer("window", make_window(window, win_length), persistent=False)

    @property
    def n_freqs(self) -> int:
        """Number of one-sided frequency bins."""
        return self.n_fft // 2 + 1

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Complex spectrum ``(..., n_freqs, frames)`` of ``wave`` ``(..., samples)``."""
        flat, lead = _flatten_batch(wave, 1)
        spec = torch.stft(
            flat,
            self.n_fft,
            self.hop_length,
            self.win_length,
            self.window.to(flat.dtype),
            center=self.center,
            return_complex=True,
        )
        return spec.reshape(*lead, *spec.shape[-2:])

    def inverse(self, spec: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Waveform ``(..., length)`` from a complex spectrum ``(..., n_freqs, frames)``."""
        flat, lead = _flatten_batch(spec, 2)
        wave = torch.istft(
            flat,
            self.n_fft,
            self.hop_length,
            self.win_length,
            self.window.to(flat.real.dtype),
            center=self.center,
            length=length,
        )
        return wave.reshape(*lead, wave.shape[-1])


def dct(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last dimension, in O(N log N) via the FFT (Makhoul 1980)."""
    n = x.shape[-1]
    reordered = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    spectrum = torch.fft.fft(reordered, dim=-1)
    k = torch.arange(n, device=x.device, dtype=x.dtype)
    twiddle = torch.polar(torch.ones_like(k), -math.pi * k / (2 * n))
    out = (spectrum * twiddle).real * math.sqrt(2.0 / n)
    return torch.cat([out[..., :1] / math.sqrt(2.0), out[..., 1:]], dim=-1)


def idct(coefficients: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct` (orthonormal DCT-III) along the last dimension."""
    n = coefficients.shape[-1]
    scaled = torch.cat([coefficients[..., :1] * math.sqrt(2.0), coefficients[..., 1:]], dim=-1)
    scaled = scaled * math.sqrt(n / 2.0)
    k = torch.arange(n, device=coefficients.device, dtype=coefficients.dtype)
    twiddle = torch.polar(torch.ones_like(k), math.pi * k / (2 * n))
    # Hermitian extension of V_k = (C_k - i C_{N-k}) e^{i pi k / 2N}, with C_N = 0.
    mirrored = torch.cat([torch.zeros_like(scaled[..., :1]), scaled[..., 1:].flip(-1)], dim=-1)
    spectrum = torch.complex(scaled, -mirrored) * twiddle
    reordered = torch.fft.ifft(spectrum, dim=-1).real
    out = torch.empty_like(reordered)
    half = (n + 1) // 2
    out[..., ::2] = reordered[..., :half]
    out[..., 1::2] = reordered[..., half:].flip(-1)
    return out


class STDCT(nn.Module):
    """Short-time DCT as in PixInWav: windowed frames, orthonormal DCT-II per frame.

    The inverse applies the IDCT, overlap-adds the (still windowed) frames and divides by the
    overlap-added window, which reconstructs the input exactly wherever the window sum is
    non-zero (everywhere for a Hamming window).

    Args:
        frame_length: samples per frame (= DCT size = number of coefficients).
        hop_length: frame hop in samples.
        window: window name, see :func:`make_window`.
    """

    def __init__(self, frame_length: int = 4096, hop_length: int = 62, window: str = "hamming") -> None:
        super().__init__()
        if hop_length > frame_length:
            raise ValueError("hop_length must not exceed frame_length (samples would be dropped)")
        self.frame_length, self.hop_length = frame_length, hop_length
        self.register_buffer("window", make_window(window, frame_length), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` (the tail is zero-padded to a whole hop)."""
        if num_samples <= self.frame_length:
            return 1
        return 1 + math.ceil((num_samples - self.frame_length) / self.hop_length)

    def num_samples(self, num_frames: int) -> int:
        """Samples covered by ``num_frames`` frames."""
        return (num_frames - 1) * self.hop_length + self.frame_length

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """STDCT ``(..., frame_length, frames)`` of ``wave`` ``(..., samples)``."""
        flat, lead = _flatten_batch(wave, 1)
        padding = self.num_samples(self.num_frames(flat.shape[-1])) - flat.shape[-1]
        frames = F.pad(flat, (0, padding)).unfold(-1, self.frame_length, self.hop_length)
        coefficients = dct(frames * self.window.to(flat.dtype)).transpose(-1, -2)
        return coefficients.reshape(*lead, *coefficients.shape[-2:])

    def inverse(self, coefficients: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Waveform ``(..., length)`` from STDCT coefficients ``(..., frame_length, frames)``."""
        flat, lead = _flatten_batch(coefficients, 2)
        num_frames = flat.shape[-1]
        total = self.num_samples(num_frames)
        frames = idct(flat.transpose(-1, -2))  # (batch, frames, frame_length), still windowed
        overlap_added = self._overlap_add(frames.transpose(-1, -2), total)
        window = self.window.to(flat.dtype).reshape(1, -1, 1).expand(1, -1, num_frames)
        window_sum = self._overlap_add(window, total)
        wave = overlap_added / window_sum.clamp_min(1e-8)
        if length is not None:
            wave = wave[..., :length]
        return wave.reshape(*lead, wave.shape[-1])

    def _overlap_add(self, columns: torch.Tensor, total: int) -> torch.Tensor:
        """Overlap-add ``(batch, frame_length, frames)`` columns into ``(batch, total)``."""
        folded = F.fold(
            columns,
            output_size=(1, total),
            kernel_size=(1, self.frame_length),
            stride=(1, self.hop_length),
        )
        return folded.reshape(columns.shape[0], total)

"""DCCRN: Deep Complex Convolution Recurrent Network (Hu et al., Interspeech 2020).

The default configuration is DCCRN-CL with the "E" mask (3.67M parameters at 16 kHz):
512-point FFT, 400-sample Hann window, hop 100; six complex encoders (16, 32, 64, 128, 128,
128 complex channels, kernel (5, 2), stride (2, 1), naive complex batch norm, PReLU); a
2-layer complex LSTM (128 complex units) with a complex linear projection back to the encoder
width; six mirrored complex transposed-convolution decoders fed with the skip connections;
a complex ratio mask whose magnitude is ``tanh``-bounded and whose phase is added.

Frequency bins: the 257 one-sided bins are cut to 256 so that six stride-2 encoders give
4 bins; the authors' code drops the DC bin (``cspecs[:, :, 1:]``) and pads it back with zero
after masking, which is the default here (``dropped_bin="dc"``; ``"nyquist"`` drops the top
bin instead).

Causality: every convolution is causal along time: the encoders pad one frame on the left
(kernel 2, stride 1), the decoders drop the transposed convolution's extra last frame, and
the LSTM is unidirectional, so output frame ``t`` only depends on input frames ``<= t``. The
algorithmic latency is therefore one STFT window (25 ms) with no look-ahead beyond it. Only
the optional input-level normalisation (``normalise_input``) uses the whole signal; disable
it for streaming.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from common.dsp import STFT
from common.export import exportable
from common.settings import SPEECH_SAMPLE_RATE
from enhancer.complex_nn import (
    ComplexBatchNorm2d,
    ComplexConv2d,
    ComplexConvTranspose2d,
    ComplexLSTM,
    complex_cat,
    complex_split,
)

PRESETS: dict[str, dict] = {
    "dccrn-cl": {},
    "small": {"channels": (16, 32, 32, 64, 64, 64), "lstm_hidden": 64},
    "tiny": {"channels": (4, 8, 8, 16, 16, 16), "lstm_hidden": 16, "lstm_layers": 1},
}


class EncoderBlock(nn.Sequential):
    """Causal complex convolution (kernel ``(kf, kt)``, stride ``(2, 1)``) + BN + PReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], batch_norm: bool) -> None:
        kf, kt = kernel_size
        super().__init__(
            nn.ZeroPad2d((kt - 1, 0, 0, 0)),  # (time left, time right, freq, freq): causal in time
            ComplexConv2d(in_channels, out_channels, kernel_size, (2, 1), (kf // 2, 0)),
            ComplexBatchNorm2d(out_channels) if batch_norm else nn.Identity(),
            nn.PReLU(),
        )


class DecoderBlock(nn.Module):
    """Causal complex transposed convolution doubling the bins (+ BN + PReLU unless last)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], batch_norm: bool, last: bool) -> None:
        super().__init__()
        kf, kt = kernel_size
        self.trim = kt - 1
        self.conv = ComplexConvTranspose2d(in_channels, out_channels, kernel_size, (2, 1), (kf // 2, 0), (1, 0))
        self.post = nn.Identity() if last else nn.Sequential(
            ComplexBatchNorm2d(out_channels) if batch_norm else nn.Identity(), nn.PReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.trim:
            y = y[..., : -self.trim]  # keep frames that only saw the present and the past
        return self.post(y)


@exportable
class DCCRN(nn.Module):
    """DCCRN speech enhancer: noisy waveform in, enhanced waveform out.

    Args:
        n_fft: FFT size (``n_fft // 2`` must be divisible by ``2 ** len(channels)``).
        win_length: analysis window length in samples.
        hop_length: frame hop in samples.
        window: window name (see :func:`common.dsp.make_window`).
        channels: complex channels of the encoders (decoders mirror them).
        kernel_size: convolution kernel ``(freq, time)``.
        lstm_hidden: complex hidden units of the complex LSTM.
        lstm_layers: stacked complex LSTM layers.
        batch_norm: naive complex batch norm after each convolution.
        dropped_bin: ``"dc"`` or ``"nyquist"``: the bin removed to get ``n_fft // 2`` bins.
        normalise_input: scale each input to unit RMS before the network and restore the level
            after it (makes the model level-invariant; not causal).
        sample_rate: the rate the model works at (metadata for callers).
    """

    def __init__(
        self,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 100,
        window: str = "hann",
        channels: tuple[int, ...] | list[int] = (16, 32, 64, 128, 128, 128),
        kernel_size: tuple[int, int] | list[int] = (5, 2),
        lstm_hidden: int = 128,
        lstm_layers: int = 2,
        batch_norm: bool = True,
        dropped_bin: str = "dc",
        normalise_input: bool = True,
        sample_rate: int = SPEECH_SAMPLE_RATE,
    ) -> None:
        super().__init__()
        channels, kernel_size = tuple(channels), tuple(kernel_size)
        bins = n_fft // 2
        if bins % (2 ** len(channels)):
            raise ValueError(f"n_fft // 2 = {bins} is not divisible by 2 ** {len(channels)} encoders")
        if dropped_bin not in ("dc", "nyquist"):
            raise ValueError("dropped_bin must be 'dc' or 'nyquist'")
        self.dropped_bin, self.normalise_input, self.sample_rate = dropped_bin, normalise_input, sample_rate
        self.config = {
            "n_fft": n_fft, "win_length": win_length, "hop_length": hop_length, "window": window,
            "channels": list(channels), "kernel_size": list(kernel_size), "lstm_hidden": lstm_hidden,
            "lstm_layers": lstm_layers, "batch_norm": batch_norm, "dropped_bin": dropped_bin,
            "normalise_input": normalise_input, "sample_rate": sample_rate,
        }  # constructor arguments, for exporting and rebuilding the model
        self.stft = STFT(n_fft, hop_length, win_length, window, center=True)

        widths = (1, *channels)
        self.encoders = nn.ModuleList(
            EncoderBlock(widths[i], widths[i + 1], kernel_size, batch_norm) for i in range(len(channels))
        )
        bottleneck_bins = bins // 2 ** len(channels)
        features = channels[-1] * bottleneck_bins
        self.lstm = ComplexLSTM(features, lstm_hidden, lstm_layers, projection_size=features)
        self.decoders = nn.ModuleList(
            DecoderBlock(2 * widths[i + 1], widths[i], kernel_size, batch_norm, last=i == 0)
            for i in reversed(range(len(channels)))
        )

    @classmethod
    def from_preset(cls, name: str, **overrides) -> DCCRN:
        """Build a preset (``dccrn-cl``, ``small``, ``tiny``), optionally overriding arguments."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Enhance ``wave`` of shape ``(B, L)`` or ``(B, 1, L)``; returns the same shape."""
        return self.enhance(wave)

    def enhance(self, wave: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """The waveform path of :meth:`forward`, with ``context`` passed on to :meth:`condition`."""
        if wave.dim() not in (2, 3) or (wave.dim() == 3 and wave.shape[1] != 1):
            raise ValueError(f"expected (B, L) or (B, 1, L), got {tuple(wave.shape)}")
        shape, length = wave.shape, wave.shape[-1]
        x = wave.reshape(shape[0], length)
        if self.normalise_input:
            level = x.pow(2).mean(dim=-1, keepdim=True).add(1e-10).sqrt()
            x = x / level
        # Zero-pad to whole hops, and beyond half an FFT (the STFT's reflect padding needs it).
        hop = self.stft.hop_length
        padded = max(length, self.stft.n_fft // 2 + 1)
        x = F.pad(x, (0, padded + (-padded) % hop - length))
        spec = self.stft(x)  # (B, F, T) complex
        mask = self.mask(spec, context)
        enhanced = self.stft.inverse(self.apply_mask(spec, mask), length=x.shape[-1])
        if self.normalise_input:
            enhanced = enhanced * level
        return enhanced[..., :length].reshape(shape)

    def _cut(self, spec: torch.Tensor) -> torch.Tensor:
        return spec[..., 1:, :] if self.dropped_bin == "dc" else spec[..., :-1, :]

    def _pad_back(self, spec: torch.Tensor) -> torch.Tensor:
        padding = (1, 0) if self.dropped_bin == "dc" else (0, 1)
        return F.pad(spec, (0, 0, *padding))

    def mask(self, spec: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Complex ratio mask ``(B, F, T)`` (unbounded; see :meth:`apply_mask`) for a complex
        spectrum ``(B, F, T)``; the dropped bin gets a zero mask. ``context`` goes to
        :meth:`condition`."""
        cut = self._cut(spec)
        x = torch.stack([cut.real, cut.imag], dim=1)  # (B, 2, F, T): 1 complex channel
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
        x = self.condition(x, context, 0)
        batch, width, bins, frames = x.shape
        real, imag = complex_split(x)  # (B, C, F', T) each
        sequence = torch.cat(
            [real.permute(0, 3, 1, 2).reshape(batch, frames, -1), imag.permute(0, 3, 1, 2).reshape(batch, frames, -1)],
            dim=-1,
        )
        sequence = self.lstm(sequence)
        real, imag = complex_split(sequence, dim=-1)
        half = width // 2
        x = torch.cat(
            [
                real.reshape(batch, frames, half, bins).permute(0, 2, 3, 1),
                imag.reshape(batch, frames, half, bins).permute(0, 2, 3, 1),
            ],
            dim=1,
        )
        x = self.condition(x, context, 1)
        for decoder, skip in zip(self.decoders, reversed(skips)):
            x = decoder(complex_cat([x, skip]))
        return self._pad_back(torch.complex(x[:, 0], x[:, 1]))

    def condition(self, features: torch.Tensor, context: torch.Tensor | None, position: int) -> torch.Tensor:
        """Bottleneck features ``(B, 2C, F', T)`` before (``position`` 0) and after (1) the
        complex LSTM, as the decoders get them: unchanged here; a conditioned variant
        (:class:`enhancer.personal.PersonalDCCRN`) modulates them with ``context``."""
        return features

    @staticmethod
    def apply_mask(spec: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """DCCRN-E masking: ``|S| tanh(|M|) * exp(i(angle S + angle M))``."""
        magnitude = mask.abs().clamp_min(1e-8)
        return spec * mask * (torch.tanh(magnitude) / magnitude)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def latency_seconds(self) -> float:
        """Algorithmic latency (one analysis window)."""
        return self.stft.win_length / self.sample_rate

    def extra_repr(self) -> str:
        return f"params={self.num_parameters() / 1e6:.2f}M, dropped_bin={self.dropped_bin!r}, latency={math.ceil(self.latency_seconds * 1000)} ms"

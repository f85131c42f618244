"""MetricGAN+ metric discriminator with one output head per metric (Fu et al. 2021).

The network predicts normalised quality scores of an estimate given its clean reference from
their two magnitude spectrograms: input batch norm, four spectrally normalised 5x5
convolutions with 15 channels and LeakyReLU(0.3), a global average pool, and spectrally
normalised linear layers 15 -> 50 -> 10 -> heads. The default heads are normalised WB-PESQ
``(pesq + 0.5) / 5`` and STOI, both in [0, 1] for clean-vs-clean = 1.

Outputs are linear by default, as in MetricGAN+ (the least-squares targets keep them near
[0, 1] and a linear output never saturates, so the generator always receives a gradient);
``bounded=True`` applies a sigmoid instead.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from common.dsp import STFT
from common.export import exportable


@exportable
class MetricDiscriminator(nn.Module):
    """Predicts ``len(metrics)`` normalised scores of ``estimate`` w.r.t. ``reference``.

    Args:
        metrics: names of the predicted scores (one head each), e.g. ``("pesq", "stoi")``.
        channels: channels of the convolutions.
        num_convs: number of 5x5 convolutions.
        kernel_size: convolution kernel size.
        hidden: widths of the hidden linear layers.
        negative_slope: LeakyReLU slope.
        bounded: squash the outputs with a sigmoid.
        n_fft: FFT size of the input spectrograms.
        hop_length: hop of the input spectrograms.
        win_length: window of the input spectrograms.
    """

    def __init__(
        self,
        metrics: tuple[str, ...] | list[str] = ("pesq", "stoi"),
        channels: int = 15,
        num_convs: int = 4,
        kernel_size: int = 5,
        hidden: tuple[int, ...] | list[int] = (50, 10),
        negative_slope: float = 0.3,
        bounded: bool = False,
        n_fft: int = 512,
        hop_length: int = 256,
        win_length: int = 512,
    ) -> None:
        super().__init__()
        self.metrics = tuple(metrics)
        self.stft = STFT(n_fft, hop_length, win_length, "hann", center=True)
        self.input_norm = nn.BatchNorm2d(2, momentum=0.01)
        layers: list[nn.Module] = []
        width = 2
        for _ in range(num_convs):
            layers += [spectral_norm(nn.Conv2d(width, channels, kernel_size, padding=kernel_size // 2)), nn.LeakyReLU(negative_slope)]
            width = channels
        self.convs = nn.Sequential(*layers)
        head: list[nn.Module] = []
        for size in hidden:
            head += [spectral_norm(nn.Linear(width, size)), nn.LeakyReLU(negative_slope)]
            width = size
        head.append(spectral_norm(nn.Linear(width, len(self.metrics))))
        if bounded:
            head.append(nn.Sigmoid())
        self.head = nn.Sequential(*head)

    def spectrogram(self, wave: torch.Tensor) -> torch.Tensor:
        """Magnitude spectrogram ``(B, F, T)`` of ``(B, L)`` or ``(B, 1, L)`` waveforms."""
        return self.stft(wave.reshape(wave.shape[0], -1)).abs()

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Scores ``(B, len(metrics))`` of waveforms ``estimate`` vs ``reference``."""
        x = torch.stack([self.spectrogram(estimate), self.spectrogram(reference)], dim=1)
        x = self.convs(self.input_norm(x))
        return self.head(x.mean(dim=(-2, -1)))

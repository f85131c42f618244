"""Losses of the enhancer: negative SI-SDR and SNR, a differentiable PESQ proxy (torch-pesq), a
differentiable STOI, the two sides of a compressed-magnitude gap (over-suppression, leakage) and the
MetricGAN+ least-squares adversarial losses."""

from __future__ import annotations

import torch
from torch import nn
from torch_pesq import PesqLoss
from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

from common.settings import SPEECH_SAMPLE_RATE


def _flat(wave: torch.Tensor) -> torch.Tensor:
    return wave.reshape(wave.shape[0], -1)


class NegativeSISDR(nn.Module):
    """Mean negative SI-SDR in dB (lower is better) of ``(B, L)`` or ``(B, 1, L)`` signals."""

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return -scale_invariant_signal_distortion_ratio(_flat(estimate), _flat(reference)).mean()


class NegativeSNR(nn.Module):
    """Mean negative SNR in dB of ``(B, L)`` or ``(B, 1, L)`` signals: ``-10 log10(|s|^2 / |s - e|^2)``.

    Unlike SI-SDR, torch-pesq and the magnitude-spectrogram discriminator, it is not invariant
    to the sign or the gain of the estimate: an inverted output scores ``-10 log10(4) = -6 dB``
    at best. A small weight of it pins the enhancer's polarity and level to the target's.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        estimate, reference = _flat(estimate), _flat(reference)
        signal = reference.pow(2).sum(dim=-1) + self.eps
        error = (reference - estimate).pow(2).sum(dim=-1) + self.eps
        return -(10 * torch.log10(signal / error)).mean()


class PerceptualPesqLoss(nn.Module):
    """Differentiable PESQ distortion of torch-pesq (``PesqLoss(factor, sample_rate)``).

    The loss is ``factor * (0.1 d_sym + 0.0309 d_asym)`` (no MOS compression), lower is better;
    :meth:`mos` gives the approximated MOS. Items with a silent reference are ignored (PESQ
    is undefined there).

    Args:
        factor: scale of the loss.
        sample_rate: rate of the signals (torch-pesq resamples to 16 kHz).
    """

    def __init__(self, factor: float = 1.0, sample_rate: int = SPEECH_SAMPLE_RATE) -> None:
        super().__init__()
        self.pesq = PesqLoss(factor, sample_rate=sample_rate)

    @staticmethod
    def _audible(reference: torch.Tensor) -> torch.Tensor:
        return reference.abs().amax(dim=-1) > 1e-6

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        estimate, reference = _flat(estimate).float(), _flat(reference).float()
        keep = self._audible(reference)
        if not keep.any():
            return estimate.sum() * 0.0
        return self.pesq(reference[keep], estimate[keep]).mean()

    @torch.no_grad()
    def mos(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Approximate WB-PESQ MOS per item ``(B,)`` (NaN for a silent reference)."""
        estimate, reference = _flat(estimate).float(), _flat(reference).float()
        scores = torch.full((estimate.shape[0],), float("nan"), device=estimate.device)
        keep = self._audible(reference)
        if keep.any():
            scores[keep] = self.pesq.mos(reference[keep], estimate[keep]).reshape(-1).to(scores.dtype)
        return scores


def metric_regression_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least-squares loss between predicted and target scores, ignoring NaN targets."""
    valid = torch.isfinite(target)
    if not valid.any():
        return predicted.sum() * 0.0
    return (predicted[valid] - target[valid]).pow(2).mean()


def adversarial_generator_loss(predicted: torch.Tensor, target: float = 1.0) -> torch.Tensor:
    """MetricGAN+ generator loss: every discriminator head pushed towards ``target``."""
    return (predicted - target).pow(2).mean()


class DifferentiableSTOI(nn.Module):
    """Differentiable short-time objective intelligibility (STOI, Taal et al. 2011; ESTOI,
    Jensen & Taal 2016, with ``extended=True``) of ``(B, L)`` or ``(B, 1, L)`` signals.

    It follows ``pystoi``: resampling to 10 kHz, removal of the frames (256 samples, hop 128,
    Hann) more than 40 dB below the reference's loudest, 512-point spectra, 15 one-third octave
    bands from 150 Hz, 30-frame (384 ms) segments, and per band and segment the correlation of
    the reference's envelope with the estimate's (normalised to the reference's energy and
    clipped at -15 dB SDR; ESTOI: row- and column-normalised instead). Two simplifications keep
    it differentiable and fast: the spectra are taken of the kept frames directly instead of
    the frames of their overlap-add, and the resampling is torchaudio's sinc interpolation.
    Scores track ``pystoi`` closely (see the tests) but are not identical.

    :meth:`score` gives the per-item measure (NaN for an item with fewer than 30 speech frames);
    ``forward`` the loss ``1 - mean(score)`` over the scorable items.

    Args:
        sample_rate: rate of the signals.
        extended: ESTOI instead of STOI.
    """

    FS, FRAME, NFFT, BANDS, MIN_FREQ, SEGMENT, BETA, DYN_RANGE = 10000, 256, 512, 15, 150, 30, -15.0, 40.0

    def __init__(self, sample_rate: int = SPEECH_SAMPLE_RATE, extended: bool = False, eps: float = 1e-8) -> None:
        super().__init__()
        from pystoi.utils import thirdoct

        self.sample_rate, self.extended, self.eps = sample_rate, extended, eps
        bands, _ = thirdoct(self.FS, self.NFFT, self.BANDS, self.MIN_FREQ)
        self.register_buffer("bands", torch.as_tensor(bands, dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(self.FRAME + 2, periodic=False)[1:-1], persistent=False)

    def _frames(self, wave: torch.Tensor) -> torch.Tensor:
        # (B, frames, FRAME): pystoi's range(0, len - FRAME, hop) frames, windowed
        count = (wave.shape[-1] - self.FRAME - 1) // (self.FRAME // 2) + 1
        frames = wave.unfold(-1, self.FRAME, self.FRAME // 2)[:, :count]
        return frames * self.window

    def _envelopes(self, frames: torch.Tensor) -> torch.Tensor:
        power = torch.fft.rfft(frames, n=self.NFFT).abs().pow(2)  # (frames, bins)
        return (power @ self.bands.T + self.eps).sqrt().T  # (bands, frames)

    def _normalise(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        x = x - x.mean(dim=dim, keepdim=True)
        return x / (x.pow(2).sum(dim=dim, keepdim=True) + self.eps).sqrt()

    def score(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """STOI (or ESTOI) per item ``(B,)``, differentiable w.r.t. ``estimate``."""
        import torchaudio

        estimate, reference = _flat(estimate).float(), _flat(reference).float()
        if self.sample_rate != self.FS:
            estimate = torchaudio.functional.resample(estimate, self.sample_rate, self.FS)
            reference = torchaudio.functional.resample(reference, self.sample_rate, self.FS)
        if reference.shape[-1] <= self.FRAME:
            return torch.full((reference.shape[0],), float("nan"), device=reference.device)
        reference_frames, estimate_frames = self._frames(reference), self._frames(estimate)
        energy = 20 * torch.log10(reference_frames.detach().pow(2).sum(-1).sqrt() + 1e-20)
        keep = energy > energy.amax(dim=-1, keepdim=True) - self.DYN_RANGE
        scores = []
        for index in range(reference.shape[0]):
            x = self._envelopes(reference_frames[index][keep[index]])
            y = self._envelopes(estimate_frames[index][keep[index]])
            if x.shape[-1] < self.SEGMENT:
                scores.append(torch.full((), float("nan"), device=x.device))
                continue
            x, y = x.unfold(-1, self.SEGMENT, 1), y.unfold(-1, self.SEGMENT, 1)  # (bands, segments, N)
            if self.extended:
                x, y = self._normalise(self._normalise(x, 2), 0), self._normalise(self._normalise(y, 2), 0)
                scores.append((x * y).sum(dim=(0, 2)).mean() / self.SEGMENT)
                continue
            scale = (x.pow(2).sum(-1, keepdim=True) + self.eps).sqrt() / (y.pow(2).sum(-1, keepdim=True) + self.eps).sqrt()
            y = torch.minimum(y * scale, x * (1 + 10 ** (-self.BETA / 20)))
            scores.append((self._normalise(x, 2) * self._normalise(y, 2)).sum(-1).mean())
        return torch.stack(scores)

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        scores = self.score(estimate, reference)
        valid = torch.isfinite(scores)
        if not valid.any():
            return _flat(estimate).sum() * 0.0
        return 1.0 - scores[valid].mean()


class _CompressedMagnitudeGap(nn.Module):
    """One side of the gap between power-law compressed STFT magnitudes, ``mean(relu(d)^2)``
    normalised by ``mean(|S|^(2c))`` per item, where ``d`` is ``|S|^c - |S_hat|^c`` (shortfall)
    or its negative (excess).

    Args:
        n_fft, hop_length: STFT of the measure (Hann window).
        compression: the magnitude exponent ``c``.
    """

    penalise_excess: bool

    def __init__(self, n_fft: int = 512, hop_length: int = 128, compression: float = 0.3, eps: float = 1e-8) -> None:
        super().__init__()
        self.n_fft, self.hop_length, self.compression, self.eps = n_fft, hop_length, compression, eps
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def _magnitude(self, wave: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(wave, self.n_fft, self.hop_length, window=self.window, return_complex=True)
        return (spectrum.real.pow(2) + spectrum.imag.pow(2) + self.eps).pow(self.compression / 2)

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        estimate, reference = _flat(estimate).float(), _flat(reference).float()
        target, output = self._magnitude(reference), self._magnitude(estimate)
        gap = output - target if self.penalise_excess else target - output
        return (torch.relu(gap).pow(2).mean(dim=(-2, -1)) / (target.pow(2).mean(dim=(-2, -1)) + self.eps)).mean()


class OverSuppressionLoss(_CompressedMagnitudeGap):
    """Guard against over-suppression (speech distortion): the mean squared shortfall of the
    estimate's power-law compressed STFT magnitude below the reference's,
    ``mean(relu(|S|^c - |S_hat|^c)^2)``, normalised by ``mean(|S|^(2c))`` per item.

    Only removed speech energy is penalised (the asymmetric L2 loss of VoiceFilter-Lite, Wang
    et al., Interspeech 2020, normalised here): residual noise is left to the other terms, so the
    mask cannot buy a quieter output by eating the voice. Arguments as
    :class:`_CompressedMagnitudeGap`.
    """

    penalise_excess = False


class LeakageLoss(_CompressedMagnitudeGap):
    """Residual interference: the mean squared excess of the estimate's compressed STFT magnitude
    over the reference's, ``mean(relu(|S_hat|^c - |S|^c)^2)``, normalised as
    :class:`OverSuppressionLoss` (its other half).

    The compression weighs quiet time-frequency cells almost as much as loud ones, so a competing
    talker left audible where the target pauses costs about as much as one over the target's
    speech, unlike SI-SDR or PESQ, which barely see it. Arguments as
    :class:`_CompressedMagnitudeGap`.
    """

    penalise_excess = True

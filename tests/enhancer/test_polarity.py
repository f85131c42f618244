"""Signal path of the enhancer: polarity, length, gain and sample rate.

The DCCRN signal path itself (STFT -> mask -> iSTFT) is exact: an identity mask returns the input.
The shipped ``dccrn_demo.pt`` was polarity-inverted because every term it was trained with
(SI-SDR, torch-pesq, the magnitude-spectrogram metric discriminator and its PESQ/STOI targets)
is blind to the sign of the output; the plain-SNR loss term is not.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common.export import load_module
from enhancer.dccrn import DCCRN
from enhancer.losses import NegativeSISDR, NegativeSNR, PerceptualPesqLoss
from enhancer.pretrained import (
    DEFAULT_CHECKPOINT,
    enhance_waveform,
    flip_polarity,
    initial_generator_state,
    load_pretrained_enhancer,
    output_polarity,
)

PREVIOUS = DEFAULT_CHECKPOINT.parent / "dccrn_demo.pt"


class IdentityMask(DCCRN):
    """A DCCRN whose mask is a large positive real number: ``tanh(|M|) = 1``, phase 0."""

    def mask(self, spec: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return torch.full_like(spec, 50.0)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.reshape(-1).numpy(), b.reshape(-1).numpy())[0, 1])


@pytest.mark.parametrize("normalise_input", [True, False])
@pytest.mark.parametrize("length", [1, 257, 16000, 16037])
def test_identity_mask_returns_the_input(length, normalise_input):
    model = IdentityMask(normalise_input=normalise_input)
    x = torch.randn(2, length) * 0.1
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.allclose(y, x, atol=1e-5 * float(x.abs().max()) + 1e-7)


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_identity_mask_through_enhance_waveform_keeps_rate_length_gain_and_sign(rate):
    model = IdentityMask().eval()
    t = torch.arange(int(1.3 * rate)) / rate
    wave = 0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.1 * torch.sin(2 * torch.pi * 1300 * t + 1.0)
    out = enhance_waveform(model, wave, rate, chunk_seconds=0.5, overlap_seconds=0.1)
    assert out.shape == wave.shape
    inner = slice(rate // 20, -rate // 20)  # resampling filters ring at the very ends
    assert _correlation(out[inner], wave[inner]) > 0.999
    gain_db = 20 * torch.log10(out[inner].pow(2).mean().sqrt() / wave[inner].pow(2).mean().sqrt())
    assert abs(float(gain_db)) < 0.1


def test_flip_polarity_negates_the_output_exactly():
    torch.manual_seed(0)
    model = DCCRN.from_preset("tiny").eval()
    x = torch.randn(1, 4000)
    with torch.no_grad():
        before = model(x)
        after = flip_polarity(model)(x)
    assert torch.allclose(after, -before, atol=1e-6)


def test_only_the_snr_term_sees_the_sign(clean_speech):
    inverted = -clean_speech
    assert NegativeSISDR()(inverted, clean_speech) == NegativeSISDR()(clean_speech, clean_speech)
    pesq = PerceptualPesqLoss()
    assert torch.allclose(pesq(inverted, clean_speech), pesq(clean_speech, clean_speech), atol=1e-5)
    snr = NegativeSNR()
    assert snr(clean_speech, clean_speech) < -60 and snr(inverted, clean_speech) > 5.9
    assert abs(float(snr(0.5 * clean_speech, clean_speech)) + 6.02) < 0.01  # the gain too: 6 dB, not perfect


@pytest.mark.skipif(not PREVIOUS.is_file(), reason="dccrn_demo.pt not shipped")
def test_fine_tuning_start_corrects_the_inverted_demo_model():
    model, _ = load_module(PREVIOUS, DCCRN)
    assert output_polarity(model) < -0.5  # the root cause, measured
    model.load_state_dict(initial_generator_state(PREVIOUS, model.config))
    assert output_polarity(model) > 0.5


def test_shipped_model_output_correlates_positively_with_the_clean_target(clean_speech, noisy_speech):
    model = load_pretrained_enhancer()
    assert output_polarity(model) > 0.5
    for snr, noisy in noisy_speech.items():
        out = enhance_waveform(model, noisy[0], 16000)
        assert out.shape == noisy[0].shape
        assert _correlation(out, clean_speech) > 0.5, f"SNR {snr} dB"
    # Another rate: same length, same sign.
    from common.audio import resample

    wave = resample(noisy_speech[10.0][0], 16000, 48000)
    out = enhance_waveform(model, wave, 48000)
    assert out.shape == wave.shape and _correlation(out, wave) > 0.3

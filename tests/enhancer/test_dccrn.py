from __future__ import annotations

import pytest
import torch

from enhancer.dccrn import DCCRN


@pytest.fixture(scope="module")
def tiny() -> DCCRN:
    torch.manual_seed(0)
    return DCCRN.from_preset("tiny").eval()


def test_default_is_dccrn_cl_with_about_3_7m_parameters():
    model = DCCRN()
    assert abs(model.num_parameters() - 3.7e6) / 3.7e6 < 0.03
    assert (model.stft.n_fft, model.stft.win_length, model.stft.hop_length) == (512, 400, 100)
    assert [len(model.encoders), len(model.decoders)] == [6, 6]


@pytest.mark.parametrize("length", [1, 99, 100, 401, 3333])
def test_any_length_and_both_input_layouts(tiny, length):
    with torch.no_grad():
        assert tiny(torch.randn(3, length)).shape == (3, length)
        assert tiny(torch.randn(2, 1, length)).shape == (2, 1, length)


def test_rejects_multichannel_input(tiny):
    with pytest.raises(ValueError):
        tiny(torch.randn(2, 2, 800))


def test_batch_items_are_independent_in_eval_mode(tiny):
    x = torch.randn(3, 1600)
    with torch.no_grad():
        batched = tiny(x)
        single = torch.cat([tiny(x[i : i + 1]) for i in range(3)])
    assert torch.allclose(batched, single, atol=1e-5)


def test_level_invariance_with_input_normalisation(tiny):
    x = torch.randn(1, 1600)
    with torch.no_grad():
        assert torch.allclose(tiny(0.01 * x), 0.01 * tiny(x), atol=1e-6)


def test_causal_up_to_one_window():
    torch.manual_seed(0)
    model = DCCRN.from_preset("tiny", normalise_input=False).eval()
    x = torch.randn(1, 6000)
    changed = x.clone()
    changed[:, 4000:] += torch.randn(1, 2000)
    with torch.no_grad():
        difference = (model(x) - model(changed)).abs()[0]
    assert difference[: 4000 - model.stft.win_length].max() == 0
    assert difference[4000:].max() > 0


@pytest.mark.parametrize("dropped_bin, index", [("dc", 0), ("nyquist", -1)])
def test_dropped_bin_gets_zero_mask(dropped_bin, index):
    torch.manual_seed(0)
    model = DCCRN.from_preset("tiny", dropped_bin=dropped_bin).eval()
    with torch.no_grad():
        mask = model.mask(model.stft(torch.randn(2, 1600)))
    assert mask.shape[-2] == 257
    assert mask[:, index].abs().max() == 0
    assert mask.abs().max() > 0


def test_e_mask_bounds_magnitude_and_adds_phase():
    spec = torch.randn(2, 5, 7, dtype=torch.complex64)
    mask = 10 * torch.randn(2, 5, 7, dtype=torch.complex64)
    out = DCCRN.apply_mask(spec, mask)
    assert (out.abs() <= spec.abs() + 1e-6).all()
    phase = torch.angle(out / spec) - torch.angle(mask)
    assert torch.allclose(torch.remainder(phase + 1, 2 * torch.pi) - 1, torch.zeros_like(phase), atol=1e-4)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = DCCRN.from_preset("tiny").train()
    noisy, clean = torch.randn(2, 1, 1600), torch.randn(2, 1, 1600)
    (model(noisy) - clean).pow(2).mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_rejects_bad_configuration():
    with pytest.raises(ValueError):
        DCCRN(n_fft=320)  # 160 bins are not divisible by 2**6
    with pytest.raises(ValueError):
        DCCRN.from_preset("huge")

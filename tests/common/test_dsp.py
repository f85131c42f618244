import pytest
import scipy.fft
import torch

from common.dsp import STDCT, STFT, dct, idct, make_window


@pytest.mark.parametrize("n", [1, 2, 7, 8, 64, 4096])
def test_dct_matches_scipy_orthonormal_dct2(n):
    x = torch.randn(3, n, dtype=torch.float64)
    expected = scipy.fft.dct(x.numpy(), type=2, norm="ortho", axis=-1)
    torch.testing.assert_close(dct(x), torch.from_numpy(expected))
    torch.testing.assert_close(idct(dct(x)), x)


def test_stdct_paper_shape_and_round_trip():
    transform = STDCT(frame_length=4096, hop_length=62)
    wave = torch.randn(2, 67522)
    coefficients = transform(wave)
    assert coefficients.shape == (2, 4096, 1024)
    restored = transform.inverse(coefficients, length=wave.shape[-1])
    assert ((restored - wave).norm() / wave.norm()) < 1e-5


@pytest.mark.parametrize("frame,hop,length", [(512, 32, 5000), (256, 256, 1000), (64, 7, 333)])
def test_stdct_any_frame_hop_and_length(frame, hop, length):
    transform = STDCT(frame, hop)
    wave = torch.randn(3, 2, length)
    coefficients = transform(wave)
    assert coefficients.shape[:3] == (3, 2, frame)
    assert coefficients.shape[-1] == transform.num_frames(length)
    restored = transform.inverse(coefficients, length=length)
    assert ((restored - wave).norm() / wave.norm()) < 1e-5


def test_stdct_is_orthonormal_per_frame_and_differentiable():
    transform = STDCT(128, 128, window="hann")
    wave = torch.randn(1, 128 * 4, requires_grad=True)
    coefficients = transform(wave)
    windowed = (wave.detach().reshape(4, 128) * make_window("hann", 128)).pow(2).sum()
    torch.testing.assert_close(coefficients.detach().pow(2).sum(), windowed)
    transform.inverse(coefficients).sum().backward()
    assert torch.isfinite(wave.grad).all()


def test_stdct_rejects_hop_longer_than_frame():
    with pytest.raises(ValueError):
        STDCT(64, 65)


def test_stft_round_trip_and_shape():
    stft = STFT(n_fft=512, hop_length=100, win_length=400)
    wave = torch.randn(2, 3, 16000)
    spectrum = stft(wave)
    assert spectrum.shape == (2, 3, 257, 161) and spectrum.is_complex()
    torch.testing.assert_close(stft.inverse(spectrum, length=16000), wave, atol=1e-5, rtol=1e-5)


def test_unknown_window_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown window"):
        make_window("kaiser", 16)

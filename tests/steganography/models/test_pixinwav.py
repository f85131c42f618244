from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from steganography.models.pixinwav import (
    ARCHITECTURES,
    AdditiveGaussianNoise,
    ImageContainerMapping,
    OverTheAir,
    PixInWav,
    PixInWavLoss,
    PixInWavUNet,
    SoftDTW,
    SpeckleNoise,
    make_channel,
    soft_dtw,
    soft_minimum,
)
from steganography.tasks.pixinwav import PixInWavTask

# Tiny setting: 8x8 images -> 16x16 plane; STDCT frame 64, hop 8; 184 samples -> 16 frames.
TINY = dict(image_size=8, num_samples=184, frame_length=64, hop_length=8, base_channels=4)


def tiny_batch(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, 8, 8, generator=generator)
    audio = 0.1 * torch.randn(batch, 1, 184, generator=generator)
    return image, audio


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_parameter_count() -> None:
    assert count(PixInWavUNet(1, 1, 64)) == 482_090
    model = PixInWav("res_indep")  # paper settings: 256x256 images, 4096x1024 container
    assert model.container_size == (4096, 1024)
    assert count(model.hider) == 482_090 and count(model.revealer) == 482_090


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_architectures_forward_backward(architecture: str) -> None:
    torch.manual_seed(0)
    model = PixInWav(architecture, **TINY)
    image, audio = tiny_batch()
    outputs = model(image, audio, AdditiveGaussianNoise(0.01))
    assert outputs["container_spec"].shape == (2, 1, 64, 16)
    assert outputs["container_wave"].shape == audio.shape
    assert outputs["revealed_image"].shape == image.shape
    losses = PixInWavLoss(dtw_steps=8)(outputs, image, audio)
    losses["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    if architecture == "res_scale":
        assert count(model.hider) == 1
    else:
        assert (model.hider.context_encoder is not None) == (architecture in ("res_dep", "plain_dep"))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_zero_hider_gives_host(architecture: str) -> None:
    model = PixInWav(architecture, **TINY).eval()
    with torch.no_grad():
        for parameter in model.hider.parameters():
            parameter.zero_()
        image, audio = tiny_batch()
        container = model.hide(image, audio)["container_wave"]
    expected = torch.zeros_like(audio) if architecture == "plain_dep" else audio
    torch.testing.assert_close(container, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("container_size", [(64, 16), (70, 37), (4096 // 32, 1024 // 32)])
def test_mapping_round_trip_is_exact(container_size: tuple[int, int]) -> None:
    mapping = ImageContainerMapping(8, container_size)
    image = torch.rand(2, 3, 8, 8)
    container = mapping.to_container(image)
    assert container.shape == (2, 1, *container_size)
    torch.testing.assert_close(mapping.to_image(container), image, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="smaller"):
        ImageContainerMapping(8, (15, 64))


def test_reveal_from_spectrogram_keeps_what_the_waveform_round_trip_loses() -> None:
    """With an identity revealer, ``spectrogram`` returns the mapped image exactly (plus the
    channel's noise) while ``waveform`` returns the image through STDCT synthesis + analysis,
    which the 8x redundant tiny STDCT does not preserve."""
    image, audio = tiny_batch()
    revealed = {}
    for source in ("spectrogram", "waveform"):
        model = PixInWav("res_scale", reveal_from=source, **TINY)
        model.revealer = nn.Identity()
        with torch.no_grad():
            model.hider.gain.fill_(1.0)
            hidden = model.hide(image, torch.zeros_like(audio))
            revealed[source] = model.reveal_received(hidden, hidden["container_wave"])
            noise = AdditiveGaussianNoise(0.01)(hidden["container_wave"], torch.Generator().manual_seed(0))
            noisy = model.reveal_received(hidden, noise)
            assert torch.equal(model.reveal_received(hidden, hidden["container_wave"]), model(image, torch.zeros_like(audio))["revealed_image"])
        if source == "spectrogram":
            expected = model.reveal_spectrogram(hidden["container_spec"] + model.stdct(noise - hidden["container_wave"]))
            torch.testing.assert_close(noisy, expected)
        else:
            torch.testing.assert_close(noisy, model.reveal(noise))
    torch.testing.assert_close(revealed["spectrogram"], image, atol=1e-5, rtol=0)
    assert (revealed["waveform"] - image).abs().mean() > 0.1
    with pytest.raises(ValueError, match="reveal_from"):
        PixInWav(reveal_from="container", **TINY)


def naive_soft_dtw(cost: torch.Tensor, gamma: float) -> torch.Tensor:
    rows, columns = cost.shape[-2:]
    table = [[torch.full(cost.shape[:1], math.inf, dtype=cost.dtype)] * (columns + 1) for _ in range(rows + 1)]
    table[0][0] = torch.zeros(cost.shape[:1], dtype=cost.dtype)
    for i in range(1, rows + 1):
        for j in range(1, columns + 1):
            previous = torch.stack([table[i - 1][j - 1], table[i - 1][j], table[i][j - 1]], dim=-1)
            table[i][j] = cost[:, i - 1, j - 1] + soft_minimum(previous, gamma)
    return table[rows][columns]


def test_soft_dtw_matches_dynamic_programme_and_gradcheck() -> None:
    cost = torch.rand(3, 5, 7, dtype=torch.float64)
    for gamma in (0.1, 1.0):
        torch.testing.assert_close(soft_dtw(cost, gamma), naive_soft_dtw(cost, gamma))
    small = torch.rand(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c: soft_dtw(c, 0.5), (small,))


def test_soft_dtw_divergence_properties() -> None:
    torch.manual_seed(0)
    wave = torch.sin(torch.linspace(0, 40, 512)).reshape(1, 1, -1) + 0.1 * torch.randn(1, 1, 512)
    shifted = torch.roll(wave, 48, dims=-1)
    divergence = SoftDTW(gamma=0.1, num_steps=32)
    same = divergence(wave, wave.clone())
    assert same.abs().item() < 1e-3 * divergence(wave, shifted).item()
    moving = shifted.clone().requires_grad_()
    divergence(wave, moving).sum().backward()
    assert torch.isfinite(moving.grad).all() and moving.grad.abs().sum() > 0
    identical = wave.clone().requires_grad_()
    divergence(wave, identical).sum().backward()
    assert torch.isfinite(identical.grad).all()
    raw = SoftDTW(gamma=0.1, num_steps=32, divergence=False)
    assert raw(wave, wave).item() < raw(wave, shifted).item()


def test_noise_channels_have_the_requested_sigma() -> None:
    wave = 0.3 + 0.1 * torch.randn(4, 1, 50_000)
    generator = torch.Generator().manual_seed(1)
    awgn = AdditiveGaussianNoise(0.05)(wave, generator) - wave
    assert abs(awgn.std().item() - 0.05) < 0.001 and abs(awgn.mean().item()) < 0.001
    speckle = SpeckleNoise(0.2)(wave, generator) / wave - 1
    assert abs(speckle.std().item() - 0.2) < 0.004
    repeat = AdditiveGaussianNoise(0.05)(wave, torch.Generator().manual_seed(1)) - wave
    assert torch.equal(repeat, awgn)


def test_over_the_air_band_limits_and_reverberates() -> None:
    sample_rate = 16_000
    impulse = torch.zeros(1, 1, 8000)
    impulse[..., 100] = 1.0
    options = dict(rt60=0.2, low_hz=400, high_hz=1500)
    received = OverTheAir(sample_rate, snr_db=200, **options)(impulse, torch.Generator().manual_seed(0))
    spectrum = torch.fft.rfft(received[0, 0]).abs()
    frequencies = torch.fft.rfftfreq(8000, 1 / sample_rate)
    in_band = spectrum[(frequencies > 400) & (frequencies < 1500)]
    out_of_band = spectrum[(frequencies < 100) | (frequencies > 6000)]
    assert out_of_band.max() < 0.02 * in_band.max()
    tail_energy = received[..., 300:].pow(2).sum() / received.pow(2).sum()
    assert 0.05 < tail_energy < 0.9  # a reverberant tail after the direct path
    # Same generator: same room; the difference is the microphone noise, 10 dB down.
    noisy = OverTheAir(sample_rate, snr_db=10, **options)(impulse, torch.Generator().manual_seed(0))
    measured_snr = 10 * torch.log10(received.pow(2).sum() / (noisy - received).pow(2).sum())
    assert abs(measured_snr.item() - 10.0) < 0.5


def test_make_channel() -> None:
    assert make_channel("clean", 16000).name == "clean"
    assert make_channel("awgn:0.1", 16000).sigma == 0.1
    assert isinstance(make_channel("speckle:0.5", 16000), SpeckleNoise)
    assert make_channel("ota:rt60=0.5,snr_db=20", 16000).rt60 == 0.5
    for bad in ("awgn", "pink:0.1", "ota:colour=1"):
        with pytest.raises(ValueError):
            make_channel(bad, 16000)


def test_task_validates_every_channel() -> None:
    task = PixInWavTask(
        PixInWav(**TINY), sample_rate=16000, dtw_steps=8, eval_channels=("clean", "awgn:0.01", "speckle:0.1", "ota")
    )
    image, audio = tiny_batch(2)
    loader = torch.utils.data.DataLoader([{"image": i, "audio": a} for i, a in zip(image, audio)], batch_size=2)
    trainer = pl.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(task, loader, loader)
    metrics = trainer.callback_metrics
    for name in ("clean", "awgn_0.01", "speckle_0.1", "over_the_air"):
        assert {f"val/{name}/ssim", f"val/{name}/psnr", f"val/{name}/snr"} <= set(metrics)
    assert torch.isfinite(metrics["val/snr"]) and torch.isfinite(metrics["train/loss"])
    assert "val/from_waveform/ssim" not in metrics


def test_task_reports_the_waveform_receiver_when_revealing_from_the_spectrogram() -> None:
    task = PixInWavTask(PixInWav(reveal_from="spectrogram", **TINY), sample_rate=16000, dtw_steps=8, eval_channels=("clean",))
    image, audio = tiny_batch(2)
    loader = torch.utils.data.DataLoader([{"image": i, "audio": a} for i, a in zip(image, audio)], batch_size=2)
    trainer = pl.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(task, loader, loader)
    assert {"val/from_waveform/ssim", "val/from_waveform/psnr", "val/clean/ssim"} <= set(trainer.callback_metrics)

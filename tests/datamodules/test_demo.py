import numpy as np
import torch

from common.speech_synthesis import synthesise_speech
from datamodules.demo import DemoImageAudioDataModule, DemoImageDataModule, DemoSpeechDataModule, ProceduralImages, SynthesisedNoisySpeech
from datamodules.mixing import mix
from datamodules.synthetic import coloured_noise


def test_items_are_deterministic_and_splits_differ():
    train, again, val = (ProceduralImages(4, 32, split) for split in ("train", "train", "val"))
    assert torch.equal(train[1]["image"], again[1]["image"])
    assert not torch.equal(train[1]["image"], val[1]["image"])
    assert not torch.equal(train[0]["image"], train[1]["image"])


def test_image_datamodule_batches():
    data = DemoImageDataModule(image_size=32, num_train=8, num_val=4, with_secret=True, batch_size=4)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == batch["secret"].shape == (4, 3, 32, 32)
    assert 0.0 <= batch["image"].min() and batch["image"].max() <= 1.0
    assert not torch.equal(batch["image"], batch["secret"])


def test_speech_any_length_and_speaker():
    for seed, length in [(seed, length) for seed in range(30) for length in (8000, 16000)]:
        speech = synthesise_speech(np.random.default_rng(seed), length, 16000, f0_range=(100, 150))
        assert speech.shape == (length,) and np.isfinite(speech).all()


def test_speech_has_voiced_energy_and_pauses():
    speech = synthesise_speech(np.random.default_rng(3), 32000)
    assert speech.shape == (32000,) and np.isfinite(speech).all()
    frames = np.abs(speech[: 32000 // 320 * 320]).reshape(-1, 320).max(axis=1)
    assert (frames < 0.01).mean() > 0.05, "no pauses"
    assert (frames > 0.1).mean() > 0.3, "too little speech"
    power = np.abs(np.fft.rfft(speech)) ** 2
    assert power[: len(power) // 4].sum() > power[len(power) // 4 :].sum(), "speech energy is below 2 kHz"


def test_mix_reaches_requested_snr_and_level():
    clean, noise = torch.randn(16000), torch.from_numpy(coloured_noise(np.random.default_rng(0), 16000, 1.0))
    noisy, gain = mix(clean, noise, snr_db=5.0, level_db=-30.0)
    scaled_clean = clean * gain
    residual = noisy - scaled_clean
    measured = 10 * torch.log10(scaled_clean.pow(2).mean() / residual.pow(2).mean())
    assert abs(measured.item() - 5.0) < 0.01
    level = 20 * torch.log10(noisy.pow(2).mean().sqrt())
    assert abs(level.item() + 30.0) < 0.01


def test_noisy_speech_items_and_datamodules():
    item = SynthesisedNoisySpeech(2, 8000, talker_probability=1.0)[0]
    assert item["noisy"].shape == item["clean"].shape == (1, 8000)
    assert not torch.equal(item["noisy"], item["clean"])
    speech = DemoSpeechDataModule(segment_seconds=0.5, num_train=4, num_val=2, batch_size=2)
    speech.setup("fit")
    assert next(iter(speech.val_dataloader()))["noisy"].shape == (2, 1, 8000)
    paired = DemoImageAudioDataModule(image_size=16, num_samples=4000, num_train=4, num_val=2, batch_size=2)
    paired.setup("fit")
    batch = next(iter(paired.val_dataloader()))
    assert batch["image"].shape == (2, 3, 16, 16) and batch["audio"].shape == (2, 1, 4000)

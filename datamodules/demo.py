"""Embedded demo data: every module trains with no download.

Items are generated from ``(seed, split, index)``, so they are identical on every run and
every rank, and the train and validation splits never overlap.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from common.speech_synthesis import synthesise_speech
from datamodules.base import SplitDataModule
from datamodules.mixing import mix
from datamodules.synthetic import procedural_image, synthesise_noise

SPLITS = {"train": 0, "val": 1, "test": 2}


def item_rng(seed: int, split: str, index: int, stream: int = 0) -> np.random.Generator:
    """The random generator of one item (``stream`` separates independent parts of it)."""
    return np.random.default_rng([seed, SPLITS[split], index, stream])


class ProceduralImages(Dataset):
    """Procedural natural-looking RGB images: ``{"image": (3, H, W)}`` in [0, 1], plus an
    independent ``"secret"`` image when ``with_secret``.

    Args:
        length: number of items.
        image_size: side of the square images.
        split: ``train``, ``val`` or ``test``.
        seed: base seed.
        with_secret: also return a second, independent image (image-in-image hiding).
    """

    def __init__(self, length: int, image_size: int, split: str = "train", seed: int = 0, with_secret: bool = False) -> None:
        self.length, self.image_size, self.split, self.seed = length, image_size, split, seed
        self.with_secret = with_secret

    def __len__(self) -> int:
        return self.length

    def _image(self, index: int, stream: int) -> torch.Tensor:
        array = procedural_image(item_rng(self.seed, self.split, index, stream), self.image_size, self.image_size)
        return torch.from_numpy(array).permute(2, 0, 1).float() / 255.0

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"image": self._image(index, 0)}
        if self.with_secret:
            item["secret"] = self._image(index, 1)
        return item


class SynthesisedSpeech(Dataset):
    """Speech-like utterances ``{"audio": (1, samples)}`` (peak 0.5).

    Args:
        length: number of items.
        num_samples: samples per utterance.
        sample_rate: sampling rate in Hz.
        split: ``train``, ``val`` or ``test``.
        seed: base seed.
    """

    def __init__(self, length: int, num_samples: int, sample_rate: int = 16000, split: str = "train", seed: int = 0) -> None:
        self.length, self.num_samples, self.sample_rate = length, num_samples, sample_rate
        self.split, self.seed = split, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = item_rng(self.seed, self.split, index)
        speech = synthesise_speech(rng, self.num_samples, self.sample_rate)
        return {"audio": torch.from_numpy(speech).unsqueeze(0)}


class SynthesisedNoisySpeech(Dataset):
    """Noisy mixtures for enhancement: ``{"noisy", "clean"}``, each ``(1, samples)``.

    The mixture is speech + noise at a random SNR + (with probability ``talker_probability``)
    a competing talker at a random, lower level, as in the DNS datamodule.

    Args:
        length: number of items.
        num_samples: samples per item.
        sample_rate: sampling rate in Hz.
        snr_range: speech-to-noise ratio range in dB.
        talker_probability: chance of a background talker.
        talker_snr_range: target-to-talker ratio range in dB.
        split: ``train``, ``val`` or ``test``.
        seed: base seed.
    """

    def __init__(
        self,
        length: int,
        num_samples: int,
        sample_rate: int = 16000,
        snr_range: tuple[float, float] = (0.0, 15.0),
        talker_probability: float = 0.5,
        talker_snr_range: tuple[float, float] = (5.0, 15.0),
        split: str = "train",
        seed: int = 0,
    ) -> None:
        self.length, self.num_samples, self.sample_rate = length, num_samples, sample_rate
        self.snr_range, self.talker_probability, self.talker_snr_range = snr_range, talker_probability, talker_snr_range
        self.split, self.seed = split, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = item_rng(self.seed, self.split, index)
        clean = torch.from_numpy(synthesise_speech(rng, self.num_samples, self.sample_rate))
        noise = torch.from_numpy(synthesise_noise(rng, self.num_samples, self.sample_rate))
        talker = None
        if rng.random() < self.talker_probability:
            talker = torch.from_numpy(synthesise_speech(rng, self.num_samples, self.sample_rate))
        noisy, gain = mix(
            clean,
            noise,
            float(rng.uniform(*self.snr_range)),
            talker,
            float(rng.uniform(*self.talker_snr_range)),
            level_db=float(rng.uniform(-35.0, -15.0)),
        )
        return {"noisy": noisy.unsqueeze(0), "clean": (clean * gain).unsqueeze(0)}


class GeneratedDataModule(SplitDataModule):
    """Base of the demo datamodules: ``hparams.num_train`` training items, ``hparams.num_val``
    validation and test items, each split built by :meth:`_dataset`."""

    def _dataset(self, length: int, split: str) -> Dataset:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        self.train_set = self._dataset(self.hparams.num_train, "train")
        self.val_set = self._dataset(self.hparams.num_val, "val")
        self.test_set = self._dataset(self.hparams.num_val, "test")


class DemoImageDataModule(GeneratedDataModule):
    """Procedural images for the hiders (``{"image"}``, plus ``{"secret"}`` if ``with_secret``).

    Args:
        image_size: side of the square images.
        num_train: training images per epoch.
        num_val: validation images (fixed).
        with_secret: also yield an independent secret image per item.
        seed: base seed.
        batch_size: see :class:`SplitDataModule`.
        num_workers: see :class:`SplitDataModule`.
    """

    def __init__(
        self,
        image_size: int = 64,
        num_train: int = 512,
        num_val: int = 16,
        with_secret: bool = False,
        seed: int = 0,
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        self.save_hyperparameters()

    def _dataset(self, length: int, split: str) -> ProceduralImages:
        hp = self.hparams
        return ProceduralImages(length, hp.image_size, split, hp.seed, hp.with_secret)


class DemoSpeechDataModule(GeneratedDataModule):
    """Synthesised noisy/clean speech pairs for the enhancer (``{"noisy", "clean"}``).

    Args:
        sample_rate: sampling rate in Hz.
        segment_seconds: length of each item.
        num_train: training mixtures per epoch.
        num_val: validation mixtures (fixed).
        snr_range: speech-to-noise ratio range in dB.
        talker_probability: chance of a competing talker.
        talker_snr_range: target-to-talker ratio range in dB.
        seed: base seed.
        batch_size: see :class:`SplitDataModule`.
        num_workers: see :class:`SplitDataModule`.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        segment_seconds: float = 2.0,
        num_train: int = 512,
        num_val: int = 16,
        snr_range: tuple[float, float] = (0.0, 15.0),
        talker_probability: float = 0.5,
        talker_snr_range: tuple[float, float] = (5.0, 15.0),
        seed: int = 0,
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        self.save_hyperparameters()

    def _dataset(self, length: int, split: str) -> SynthesisedNoisySpeech:
        hp = self.hparams
        return SynthesisedNoisySpeech(
            length,
            int(hp.segment_seconds * hp.sample_rate),
            hp.sample_rate,
            tuple(hp.snr_range),
            hp.talker_probability,
            tuple(hp.talker_snr_range),
            split,
            hp.seed,
        )


class PairedImageAudio(Dataset):
    """Deterministic pairs ``{"image", "audio"}`` of a procedural image and a host utterance."""

    def __init__(self, images: ProceduralImages, audio: SynthesisedSpeech) -> None:
        self.images, self.audio = images, audio

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {**self.images[index], **self.audio[index % len(self.audio)]}


class DemoImageAudioDataModule(GeneratedDataModule):
    """Image-in-audio pairs for PixInWav: a procedural image and a synthesised host utterance.

    Args:
        image_size: side of the square images.
        num_samples: host audio length in samples.
        sample_rate: host sampling rate in Hz.
        num_train: training pairs per epoch.
        num_val: validation pairs (fixed, deterministic pairing).
        seed: base seed.
        batch_size: see :class:`SplitDataModule`.
        num_workers: see :class:`SplitDataModule`.
    """

    def __init__(
        self,
        image_size: int = 64,
        num_samples: int = 16384,
        sample_rate: int = 16000,
        num_train: int = 256,
        num_val: int = 8,
        seed: int = 0,
        batch_size: int = 4,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        self.save_hyperparameters()

    def _dataset(self, length: int, split: str) -> PairedImageAudio:
        hp = self.hparams
        return PairedImageAudio(
            ProceduralImages(length, hp.image_size, split, hp.seed),
            SynthesisedSpeech(length, hp.num_samples, hp.sample_rate, split, hp.seed),
        )

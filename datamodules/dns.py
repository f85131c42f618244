"""Microsoft DNS Challenge data (ICASSP 2021 / Interspeech 2020 layout) with on-the-fly mixing.

Layout of the challenge repository (``<root>/datasets/``)::

    clean/**/*.wav                  read_speech, emotional_speech, singing_voice, ... (16 kHz)
    noise/**/*.wav                  AudioSet / Freesound / DEMAND noise clips
    impulse_responses/**/*.wav      SLR26 / SLR28 room impulse responses
    test_set/synthetic/no_reverb/{clean,noisy}/*.wav
        clean:  clean_fileid_<N>.wav
        noisy:  clnsp<k>_<noise>_snr<s>_tl-<l>_fileid_<N>.wav   (paired by fileid)

Any folder of clean speech can replace ``clean/`` (e.g. a LibriSpeech split).
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF
from torch.utils.data import Dataset

from datamodules.audio_files import list_audio_files, read_segment
from datamodules.base import SplitDataModule, require_folders
from datamodules.mixing import mix

FILEID = re.compile(r"fileid_(\d+)\.wav$", re.IGNORECASE)


def reverberate(speech: torch.Tensor, rir: torch.Tensor, early_ms: float, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Convolve ``speech`` ``(L,)`` with a room impulse response.

    Returns ``(reverberant, early)``: the fully reverberant speech and the target speech made
    of the direct path plus the reflections arriving within ``early_ms`` after it (a common
    dereverberation target), both ``(L,)`` and time-aligned with the input.
    """
    rir = rir / rir.abs().max().clamp_min(1e-8)
    peak = int(rir.abs().argmax())
    rir = rir[peak:]  # align the direct path with the dry speech
    early = rir[: int(early_ms * sample_rate / 1000) + 1]
    length = speech.shape[-1]
    return AF.fftconvolve(speech, rir)[:length], AF.fftconvolve(speech, early)[:length]


def _is_validation(path: Path, fraction: float) -> bool:
    """Stable file-level split: a hash of the file name decides."""
    return zlib.crc32(path.name.encode()) % 10000 < fraction * 10000


def split_files(files: list[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    """``(train, validation)`` by file-name hash; each non-empty when there are >= 2 files."""
    validation = [f for f in files if _is_validation(f, fraction)]
    train = [f for f in files if not _is_validation(f, fraction)]
    if fraction > 0 and not validation and len(train) > 1:
        validation = [train.pop()]
    if not train and len(validation) > 1:
        train = [validation.pop()]
    return train, validation


class DNSMixtures(Dataset):
    """On-the-fly mixtures ``{"noisy": (1, L), "clean": (1, L)}``.

    Each item draws a clean utterance segment, a noise segment at a random SNR, optionally a
    room impulse response (the target is then the direct path + early reflections), optionally
    a competing talker (another clean utterance at a lower level) and a random level.

    Args:
        clean_files: clean speech files.
        noise_files: noise files.
        rir_files: room impulse responses (may be empty).
        length: number of items (mixtures per epoch).
        num_samples: samples per item.
        sample_rate: output rate.
        snr_range: speech-to-noise ratio range in dB.
        rir_probability: chance of reverberation.
        early_reflection_ms: reflections kept in the reverberant target.
        talker_probability: chance of a competing talker.
        talker_snr_range: target-to-talker ratio range in dB.
        level_range: mixture RMS level range in dBFS.
        seed: fixed seed (validation: identical items each epoch); ``None`` draws fresh
            mixtures from torch's per-worker random state every time.
    """

    def __init__(
        self,
        clean_files: list[Path],
        noise_files: list[Path],
        rir_files: list[Path] = (),
        length: int = 10000,
        num_samples: int = 64000,
        sample_rate: int = 16000,
        snr_range: tuple[float, float] = (-5.0, 20.0),
        rir_probability: float = 0.2,
        early_reflection_ms: float = 50.0,
        talker_probability: float = 0.3,
        talker_snr_range: tuple[float, float] = (5.0, 20.0),
        level_range: tuple[float, float] = (-35.0, -15.0),
        seed: int | None = None,
    ) -> None:
        if not clean_files or not noise_files:
            raise ValueError("DNSMixtures needs at least one clean and one noise file")
        self.clean_files, self.noise_files, self.rir_files = list(clean_files), list(noise_files), list(rir_files)
        self.length, self.num_samples, self.sample_rate = length, num_samples, sample_rate
        self.snr_range, self.rir_probability, self.early_reflection_ms = snr_range, rir_probability, early_reflection_ms
        self.talker_probability, self.talker_snr_range = talker_probability, talker_snr_range
        self.level_range, self.seed = level_range, seed

    def __len__(self) -> int:
        return self.length

    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng([self.seed, index])
        return np.random.default_rng(int(torch.randint(2**62, ())))

    def _speech(self, rng: np.random.Generator, exclude: int | None = None) -> tuple[torch.Tensor, int]:
        """A non-silent clean segment (up to 5 draws) and the index of its file."""
        count = len(self.clean_files)
        for _ in range(5):
            if exclude is not None and count > 1:
                choice = int(rng.integers(count - 1))
                choice += choice >= exclude
            else:
                choice = int(rng.integers(count))
            wave = read_segment(self.clean_files[choice], self.sample_rate, self.num_samples, rng)
            if wave.abs().max() > 1e-4:
                break
        return wave, choice

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self._rng(index)
        clean, choice = self._speech(rng)
        noise = read_segment(self.noise_files[int(rng.integers(len(self.noise_files)))], self.sample_rate, self.num_samples, rng, loop=True)
        if noise.abs().max() < 1e-8:
            noise = torch.from_numpy(rng.standard_normal(self.num_samples).astype(np.float32))
        speech = target = clean
        if self.rir_files and rng.random() < self.rir_probability:
            rir = read_segment(self.rir_files[int(rng.integers(len(self.rir_files)))], self.sample_rate)
            speech, target = reverberate(clean, rir, self.early_reflection_ms, self.sample_rate)
        talker = None
        if rng.random() < self.talker_probability:
            talker, _ = self._speech(rng, exclude=choice)
        noisy, gain = mix(
            speech,
            noise,
            float(rng.uniform(*self.snr_range)),
            talker,
            float(rng.uniform(*self.talker_snr_range)),
            float(rng.uniform(*self.level_range)),
        )
        return {"noisy": noisy.unsqueeze(0), "clean": (target * gain).unsqueeze(0)}


class DNSSyntheticTestSet(Dataset):
    """The DNS synthetic test set (``<folder>/noisy`` and ``<folder>/clean``, paired by fileid).

    Args:
        folder: e.g. ``<root>/datasets/test_set/synthetic/no_reverb``.
        sample_rate: output rate.
        num_samples: crop/pad every clip to this length (``None``: the clips' own length).
    """

    def __init__(self, folder: str | Path, sample_rate: int = 16000, num_samples: int | None = None) -> None:
        folder = Path(folder)
        clean = {int(m.group(1)): p for p in (folder / "clean").glob("*.wav") if (m := FILEID.search(p.name))}
        noisy = {int(m.group(1)): p for p in (folder / "noisy").glob("*.wav") if (m := FILEID.search(p.name))}
        if not noisy:
            raise FileNotFoundError(f"no noisy *_fileid_N.wav files in {folder / 'noisy'}")
        missing = sorted(set(noisy) - set(clean))
        if missing:
            raise FileNotFoundError(f"{folder / 'clean'} lacks clean_fileid_N.wav for fileids {missing[:5]}")
        self.pairs = [(file_id, noisy[file_id], clean[file_id]) for file_id in sorted(noisy)]
        self.sample_rate, self.num_samples = sample_rate, num_samples

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        file_id, noisy, clean = self.pairs[index]
        noisy_wave = read_segment(noisy, self.sample_rate, self.num_samples)
        clean_wave = read_segment(clean, self.sample_rate, self.num_samples or noisy_wave.shape[-1])
        return {"noisy": noisy_wave.unsqueeze(0), "clean": clean_wave.unsqueeze(0), "fileid": file_id}


class DNSDataModule(SplitDataModule):
    """DNS Challenge training mixtures (on the fly), held-out validation mixtures and the
    synthetic test set.

    Clean and noise files are split into train/validation by a hash of their names, so
    validation mixtures use utterances and noises never seen in training.

    Args:
        root: DNS-Challenge checkout; relative folders below are resolved against it.
        clean_dirs: clean speech folders (e.g. ``datasets/clean`` or a LibriSpeech split).
        noise_dirs: noise folders.
        rir_dirs: impulse-response folders (empty: no reverberation).
        test_dir: synthetic test set folder (skipped if absent).
        sample_rate: output rate.
        segment_seconds: item duration.
        num_train: training mixtures per epoch.
        num_val: validation mixtures (fixed).
        val_fraction: share of clean/noise files held out for validation.
        snr_range: speech-to-noise ratio range in dB.
        rir_probability: chance of reverberation.
        early_reflection_ms: reflections kept in the reverberant target.
        talker_probability: chance of a competing talker.
        talker_snr_range: target-to-talker ratio range in dB.
        level_range: mixture RMS level range in dBFS.
        test_seconds: crop/pad test clips to this duration (DNS clips are 10 s; ``None``: as is).
        seed: seed of the validation mixtures.
        batch_size: see :class:`SplitDataModule`.
        num_workers: see :class:`SplitDataModule`.
    """

    def __init__(
        self,
        root: str = "data/DNS-Challenge",
        clean_dirs: list[str] = ["datasets/clean"],
        noise_dirs: list[str] = ["datasets/noise"],
        rir_dirs: list[str] = ["datasets/impulse_responses"],
        test_dir: str = "datasets/test_set/synthetic/no_reverb",
        sample_rate: int = 16000,
        segment_seconds: float = 4.0,
        num_train: int = 10000,
        num_val: int = 200,
        val_fraction: float = 0.02,
        snr_range: tuple[float, float] = (-5.0, 20.0),
        rir_probability: float = 0.2,
        early_reflection_ms: float = 50.0,
        talker_probability: float = 0.3,
        talker_snr_range: tuple[float, float] = (5.0, 20.0),
        level_range: tuple[float, float] = (-35.0, -15.0),
        test_seconds: float | None = 10.0,
        seed: int = 0,
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        self.save_hyperparameters()

    def _folder(self, folder: str) -> Path:
        return Path(self.hparams.root) / folder  # an absolute ``folder`` replaces ``root``

    def _mixtures(self, clean: list[Path], noise: list[Path], rirs: list[Path], length: int, seed: int | None) -> DNSMixtures:
        hp = self.hparams
        return DNSMixtures(
            clean, noise, rirs, length, int(hp.segment_seconds * hp.sample_rate), hp.sample_rate,
            tuple(hp.snr_range), hp.rir_probability, hp.early_reflection_ms, hp.talker_probability,
            tuple(hp.talker_snr_range), tuple(hp.level_range), seed,
        )

    def check_data(self) -> None:
        hp = self.hparams
        layout = f"{hp.root}/datasets/{{clean,noise,impulse_responses}}/**/*.wav (the DNS Challenge repository)"
        require_folders("DNS Challenge", layout, *(self._folder(d) for d in [*hp.clean_dirs, *hp.noise_dirs, *(hp.rir_dirs or [])]))

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if stage in (None, "fit", "validate"):
            clean = list_audio_files(*(self._folder(d) for d in hp.clean_dirs))
            noise = list_audio_files(*(self._folder(d) for d in hp.noise_dirs))
            rirs = list_audio_files(*(self._folder(d) for d in hp.rir_dirs)) if hp.rir_dirs else []
            if not clean or not noise:
                raise FileNotFoundError(f"no clean ({len(clean)}) or noise ({len(noise)}) audio under {hp.root}")
            clean_train, clean_val = split_files(clean, hp.val_fraction)
            noise_train, noise_val = split_files(noise, hp.val_fraction)
            rir_train, rir_val = split_files(rirs, hp.val_fraction)
            self.train_set = self._mixtures(clean_train, noise_train, rir_train, hp.num_train, None)
            self.val_set = self._mixtures(clean_val or clean_train, noise_val or noise_train, rir_val or rir_train, hp.num_val, hp.seed)
        test_folder = self._folder(hp.test_dir)
        if stage in (None, "test", "predict") and (test_folder / "noisy").is_dir():
            test_samples = None if hp.test_seconds is None else int(hp.test_seconds * hp.sample_rate)
            self.test_set = DNSSyntheticTestSet(test_folder, hp.sample_rate, test_samples)

"""VoiceBank+DEMAND (Valentini-Botinhao et al. 2016), 48 kHz, resampled on the fly.

Layout::

    clean_trainset_28spk_wav/p226_001.wav    noisy_trainset_28spk_wav/p226_001.wav
    clean_testset_wav/p232_001.wav           noisy_testset_wav/p232_001.wav

Pairs share a file name. Two training speakers (p226, p287, a common choice) are held out
for validation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.audio_files import PaddedSplitDataModule, read_segment
from datamodules.base import require_folders

TRAIN_DIRS = ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav")
TEST_DIRS = ("clean_testset_wav", "noisy_testset_wav")


class VoiceBankDemand(Dataset):
    """Paired utterances ``{"noisy": (1, L), "clean": (1, L), "name": str}``.

    Args:
        root: folder holding the four VoiceBank+DEMAND folders.
        split: ``"train"`` (28-speaker set) or ``"test"``.
        sample_rate: output rate (the corpus is 48 kHz).
        segment_seconds: crop/pad both signals to this duration (``None``: full utterances).
        random_crop: draw the crop offset at random (training); otherwise crop from the start.
        speakers: keep only these speakers (file-name prefix before ``_``).
        exclude_speakers: drop these speakers.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        sample_rate: int = 16000,
        segment_seconds: float | None = None,
        random_crop: bool = False,
        speakers: tuple[str, ...] | list[str] | None = None,
        exclude_speakers: tuple[str, ...] | list[str] = (),
    ) -> None:
        if split not in ("train", "test"):
            raise ValueError("split must be 'train' or 'test'")
        clean_dir, noisy_dir = (Path(root) / d for d in (TRAIN_DIRS if split == "train" else TEST_DIRS))
        if not clean_dir.is_dir() or not noisy_dir.is_dir():
            raise FileNotFoundError(f"VoiceBank+DEMAND folders not found: {clean_dir}, {noisy_dir}")
        self.pairs = []
        for noisy in sorted(noisy_dir.glob("*.wav")):
            speaker = noisy.stem.split("_")[0]
            if (speakers is not None and speaker not in speakers) or speaker in exclude_speakers:
                continue
            clean = clean_dir / noisy.name
            if not clean.is_file():
                raise FileNotFoundError(f"no clean file for {noisy.name} in {clean_dir}")
            self.pairs.append((noisy, clean))
        if not self.pairs:
            raise FileNotFoundError(f"no VoiceBank+DEMAND pairs in {noisy_dir}")
        self.sample_rate, self.random_crop = sample_rate, random_crop
        self.num_samples = None if segment_seconds is None else int(round(segment_seconds * sample_rate))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        noisy_path, clean_path = self.pairs[index]
        # Two generators with one seed draw the same offset in both (equally long) files.
        seed = int(torch.randint(2**62, ())) if self.random_crop else None
        noisy_rng, clean_rng = (None, None) if seed is None else (np.random.default_rng(seed), np.random.default_rng(seed))
        noisy = read_segment(noisy_path, self.sample_rate, self.num_samples, noisy_rng)
        clean = read_segment(clean_path, self.sample_rate, self.num_samples or noisy.shape[-1], clean_rng)
        return {"noisy": noisy.unsqueeze(0), "clean": clean.unsqueeze(0), "name": noisy_path.stem}


class VoiceBankDataModule(PaddedSplitDataModule):
    """VoiceBank+DEMAND for the enhancer (``{"noisy", "clean"}`` batches).

    Training items are random ``segment_seconds`` crops; validation (held-out training
    speakers) and test items are full utterances zero-padded per batch (with ``"length"``),
    or start crops of ``eval_segment_seconds``.

    Args:
        root: folder holding the four corpus folders.
        sample_rate: output rate.
        segment_seconds: training crop duration.
        eval_segment_seconds: validation/test crop duration (``None``: full utterances).
        val_speakers: training speakers held out for validation.
        batch_size: see :class:`~datamodules.base.SplitDataModule`.
        num_workers: see :class:`~datamodules.base.SplitDataModule`.
    """

    def __init__(
        self,
        root: str = "data/VoiceBank-DEMAND",
        sample_rate: int = 16000,
        segment_seconds: float = 2.0,
        eval_segment_seconds: float | None = None,
        val_speakers: list[str] = ["p226", "p287"],
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        self.save_hyperparameters()

    def check_data(self) -> None:
        root = Path(self.hparams.root)
        layout = f"{root}/{{{','.join((*TRAIN_DIRS, *TEST_DIRS))}}}/*.wav"
        require_folders("VoiceBank+DEMAND", layout, *(root / d for d in (*TRAIN_DIRS, *TEST_DIRS)))

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if stage in (None, "fit"):
            self.train_set = VoiceBankDemand(hp.root, "train", hp.sample_rate, hp.segment_seconds, True, exclude_speakers=hp.val_speakers)
        if stage in (None, "fit", "validate"):
            self.val_set = VoiceBankDemand(hp.root, "train", hp.sample_rate, hp.eval_segment_seconds, speakers=hp.val_speakers)
        if stage in (None, "test", "predict"):
            self.test_set = VoiceBankDemand(hp.root, "test", hp.sample_rate, hp.eval_segment_seconds)

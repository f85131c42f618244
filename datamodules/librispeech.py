"""LibriSpeech utterances with transcripts (``LibriSpeech/<split>/<speaker>/<chapter>/``).

Each chapter folder holds ``<speaker>-<chapter>-<utterance>.flac`` files and one
``<speaker>-<chapter>.trans.txt`` with a line ``<utterance id> <TRANSCRIPT>`` per file. The
dataset is a general source of clean speech (enhancer mixtures, hiding hosts/payloads).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.audio_files import PaddedSplitDataModule, read_segment
from datamodules.base import require_folders


class LibriSpeech(Dataset):
    """Utterances ``{"audio": (1, L), "transcript", "speaker", "chapter", "utterance_id"}``.

    Args:
        root: the ``LibriSpeech`` folder (holding the split folders) or its parent.
        splits: split folder names, e.g. ``("train-clean-100",)``.
        sample_rate: output rate (LibriSpeech is 16 kHz).
        segment_seconds: crop/pad every utterance to this duration; ``None`` keeps full lengths.
        random_crop: draw the crop offset at random (training); otherwise crop from the start.
        max_utterances: keep only the first ``max_utterances`` (sorted by id).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        splits: tuple[str, ...] | list[str] = ("train-clean-100",),
        sample_rate: int = 16000,
        segment_seconds: float | None = None,
        random_crop: bool = False,
        max_utterances: int | None = None,
    ) -> None:
        root = Path(root)
        if not (root / splits[0]).is_dir() and (root / "LibriSpeech" / splits[0]).is_dir():
            root = root / "LibriSpeech"
        self.sample_rate, self.random_crop = sample_rate, random_crop
        self.num_samples = None if segment_seconds is None else int(round(segment_seconds * sample_rate))
        self.utterances: list[tuple[Path, str, int, int, str]] = []
        for split in splits:
            split_dir = root / split
            if not split_dir.is_dir():
                raise FileNotFoundError(f"LibriSpeech split not found: {split_dir}")
            for transcript_file in sorted(split_dir.glob("*/*/*.trans.txt")):
                speaker, chapter = (int(part) for part in transcript_file.name.split(".")[0].split("-"))
                for line in transcript_file.read_text().splitlines():
                    if not line.strip():
                        continue
                    utterance_id, _, text = line.strip().partition(" ")
                    audio = transcript_file.parent / f"{utterance_id}.flac"
                    if audio.is_file():
                        self.utterances.append((audio, text, speaker, chapter, utterance_id))
        self.utterances.sort(key=lambda u: u[4])
        if max_utterances is not None:
            self.utterances = self.utterances[:max_utterances]
        if not self.utterances:
            raise FileNotFoundError(f"no LibriSpeech utterances in {root} for splits {list(splits)}")

    @property
    def files(self) -> list[Path]:
        """Audio file of every utterance (e.g. the clean source of a mixing datamodule)."""
        return [u[0] for u in self.utterances]

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> dict:
        path, text, speaker, chapter, utterance_id = self.utterances[index]
        rng = np.random.default_rng(int(torch.randint(2**31, ()))) if self.random_crop else None
        wave = read_segment(path, self.sample_rate, self.num_samples, rng)
        return {"audio": wave.unsqueeze(0), "transcript": text, "speaker": speaker, "chapter": chapter, "utterance_id": utterance_id}


class LibriSpeechDataModule(PaddedSplitDataModule):
    """LibriSpeech utterances as ``{"audio": (B, 1, L), "transcript": [...], ...}`` batches.

    Training items are random crops of ``segment_seconds``; validation/test items are crops
    from the start of each utterance (or full utterances, zero-padded per batch with a
    ``"length"`` entry, when ``eval_segment_seconds`` is ``None``).

    Args:
        root: the ``LibriSpeech`` folder or its parent.
        train_splits: training split folders.
        val_splits: validation split folders.
        test_splits: test split folders.
        sample_rate: output rate.
        segment_seconds: training crop duration.
        eval_segment_seconds: validation/test crop duration (``None``: full utterances).
        max_val_utterances: cap on validation utterances.
        batch_size: see :class:`~datamodules.base.SplitDataModule`.
        num_workers: see :class:`~datamodules.base.SplitDataModule`.
    """

    def __init__(
        self,
        root: str = "data/LibriSpeech",
        train_splits: list[str] = ["train-clean-100"],
        val_splits: list[str] = ["dev-clean"],
        test_splits: list[str] = ["test-clean"],
        sample_rate: int = 16000,
        segment_seconds: float = 4.0,
        eval_segment_seconds: float | None = 4.0,
        max_val_utterances: int | None = 256,
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        self.save_hyperparameters()

    def check_data(self) -> None:
        hp = self.hparams
        root = Path(hp.root)
        splits = [*hp.train_splits, *hp.val_splits]
        if not (root / splits[0]).is_dir() and (root / "LibriSpeech").is_dir():
            root = root / "LibriSpeech"
        require_folders("LibriSpeech", f"{root}/<split>/<speaker>/<chapter>/*.flac", *(root / split for split in splits))

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if stage in (None, "fit"):
            self.train_set = LibriSpeech(hp.root, hp.train_splits, hp.sample_rate, hp.segment_seconds, random_crop=True)
        if stage in (None, "fit", "validate"):
            self.val_set = LibriSpeech(hp.root, hp.val_splits, hp.sample_rate, hp.eval_segment_seconds, max_utterances=hp.max_val_utterances)
        if stage in (None, "test", "predict"):
            self.test_set = LibriSpeech(hp.root, hp.test_splits, hp.sample_rate, hp.eval_segment_seconds)

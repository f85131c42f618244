"""Audio-file helpers shared by the speech datamodules: listing folders, reading segments and
padding variable-length batches."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.nn import functional as F

from common.audio import resample
from datamodules.base import SplitDataModule

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus")


def list_audio_files(*folders: str | os.PathLike) -> list[Path]:
    """Every audio file (``wav``, ``flac``, ``ogg``, ``opus``) under ``folders``, recursively, sorted."""
    files = {
        path
        for folder in folders
        for path in Path(folder).rglob("*")
        if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file()
    }
    return sorted(files)


def fit_length(wave: torch.Tensor, num_samples: int, loop: bool = False) -> torch.Tensor:
    """Crop or extend ``wave`` ``(L,)`` to ``num_samples``: zero-padded, or tiled when ``loop``."""
    if wave.shape[-1] >= num_samples:
        return wave[..., :num_samples]
    if loop and wave.shape[-1] > 0:
        return wave.repeat(-(-num_samples // wave.shape[-1]))[:num_samples]
    return F.pad(wave, (0, num_samples - wave.shape[-1]))


def read_segment(
    path: str | os.PathLike,
    sample_rate: int,
    num_samples: int | None = None,
    rng: np.random.Generator | None = None,
    loop: bool = False,
) -> torch.Tensor:
    """A mono float32 segment ``(num_samples,)`` of an audio file at ``sample_rate``.

    Only the needed frames are read. The segment starts at a random offset drawn from ``rng``,
    or at the beginning when ``rng`` is ``None``; short files are zero-padded (or tiled when
    ``loop``). With ``num_samples=None`` the whole file is returned.
    """
    info = sf.info(str(path))
    start, stop = 0, None
    if num_samples is not None:
        needed = int(np.ceil(num_samples * info.samplerate / sample_rate))
        if info.frames > needed:
            start = int(rng.integers(0, info.frames - needed + 1)) if rng is not None else 0
            stop = start + needed
    data, file_rate = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    wave = resample(torch.from_numpy(np.ascontiguousarray(data.mean(axis=1))), file_rate, sample_rate)
    return wave if num_samples is None else fit_length(wave, num_samples, loop)


def pad_collate(items: list[dict]) -> dict:
    """Collate dicts whose waveforms ``(C, L)`` differ in length: zero-pad to the longest and
    add ``"length"`` (original lengths); other fields are gathered into lists or stacked."""
    batch: dict = {}
    lengths = None
    for key in items[0]:
        values = [item[key] for item in items]
        if isinstance(values[0], torch.Tensor) and values[0].dim() == 2:
            lengths = torch.tensor([v.shape[-1] for v in values])
            longest = int(lengths.max())
            batch[key] = torch.stack([F.pad(v, (0, longest - v.shape[-1])) for v in values])
        elif isinstance(values[0], torch.Tensor):
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    if lengths is not None:
        batch["length"] = lengths
    return batch


class PaddedSplitDataModule(SplitDataModule):
    """A :class:`SplitDataModule` whose loaders batch variable-length items with :func:`pad_collate`."""

    collate_fn = staticmethod(pad_collate)

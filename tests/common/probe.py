"""A callback that records, per rank, what training saw (imported by subprocess runs)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import lightning.pytorch as pl
import torch


def digest(tensor: torch.Tensor) -> str:
    return hashlib.sha1(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


class TrainingProbe(pl.Callback):
    """Writes ``<out_dir>/rank<R>.json``: first global step, per-item digests of every training
    batch and a digest of the final weights."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.items: list[str] = []
        self.start_step: int | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self.start_step = trainer.global_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        first = next(iter(batch.values()))
        self.items.extend(digest(item) for item in first)

    def on_train_end(self, trainer, pl_module) -> None:
        weights = torch.cat([p.detach().flatten().cpu() for p in pl_module.parameters()])
        record = {"start_step": self.start_step, "end_step": trainer.global_step, "items": self.items, "weights": digest(weights)}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))

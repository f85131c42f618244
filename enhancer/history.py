"""MetricGAN+ history set: past enhanced outputs with their real scores, replayed to the
discriminator so that it does not forget earlier generators."""

from __future__ import annotations

import torch


class ScoredHistory:
    """A bounded replay buffer of ``(estimate, reference, scores)`` items kept on CPU.

    When full, a random old item is replaced, so the buffer stays a uniform sample of the
    whole training history (reservoir sampling) rather than only its recent past.

    Args:
        capacity: maximum number of stored items.
        seed: seed of the buffer's own random generator.
    """

    def __init__(self, capacity: int = 1024, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.items: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.seen = 0
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, estimates: torch.Tensor, references: torch.Tensor, scores: torch.Tensor) -> None:
        """Store a batch: waveforms ``(B, ..., L)`` and scores ``(B, M)``; items with a NaN
        score are skipped."""
        for estimate, reference, score in zip(estimates.detach().cpu(), references.detach().cpu(), scores.cpu()):
            if not torch.isfinite(score).all():
                continue
            self.seen += 1
            item = (estimate.reshape(-1).clone(), reference.reshape(-1).clone(), score.clone())
            if len(self.items) < self.capacity:
                self.items.append(item)
            else:
                slot = int(torch.randint(self.seen, (1,), generator=self.generator))
                if slot < self.capacity:
                    self.items[slot] = item

    def sample(self, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``count`` random items (fewer if the buffer is smaller) as ``(B, L)``, ``(B, L)``,
        ``(B, M)`` tensors cropped to their shortest length; ``None`` if nothing to replay."""
        count = min(count, len(self.items))
        if count <= 0:
            return None
        chosen = torch.randperm(len(self.items), generator=self.generator)[:count].tolist()
        length = min(self.items[i][0].shape[-1] for i in chosen)
        estimates = torch.stack([self.items[i][0][:length] for i in chosen])
        references = torch.stack([self.items[i][1][:length] for i in chosen])
        scores = torch.stack([self.items[i][2] for i in chosen])
        return estimates, references, scores

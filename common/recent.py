"""A few recently used values, found by a digest of what they were computed from.

The embedders keep what they computed from a cover for the next embedding into it (``hide``
embeds into one cover several times: probes, then every attempt).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np


class RecentValues:
    """The values of the ``size`` keys looked up most recently; older ones are computed again."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: dict[Hashable, Any] = {}

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of ``key``, from ``compute()`` where it is not kept."""
        value = self.values.pop(key, None)
        if value is None:
            value = compute()
        self.values[key] = value  # the most recent last
        while len(self.values) > self.size:
            del self.values[next(iter(self.values))]
        return value

    def clear(self) -> None:
        """Forget every value."""
        self.values.clear()


def digest(array: np.ndarray) -> bytes:
    """A digest of ``array``'s bytes (a changed image or message is another key)."""
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=32).digest()

from __future__ import annotations

import numpy as np

from common.recent import RecentValues, digest


def test_keeps_the_most_recently_used_keys_only() -> None:
    computed = []
    cache = RecentValues(2)

    def value(key: str) -> str:
        return cache.get(key, lambda: computed.append(key) or key.upper())

    assert [value(key) for key in ("a", "b", "a", "c", "a", "b")] == ["A", "B", "A", "C", "A", "B"]
    assert computed == ["a", "b", "c", "b"]  # "b" was the oldest when "c" came
    cache.clear()
    value("a")
    assert computed[-1] == "a"


def test_digest_follows_the_bytes() -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert digest(array) == digest(array.copy()) == digest(np.asfortranarray(array))
    changed = array.copy()
    changed[2, 3] ^= 1
    assert digest(changed) != digest(array)

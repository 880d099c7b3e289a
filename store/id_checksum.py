"""An order-independent checksum of a set of chunk ids, kept up to date write by write.

The store keeps the checksum of its chunk ids in its manifest and the FAISS file carries the
checksum of the ids it holds, so a file that holds another set of ids is recognised as foreign.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

MODULUS = 2**64


def _mixed(ids: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: neighbouring ids get unrelated 64-bit values."""
    x = np.asarray(ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def checksum(ids: Iterable[int] | np.ndarray) -> int:
    """The checksum of a set of ids (each counted once per occurrence)."""
    array = np.fromiter(ids, np.int64) if not isinstance(ids, np.ndarray) else ids
    return int(_mixed(array).sum(dtype=np.uint64)) if len(array) else 0


def updated(current: int, added: Iterable[int], removed: Iterable[int]) -> int:
    """The checksum after adding `added` and removing `removed` ids."""
    return (current + checksum(added) - checksum(removed)) % MODULUS

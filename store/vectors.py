"""Vectors as float32 BLOBs in SQLite."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def to_blob(vector: np.ndarray) -> bytes:
    """One vector as little-endian float32 bytes."""
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_blobs(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    """(n, dim) float32 array from BLOBs; a BLOB of the wrong size raises ValueError."""
    if not blobs:
        return np.zeros((0, dim), np.float32)
    joined = b"".join(blobs)
    if len(joined) != len(blobs) * dim * 4:
        raise ValueError(f"vector BLOBs do not hold {dim} float32 values each")
    return np.frombuffer(joined, dtype="<f4").reshape(len(blobs), dim).astype(np.float32)

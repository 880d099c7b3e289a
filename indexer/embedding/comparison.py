"""Two texts side by side: their tokens' cosines and their pooled cosine under each pooling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from indexer.embedding.views import TokenView
from indexer.settings import POOLINGS

if TYPE_CHECKING:
    from indexer.embedding.embedder import Embedder


@dataclass
class Comparison:
    """Token views of (a window of) texts A and B, the cosine of every token of A with every
    token of B, and the cosine of the two pooled whole texts under each pooling recipe."""

    a: TokenView
    b: TokenView
    token_cosines: np.ndarray  # (tokens of A, tokens of B)
    pooled: dict[str, float]


def cosine_matrix(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Cosine of every row vector with every column vector."""

    def unit(vectors: np.ndarray) -> np.ndarray:
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    return unit(rows) @ unit(columns).T


def compare(embedder: Embedder, a: str, b: str, windows: tuple[int, int] = (0, 0)) -> Comparison:
    """Compare two texts with one model: the pooled vectors of the whole texts, the tokens of
    window `windows[0]` of A and `windows[1]` of B (a short text's only window by default)."""
    view_a = embedder.token_embeddings(a, windows[0])
    view_b = embedder.token_embeddings(b, windows[1])
    pooled = {}
    for pooling in POOLINGS:
        first, second = embedder.with_pooling(pooling).embed([a, b])
        pooled[pooling] = float(first @ second)
    return Comparison(view_a, view_b, cosine_matrix(view_a.vectors, view_b.vectors), pooled)

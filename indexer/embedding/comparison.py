"""Two texts side by side: their tokens' cosines and their pooled cosine under each pooling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.embedding.embedder import Embedder, TokenView
from indexer.settings import POOLINGS


@dataclass
class Comparison:
    """Token views of texts A and B, the cosine of every token of A with every token of B, and the
    cosine of the two pooled vectors under each pooling recipe."""

    a: TokenView
    b: TokenView
    token_cosines: np.ndarray  # (tokens of A, tokens of B)
    pooled: dict[str, float]


def cosine_matrix(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Cosine of every row vector with every column vector."""

    def unit(vectors: np.ndarray) -> np.ndarray:
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    return unit(rows) @ unit(columns).T


def compare(embedder: Embedder, a: str, b: str) -> Comparison:
    """Compare two texts (each at most one window long) with one model."""
    view_a, view_b = embedder.token_embeddings(a), embedder.token_embeddings(b)
    pooled = {}
    for pooling in POOLINGS:
        first, second = embedder.with_pooling(pooling).embed([a, b])
        pooled[pooling] = float(first @ second)
    return Comparison(view_a, view_b, cosine_matrix(view_a.vectors, view_b.vectors), pooled)

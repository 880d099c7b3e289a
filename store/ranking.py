"""Turning chunk-level matches into per-document rankings, and fusing two rankings."""

from __future__ import annotations

import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass

from store.results import Hit

MODES = ("dense", "lexical", "hybrid")  # the ways a store can be searched
RRF_K = 60


@dataclass
class ChunkMatch:
    """A chunk that matched, with its document and score (higher is better)."""

    chunk_id: int
    doc_id: str
    score: float


def best_per_document(
    ids: Sequence[int],
    scores: Sequence[float],
    doc_of: Mapping[int, str],
    allowed: Container[str] | None = None,
) -> list[ChunkMatch]:
    """Each document once, by its best chunk, best first. `ids` and `scores` come best first;
    a chunk with no document in `doc_of` (gone from SQLite) or of a document not `allowed` is
    passed over."""
    best: dict[str, ChunkMatch] = {}
    for chunk_id, score in zip(ids, scores, strict=True):
        doc_id = doc_of.get(chunk_id)
        if doc_id is None or doc_id in best or (allowed is not None and doc_id not in allowed):
            continue
        best[doc_id] = ChunkMatch(chunk_id, doc_id, score)
    return list(best.values())


def fuse(rankings: dict[str, list[ChunkMatch]], k: int) -> list[Hit]:
    """Reciprocal-rank fusion of per-document rankings (score = sum of 1/(60 + rank)).
    The chunk shown is the one from the first ranking that has the document."""
    fused: dict[str, Hit] = {}
    for mode, ranking in rankings.items():
        for rank, match in enumerate(ranking, start=1):
            hit = fused.setdefault(match.doc_id, Hit(match.doc_id, 0.0, match.chunk_id))
            hit.score += 1.0 / (RRF_K + rank)
            hit.parts[mode] = {"rank": rank, "score": match.score}
    return sorted(fused.values(), key=lambda h: -h.score)[:k]


def fts_query(text: str) -> str:
    """A user's words as an FTS5 query: each word quoted (so operators are data), ORed."""
    words = re.findall(r"\w+", text.lower())
    return " OR ".join(f'"{word}"' for word in dict.fromkeys(words))

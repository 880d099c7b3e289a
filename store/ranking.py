"""Turning chunk-level matches into per-document rankings, and fusing two rankings."""

from __future__ import annotations

import re
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


def best_per_document(matches: list[ChunkMatch]) -> list[ChunkMatch]:
    """Each document once, by its best chunk, best first."""
    best: dict[str, ChunkMatch] = {}
    for match in matches:
        if match.doc_id not in best or match.score > best[match.doc_id].score:
            best[match.doc_id] = match
    return sorted(best.values(), key=lambda m: -m.score)


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

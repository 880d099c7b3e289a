"""The page of a hit that holds its match. A chunk may span pages; the page a person should open
is the one holding most of the query's words, else (for a cosine) the one holding the largest
share of the score, which mean pooling makes exact per token (`Explanation`)."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence

from indexer.embedding.views import Explanation
from store.function_words import FUNCTION_WORDS

SUFFIXES = ("ing", "ed", "es", "s")  # "wings" finds "wing", "winged", "wings"
WORD = re.compile(r"\w+")


def query_stems(query: str) -> list[str]:
    """The query's words that say something (no function words), each cut to a rough stem."""
    stems = []
    for word in WORD.findall(query.lower()):
        if word in FUNCTION_WORDS:
            continue
        for suffix in SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        stems.append(word)
    return stems


def page_of(offset: int, page_starts: Sequence[int]) -> int:
    """The 1-based page holding character `offset` of a document whose pages start there."""
    return max(bisect_right(page_starts, offset), 1)


def matched_page(
    query: str,
    text: str,
    chunk_start: int,
    page_starts: Sequence[int],
    explain: Callable[[], Explanation] | None,
) -> int:
    """The page of a chunk (`text`, starting at `chunk_start` in its document) holding most of
    the query's words; without any, the page with the largest share of the cosine (`explain`, or
    None when the score is no cosine); else the chunk's first page."""
    votes: dict[int, float] = {}
    stems = query_stems(query)
    if stems:
        pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, stems)) + ")", re.IGNORECASE)
        for found in pattern.finditer(text):
            page = page_of(chunk_start + found.start(), page_starts)
            votes[page] = votes.get(page, 0) + 1
    if not votes and explain is not None:
        explanation = explain()
        for (start, end), share in zip(explanation.offsets, explanation.shares, strict=True):
            if end > start:
                page = page_of(chunk_start + start, page_starts)
                votes[page] = votes.get(page, 0.0) + float(share)
    if not votes:
        return page_of(chunk_start, page_starts)
    return max(sorted(votes), key=lambda page: votes[page])

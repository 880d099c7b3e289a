"""Queries made from a store's own text: queries that have no answer in it, which calibrate the
weak-match warning, and example queries for a newcomer.

A query with no answer is built of words drawn from different documents (each word is in the
store, no document holds them together): its best score is what a question the store cannot
answer scores here. A search whose best score is below most of theirs is a weak match.
"""

from __future__ import annotations

import re

import numpy as np

WORD = re.compile(r"[^\W\d_]{3,}")  # letters only, three or more
SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")


def no_answer_queries(texts: list[str], count: int, seed: int = 0) -> list[str]:
    """`count` queries of 2 to 5 words, each word from another of `texts` (lowercased, letters
    only; fewer queries when the texts have too few words)."""
    words = [sorted({w.lower() for w in WORD.findall(text)}) for text in texts]
    words = [found for found in words if found]
    if len(words) < 2:
        return []
    rng = np.random.default_rng(seed)
    queries = []
    for _ in range(count):
        size = int(rng.integers(2, min(5, len(words)) + 1))
        picked = rng.choice(len(words), size=size, replace=False)
        queries.append(" ".join(words[i][int(rng.integers(len(words[i])))] for i in picked))
    return queries


def share_below(score: float, reference: list[float]) -> float:
    """The share of the sorted `reference` scores that are lower than `score`."""
    return float(np.searchsorted(reference, score)) / len(reference)


def example_queries(texts: list[str], count: int, words: tuple[int, int] = (3, 9)) -> list[str]:
    """Up to `count` sentences, the first or second of each of `texts` (the first is often a
    title), that are `words` words long (inclusive), without their final stop: what a newcomer
    might ask this store."""
    found: list[str] = []
    for text in texts:
        for piece in [piece for piece in SENTENCE_END.split(text) if piece.strip()][:2]:
            sentence = " ".join(piece.split()).rstrip(".")
            if words[0] <= len(sentence.split()) <= words[1]:
                if sentence not in found:
                    found.append(sentence)
                break
        if len(found) == count:
            break
    return found

"""What looking inside the model shows: every position's vector of a window, the same grouped into
words, and each position's exact share of a cosine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tokenizers import Encoding


@dataclass
class TokenView:
    """The last hidden layer of one window, position by position ([CLS] and [SEP] included)."""

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]
    vectors: np.ndarray  # (n_positions, dim) float32

    def words(self) -> WordView:
        """Wordpieces grouped back into the words they came from, each word's vector their mean."""
        groups: dict[int, list[int]] = {}
        for position, word in enumerate(self.word_ids):
            if word is not None:
                groups.setdefault(word, []).append(position)
        pieces = list(groups.values())
        offsets = [(self.offsets[p[0]][0], self.offsets[p[-1]][1]) for p in pieces]
        vectors = (
            np.stack([self.vectors[p].mean(axis=0) for p in pieces])
            if pieces
            else (np.zeros((0, self.vectors.shape[1]), np.float32))
        )
        return WordView([self.text[a:b] for a, b in offsets], offsets, pieces, vectors)


@dataclass
class WordView:
    """Words of a text with their wordpiece positions and mean vectors."""

    words: list[str]
    offsets: list[tuple[int, int]]
    pieces: list[list[int]]
    vectors: np.ndarray


@dataclass
class Explanation:
    """Each position's exact share of cosine(query, text); the shares sum to `cosine`."""

    tokens: list[str]
    offsets: list[tuple[int, int]]
    shares: np.ndarray  # float64, one per position
    cosine: float


def window_positions(
    text: str, encoding: Encoding
) -> tuple[list[str], list[tuple[int, int]], list[int | None]]:
    """Tokens, character offsets and word indices of a one-window text's positions, [CLS] and
    [SEP] included (they get the empty spans at the text's ends and no word)."""
    return (
        ["[CLS]", *encoding.tokens, "[SEP]"],
        [(0, 0), *encoding.offsets, (len(text), len(text))],
        [None, *encoding.word_ids, None],
    )

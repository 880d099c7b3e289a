"""Cutting a tokenized text into overlapping windows of wordpieces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """A run of wordpieces `token_start:token_end` covering characters `start:end` of the text."""

    ord: int
    token_start: int
    token_end: int
    start: int
    end: int

    @property
    def n_tokens(self) -> int:
        return self.token_end - self.token_start


def window_spans(n_tokens: int, chunk_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Token spans of at most `chunk_tokens`, consecutive ones sharing exactly `overlap` tokens,
    together covering every token (`settings.check_window` holds). An empty text gives one empty
    span."""
    spans = []
    start = 0
    while True:
        end = min(start + chunk_tokens, n_tokens)
        spans.append((start, end))
        if end >= n_tokens:
            return spans
        start = end - overlap


def windows(offsets: Sequence[Sequence[int]], chunk_tokens: int, overlap: int) -> list[Window]:
    """Windows over a text whose wordpieces have character `offsets` (pairs start, end)."""
    result = []
    for ord_, (first, last) in enumerate(window_spans(len(offsets), chunk_tokens, overlap)):
        if first == last:
            result.append(Window(ord_, 0, 0, 0, 0))
        else:
            start, end = int(offsets[first][0]), int(offsets[last - 1][1])
            result.append(Window(ord_, first, last, start, end))
    return result

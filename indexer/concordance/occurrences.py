"""Finding a word's occurrences in a store: the full-text index names the chunks that may hold
it, the exact word is picked out of their text, and when there are more than asked for, they are
taken evenly spread over the store. Each occurrence keeps the wordpieces of its chunk's window,
so that the model sees what it saw when the store was written.

A word is one run of letters, digits or underscores (`\\w+`), matched case-insensitively as a
whole token: `bank` finds "bank" and "Bank", not "banks" or "riverbank"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.settings import KWIC_CHARS
from store.errors import SemsearchError

if TYPE_CHECKING:
    from indexer.embedding.embedder import Embedder
    from store.store import Store

MARGIN = 200  # characters read either side of a chunk: context lines and whole words at its edges
READ_BATCH = 200  # chunks read at once while looking for occurrences
GOLDEN = (5**0.5 - 1) / 2
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s")
_SPACES = re.compile(r"\s+")


class ConcordanceError(SemsearchError):
    """A concordance that cannot be made as asked (not one word)."""


@dataclass
class Occurrence:
    """One occurrence of the word: `start`/`end` are character offsets into its document's
    text, whose `text[start:end]` is `word` as written."""

    doc_id: str
    title: str | None
    chunk_id: int
    chunk_ord: int
    start: int
    end: int
    word: str
    left: str
    right: str
    neighbours: list[str] = field(default_factory=list)  # nearby words, lower-cased

    def as_dict(self) -> dict[str, Any]:
        return {
            key: getattr(self, key)
            for key in ("doc_id", "title", "chunk_id", "chunk_ord", "start", "end")
        } | {"left": self.left, "word": self.word, "right": self.right}


@dataclass
class Window:
    """A chunk's window as the model saw it: ids with [CLS]/[SEP], and each wordpiece's
    character span in the document."""

    ids: np.ndarray
    offsets: np.ndarray  # (n, 2), without [CLS]/[SEP]

    def positions(self, start: int, end: int) -> list[int]:
        """Positions (counting [CLS] as 0) of the wordpieces that overlap start:end."""
        overlap = (self.offsets[:, 0] < end) & (self.offsets[:, 1] > start)
        return (np.flatnonzero(overlap) + 1).tolist()


def checked_word(word: str) -> str:
    """The word stripped; ConcordanceError unless it is one word token."""
    stripped = word.strip()
    if not _WORD.fullmatch(stripped):
        raise ConcordanceError(
            f"a concordance is of one word (letters, digits, underscores), not {word!r}"
        )
    return stripped


def spread(count: int) -> np.ndarray:
    """0..count-1 in an order whose every prefix is spread evenly over the range (golden-ratio
    sequence), so that reading a prefix samples the whole store."""
    return np.argsort((np.arange(count) * GOLDEN) % 1.0, kind="stable")


def find(store: Store, word: str, limit: int, neighbours: int) -> tuple[list[Occurrence], int]:
    """Up to `limit` occurrences of `word` (spread evenly when there are more), in the store's
    order (chunk id, then position), and the number of chunks the full-text index matched. An
    occurrence in the overlap of two windows is taken once. `neighbours`: words either side kept
    as its neighbours."""
    word = checked_word(word)
    pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
    chunk_ids = store.chunks_with_word(word)
    order = spread(len(chunk_ids))
    found: dict[tuple[str, int], Occurrence] = {}
    for first in range(0, len(order), READ_BATCH):
        batch = sorted(chunk_ids[i] for i in order[first : first + READ_BATCH])
        for row in store.chunk_contexts(batch, MARGIN):
            for occurrence in _in_chunk(row, pattern, neighbours):
                found.setdefault((occurrence.doc_id, occurrence.start), occurrence)
        if len(found) >= limit:
            break
    taken = sorted(found.values(), key=lambda o: (o.chunk_id, o.start))
    if len(taken) > limit:
        keep = np.linspace(0, len(taken) - 1, limit).round().astype(int)
        taken = [taken[i] for i in sorted(set(keep.tolist()))]
    return taken, len(chunk_ids)


def _in_chunk(row: dict[str, Any], pattern: re.Pattern, neighbours: int) -> Iterator[Occurrence]:
    """The occurrences wholly inside one chunk's span (one that a window boundary cuts is whole
    in the next window, which overlaps this one). The pattern sees the context on both sides, so
    a word cut at the span's edge is not taken for the whole word."""
    context, offset = row["context"], row["context_start"]
    for match in pattern.finditer(context, row["start"] - offset):
        if match.end() > row["end"] - offset:
            break
        left_text, right_text = context[: match.start()], context[match.end() :]
        yield Occurrence(
            doc_id=row["doc_id"],
            title=row["title"],
            chunk_id=row["id"],
            chunk_ord=row["ord"],
            start=match.start() + offset,
            end=match.end() + offset,
            word=match.group(0),
            left=_SPACES.sub(" ", left_text[-KWIC_CHARS * 2 :])[-KWIC_CHARS:],
            right=_SPACES.sub(" ", right_text[: KWIC_CHARS * 2])[:KWIC_CHARS],
            neighbours=[
                w.lower()
                for w in _WORD.findall(left_text)[-neighbours:]
                + _WORD.findall(right_text)[:neighbours]
            ],
        )


def windows(store: Store, embedder: Embedder, chunk_ids: list[int]) -> dict[int, Window]:
    """The windows of these chunks as the store's recipe cut them: each chunk's text, widened to
    whole words at both ends, tokenized, and the wordpieces inside the chunk's span kept."""
    rows = store.chunk_contexts(chunk_ids, MARGIN)
    texts, shifts = [], []
    for row in rows:
        context, offset = row["context"], row["context_start"]
        first = 0
        if offset > 0:
            space = _SPACE.search(context, 0, max(row["start"] - offset, 0))
            first = space.start() if space else 0
        space = _SPACE.search(context, row["end"] - offset)
        last = space.start() if space else len(context)
        texts.append(context[first:last])
        shifts.append(offset + first)
    result = {}
    for row, shift, tokens in zip(rows, shifts, embedder.tokenize(texts), strict=True):
        offsets = tokens.offsets + shift
        inside = (offsets[:, 0] >= row["start"]) & (offsets[:, 1] <= row["end"])
        result[row["id"]] = Window(embedder.window_ids(tokens.ids[inside]), offsets[inside])
    return result

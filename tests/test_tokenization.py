"""Tokenizing long texts: the same wordpieces as in one piece, each list read once (linear time)."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.embedding import tokenization
from indexer.embedding.embedder import Embedder
from indexer.embedding.tokenization import segments, tokenize, untruncated

AWKWARD = (
    "Café CRÈME brûlée, naïve façade!  Tabs\there;\nnew lines\r\nand 日本語の文章 too. "
    'Unbelievably-hyphenated words (parenthesised), quotes "like this" and 3.14159 numbers; '
    "emoji 🚀 rockets... a-very-long-run-of-characters-without-any-whitespace-at-all-"
    "that-goes-on-and-on-for-well-over-a-hundred-characters-so-that-it-becomes-unknown "
)


@pytest.fixture
def tokenizer(shipped: Embedder):
    return untruncated(shipped.loaded.tokenizer.backend_tokenizer)


def test_segments_are_cut_just_before_whitespace() -> None:
    text = "alpha beta gamma delta epsilon " * 10
    starts = segments(text, size=40)
    assert starts[0] == 0 and len(starts) > 3
    assert all(text[start].isspace() for start in starts[1:])
    assert all(b - a >= 40 for a, b in zip(starts, starts[1:], strict=False))
    assert segments("x" * 500, size=40) == [0], "no whitespace: one segment"


def test_long_text_in_segments_tokenizes_as_one_piece(tokenizer, monkeypatch) -> None:
    text = AWKWARD * 40  # about 12,000 characters
    whole = tokenizer.encode(text, add_special_tokens=False)
    monkeypatch.setattr(tokenization, "SEGMENT_CHARS", 300)
    assert len(segments(text, 300)) > 30
    (tokens,) = tokenize(tokenizer, [text], words=True)
    assert tokens.ids.tolist() == whole.ids
    assert tokens.offsets.tolist() == [list(pair) for pair in whole.offsets]
    assert tokens.word_ids.tolist() == whole.word_ids
    assert tokenize(tokenizer, [text], parallel=False)[0].ids.tolist() == whole.ids


class CountingEncoding:
    """An Encoding that counts reads of its lists (each read copies the whole list)."""

    reads: dict[str, int] = {}

    def __init__(self, encoding) -> None:
        self._encoding = encoding

    def __getattr__(self, name: str):
        if name in ("ids", "offsets", "word_ids"):
            CountingEncoding.reads[name] = CountingEncoding.reads.get(name, 0) + 1
        return getattr(self._encoding, name)


@pytest.mark.parametrize("pooling", ["mean", "spark-nlp"])
def test_window_preparation_reads_each_list_once_per_segment(shipped, monkeypatch, pooling) -> None:
    """The quadratic defect: every window re-read the whole text's ids. Now each segment's lists
    are read once, however many windows the text has."""
    real = tokenization._encode
    monkeypatch.setattr(
        tokenization,
        "_encode",
        lambda *args: [CountingEncoding(encoding) for encoding in real(*args)],
    )
    embedder = shipped.with_pooling(pooling)
    text = AWKWARD * 400  # about 120,000 characters, two segments, hundreds of windows
    CountingEncoding.reads = {}
    prepared = embedder.prepare([text])
    windows = len(prepared.windows[0])
    assert windows > 200 and len(segments(text)) == 2
    expected = {"ids": 2, "offsets": 2} | ({"word_ids": 2} if pooling != "mean" else {})
    assert CountingEncoding.reads == expected
    assert len(prepared.bounds) == windows + 1
    np.testing.assert_array_equal(
        np.diff(prepared.bounds), [w.n_tokens + 2 for w in prepared.windows[0]]
    )

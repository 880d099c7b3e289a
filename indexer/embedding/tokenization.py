"""Text to wordpieces with character offsets, in linear time and bounded memory at any length.

A text longer than SEGMENT_CHARS is tokenized in segments cut at whitespace: BERT's normaliser
works character by character and its pre-tokenizer splits at whitespace, so the wordpieces and
offsets are those of the whole text, while no list holds millions of Python objects at once.
(A run of SEGMENT_CHARS characters without whitespace stays in one segment.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Encoding, Tokenizer

SEGMENT_CHARS = 65_536
SEGMENTS_PER_CALL = 8  # the tokenizer's own structures are alive for these segments at once
_WHITESPACE = re.compile(r"\s")


@dataclass
class Tokens:
    """The wordpieces of one text (no special tokens) as arrays."""

    ids: np.ndarray  # int32
    offsets: np.ndarray  # int64, (n, 2): characters start:end of each wordpiece
    word_ids: np.ndarray | None  # int64, the word each wordpiece belongs to (when asked for)

    def __len__(self) -> int:
        return len(self.ids)


def untruncated(tokenizer: Tokenizer) -> Tokenizer:
    """A copy of a fast tokenizer with truncation and padding off (some ship with them on)."""
    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_truncation()
    copy.no_padding()
    return copy


def segments(text: str, size: int = SEGMENT_CHARS) -> list[int]:
    """Start positions of the pieces `text` is cut into: each piece at least `size` characters
    long (but the last), cut just before a whitespace character."""
    starts = [0]
    while len(text) - starts[-1] > size:
        cut = _WHITESPACE.search(text, starts[-1] + size)
        if cut is None:
            break
        starts.append(cut.start())
    return starts


def tokenize(
    tokenizer: Tokenizer, texts: Sequence[str], parallel: bool = True, words: bool = False
) -> list[Tokens]:
    """Tokens of each text. `parallel=False` keeps to the calling thread (no tokenizer thread
    pool); `words` also gives each wordpiece's word index."""
    result: list[Tokens | None] = [None] * len(texts)
    short = [i for i, text in enumerate(texts) if len(text) <= SEGMENT_CHARS]
    encodings = _encode(tokenizer, [texts[i] for i in short], parallel)
    for i, encoding in zip(short, encodings, strict=True):
        result[i] = _arrays(encoding, words)
    for i, text in enumerate(texts):
        if result[i] is None:
            result[i] = _long(tokenizer, text, parallel, words)
    return result


def _encode(tokenizer: Tokenizer, texts: list[str], parallel: bool) -> list[Encoding]:
    if parallel:
        return tokenizer.encode_batch(texts, add_special_tokens=False)
    return [tokenizer.encode(text, add_special_tokens=False) for text in texts]


def _arrays(encoding: Encoding, words: bool, shift: int = 0, words_before: int = 0) -> Tokens:
    """An Encoding's lists as arrays, each list read once (each access copies it whole)."""
    offsets = np.asarray(encoding.offsets, np.int64).reshape(-1, 2) + shift
    word_ids = np.asarray(encoding.word_ids, np.int64) + words_before if words else None
    return Tokens(np.asarray(encoding.ids, np.int32), offsets, word_ids)


def _long(tokenizer: Tokenizer, text: str, parallel: bool, words: bool) -> Tokens:
    starts = segments(text)
    ends = [*starts[1:], len(text)]
    parts, words_before = [], 0
    for first in range(0, len(starts), SEGMENTS_PER_CALL):
        group = starts[first : first + SEGMENTS_PER_CALL]
        pieces = [text[a:b] for a, b in zip(group, ends[first : first + len(group)], strict=True)]
        for start, encoding in zip(group, _encode(tokenizer, pieces, parallel), strict=True):
            part = _arrays(encoding, words, start, words_before)
            if part.word_ids is not None and len(part.word_ids):
                words_before = int(part.word_ids[-1]) + 1
            parts.append(part)
    return Tokens(
        np.concatenate([p.ids for p in parts]),
        np.concatenate([p.offsets for p in parts]),
        np.concatenate([p.word_ids for p in parts]) if words else None,
    )

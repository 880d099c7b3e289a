"""Texts cut into windows and turned into model inputs, with no model: what the embedder does
before the forward pass, and what the indexing job's worker processes do (they never import
torch). `Prepared.join` puts the prepared texts of several parts together, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from indexer.embedding import tokenization
from indexer.embedding.chunking import Window, windows
from indexer.embedding.pooling import position_weights
from indexer.embedding.tokenization import Tokens


@dataclass
class Prepared:
    """Texts cut into windows and turned into model inputs, ready for the forward pass. Inputs are
    kept compactly: every window's ids (with [CLS] and [SEP]) one after another in one array."""

    windows: list[list[Window]]  # per text
    ids: np.ndarray  # int32
    bounds: np.ndarray  # window i is ids[bounds[i]:bounds[i + 1]]
    weights: np.ndarray | None  # float32 beside ids; None: every position weighs 1 (mean)
    unknown_only: list[int]  # indices of texts with a window that is nothing but [UNK]

    @property
    def tokens(self) -> int:
        return sum(w.n_tokens for text in self.windows for w in text)

    @classmethod
    def join(cls, chosen: Sequence[tuple[Prepared, int]]) -> Prepared:
        """The texts `(part, index)` of several prepared parts, in the order given (consecutive
        texts of one part are copied together)."""
        per_text: list[list[Window]] = []
        ids, lengths, weights, unknown_only = [], [], [], []
        text_starts: dict[int, np.ndarray] = {}
        for part, first, last in _runs(chosen):
            starts = text_starts.get(id(part))
            if starts is None:
                starts = text_starts[id(part)] = part.text_starts()
            low_window, high_window = int(starts[first]), int(starts[last])
            low, high = int(part.bounds[low_window]), int(part.bounds[high_window])
            per_text += part.windows[first:last]
            ids.append(part.ids[low:high])
            lengths.append(np.diff(part.bounds[low_window : high_window + 1]))
            if part.weights is not None:
                weights.append(part.weights[low:high])
            before = len(per_text) - (last - first)
            unknown_only += [before + i - first for i in part.unknown_only if first <= i < last]
        bounds = np.zeros(sum(map(len, lengths)) + 1, np.int64)
        if lengths:
            np.cumsum(np.concatenate(lengths), out=bounds[1:])
        return cls(
            per_text,
            np.concatenate(ids) if ids else np.zeros(0, np.int32),
            bounds,
            np.concatenate(weights) if weights else None,
            unknown_only,
        )

    def text_starts(self) -> np.ndarray:
        """The number of each text's first window, and the total at the end."""
        starts = np.zeros(len(self.windows) + 1, np.int64)
        np.cumsum([len(text) for text in self.windows], out=starts[1:])
        return starts


def _runs(chosen: Sequence[tuple[Prepared, int]]) -> list[tuple[Prepared, int, int]]:
    """`chosen` as runs of consecutive texts of one part: (part, first, last + 1)."""
    runs: list[tuple[Prepared, int, int]] = []
    for part, index in chosen:
        if runs and runs[-1][0] is part and runs[-1][2] == index:
            runs[-1] = (part, runs[-1][1], index + 1)
        else:
            runs.append((part, index, index + 1))
    return runs


class Preparer:
    """A fast tokenizer (truncation and padding off) and the window recipe: texts to `Prepared`."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        chunk_tokens: int,
        overlap: int,
        pooling: str,
        special_ids: tuple[int, int, int],
    ) -> None:
        """`special_ids`: [CLS], [SEP] and [UNK]."""
        self.tokenizer = tokenization.untruncated(tokenizer)
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap
        self.pooling = pooling
        self.cls_id, self.sep_id, self.unk_id = special_ids

    def tokenize(self, texts: Sequence[str], parallel: bool = True) -> list[Tokens]:
        """Wordpieces of each whole text, without special tokens, truncation or padding (with
        their word indices when the pooling needs them). `parallel=False` keeps to the calling
        thread (no tokenizer thread pool)."""
        return tokenization.tokenize(
            self.tokenizer, list(texts), parallel, words=self.pooling != "mean"
        )

    def windows(self, tokens: Tokens) -> list[Window]:
        """The windows a tokenized text is cut into."""
        return windows(tokens.offsets, self.chunk_tokens, self.overlap)

    def prepare(self, texts: Sequence[str], parallel: bool = True) -> Prepared:
        """Tokenize and cut every text into windows with their model inputs. `parallel`: as for
        `tokenize`."""
        per_text, pieces, weights, unknown_only = [], [], [], []
        cls, sep = np.array([self.cls_id], np.int32), np.array([self.sep_id], np.int32)
        for number, tokens in enumerate(self.tokenize(texts, parallel)):
            text_windows = self.windows(tokens)
            per_text.append(text_windows)
            for window in text_windows:
                span = tokens.ids[window.token_start : window.token_end]
                pieces += [cls, span, sep]
                if tokens.word_ids is not None:
                    inner = tokens.word_ids[window.token_start : window.token_end].tolist()
                    words = [None, *inner, None]
                    weights.append(np.asarray(position_weights(self.pooling, words), np.float32))
                if len(span) and (span == self.unk_id).all():
                    unknown_only.append(number)
        lengths = [n.n_tokens + 2 for text in per_text for n in text]
        bounds = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=bounds[1:])
        return Prepared(
            per_text,
            np.concatenate(pieces) if pieces else np.zeros(0, np.int32),
            bounds,
            np.concatenate(weights) if weights else None,
            sorted(set(unknown_only)),
        )

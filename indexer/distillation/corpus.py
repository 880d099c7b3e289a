"""The texts a student learns from: windows of the user's documents, read by the same readers as
`index`, plus short spans cut from them as stand-in queries; a few held out to measure agreement."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from indexer.embedding import tokenization
from indexer.embedding.chunking import windows
from indexer.sources.inputs import plan_inputs, read_inputs
from indexer.sources.options import SourceDocument, SourceOptions
from indexer.summary import Skipped
from store.errors import SemsearchError
from store.store import Store, store_exists

SPAN_WORDS = (3, 12)  # a stand-in query: this many words (at least, at most), cut from a window
HELD_OUT_SHARE = 0.05
HELD_OUT_MAX = 500


class DistillationError(SemsearchError):
    """Distillation cannot start or go on; the message says why."""


@dataclass
class Corpus:
    """Training and held-out texts (each at most `text_tokens` of the student's wordpieces), what
    they came from, and an identity that changes with any of them."""

    train: list[str]
    held_out: list[str]
    documents: int
    windows: int
    spans: int
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def identity(self) -> str:
        digest = hashlib.sha256()
        for text in (*self.train, "\0held-out\0", *self.held_out):
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        return "sha256:" + digest.hexdigest()[:32]

    @property
    def texts(self) -> list[str]:
        """Every text, training first: the order of the teacher's cached vectors."""
        return [*self.train, *self.held_out]

    def describe(self) -> dict[str, int | str | list[str]]:
        """For the manifest: the identity, the counts, and each input left out with its reason."""
        return {
            "identity": self.identity,
            "documents": self.documents,
            "windows": self.windows,
            "spans": self.spans,
            "train": len(self.train),
            "held_out": len(self.held_out),
            "skipped": [str(item) for item in self.skipped],
        }


def read_documents(
    paths: Sequence[str], sources: SourceOptions, never: Sequence = ()
) -> tuple[list[str], list[Skipped]]:
    """The indexed text of every document in `paths` (as `index` reads them; a store folder
    gives the text of each of its chunks) and what was left out, each with its reason."""
    texts: list[str] = []
    for path in paths:
        if store_exists(path):
            texts += store_texts(Path(path))
    files = [path for path in paths if not store_exists(path)]
    skipped: list[Skipped] = []
    if not files:
        return texts, skipped
    for item in read_inputs(plan_inputs(files, sources, never=never), sources):
        if isinstance(item, Skipped):
            skipped.append(item)
        elif isinstance(item, SourceDocument) and item.text.strip():
            texts.append(item.text)
    return texts, skipped


def store_texts(folder: Path) -> list[str]:
    """The text of every chunk of the store in `folder` (opened read-only)."""
    store = Store.open(folder)
    try:
        return [chunk["text"] for chunk in store.iter_chunks() if chunk["text"].strip()]
    finally:
        store.close()


def build(
    documents: Iterable[str],
    tokenizer: Tokenizer,
    text_tokens: int,
    seed: int,
    max_texts: int | None = None,
    skipped: list[Skipped] | None = None,
) -> Corpus:
    """Cut each document into windows of `text_tokens` wordpieces (no overlap) and one short span
    per window; keep at most `max_texts` of them (an even sample); hold out a few.
    DistillationError when nothing is left to learn from."""
    rng = np.random.default_rng(seed)
    cut = tokenization.untruncated(tokenizer)
    window_texts, span_texts, count = [], [], 0
    for text in documents:
        count += 1
        encoding = cut.encode(text, add_special_tokens=False)
        for window in windows(encoding.offsets, text_tokens, 0):
            piece = text[window.start : window.end].strip()
            if not piece:
                continue
            window_texts.append(piece)
            words = piece.split()
            if len(words) > SPAN_WORDS[0]:
                size = int(rng.integers(SPAN_WORDS[0], min(SPAN_WORDS[1], len(words)) + 1))
                start = int(rng.integers(0, len(words) - size + 1))
                span_texts.append(" ".join(words[start : start + size]))
    texts = list(dict.fromkeys(window_texts + span_texts))  # unique, first seen
    if max_texts is not None and len(texts) > max_texts:
        keep = np.sort(rng.choice(len(texts), max_texts, replace=False))
        texts = [texts[i] for i in keep]
    if len(texts) < 2:
        raise DistillationError(
            f"the corpus has {len(texts)} text(s) of {count} document(s): nothing to learn from "
            "(give files, folders or JSONL with text)"
        )
    order = rng.permutation(len(texts))
    held = min(HELD_OUT_MAX, max(1, int(len(texts) * HELD_OUT_SHARE)))
    return Corpus(
        train=[texts[i] for i in order[held:]],
        held_out=[texts[i] for i in order[:held]],
        documents=count,
        windows=len(window_texts),
        spans=len(span_texts),
        skipped=skipped or [],
    )

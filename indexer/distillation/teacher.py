"""The teacher's normalised pooled vectors of every corpus text, computed once and cached on disk
(a .npy file and a JSON manifest naming the teacher and the corpus; never pickle) in semsearch's
cache folder, so that another student or a resumed run on the same texts reuses them."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from indexer.distillation.corpus import Corpus
from indexer.embedding.embedder import Embedder

SUBFOLDER = "distillation"  # under settings.cache_folder()
BATCH_TEXTS = 256  # texts embedded between two updates of the progress bar


def teacher_vectors(
    teacher: Embedder, corpus: Corpus, folder: Path, progress: bool = False
) -> np.ndarray:
    """float32 (texts, teacher dim) vectors of `corpus.texts`: from `folder` when it holds those
    of this teacher and corpus, else computed (with a progress bar) and written there."""
    facts = {"teacher": teacher.loaded.fingerprint, "corpus": corpus.identity}
    name = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:24]
    vectors_file, facts_file = folder / f"{name}.npy", folder / f"{name}.json"
    cached = _read(vectors_file, facts_file, facts, len(corpus.texts))
    if cached is not None:
        return cached
    texts = corpus.texts
    vectors = np.empty((len(texts), teacher.dim), np.float32)
    with tqdm(
        total=len(texts), desc="teacher", unit=" text", disable=not progress, file=sys.stderr
    ) as bar:
        for start in range(0, len(texts), BATCH_TEXTS):
            batch = texts[start : start + BATCH_TEXTS]
            vectors[start : start + len(batch)] = teacher.embed(batch)
            bar.update(len(batch))
    _write(vectors_file, facts_file, facts, vectors)
    return vectors


def _read(
    vectors_file: Path, facts_file: Path, facts: dict[str, str], count: int
) -> np.ndarray | None:
    try:
        if json.loads(facts_file.read_text(encoding="utf-8")) != facts:
            return None
        vectors = np.load(vectors_file, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return vectors if vectors.ndim == 2 and len(vectors) == count else None


def _write(
    vectors_file: Path, facts_file: Path, facts: dict[str, str], vectors: np.ndarray
) -> None:
    """The vectors, then their manifest, each under a temporary name renamed into place."""
    vectors_file.parent.mkdir(parents=True, exist_ok=True)
    partial = vectors_file.with_suffix(".partial.npy")
    np.save(partial, vectors, allow_pickle=False)
    os.replace(partial, vectors_file)
    partial = facts_file.with_suffix(".partial")
    partial.write_text(json.dumps(facts), encoding="utf-8")
    os.replace(partial, facts_file)

"""What the approximate index costs: recall@k of the store's FAISS index against an exact scan of
its stored vectors, measured on a sample of the store's own chunk vectors used as queries (each
query's own chunk left out of both answers). A flat index is exact: 1.0 by construction.

The result is cached per store generation in `index.recall.json` beside the index (a cache like
`index.faiss`: written atomically where the folder is writable, ignored when it belongs to another
store, generation, index type or sample).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from store import catalog
from store.database import Database
from store.index_cache import IndexCache
from store.results import Recall

RECALL_FILE = "index.recall.json"
Z_95 = 1.96  # two-sided 95% normal quantile


def measure(db: Database, cache: IndexCache, sample: int, k: int) -> Recall:
    """recall@k of the current index, from the cache file when it holds this very measurement."""
    index = cache.current()
    facts = {"k": k, "index_type": index.spec, "generation": index.generation}
    path = cache.path.with_name(RECALL_FILE)
    if index.spec == "flat":
        exact = {"queries": 0, "store_id": cache.store_id, "by_construction": True}
        return Recall(1.0, 1.0, 1.0, **exact, **facts)
    saved = _read(path)
    wanted = (cache.store_id, min(sample, index.count), k, index.spec, index.generation)
    if saved is not None and wanted == (
        saved.store_id,
        saved.queries,
        saved.k,
        saved.index_type,
        saved.generation,
    ):
        return saved
    ids = _sample_ids(db, sample, index.generation)
    found, queries = catalog.vectors_for(db, ids, cache.dim)
    exact = _exact_neighbours(db, cache.dim, found, queries, k)
    per_query = []
    for chunk_id, query, truth in zip(found, queries, exact, strict=True):
        _, approximate = index.search(query, k + 1)
        approximate = [int(i) for i in approximate if i != chunk_id][:k]
        per_query.append(len(set(approximate) & set(truth)) / max(len(truth), 1))
    result = _summary(np.array(per_query), store_id=cache.store_id, **facts)
    _write(path, result)
    return result


def _sample_ids(db: Database, sample: int, seed: int) -> list[int]:
    """Up to `sample` chunk ids, the same ones for the same generation."""
    ids = np.array([row[0] for row in db.execute("SELECT id FROM chunks ORDER BY id")], np.int64)
    if len(ids) <= sample:
        return ids.tolist()
    return np.sort(np.random.default_rng(seed).choice(ids, sample, replace=False)).tolist()


def _exact_neighbours(
    db: Database, dim: int, query_ids: np.ndarray, queries: np.ndarray, k: int
) -> list[list[int]]:
    """Each query's k nearest stored chunks by inner product (itself left out), from one pass
    over the stored vectors in batches."""
    best_scores = np.full((len(queries), k), -np.inf, np.float32)
    best_ids = np.full((len(queries), k), -1, np.int64)
    for ids, vectors in catalog.vector_batches(db, dim):
        scores = queries @ vectors.T
        scores[query_ids[:, None] == ids[None, :]] = -np.inf  # not itself
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_ids = np.concatenate([best_ids, np.broadcast_to(ids, scores.shape)], axis=1)
        top = np.argpartition(-merged_scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, top, axis=1)
        best_ids = np.take_along_axis(merged_ids, top, axis=1)
    return [[int(i) for i in row if i >= 0] for row in best_ids]


def _summary(per_query: np.ndarray, **facts: object) -> Recall:
    """The mean with a normal-approximation 95% interval, clipped to [0, 1]."""
    mean = float(per_query.mean()) if len(per_query) else 1.0
    spread = 0.0
    if len(per_query) > 1:
        spread = Z_95 * float(per_query.std(ddof=1)) / math.sqrt(len(per_query))
    return Recall(
        round(mean, 4),
        round(max(0.0, mean - spread), 4),
        round(min(1.0, mean + spread), 4),
        queries=len(per_query),
        **facts,
    )


def _read(path: Path) -> Recall | None:
    try:
        return Recall(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None  # no cache, or not ours: measured again


def _write(path: Path, result: Recall) -> None:
    """Save the measurement where the folder may be written (a cache: skipped elsewhere)."""
    if not os.access(path.parent, os.W_OK):
        return
    temporary = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        temporary.write_text(json.dumps(asdict(result)))
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)  # a full disk: measured again next time

"""Section 4: query latency (embedding included) and recall@10 against exact search, for each
index type at 100k and 1M vectors built from real WordNet vectors plus small noise."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import median, percentile
from indexer.embedding.embedder import Embedder
from indexer.settings import RECALL_K, RECALL_SAMPLE
from store.faiss_index import VectorIndex
from store.index_cache import TRAINING_SAMPLE
from store.recipe import Recipe
from store.records import ChunkRecord, DocumentRecord
from store.store import Store

SIZES = (100_000, 1_000_000)
SPECS = ("flat", "hnsw", "ivf", "ivf-fp16", "ivf-sq8", "ivf-pq")
# through the store, with its reported recall
STORE_SPECS = ("flat", "hnsw", "ivf-fp16", "ivf-sq8", "ivf-pq")
NOISE = 0.02  # per component: copies keep a cosine of about 0.93 to their source
HNSW_BUILD_LIMIT_S = 240
TARGET_P50_MS = 10.0
TARGET_RECALL = 0.95


def noisy_copies(base: np.ndarray, total: int, seed: int = 0) -> np.ndarray:
    """`total` unit vectors: `base`, then noisy copies of it."""
    rng = np.random.default_rng(seed)
    out = np.empty((total, base.shape[1]), np.float32)
    out[: len(base)] = base
    for start in range(len(base), total, len(base)):
        part = base[: min(len(base), total - start)]
        noisy = part + rng.normal(0, NOISE, part.shape).astype(np.float32)
        out[start : start + len(part)] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return out


def embed_each(embedder: Embedder, queries: list[str]) -> tuple[np.ndarray, list[float]]:
    """Query vectors, one call per query as a user's search makes it, with each call's seconds."""
    vectors, seconds = [], []
    for query in queries:
        started = time.perf_counter()
        vectors.append(embedder.embed([query])[0])
        seconds.append(time.perf_counter() - started)
    return np.stack(vectors), seconds


def build(spec: str, data: np.ndarray) -> tuple[VectorIndex, float]:
    started = time.perf_counter()
    rng = np.random.default_rng(1)
    training = data[rng.choice(len(data), min(len(data), TRAINING_SAMPLE), replace=False)]
    index = VectorIndex.empty(
        spec, data.shape[1], training if spec.startswith("ivf") else None, count=len(data)
    )
    ids = np.arange(len(data), dtype=np.int64)
    for start in range(0, len(data), 50_000):
        index.add(ids[start : start + 50_000], data[start : start + 50_000])
    return index, time.perf_counter() - started


def measure(
    index: VectorIndex, queries: np.ndarray, embed_seconds: list[float], truth: list[set[int]]
) -> dict[str, Any]:
    search_seconds, recalls = [], []
    for vector, exact in zip(queries, truth, strict=True):
        started = time.perf_counter()
        _, ids = index.search(vector, 10)
        search_seconds.append(time.perf_counter() - started)
        recalls.append(len(exact & set(ids.tolist())) / 10)
    total_ms = [(e + s) * 1000 for e, s in zip(embed_seconds, search_seconds, strict=True)]
    return {
        "p50_ms": round(percentile(total_ms, 50), 2),
        "p99_ms": round(percentile(total_ms, 99), 2),
        "search_p50_ms": round(median(search_seconds) * 1000, 3),
        "recall@10": round(float(np.mean(recalls)), 4),
    }


def run(vectors: np.ndarray, embedder: Embedder, queries: list[str]) -> dict[str, Any]:
    query_vectors, embed_seconds = embed_each(embedder, queries)
    result: dict[str, Any] = {
        "queries": len(queries),
        "embed_p50_ms": round(median(embed_seconds) * 1000, 2),
        "noise_per_component": NOISE,
    }
    hnsw_estimate = None
    for size in SIZES:
        data = noisy_copies(vectors, size)
        rows: dict[str, Any] = {}
        exact_index, _ = build("flat", data)
        truth = [set(exact_index.search(q, 10)[1].tolist()) for q in query_vectors]
        for spec in SPECS:
            if spec == "hnsw" and hnsw_estimate and hnsw_estimate * size > HNSW_BUILD_LIMIT_S:
                rows[spec] = {
                    "skipped": f"build would take about {hnsw_estimate * size:.0f} s "
                    f"on this machine (limit {HNSW_BUILD_LIMIT_S} s)"
                }
                continue
            index, seconds = (exact_index, 0.0) if spec == "flat" else build(spec, data)
            rows[spec] = {
                "build_s": round(seconds, 1),
                **measure(index, query_vectors, embed_seconds, truth),
            }
            if spec == "hnsw":
                hnsw_estimate = seconds / size * 1.3  # per vector, growing with log(n)
            del index
        result[str(size)] = rows
    result["store_100k"] = through_store(vectors, embedder, queries)
    result["auto_advice"] = advise(result)
    return result


def synthetic_store(folder: Path, data: np.ndarray, recipe: Recipe, spec: str) -> Store:
    """A writable store of one document per vector (`d0`, `d1` ...), written in batches; the
    caller closes it, which saves its index."""
    store = Store.create(folder, recipe, spec)
    try:
        for start in range(0, len(data), 10_000):
            store.upsert(
                [
                    DocumentRecord(
                        id=f"d{i}",
                        text=f"document {i}",
                        chunks=[ChunkRecord(0, 0, len(f"document {i}"), 3, data[i])],
                    )
                    for i in range(start, min(start + 10_000, len(data)))
                ]
            )
    except BaseException:
        store.close()
        raise
    return store


def through_store(vectors: np.ndarray, embedder: Embedder, queries: list[str]) -> dict[str, Any]:
    """The product's own path at 100k chunks: embed the query, Store.search (FAISS, SQLite), and
    the recall the store reports for each index type (its own chunks as queries), to set beside
    the recall measured with real queries above."""
    data = noisy_copies(vectors, SIZES[0], seed=2)
    result = {}
    with (
        tempfile.TemporaryDirectory(prefix="semsearch-latency-") as folder,
        synthetic_store(Path(folder) / "store", data, embedder.recipe, "flat") as store,
    ):
        for spec in STORE_SPECS:
            store.rebuild(spec)
            latencies = []
            for query in queries:
                started = time.perf_counter()
                store.search(embedder.embed([query])[0], query, k=10, mode="dense")
                latencies.append((time.perf_counter() - started) * 1000)
            reported = store.index_recall(RECALL_SAMPLE, RECALL_K)  # what `stats` tells a user
            result[spec] = {
                "p50_ms": round(percentile(latencies, 50), 2),
                "p99_ms": round(percentile(latencies, 99), 2),
                "reported_recall@10": reported.recall,
                "reported_recall_ci": [reported.low, reported.high],
            }
    return result


def advise(result: dict[str, Any]) -> str:
    """Which index meets the targets at each size: the basis of `auto`'s threshold."""
    lines = []
    for size in SIZES:
        rows = result[str(size)]
        good = [
            spec
            for spec, row in rows.items()
            if "p50_ms" in row
            and row["p50_ms"] <= TARGET_P50_MS
            and row["recall@10"] >= TARGET_RECALL
        ]
        lines.append(
            f"{size:,}: {', '.join(good) or 'none'} meet p50 <= {TARGET_P50_MS} ms "
            f"with recall@10 >= {TARGET_RECALL}"
        )
    return "; ".join(lines)

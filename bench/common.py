"""Shared pieces of the benchmarks: data, interleaved timing, medians, the machine."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from indexer.embedding.model import fallback_model_path
from indexer.evaluation import ndcg_at, read_qrels, read_queries
from indexer.sources.options import with_title

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WORDNET_DOCS = 20_000
SEED_CONFIG = {  # google/bert_uncased_L-6_H-256_A-4
    "hidden_size": 256,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
    "vocab_size": 30522,
    "max_position_embeddings": 512,
}
SEED_NOTE = (
    "random weights: google/bert_uncased_L-6_H-256_A-4 cannot be downloaded here; speed depends "
    "only on the shape"
)


def require(name: str) -> Path:
    folder = DATA / name
    if not folder.is_dir():
        raise SystemExit(f"bench: reference data {folder} is absent; it ships beside the checkout")
    return folder


def read_corpus(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """BEIR corpus records, at most `limit`."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            records.append(json.loads(line))
            if limit and len(records) >= limit:
                break
    return records


def indexed_text(record: dict[str, Any]) -> str:
    """The text `semsearch index` embeds for a BEIR record (`sources.with_title`)."""
    return with_title(record.get("title") or None, record["text"])


def seed_model_folder(folder: Path) -> Path:
    """The default model's exact architecture with random weights and the same uncased
    vocabulary, saved as a model folder (same FLOPs as the real weights)."""
    torch.manual_seed(0)
    BertModel(BertConfig(**SEED_CONFIG), add_pooling_layer=False).save_pretrained(folder)
    AutoTokenizer.from_pretrained(fallback_model_path()).save_pretrained(folder)
    return folder


def wordnet_subset(path: Path, count: int | None) -> list[str]:
    """Write the first `count` WordNet documents (all: None) to `path` as JSONL; returns their
    texts as `semsearch index` embeds them."""
    texts = []
    with open(require("wordnet") / "corpus.jsonl") as reader, open(path, "w") as writer:
        for number, line in enumerate(reader):
            if count is not None and number >= count:
                break
            writer.write(line)
            texts.append(indexed_text(json.loads(line)))
    return texts


def cranfield() -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    folder = require("cranfield")
    qrels = read_qrels(folder / "qrels" / "test.tsv")
    queries = {q: t for q, t in read_queries(folder / "queries.jsonl").items() if q in qrels}
    return read_corpus(folder / "corpus.jsonl"), queries, qrels


def split(items: Sequence, parts: int) -> list[Sequence]:
    size = -(-len(items) // parts)
    return [items[i : i + size] for i in range(0, len(items), size)]


def interleaved(
    variants: dict[str, Callable[[Sequence], Any]], slices: list[Sequence]
) -> tuple[dict[str, list[float]], dict[str, list[Any]]]:
    """Run every variant on each slice in turn (A, B, A, B ...); seconds and outputs per variant."""
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, list[Any]] = {name: [] for name in variants}
    for piece in slices:
        for name, run in variants.items():
            started = time.perf_counter()
            outputs[name].append(run(piece))
            seconds[name].append(time.perf_counter() - started)
    return seconds, outputs


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def dense_ndcg(
    doc_ids: list[str],
    doc_vectors: np.ndarray,
    queries: dict[str, str],
    query_vectors: np.ndarray,
    qrels: dict[str, dict[str, int]],
) -> float:
    """Mean nDCG@10 of exact cosine ranking."""
    scores = query_vectors @ doc_vectors.T
    total = 0.0
    for row, qid in enumerate(queries):
        top = np.argsort(-scores[row])[:10]
        total += ndcg_at([doc_ids[i] for i in top], qrels[qid])
    return total / len(queries)


def matmul_flops(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """Median FLOP/s of a square matrix multiply: the machine's practical limit for this dtype."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2 * size**3 / median(times)


def machine() -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import os

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }

"""Retrieval quality on a BEIR folder: nDCG@10 (gain 2^g - 1), recall@100 and MRR@10 per mode."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from indexer.embedder import Embedder
from indexer.job import IndexOptions, index_paths
from indexer.sources import SourceOptions
from store.store import MODES, Store, store_exists

DEPTH = 100


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> {doc id: graded relevance}; a header row is recognised and skipped."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if number == 1 and not row[-1].lstrip("-").isdigit():
                continue
            if len(row) < 3:
                raise ValueError(f"{path}:{number}: expected query-id, corpus-id, score")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def read_queries(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return {str(r["_id"]): r["text"] for r in records}


def ndcg_at(ranked: list[str], relevance: dict[str, int], k: int = 10) -> float:
    """nDCG@k with gain 2^g - 1 and log2 discount."""
    gains = [2 ** relevance.get(doc, 0) - 1 for doc in ranked[:k]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((2**g - 1 for g in relevance.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevance: dict[str, int], k: int = DEPTH) -> float:
    relevant = {doc for doc, grade in relevance.items() if grade > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranked: list[str], relevance: dict[str, int], k: int = 10) -> float:
    for position, doc in enumerate(ranked[:k], start=1):
        if relevance.get(doc, 0) > 0:
            return 1.0 / position
    return 0.0


def evaluate(
    beir: str | Path,
    store_path: str | Path,
    split: str = "test",
    options: IndexOptions | None = None,
    embedder: Embedder | None = None,
    quiet: bool = True,
) -> dict[str, Any]:
    """Index `beir/corpus.jsonl` into the store (unless it already holds a store), run every judged
    query in each mode, and return the mean metrics keyed by mode."""
    beir = Path(beir)
    qrels = read_qrels(beir / "qrels" / f"{split}.tsv")
    queries = {
        qid: text for qid, text in read_queries(beir / "queries.jsonl").items() if qid in qrels
    }
    if not store_exists(store_path):
        options = options or IndexOptions()
        options.sources = SourceOptions(id_field="_id")
        index_paths(store_path, [str(beir / "corpus.jsonl")], options, quiet, embedder)
    with Store.open(store_path) as store:
        embedder = embedder or Embedder.from_recipe(store.recipe, quiet=True)
        ids = list(queries)
        vectors = embedder.embed([queries[qid] for qid in ids])
        sums = {mode: {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0} for mode in MODES}
        for qid, vector in zip(ids, vectors, strict=True):
            for mode in MODES:
                hits = store.search(vector, queries[qid], k=DEPTH, mode=mode)
                ranked = [hit.doc_id for hit in hits]
                sums[mode]["ndcg@10"] += ndcg_at(ranked, qrels[qid])
                sums[mode]["recall@100"] += recall_at(ranked, qrels[qid])
                sums[mode]["mrr@10"] += mrr_at(ranked, qrels[qid])
    count = max(len(ids), 1)
    result: dict[str, Any] = {
        mode: {name: round(total / count, 4) for name, total in metrics.items()}
        for mode, metrics in sums.items()
    }
    result["queries"] = len(ids)
    return result

"""Retrieval quality on a BEIR folder: nDCG@10 (gain 2^g - 1), recall@100 and MRR@10 per mode."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from indexer.settings import BEIR_SPLIT
from indexer.sources.options import SourceError, SourceOptions
from store.ranking import MODES

if TYPE_CHECKING:
    from indexer.collection import Collection

DEPTH = 100
MAX_GRADE = 10  # gains are 2^grade - 1: a grade past this is a typo, not a judgment
INTEGER = re.compile(r"-?[0-9]{1,9}")  # ASCII digits: "²".isdigit() is True, int("²") fails


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> {doc id: graded relevance}; a header row is recognised and skipped."""
    qrels: dict[str, dict[str, int]] = {}
    with _open(path) as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if number == 1 and row and not INTEGER.fullmatch(row[-1]):
                continue
            if len(row) < 3 or not INTEGER.fullmatch(row[2]):
                raise SourceError(f"{path}:{number}: expected query-id, corpus-id, integer score")
            if int(row[2]) > MAX_GRADE:
                raise SourceError(f"{path}:{number}: grade {row[2]} is above {MAX_GRADE}")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    if not any(grade > 0 for judged in qrels.values() for grade in judged.values()):
        raise SourceError(f"{path}: no relevant document is judged for any query: nothing to score")
    return qrels


def _open(path: Path) -> TextIO:
    """A BEIR text file; SourceError naming it when it is not UTF-8 or cannot be opened."""
    try:
        data = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise SourceError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot be read ({error.strerror})") from None
    return io.StringIO(data, newline="")


def read_queries(path: Path) -> dict[str, str]:
    """query id -> text from a BEIR queries.jsonl."""
    queries = {}
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                query_id, text = str(record["_id"]), record["text"]
            except (json.JSONDecodeError, KeyError, TypeError, RecursionError) as error:
                raise SourceError(f"{path}:{number}: not a BEIR query ({error})") from None
            if not isinstance(text, str):
                raise SourceError(f"{path}:{number}: the query text is not a string")
            queries[query_id] = text
    return queries


def ndcg_at(ranked: list[str], relevance: dict[str, int], k: int = 10) -> float:
    """nDCG@k with gain 2^g - 1 and log2 discount; a negative grade counts as not relevant (as
    trec_eval does), never as a penalty."""
    gains = [2 ** max(relevance.get(doc, 0), 0) - 1 for doc in ranked[:k]]
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


def evaluate(collection: Collection, beir: Path, split: str = BEIR_SPLIT) -> dict[str, Any]:
    """Index `beir/corpus.jsonl` into the collection (unless its store exists), run every judged
    query in each mode with the collection's one model, and return mean metrics by mode."""
    for needed in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (beir / needed).is_file():
            raise SourceError(f"{beir} is not a BEIR folder: {needed} is missing")
    qrels = read_qrels(beir / "qrels" / f"{split}.tsv")
    queries = {q: t for q, t in read_queries(beir / "queries.jsonl").items() if q in qrels}
    if not queries:
        raise SourceError(f"{beir}: no query of queries.jsonl is judged in qrels/{split}.tsv")
    if not collection.exists:
        collection.add([str(beir / "corpus.jsonl")], SourceOptions(id_field="_id"))
    ids = list(queries)
    vectors = collection.embed([queries[qid] for qid in ids])
    sums = {mode: {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0} for mode in MODES}
    for qid, vector in zip(ids, vectors, strict=True):
        for mode in MODES:
            hits = collection.search(queries[qid], k=DEPTH, mode=mode, vector=vector)
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

"""Section 14: the full-text engine (Tantivy) against SQLite FTS5 on the same store and queries,
interleaved, at WordNet's 117,659 glosses and at 1,000,000 chunks (glosses recombined: the first
half of one gloss joined to the second half of another, drawn at random), written through the
store's own write path; then hybrid search end to end (the query embedded by the seed
architecture, random weights) at the largest size. Cranfield nDCG@10 is section 6's."""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import cranfield, indexed_text, median, percentile, require, seed_model_folder
from indexer.embedding.embedder import Embedder
from store.recipe import Recipe
from store.records import ChunkRecord, DocumentRecord
from store.store import Store

SIZES = (117_659, 1_000_000)
QUICK_SIZES = (5_000, 20_000)
DIM = 256  # the seed architecture's
SPEC = "ivf-sq8"
BATCH = 5_000  # documents per write
SHORT_QUERIES = 225
FTS5_LONG_LIMIT = 40  # FTS5 takes over a second a Cranfield question at 1M: a sample of them
# The lexical ranking main had before the engine (store.Store._lexical), for the comparison.
FTS5_QUERY = (
    "WITH m AS (SELECT rowid AS chunk_id, bm25(chunks_fts) AS s FROM chunks_fts "
    "WHERE chunks_fts MATCH ?) "
    "SELECT chunk_id, doc_id, score FROM ("
    "  SELECT m.chunk_id, c.doc_id, -m.s AS score, "
    "  row_number() OVER (PARTITION BY c.doc_id ORDER BY m.s) AS best "
    "  FROM m JOIN chunks c ON c.id = m.chunk_id) "
    "WHERE best = 1 ORDER BY score DESC LIMIT ?"
)


def glosses() -> list[str]:
    with open(require("wordnet") / "corpus.jsonl", encoding="utf-8") as handle:
        return [indexed_text(json.loads(line)) for line in handle]


def texts(base: list[str], size: int, seed: int = 0) -> list[str]:
    """`size` texts: the glosses, then halves of two random glosses joined."""
    rng = np.random.default_rng(seed)
    out = list(base[:size])
    while len(out) < size:
        a, b = rng.integers(len(base), size=2)
        first, second = base[a].split(), base[b].split()
        out.append(" ".join(first[: len(first) // 2 + 1] + second[len(second) // 2 :]))
    return out


def short_queries(base: list[str], count: int, seed: int = 1) -> list[str]:
    """2-6 consecutive words of random glosses."""
    rng = np.random.default_rng(seed)
    queries = []
    while len(queries) < count:
        words = re.findall(r"\w+", base[int(rng.integers(len(base)))])
        size = int(rng.integers(2, 7))
        if len(words) >= size:
            start = int(rng.integers(len(words) - size + 1))
            queries.append(" ".join(words[start : start + size]))
    return queries


def build(folder: Path, corpus: list[str]) -> tuple[float, dict[str, int]]:
    """A store of one chunk per text with random unit vectors; seconds and bytes on disk."""
    recipe = Recipe("seed-random", "sha256:bench", DIM, "mean", 256, 32, runtime="onnxruntime")
    rng = np.random.default_rng(3)
    started = time.perf_counter()
    with Store.create(folder, recipe, SPEC) as store:
        for first in range(0, len(corpus), BATCH):
            part = corpus[first : first + BATCH]
            vectors = rng.normal(size=(len(part), DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            store.upsert(
                [
                    DocumentRecord(
                        f"g{first + i}", text, chunks=[ChunkRecord(0, 0, len(text), 8, vector)]
                    )
                    for i, (text, vector) in enumerate(zip(part, vectors, strict=True))
                ]
            )
    seconds = time.perf_counter() - started
    sizes = {path.name: path.stat().st_size for path in folder.iterdir() if path.is_file()}
    sizes["fulltext.tantivy"] = sum(
        f.stat().st_size for f in (folder / "fulltext.tantivy").iterdir()
    )
    return seconds, sizes


def fts5_terms(text: str) -> str:
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(re.findall(r"\w+", text.lower())))


def compare(store: Store, queries: list[str], fts5_limit: int | None) -> dict[str, Any]:
    """Engine (Store.search, lexical) and FTS5 (main's statement) on each query in turn."""
    engine_ms, fts5_ms, overlaps = [], [], []
    for number, query in enumerate(queries):
        started = time.perf_counter()
        ours = [hit.doc_id for hit in store.search(None, query, k=10, mode="lexical")]
        engine_ms.append((time.perf_counter() - started) * 1000)
        if fts5_limit is not None and number >= fts5_limit:
            continue
        started = time.perf_counter()
        rows = store.db.execute(FTS5_QUERY, [fts5_terms(query), 10]).fetchall()
        fts5_ms.append((time.perf_counter() - started) * 1000)
        theirs = [row[1] for row in rows]
        if theirs:
            overlaps.append(len(set(ours) & set(theirs)) / len(theirs))
    return {
        "queries": len(queries),
        "engine_p50_ms": round(median(engine_ms), 3),
        "engine_p99_ms": round(percentile(engine_ms, 99), 3),
        "fts5_queries": len(fts5_ms),
        "fts5_p50_ms": round(median(fts5_ms), 3),
        "fts5_p99_ms": round(percentile(fts5_ms, 99), 3),
        "top10_overlap": round(float(np.mean(overlaps)), 3) if overlaps else None,
    }


def hybrid(store: Store, embedder: Embedder, queries: list[str]) -> dict[str, Any]:
    """Hybrid end to end in process: embed the query, then Store.search."""
    total_ms, embed_ms = [], []
    for query in queries:
        started = time.perf_counter()
        vector = embedder.embed([query])[0]
        embedded = time.perf_counter()
        store.search(vector, query, k=10, mode="hybrid")
        total_ms.append((time.perf_counter() - started) * 1000)
        embed_ms.append((embedded - started) * 1000)
    return {
        "p50_ms": round(median(total_ms), 2),
        "p99_ms": round(percentile(total_ms, 99), 2),
        "embed_p50_ms": round(median(embed_ms), 2),
    }


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    base = glosses()
    long = list(cranfield()[1].values())
    short = short_queries(base, SHORT_QUERIES)
    result: dict[str, Any] = {"spec": SPEC, "dim": DIM}
    with tempfile.TemporaryDirectory(prefix="semsearch-fulltext-") as scratch:
        embedder = Embedder.load(str(seed_model_folder(Path(scratch) / "seed")), quiet=True)
        for size in sizes:
            folder = Path(scratch) / f"store-{size}"
            seconds, sizes_on_disk = build(folder, texts(base, size))
            print(f"bench: full text: {size} chunks written in {seconds:.0f} s", flush=True)
            with Store.open(folder) as store:
                store.search(None, "warm up", k=10, mode="lexical")
                limit = FTS5_LONG_LIMIT if size > len(base) else None
                row = {
                    "write_s": round(seconds, 1),
                    "bytes": sizes_on_disk,
                    "long": compare(store, long, limit),
                    "short": compare(store, short, None),
                }
                if size == max(sizes):
                    embedder.embed(["warm up"])
                    row["hybrid_long"] = hybrid(store, embedder, long)
                    row["hybrid_short"] = hybrid(store, embedder, short)
                result[str(size)] = row
            print(f"bench: full text at {size}: {json.dumps(row)}", flush=True)
            for path in sorted(folder.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
    return result


def summary(section: dict[str, Any]) -> str:
    """A table per size: p50 / p99 of the engine and FTS5, long and short queries."""
    lines = [
        f"One chunk per text, random {section['dim']}-d vectors ({section['spec']}); long: the "
        "225 Cranfield questions, short: 2-6 consecutive words of glosses; ms in process "
        "(Store.search, lexical, k=10; FTS5: main's statement on the same store.db).",
        "",
        "| chunks | queries | engine p50 / p99 | FTS5 p50 / p99 (n) | top-10 overlap |",
        "|---|---|---|---|---|",
    ]
    notes = []
    for size, row in section.items():
        if not size.isdigit():
            continue
        for kind in ("long", "short"):
            r = row[kind]
            lines.append(
                f"| {int(size):,} | {kind} | {r['engine_p50_ms']} / {r['engine_p99_ms']} | "
                f"{r['fts5_p50_ms']} / {r['fts5_p99_ms']} ({r['fts5_queries']}) | "
                f"{r['top10_overlap']} |"
            )
        for kind in ("hybrid_long", "hybrid_short"):
            if kind in row:
                r = row[kind]
                notes.append(
                    f"Hybrid at {int(size):,}, {kind.split('_')[1]} queries, embedding "
                    f"included (seed architecture, ONNX Runtime): p50 {r['p50_ms']} ms, p99 "
                    f"{r['p99_ms']} ms (embedding p50 {r['embed_p50_ms']} ms)."
                )
        notes.append(f"{int(size):,} chunks written in {row['write_s']} s; bytes {row['bytes']}.")
    lines += ["", *notes]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(json.dumps(run(tuple(int(s) for s in sys.argv[1:]) or SIZES), indent=2))

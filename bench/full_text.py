"""Section 14: search at a million chunks. The full-text engine (Tantivy) against SQLite FTS5 on
the same store and queries, interleaved, at WordNet's 117,659 glosses and at 1,000,000 chunks
(glosses recombined: the first half of one gloss joined to the second half of another, drawn at
random), written through the store's own write path. Each chunk's vector is the seed
architecture's (random weights) embedding of its gloss; a recombined text's is the mean of its two
glosses' vectors weighted by their shares of its words, so that the vectors have the structure an
approximate index meets in real data (isotropic noise, as the latency section adds to MiniLM's,
would dwarf the differences between this model's vectors: two random glosses have a cosine of
0.94). At the largest size: dense recall@10 against exact search
and FAISS alone at other nprobes; then hybrid search end to end (`Collection.search`, the query
embedded) in process and through `semsearch serve`, one client, query by query in turn.
Cranfield nDCG@10 is section 6's."""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from bench import serving
from bench.common import cranfield, indexed_text, median, percentile, require, seed_model_folder
from indexer.collection import Collection
from indexer.embedding.embedder import Embedder
from store.recipe import Recipe
from store.records import ChunkRecord, DocumentRecord
from store.store import Store

SIZES = (117_659, 1_000_000)
QUICK_SIZES = (5_000, 20_000)
SPEC = "auto"  # what a user gets: flat up to 20,000 chunks, then IVF
BATCH = 5_000  # documents per write
SHORT_QUERIES = 225
FTS5_LIMIT = 40  # FTS5 takes seconds a query at 1M: beyond WordNet's size, a sample of them
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
NPROBES = (8, 16, 24, 32, 48, 64, 96, 128)  # FAISS alone, besides the index's own


def glosses() -> list[str]:
    with open(require("wordnet") / "corpus.jsonl", encoding="utf-8") as handle:
        return [indexed_text(json.loads(line)) for line in handle]


def texts(base: list[str], size: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """`size` texts: the glosses, then halves of two random glosses joined; with each text's
    two glosses and the share of its words from the first (one row per text)."""
    rng = np.random.default_rng(seed)
    out = list(base[:size])
    origin = [(i, i, 1.0) for i in range(len(out))]
    while len(out) < size:
        a, b = (int(i) for i in rng.integers(len(base), size=2))
        first, second = base[a].split(), base[b].split()
        head, tail = first[: len(first) // 2 + 1], second[len(second) // 2 :]
        out.append(" ".join(head + tail))
        origin.append((a, b, len(head) / (len(head) + len(tail))))
    return out, np.array(origin)


def vectors_of(gloss_vectors: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Each text's vector: a gloss's own; for a recombined text, the normalised mean of its two
    glosses' vectors weighted by their shares of its words (mean pooling's arithmetic, without
    the context each half gives the other)."""
    out = np.empty((len(origin), gloss_vectors.shape[1]), np.float32)
    for start in range(0, len(origin), 100_000):
        part = origin[start : start + 100_000]
        share = part[:, 2:3].astype(np.float32)
        mixed = share * gloss_vectors[part[:, 0].astype(int)]
        mixed += (1 - share) * gloss_vectors[part[:, 1].astype(int)]
        out[start : start + len(part)] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
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


def build(
    folder: Path, corpus: list[str], vectors: np.ndarray, recipe: Recipe
) -> tuple[float, dict[str, int]]:
    """A store of one chunk per text (document `g<row>`); seconds and bytes on disk."""
    started = time.perf_counter()
    with Store.create(folder, recipe, SPEC) as store:
        for first in range(0, len(corpus), BATCH):
            part = corpus[first : first + BATCH]
            store.upsert(
                [
                    DocumentRecord(
                        f"g{first + i}", text, chunks=[ChunkRecord(0, 0, len(text), 8, vector)]
                    )
                    for i, (text, vector) in enumerate(
                        zip(part, vectors[first : first + BATCH], strict=True)
                    )
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


def dense_recall(
    folder: Path, vectors: np.ndarray, embedder: Embedder, queries: list[str]
) -> dict[str, Any]:
    """Recall@10 of the store's index against exact search of the same vectors, and FAISS
    alone at other nprobes (search time, recall)."""
    query_vectors = embedder.embed(queries)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(query_vectors, 10)
    del exact
    return serving.by_nprobe(folder / "index.faiss", query_vectors, truth, NPROBES)


def end_to_end(folder: Path, queries: dict[str, list[str]]) -> dict[str, Any]:
    """Hybrid search, k=10, embedding included: `Collection.search` in this process and
    `semsearch serve` (one client, keep-alive), query by query in turn; and the embedding
    alone."""
    result: dict[str, Any] = {}
    with (
        Collection(folder, quiet=True, threads=serving.THREADS) as collection,
        serving.serving(folder) as port,
    ):
        served = serving.over_http_ids(port, "hybrid")
        for kind, texts_ in queries.items():
            for query in texts_[: serving.WARM_UP]:
                collection.search(query, k=10, mode="hybrid")
                served(query)
            local_ms, served_ms, embed_ms = [], [], []
            for query in texts_:
                started = time.perf_counter()
                collection.embed([query])
                embedded = time.perf_counter()
                collection.search(query, k=10, mode="hybrid")
                searched = time.perf_counter()
                served(query)
                done = time.perf_counter()
                embed_ms.append((embedded - started) * 1000)
                local_ms.append((searched - embedded) * 1000)
                served_ms.append((done - searched) * 1000)
            result[kind] = {
                "queries": len(texts_),
                "in_process_p50_ms": round(median(local_ms), 2),
                "in_process_p99_ms": round(percentile(local_ms, 99), 2),
                "served_p50_ms": round(median(served_ms), 2),
                "served_p99_ms": round(percentile(served_ms, 99), 2),
                "embed_p50_ms": round(median(embed_ms), 2),
            }
    return result


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    base = glosses()
    long = list(cranfield()[1].values())
    short = short_queries(base, SHORT_QUERIES)
    result: dict[str, Any] = {"spec": SPEC, "threads": serving.THREADS}
    with tempfile.TemporaryDirectory(prefix="semsearch-fulltext-") as scratch:
        embedder = Embedder.load(str(seed_model_folder(Path(scratch) / "seed")), quiet=True)
        started = time.perf_counter()
        gloss_vectors = embedder.embed(base[: max(sizes)])
        print(f"bench: full text: glosses embedded in {time.perf_counter() - started:.0f} s")
        for size in sizes:
            folder = Path(scratch) / f"store-{size}"
            corpus, origin = texts(base, size)
            vectors = vectors_of(gloss_vectors, origin)
            seconds, sizes_on_disk = build(folder, corpus, vectors, embedder.recipe)
            print(f"bench: full text: {size} chunks written in {seconds:.0f} s", flush=True)
            with Store.open(folder) as store:
                store.search(None, "warm up", k=10, mode="lexical")
                limit = FTS5_LIMIT if size > len(base) else None
                row = {
                    "write_s": round(seconds, 1),
                    "bytes": sizes_on_disk,
                    "long": compare(store, long, limit),
                    "short": compare(store, short, limit),
                }
            del corpus  # a million strings would slow every garbage collection of what follows
            if size == max(sizes):
                row["dense"] = dense_recall(folder, vectors, embedder, long + short)
                row["hybrid"] = end_to_end(folder, {"long": long, "short": short})
            del vectors
            result[str(size)] = row
            print(f"bench: full text at {size}: {json.dumps(row)}", flush=True)
            for path in sorted(folder.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
    return result


def summary(section: dict[str, Any]) -> str:
    """A table per size: p50 / p99 of the engine and FTS5, long and short queries; then dense
    recall by nprobe and hybrid end to end at the largest size."""
    lines = [
        f"One chunk per text ({section['spec']}); long: the 225 Cranfield questions, short: 2-6 "
        "consecutive words of glosses; ms in process (Store.search, lexical, k=10; FTS5: main's "
        "statement on the same store.db).",
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
        notes.append(f"{int(size):,} chunks written in {row['write_s']} s; bytes {row['bytes']}.")
        if "hybrid" in row:
            notes += [
                "",
                f"Hybrid at {int(size):,} chunks, k=10, embedding included (seed architecture, "
                f"ONNX Runtime, {section['threads']} thread), query by query in turn:",
                "",
                "| queries | in process p50 / p99 | `semsearch serve` p50 / p99 | embedding p50 |",
                "|---|---|---|---|",
            ]
            for kind, r in row["hybrid"].items():
                notes.append(
                    f"| {kind} ({r['queries']}) | {r['in_process_p50_ms']} / "
                    f"{r['in_process_p99_ms']} | {r['served_p50_ms']} / {r['served_p99_ms']} | "
                    f"{r['embed_p50_ms']} |"
                )
        if "dense" in row:
            dense = row["dense"]
            notes += [
                "",
                f"Dense recall@10 against exact search (FAISS alone, nlist {dense['nlist']}):",
                "",
                "| nprobe | recall@10 | search p50 ms |",
                "|---|---|---|",
            ]
            for nprobe, r in dense["rows"].items():
                mark = " (the store's)" if r["own"] else ""
                notes.append(f"| {nprobe}{mark} | {r['recall@10']} | {r['search_p50_ms']} |")
    lines += ["", *notes]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(json.dumps(run(tuple(int(s) for s in sys.argv[1:]) or SIZES), indent=2))

"""Sections 3 and 5: end-to-end indexing against txtai, and peak memory of indexing runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.common import indexed_text, interleaved, median, read_corpus, require
from indexer.collection import Collection
from indexer.embedding.model import fallback_model_path
from indexer.settings import FALLBACK_MODEL, Settings
from indexer.sources.options import SourceOptions

REPEATS = 2
MEMORY_SIZES: tuple[int | None, ...] = (10_000, None)  # None: the whole WordNet corpus
WARM_UP_DOCS = 100  # indexed first, unmeasured: both measured runs start from a warm cache
PRECISIONS = ("fp32", "bf16")
SEMSEARCH = str(Path(sys.executable).parent / "semsearch")


def ours(corpus: Path, scratch: Path, precision: str) -> dict[str, Any]:
    """Files to a verified store."""
    store = scratch / f"ours-{precision}"
    shutil.rmtree(store, ignore_errors=True)
    chosen = Settings(model=FALLBACK_MODEL, device="cpu", precision=precision)
    with Collection(store, chosen, quiet=True) as collection:
        summary = collection.add([str(corpus)], SourceOptions(id_field="_id"))
        report = collection.verify()
    if not report.ok:
        raise RuntimeError(f"bench: store not clean after indexing: {report.problems}")
    return {"added": summary.added}


def txtai(corpus: Path, scratch: Path) -> dict[str, Any]:
    """txtai's documented path: Embeddings(content=True, backend='faiss').index(...)."""
    from txtai import Embeddings

    rows = [{"id": r["_id"], "text": indexed_text(r)} for r in read_corpus(corpus)]
    embeddings = Embeddings(path=str(fallback_model_path()), content=True, backend="faiss")
    embeddings.index(rows)
    return {"count": embeddings.count()}


def end_to_end(pure_fp32_docs_per_s: float) -> dict[str, Any]:
    """Section 3, interleaved: ours fp32, txtai, ours bf16, repeated."""
    source = require("wordnet") / "corpus.jsonl"
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-") as folder:
        scratch = Path(folder)
        corpus = scratch / "wordnet20k.jsonl"
        with open(source) as reader, open(corpus, "w") as writer:
            for _, line in zip(range(common.WORDNET_DOCS), reader, strict=False):
                writer.write(line)
        variants = {
            "ours fp32": lambda _: ours(corpus, scratch, "fp32"),
            "txtai fp32": lambda _: txtai(corpus, scratch),
            "ours bf16": lambda _: ours(corpus, scratch, "bf16"),
        }
        seconds, _ = interleaved(variants, [None] * REPEATS)
    result: dict[str, Any] = {"documents": common.WORDNET_DOCS, "repeats": REPEATS}
    for name, times in seconds.items():
        result[name] = {
            "seconds_median": round(median(times), 2),
            "docs_per_s": round(common.WORDNET_DOCS / median(times)),
        }
    for name in ("ours fp32", "ours bf16"):
        ratios = [t / o for t, o in zip(seconds["txtai fp32"], seconds[name], strict=True)]
        result[name]["ratio_vs_txtai"] = round(median(ratios), 3)
    result["ours fp32"]["ratio_vs_pure_embedding"] = round(
        result["ours fp32"]["docs_per_s"] / pure_fp32_docs_per_s, 3
    )
    return result


def high_water_kb(pid: int) -> int:
    """The process's own peak resident set (VmHWM), read while it runs. (The rusage of a child
    would count the forked benchmark's pages too.)"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # it ended between poll() and this read: its earlier readings stand
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def peak_memory() -> dict[str, Any]:
    """Section 5: peak RSS of `semsearch index` at 10,000 and 117,659 documents, fp32 and bf16,
    with the store's size on disk per document. A small run before them fills the cache (the
    ONNX graph and the model's facts), so neither measured run pays the one-time export."""
    source = require("wordnet") / "corpus.jsonl"
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="semsearch-rss-") as folder:
        corpora = {}
        for count in (WARM_UP_DOCS, *MEMORY_SIZES):
            corpus = Path(folder) / f"part-{count}.jsonl"
            with open(source) as reader, open(corpus, "w") as writer:
                for number, line in enumerate(reader):
                    if count is not None and number >= count:
                        break
                    writer.write(line)
            corpora[count] = corpus
        warm_up = corpora.pop(WARM_UP_DOCS)
        for precision in PRECISIONS:
            measure_index_run(warm_up, Path(folder) / f"store-{precision}-warm-up", precision)
            rows = {}
            for count, corpus in corpora.items():
                store = Path(folder) / f"store-{precision}-{count}"
                rows[count] = measure_index_run(corpus, store, precision)
            small, large = rows[MEMORY_SIZES[0]], rows[MEMORY_SIZES[-1]]
            result[precision] = {
                "runs": list(rows.values()),
                "rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
            }
    return result


def measure_index_run(corpus: Path, store: Path, precision: str) -> dict[str, Any]:
    """Peak RSS (VmHWM, polled) and sizes of one `semsearch index` process."""
    process = subprocess.Popen(
        [
            SEMSEARCH,
            "index",
            str(corpus),
            "--store",
            str(store),
            "--id-field",
            "_id",
            "--model",
            FALLBACK_MODEL,
            "--precision",
            precision,
            "--device",
            "cpu",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    peak_kb = 0
    while process.poll() is None:
        peak_kb = max(peak_kb, high_water_kb(process.pid))
        time.sleep(0.1)
    output = process.stdout.read()
    if process.returncode != 0:
        raise RuntimeError(f"bench: indexing {corpus} failed ({process.returncode})")
    summary = json.loads(output)
    store_bytes = sum(path.stat().st_size for path in store.iterdir() if path.is_file())
    return {
        "documents": summary["added"],
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "index_faiss_mb": round((store / "index.faiss").stat().st_size / 1e6, 1),
        "store_bytes_per_document": round(store_bytes / summary["added"]),
        "seconds": summary["seconds"],
    }

"""Section 12: the CPU runtimes side by side in one interleaved run: ONNX Runtime fp32 (the
default), ONNX Runtime int8, torch fp32, sentence-transformers and fastembed (pointed at our own
exported graph, offline), on the seed architecture and on MiniLM: embedding only, end to end
(`semsearch index`), query embedding latency, and int8's quality loss."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import common
from bench.common import (
    cranfield,
    dense_ndcg,
    indexed_text,
    interleaved,
    median,
    percentile,
    seed_model_folder,
    split,
    wordnet_subset,
)
from bench.quality import sts_spearman
from indexer.embedding.embedder import Embedder
from indexer.embedding.model import fallback_model_path
from indexer.embedding.onnx_cache import GraphCache, GraphKey
from indexer.settings import FALLBACK_MODEL, cache_folder

EMBED_DOCS = 4_000  # WordNet documents embedded by every variant (in SLICES, interleaved)
INDEX_DOCS = 20_000  # WordNet documents `semsearch index` stores per run (the size)
INDEX_ROUNDS = 1
QUERIES = 100  # batch-1 query embeddings per runtime (interleaved query by query)
SLICES = 4
OURS = {  # name: (runtime, precision)
    "ORT fp32 (default)": ("onnxruntime", "fp32"),
    "ORT int8": ("onnxruntime", "int8"),
    "torch fp32": ("torch", "fp32"),
}
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
SEMSEARCH = str(Path(sys.executable).with_name("semsearch"))


def _ours(model: str) -> dict[str, Embedder]:
    return {
        name: Embedder.load(model, device="cpu", runtime=runtime, precision=precision, quiet=True)
        for name, (runtime, precision) in OURS.items()
    }


def _sentence_transformer(folder: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    model.max_seq_length = 256
    return model


def _fastembed(graph: Path, tokenizer_folder: Path, dim: int, work: Path) -> Callable | str:
    """fastembed on our exported fp32 graph, offline (its own tokenizer and batching), or why
    it cannot run here."""
    try:
        from fastembed import TextEmbedding
        from fastembed.common.model_description import ModelSource, PoolingType
    except ImportError as error:
        return f"fastembed is not installed ({error}): pip install fastembed"
    folder = work / f"fastembed-{graph.stem}"
    folder.mkdir()
    for name in TOKENIZER_FILES:
        if (tokenizer_folder / name).exists():
            shutil.copy(tokenizer_folder / name, folder / name)
    os.symlink(graph, folder / "model.onnx")
    name = f"local/semsearch-{graph.stem}"
    TextEmbedding.add_custom_model(
        model=name,
        pooling=PoolingType.MEAN,
        normalization=True,
        sources=ModelSource(hf=name),  # required, never contacted: the folder is given
        dim=dim,
        model_file="model.onnx",
    )
    model = TextEmbedding(
        name,
        specific_model_path=str(folder),
        cache_dir=str(folder),
        threads=os.cpu_count(),
        local_files_only=True,
    )
    return lambda texts: np.array(list(model.embed(list(texts), batch_size=256)), np.float32)


def _graph(embedder: Embedder) -> Path:
    return GraphCache(cache_folder() / "onnx").path(GraphKey(embedder.loaded.fingerprint, "fp32"))


def embedding_only(
    ours: dict[str, Embedder], folder: Path, texts: list[str], work: Path
) -> dict[str, Any]:
    """docs/s of every variant over the same slices, interleaved; ratios vs sentence-transformers
    per slice (medians); min cosine of each variant's vectors vs torch fp32."""
    variants: dict[str, Callable] = {
        name: (lambda chosen: lambda s: chosen.embed(list(s)))(e) for name, e in ours.items()
    }
    st = _sentence_transformer(folder)
    variants["sentence-transformers fp32"] = lambda s: st.encode(
        list(s), batch_size=32, normalize_embeddings=True
    )
    reference = ours["ORT fp32 (default)"]
    fastembed = _fastembed(_graph(reference), folder, reference.dim, work)
    if callable(fastembed):
        variants["fastembed (our graph)"] = fastembed
    slices = split(texts, SLICES)
    seconds, outputs = interleaved(variants, slices)
    base = seconds["sentence-transformers fp32"]
    torch_vectors = np.concatenate(outputs["torch fp32"])
    result: dict[str, Any] = {"documents": len(texts)}
    for name in variants:
        vectors = np.concatenate(outputs[name])
        result[name] = {
            "docs_per_s": round(
                median([len(s) / t for s, t in zip(slices, seconds[name], strict=True)])
            ),
            "ratio_vs_sentence_transformers": round(
                median([b / t for b, t in zip(base, seconds[name], strict=True)]), 3
            ),
            "min_cosine_vs_torch_fp32": round(float((vectors * torch_vectors).sum(1).min()), 6),
        }
    if not callable(fastembed):
        result["fastembed (our graph)"] = {"skipped": fastembed}
    return result


def end_to_end(ours: dict[str, Embedder], folder: Path, model: str, work: Path) -> dict[str, Any]:
    """Wall seconds of `semsearch index` (a fresh process: start, model and graph load from the
    cache, read, embed, write, FAISS) over INDEX_DOCS WordNet documents per runtime, interleaved
    with sentence-transformers' bare `encode` and our own pure embedding of the same texts."""
    corpus = work / f"wordnet-{INDEX_DOCS}.jsonl"
    texts = wordnet_subset(corpus, INDEX_DOCS)
    st = _sentence_transformer(folder)
    seconds: dict[str, list[float]] = {}

    def timed(name: str, run: Callable[[], Any]) -> None:
        started = time.perf_counter()
        run()
        seconds.setdefault(name, []).append(time.perf_counter() - started)

    for round_ in range(INDEX_ROUNDS):
        timed("sentence-transformers encode", lambda: st.encode(texts, batch_size=32))
        for name, (runtime, precision) in OURS.items():
            store = work / f"store-{round_}-{runtime}-{precision}"
            command = [
                *(SEMSEARCH, "index", str(corpus), "--store", str(store), "--id-field", "_id"),
                *("--model", model, "--device", "cpu", "--runtime", runtime),
                *("--precision", precision, "--quiet"),
            ]
            timed(f"index {name}", lambda c=command: subprocess.run(c, check=True))
            timed(f"pure {name}", lambda e=ours[name]: e.embed(texts))
    base = median(seconds["sentence-transformers encode"])
    result: dict[str, Any] = {"documents": len(texts), "rounds": INDEX_ROUNDS}
    for name in OURS:
        index, pure = median(seconds[f"index {name}"]), median(seconds[f"pure {name}"])
        result[name] = {
            "index_seconds": round(index, 2),
            "index_docs_per_s": round(len(texts) / index),
            "pure_docs_per_s": round(len(texts) / pure),
            "index_vs_sentence_transformers": round(base / index, 3),
            "index_vs_pure": round(pure / index, 3),
        }
    result["sentence-transformers encode"] = {"docs_per_s": round(len(texts) / base)}
    return result


def query_latency(ours: dict[str, Embedder], texts: list[str]) -> dict[str, Any]:
    """Batch-1 query embedding (tokenize, forward, pool) p50/p99 per runtime: the first six words
    of WordNet glosses as queries, the runtimes taking turns query by query."""
    queries = [" ".join(text.split()[:6]) for text in texts[:QUERIES]]
    times: dict[str, list[float]] = {name: [] for name in ours}
    for query in queries:
        for name, embedder in ours.items():
            started = time.perf_counter()
            embedder.embed([query])
            times[name].append(1000 * (time.perf_counter() - started))
    torch_p50 = median(times["torch fp32"])
    return {"queries": len(queries)} | {
        name: {
            "p50_ms": round(median(values), 2),
            "p99_ms": round(percentile(values, 99), 2),
            "p50_speedup_vs_torch": round(torch_p50 / median(values), 2),
        }
        for name, values in times.items()
    }


def int8_quality(ours: dict[str, Embedder]) -> dict[str, Any]:
    """Cranfield dense nDCG@10 (exact cosine) and STS Benchmark test Spearman, fp32 vs int8."""
    docs, queries, qrels = cranfield()
    ids, texts = [d["_id"] for d in docs], [indexed_text(d) for d in docs]
    result: dict[str, Any] = {}
    for name in ("ORT fp32 (default)", "ORT int8"):
        embedder = ours[name]
        vectors = embedder.embed(texts)
        result[name] = {
            "cranfield_ndcg@10": round(
                dense_ndcg(ids, vectors, queries, embedder.embed(list(queries.values())), qrels), 4
            ),
            "sts_test_spearman": round(sts_spearman(embedder), 4),
        }
    fp32, int8 = result["ORT fp32 (default)"], result["ORT int8"]
    result["loss"] = {key: round(fp32[key] - int8[key], 4) for key in fp32}
    return result


def run() -> dict[str, Any]:
    """Every comparison on the seed architecture (random weights) and on MiniLM."""
    texts = [
        indexed_text(r) for r in common.read_corpus(common.require("wordnet") / "corpus.jsonl")
    ]
    report: dict[str, Any] = {"note": common.SEED_NOTE}
    with tempfile.TemporaryDirectory(prefix="semsearch-runtimes-") as scratch:
        work = Path(scratch)
        seed = seed_model_folder(work / "seed-model")
        for label, model, folder in (
            ("seed", str(seed), seed),
            ("minilm", FALLBACK_MODEL, fallback_model_path()),
        ):
            print(f"bench: 12. runtimes, {label}", flush=True)
            ours = _ours(model)  # exports (or finds) the graphs first: not timed
            section: dict[str, Any] = {
                "embedding": embedding_only(ours, folder, texts[:EMBED_DOCS], work),
                "latency": query_latency(ours, texts),
            }
            if label == "seed":
                section["end_to_end"] = end_to_end(ours, folder, model, work)
            else:
                section["int8_quality"] = int8_quality(ours)
            report[label] = section
    return report


def summary(report: dict[str, Any]) -> str:
    """The section as markdown tables."""
    from bench.run import table

    parts = []
    for label in ("seed", "minilm"):
        section = report.get(label)
        if not section:
            continue
        rows = [
            [name, *(row.get(k, row.get("skipped", "-")) for k in EMBED_KEYS)]
            for name, row in section["embedding"].items()
            if isinstance(row, dict)
        ]
        parts.append(
            f"**{label}, embedding only** ({section['embedding']['documents']} WordNet documents)"
            "\n\n"
            + table(["variant", "docs/s", "x sentence-transformers", "min cos vs torch"], rows)
        )
        latency = section["latency"]
        rows = [[name, *row.values()] for name, row in latency.items() if isinstance(row, dict)]
        parts.append(
            f"**{label}, query embedding latency** (batch 1, {latency.get('queries')} queries)\n\n"
            + table(["runtime", "p50 ms", "p99 ms", "p50 speed-up vs torch"], rows)
        )
        if "end_to_end" in section:
            e2e = section["end_to_end"]
            rows = [[name, *e2e[name].values()] for name in OURS if name in e2e]
            parts.append(
                f"**{label}, end to end** (`semsearch index`, {e2e['documents']} WordNet "
                f"documents; sentence-transformers encode "
                f"{e2e['sentence-transformers encode']['docs_per_s']} docs/s)\n\n"
                + table(
                    ["runtime", "s", "docs/s", "pure docs/s", "x ST encode", "x our pure"], rows
                )
            )
        if "int8_quality" in section:
            quality = section["int8_quality"]
            rows = [[name, *quality[name].values()] for name in quality]
            parts.append(
                f"**{label}, int8 quality**\n\n"
                + table(["", "Cranfield nDCG@10", "STS-B test Spearman"], rows)
            )
    return "\n\n".join(parts)


EMBED_KEYS = ("docs_per_s", "ratio_vs_sentence_transformers", "min_cosine_vs_torch_fp32")


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))

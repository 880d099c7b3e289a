"""Section 3c: the CPU side's capacity. The whole local job (`Collection.add` of WordNet glosses,
through the FAISS build at close) with a real but tiny BERT (1 layer, 32 wide, the real uncased
tokenizer), so that the forward pass costs almost nothing and docs/s measure reading, parsing,
tokenizing, windowing and writing: the ceiling of any accelerator on this host. The code at
BASELINE (today's main before the parallel CPU side) and this tree at 1, 2 and all cores run in
fresh processes, interleaved, medians.

Also the whole `semsearch index` process (start-up included) against our pure embedding of the
same texts with the seed architecture (random weights)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.common import median, seed_model_folder, wordnet_subset

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "81b5bb2"  # main before the parallel CPU side
CAPACITY_DOCS = 50_000
PROCESS_DOCS = 20_000
REPEATS = 3
TINY_CONFIG = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
# One timed job in a fresh interpreter; works on this tree and on BASELINE's (no `workers` there).
JOB = """
import json, sys, time
import indexer
from indexer.collection import Collection
from indexer.settings import Settings
from indexer.sources.options import SourceOptions
model, corpus, store, workers = sys.argv[1:5]
given = {} if workers == "-" else {"workers": int(workers)}
settings = Settings(model=model, device="cpu", **given)
started = time.perf_counter()
with Collection(store, settings, quiet=True) as collection:
    summary = collection.add([corpus], SourceOptions(id_field="_id"))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "added": summary.added, "code": indexer.__file__}))
"""


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def tiny_model_folder(folder: Path) -> Path:
    """A 1-layer, 32-wide BERT with random weights and the real uncased vocabulary."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from indexer.embedding.model import fallback_model_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(fallback_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, intermediate_size=64, **TINY_CONFIG)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def baseline_tree(folder: Path) -> Path:
    """The code at BASELINE, unpacked from git (no worktree, nothing in the repository changes)."""
    folder.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", BASELINE], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def _job(tree: Path, model: Path, corpus: Path, store: Path, workers: str) -> float:
    """Seconds of one job in a fresh interpreter whose `indexer` is `tree`'s: run in `tree`,
    since `python -c` puts the working directory first on the path (a run from this checkout
    would time this code under the baseline's name)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, "-c", JOB, str(model), str(corpus), str(store), workers]
    run = subprocess.run(args, env=env, cwd=tree, check=True, capture_output=True, text=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if not Path(result["code"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"bench: the job meant for {tree} ran {result['code']}")
    return result["seconds"]


def capacity(documents: int | None = None, repeats: int | None = None) -> dict[str, Any]:
    """docs/s of the baseline (one process, as it always ran) and of this tree at 1, 2 and all
    cores, in interleaved rounds; ratios are medians over rounds against the baseline's."""
    documents, repeats = documents or CAPACITY_DOCS, repeats or REPEATS
    with tempfile.TemporaryDirectory(prefix="semsearch-capacity-") as scratch:
        root = Path(scratch)
        model = tiny_model_folder(root / "tiny")
        corpus = root / "wordnet.jsonl"
        count = len(wordnet_subset(corpus, documents))
        base = baseline_tree(root / "baseline")
        variants = {f"main {BASELINE}": (base, "-")}
        for workers in sorted({1, 2, cores()}):
            variants[f"workers={workers}"] = (ROOT, str(workers))
        _job(ROOT, model, corpus, root / "warm", "1")  # the ONNX graph exported once, unmeasured
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(repeats):
            for name, (tree, workers) in variants.items():
                store = root / f"store-{round_}-{len(seconds[name])}-{workers}"
                seconds[name].append(_job(tree, model, corpus, store, workers))
    base = seconds[next(iter(variants))]
    return {
        "documents": count,
        "cores": cores(),
        "rows": {
            name: {
                "seconds": round(median(times), 2),
                "docs_per_s": round(count / median(times)),
                "vs_main": round(median([b / a for a, b in zip(times, base, strict=True)]), 2),
            }
            for name, times in seconds.items()
        },
    }


def whole_process(documents: int | None = None, repeats: int | None = None) -> dict[str, Any]:
    """The whole `semsearch index` process (interpreter start to exit) against `Embedder.embed`
    of the same texts with the seed architecture, interleaved rounds; ratio: median over rounds
    of pure seconds / process seconds (1.0: the process costs no more than its embedding)."""
    documents, repeats = documents or PROCESS_DOCS, repeats or REPEATS
    from indexer.embedding.embedder import Embedder

    semsearch = str(Path(sys.executable).parent / "semsearch")
    with tempfile.TemporaryDirectory(prefix="semsearch-process-") as scratch:
        root = Path(scratch)
        model = seed_model_folder(root / "seed")
        corpus = root / "wordnet.jsonl"
        texts = wordnet_subset(corpus, documents)
        embedder = Embedder.load(str(model), device="cpu", quiet=True)
        embedder.embed(texts[:200])  # warm: the graph is exported and cached before timing
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        pure, process = [], []
        for round_ in range(repeats):
            started = time.perf_counter()
            embedder.embed(texts)
            pure.append(time.perf_counter() - started)
            args = [semsearch, "index", str(corpus), "--store", str(root / f"s{round_}")]
            args += ["--model", str(model), "--id-field", "_id", "--quiet"]
            started = time.perf_counter()
            subprocess.run(args, env=env, check=True, capture_output=True)
            process.append(time.perf_counter() - started)
    return {
        "documents": len(texts),
        "note": common.SEED_NOTE,
        "pure_s": [round(s, 2) for s in pure],
        "process_s": [round(s, 2) for s in process],
        "process_vs_pure": round(median([p / q for p, q in zip(pure, process, strict=True)]), 3),
    }


def run() -> dict[str, Any]:
    return {"capacity": capacity(), "process": whole_process()}

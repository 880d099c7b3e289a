"""Section 9: the batch job on Spark `local[N]` against the local job, on the same WordNet
documents with the default model's exact architecture (random weights), interleaved. Spark's
start-up is timed on its own: the first session of the process (which starts the JVM), and a
new session once the JVM is up; the job times include the ingest, whose own
rate (the single writer) is reported too."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.common import median, seed_model_folder, wordnet_subset
from indexer.collection import Collection
from indexer.settings import Settings, SparkOptions
from indexer.sources.options import SourceOptions
from indexer.spark.run_folder import RunFolder

REPEATS = 3
CORES = (1, 2)  # local[N] points; the machine has 2 cores


def run(documents: int | None) -> dict[str, Any]:
    """Seconds and docs/s of the local job and of Spark local[N] for each N, with start-up
    seconds, ingest docs/s and the ratios (medians of interleaved rounds)."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # as `semsearch index --spark` sets it
    with tempfile.TemporaryDirectory(prefix="semsearch-spark-") as scratch:
        scratch_path = Path(scratch)
        folder = seed_model_folder(scratch_path / "seed")
        corpus = scratch_path / "wordnet.jsonl"
        count = len(wordnet_subset(corpus, documents))
        settings = Settings(model=str(folder), device="cpu")
        sources = SourceOptions(id_field="_id")
        seconds: dict[str, list[float]] = {"local job": []}
        startup: dict[str, list[float]] = {}
        ingest_rate: list[float] = []
        model_share: dict[str, list[float]] = {}  # of the task slots' time, in the model
        first_start: list[float] = []  # the first session of the process: the JVM starts

        def local() -> None:
            store = scratch_path / "local"
            shutil.rmtree(store, ignore_errors=True)
            with Collection(store, settings, quiet=True) as target:
                target.add([str(corpus)], sources)

        for _ in range(REPEATS):
            started = time.perf_counter()
            local()
            seconds["local job"].append(time.perf_counter() - started)
            for cores in CORES:
                name = f"spark local[{cores}]"
                store, run_dir = scratch_path / "spark", scratch_path / "run"
                shutil.rmtree(store, ignore_errors=True)
                shutil.rmtree(run_dir, ignore_errors=True)
                started = time.perf_counter()
                session = (
                    SparkSession.builder.master(f"local[{cores}]")
                    .config("spark.ui.enabled", "false")
                    .getOrCreate()
                )
                session.range(1).count()  # the first job starts the executors' machinery
                (startup.setdefault(name, []) if first_start else first_start).append(
                    time.perf_counter() - started
                )
                started = time.perf_counter()
                with Collection(store, settings, quiet=True) as target:
                    summary = target.add_on_spark(
                        [str(corpus)], SparkOptions(f"local[{cores}]", run_dir), sources
                    )
                seconds.setdefault(name, []).append(time.perf_counter() - started)
                session.stop()
                if summary.added != count:
                    raise RuntimeError(f"bench: Spark stored {summary.added} of {count}")
                manifest = RunFolder(run_dir).read_manifest()
                ingest_rate.append(count / (summary.seconds - manifest.seconds))
                in_model = sum(shard.model_seconds for shard in manifest.done.values())
                model_share.setdefault(name, []).append(in_model / (cores * manifest.seconds))

    rows = {
        name: {
            "seconds": round(median(t), 2),
            "docs_per_s": round(count / median(t)),
            "session_s": round(median(startup[name]), 2) if name in startup else None,
            "model_share": round(median(model_share[name]), 3) if name in model_share else None,
        }
        for name, t in seconds.items()
    }
    ratios = {
        name: round(median([a / b for a, b in zip(seconds["local job"], t, strict=True)]), 3)
        for name, t in seconds.items()
        if name != "local job"
    }
    return {
        "documents": count,
        "first_start_s": round(first_start[0], 2),
        "note": common.SEED_NOTE,
        "rows": rows,
        "spark_vs_local": ratios,
        "ingest_docs_per_s": round(median(ingest_rate)),
    }

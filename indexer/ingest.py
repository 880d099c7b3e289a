"""The single writer of a distributed run: the shards' documents, in input order, written to a
store through the batched write path, `commit_every` documents per transaction.

Documents already stored with the same content hash are skipped, so an ingest killed at any point
(even by SIGKILL) and started again ends with every document stored once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm

from indexer import shards, spark_job
from indexer.memory import release_free_memory
from indexer.summary import Summary
from store.catalog import DocumentRecord
from store.recipe import WRITE_KEYS
from store.store import Store


def ingest(
    run: shards.RunDir,
    manifest: dict[str, Any],
    store: Store,
    commit_every: int,
    progress: bool = False,
) -> Summary:
    """Write the documents of a finished run (`manifest`: spark_job.finished) to the writable
    `store`; returns the run's summary with what this ingest added and updated."""
    store.check_recipe(spark_job.recipe_of(manifest), WRITE_KEYS)
    summary = spark_job.summary_of(manifest)
    started = time.perf_counter()
    total = sum(c["documents"] for c in manifest["shard_counts"].values())
    with tqdm(
        total=total, desc="ingesting", unit=" doc", disable=not progress, file=sys.stderr
    ) as bar:
        for batch in _batches(shards.merged(run), commit_every):
            stored = store.hashes([doc.id for doc in batch])
            changed = [doc for doc in batch if stored.get(doc.id) != doc.content_hash]
            summary.unchanged += len(batch) - len(changed)
            counts = store.upsert(changed)
            summary.added += counts["added"]
            summary.updated += counts["updated"]
            bar.update(len(batch))
    release_free_memory()
    manifest["status"] = spark_job.INGESTED
    manifest["ingest_seconds"] = round(time.perf_counter() - started, 3)
    run.write_manifest(manifest)
    summary.seconds += time.perf_counter() - started
    return summary


def _batches(documents: Iterator[DocumentRecord], size: int) -> Iterator[list[DocumentRecord]]:
    batch: list[DocumentRecord] = []
    for document in documents:
        batch.append(document)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch

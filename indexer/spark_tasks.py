"""What runs on Spark executors: reading input files with the local job's own readers, and
embedding shards of documents with the store's recipe into shard files. The model is loaded
once per Python worker (Spark reuses workers) with torch using the task's CPUs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from indexer import shards
from indexer.documents import SourceOptions
from indexer.pipeline import chunk_records
from indexer.sources import read_file
from indexer.summary import Skipped
from store.catalog import DocumentRecord, content_hash
from store.recipe import Recipe

if TYPE_CHECKING:
    from indexer.embedder import Embedder

ROW_SCHEMA = (
    "kind string, file_index int, position long, id string, text string, title string, "
    "source string, metadata string, where string, file string, replaced long, "
    "skip_kind string, reason string, content_hash string"
)
STATUS_FIELDS = pa.schema(
    [
        ("shard", pa.int64()),
        ("documents", pa.int64()),
        ("chunks", pa.int64()),
        ("tokens", pa.int64()),
        ("unknown_only", pa.list_(pa.string())),
        ("pid", pa.int64()),
        ("loaded", pa.bool_()),
        ("model_seconds", pa.float64()),
    ]
)
STATUS_SCHEMA = (  # the same, for Spark
    "shard long, documents long, chunks long, tokens long, unknown_only array<string>, "
    "pid long, loaded boolean, model_seconds double"
)
_MODELS: dict[tuple, Embedder] = {}  # this worker's model, by what determines it


def read_rows(file_index: int, path: str, name: str, options: dict[str, Any]) -> Iterator[tuple]:
    """Rows (ROW_SCHEMA) of one input file: each document ("document", or "empty" when it has no
    text), and each thing left out ("skipped"), with its place in the input."""
    for position, item in enumerate(read_file(Path(path), name, SourceOptions(**options))):
        if isinstance(item, Skipped):
            yield (
                "skipped",
                file_index,
                position,
                None,
                None,
                None,
                None,
                None,
                item.where,
                None,
                0,
                item.kind,
                item.reason,
                None,
            )
            continue
        metadata = json.dumps(item.metadata, sort_keys=True, ensure_ascii=False)
        digest = content_hash(item.text, item.title, item.metadata)
        kind = "document" if item.text.strip() else "empty"
        yield (
            kind,
            file_index,
            position,
            item.id,
            item.text,
            item.title,
            item.source,
            metadata,
            item.where,
            item.file,
            item.replaced,
            None,
            None,
            digest,
        )


@dataclass(frozen=True)
class EmbedPlan:
    """What every task needs to embed: where to write, and the model with the store's recipe."""

    run_dir: str
    recipe: dict[str, Any]
    model: str | None  # where the weights are, when not where the recipe says
    device: str
    precision: str
    batch_tokens: int | None


def _embedder(plan: EmbedPlan, threads: int) -> tuple[Embedder, bool]:
    """This worker's model (loaded if new) and whether it was loaded now."""
    from indexer.embedder import Embedder

    key = (
        json.dumps(plan.recipe, sort_keys=True),
        plan.model,
        plan.device,
        plan.precision,
        plan.batch_tokens,
        threads,
    )
    if key in _MODELS:
        return _MODELS[key], False
    _MODELS.clear()
    _MODELS[key] = Embedder.from_recipe(
        Recipe.from_dict(plan.recipe),
        model=plan.model,
        device=plan.device,
        precision=plan.precision,
        batch_tokens=plan.batch_tokens,
        quiet=True,
        threads=threads,
    )
    return _MODELS[key], True


def embed_shards(plan: EmbedPlan) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function mapInArrow runs on each partition: its rows (sorted by shard, then input
    order) are embedded batch by batch and written to one file per shard; one status row per
    shard comes back."""

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        attempt = f"{context.stageId()}-{context.partitionId()}-{context.attemptNumber()}"
        run = shards.RunDir(Path(plan.run_dir))
        embedder, loaded, writer, status = None, False, None, None
        statuses = []
        for batch in batches:
            columns = batch.to_pydict()
            start = 0
            while start < len(columns["shard"]):
                shard = columns["shard"][start]
                end = start
                while end < len(columns["shard"]) and columns["shard"][end] == shard:
                    end += 1
                if writer is None or status["shard"] != shard:
                    if writer is not None:
                        writer.close()
                        statuses.append(status)
                    writer = shards.ShardWriter(run, shard, f"{attempt}-{os.getpid()}")
                    status = {
                        "shard": shard,
                        "documents": 0,
                        "chunks": 0,
                        "tokens": 0,
                        "unknown_only": [],
                        "pid": os.getpid(),
                        "loaded": False,
                        "model_seconds": 0.0,
                    }
                if embedder is None:
                    embedder, loaded = _embedder(plan, max(1, context.cpus()))
                    status["loaded"] = loaded
                _embed_rows(embedder, columns, start, end, writer, status)
                start = end
        if writer is not None:
            writer.close()
            statuses.append(status)
        if statuses:
            yield pa.RecordBatch.from_pylist(statuses, schema=STATUS_FIELDS)

    return task


def _embed_rows(
    embedder: Embedder,
    columns: dict[str, list],
    start: int,
    end: int,
    writer: shards.ShardWriter,
    status: dict[str, Any],
) -> None:
    """Embed the documents in rows start:end and write their chunk rows."""
    texts = columns["text"][start:end]
    started = time.perf_counter()
    prepared = embedder.prepare(texts, parallel=embedder.loaded.device.type != "cpu")
    status["unknown_only"] += [columns["id"][start + i] for i in prepared.unknown_only]
    status["tokens"] += prepared.tokens
    rows: dict[str, list] = {field.name: [] for field in shards.CHUNK_SCHEMA}
    embedded = embedder.vectors(prepared)
    status["model_seconds"] += time.perf_counter() - started
    for offset, chunks in enumerate(embedded):
        row = start + offset
        metadata = json.loads(columns["metadata"][row])
        record = DocumentRecord(
            id=columns["id"][row],
            text=columns["text"][row],
            title=columns["title"][row],
            source=columns["source"][row],
            metadata=metadata,
            chunks=chunk_records(chunks),
            content_hash=columns["content_hash"][row],
        )
        order = (columns["file_index"][row], columns["position"][row])
        for name, values in shards.document_rows(order, record, columns["metadata"][row]).items():
            rows[name] += values
        status["documents"] += 1
        status["chunks"] += len(chunks)
    writer.write(rows)

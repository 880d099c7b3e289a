"""What runs on Spark executors: reading input files with the local job's own readers, and
embedding shards of documents with the store's recipe into shard files. The model is loaded
once per Python worker (Spark reuses workers) with its runtime using the task's CPUs: the same
runtime as a local run (ONNX Runtime on a CPU, its graph from the machine's cache)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from indexer import documents
from indexer.sources.inputs import InputFile, read_file
from indexer.sources.options import SourceDocument, SourceOptions
from indexer.spark.run_folder import (
    RunFolder,
    ShardWriter,
    document_rows,
    pages_from_json,
    pages_json,
)
from indexer.summary import Skipped
from store.recipe import Recipe
from store.records import content_hash

if TYPE_CHECKING:
    from indexer.embedding.embedder import Embedder

ROW_SCHEMA = (
    "kind string, file_index int, position long, id string, text string, title string, "
    "source string, metadata string, pages string, where string, file string, replaced long, "
    "nulled long, skip_kind string, reason string, content_hash string"
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
FOOTER_COUNTS = ("documents", "chunks", "tokens", "unknown_only")
_MODELS: dict[tuple, Embedder] = {}  # this worker's model, by what determines it


def read_rows(
    file_index: int, path: str, shown: str, name: str, options: dict[str, Any]
) -> Iterator[tuple]:
    """Rows (ROW_SCHEMA) of one input file: each document ("document", or "empty" when it has no
    text), and each thing left out ("skipped"), with its place in the input."""
    item = InputFile(Path(path), name, shown)
    for position, found in enumerate(read_file(item, SourceOptions(**options))):
        if isinstance(found, Skipped):
            empty_fields = (None,) * 6  # id, text, title, source, metadata, pages
            yield (
                "skipped",
                file_index,
                position,
                *empty_fields,
                found.where,
                None,
                0,  # replaced
                0,  # nulled
                found.kind,
                found.reason,
                None,
            )
            continue
        kind = "empty" if documents.is_empty(found.text) else "document"
        yield (
            kind,
            file_index,
            position,
            found.id,
            found.text,
            found.title,
            found.source,
            json.dumps(found.metadata, sort_keys=True, ensure_ascii=False),
            pages_json(found.pages),
            found.where,
            found.file,
            found.replaced,
            found.nulled,
            None,
            None,
            content_hash(found.text, found.title, found.metadata, found.pages),
        )


@dataclass(frozen=True)
class EmbedPlan:
    """What every task needs to embed: where to write, and the model with the store's recipe."""

    run_dir: str
    run_id: str
    recipe: dict[str, Any]
    model: str | None  # where the weights are, when not where the recipe says
    device: str
    runtime: str
    precision: str | None  # None: the recipe's
    batch_tokens: int | None


def _embedder(plan: EmbedPlan, threads: int) -> tuple[Embedder, bool]:
    """This worker's model (loaded if new) and whether it was loaded now."""
    from indexer.embedding.embedder import Embedder

    key = (
        json.dumps(plan.recipe, sort_keys=True),
        plan.model,
        plan.device,
        plan.runtime,
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
        runtime=plan.runtime,
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
        run = RunFolder(Path(plan.run_dir))
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
                        _finish(writer, status, statuses)
                    writer = ShardWriter(run, shard, f"{attempt}-{os.getpid()}", plan.run_id)
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
            _finish(writer, status, statuses)
        if statuses:
            yield pa.RecordBatch.from_pylist(statuses, schema=STATUS_FIELDS)

    return task


def _finish(writer: ShardWriter, status: dict[str, Any], statuses: list[dict]) -> None:
    writer.close({key: status[key] for key in FOOTER_COUNTS})
    statuses.append(status)


def _embed_rows(
    embedder: Embedder,
    columns: dict[str, list],
    start: int,
    end: int,
    writer: ShardWriter,
    status: dict[str, Any],
) -> None:
    """Embed the documents in rows start:end and write their chunk rows."""
    texts = columns["text"][start:end]
    started = time.perf_counter()
    prepared = embedder.prepare(texts, parallel=embedder.loaded.device_type != "cpu")
    status["unknown_only"] += [columns["id"][start + i] for i in prepared.unknown_only]
    status["tokens"] += prepared.tokens
    rows: dict[str, list] = {}
    embedded = embedder.embed_prepared(prepared)
    status["model_seconds"] += time.perf_counter() - started
    for offset, chunks in enumerate(embedded):
        row = start + offset
        doc = SourceDocument(
            id=columns["id"][row],
            text=columns["text"][row],
            title=columns["title"][row],
            source=columns["source"][row],
            metadata=json.loads(columns["metadata"][row]),
            pages=pages_from_json(columns["pages"][row]),
        )
        record = documents.record(doc, columns["content_hash"][row], chunks)
        order = (columns["file_index"][row], columns["position"][row])
        found = document_rows(order, record, columns["metadata"][row], columns["seen_hash"][row])
        for name, values in found.items():
            rows.setdefault(name, []).extend(values)
        status["documents"] += 1
        status["chunks"] += len(chunks)
    writer.write(rows)

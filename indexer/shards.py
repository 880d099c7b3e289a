"""A distributed run's folder: its manifest and its shards of embedded chunks.

    RUN_DIR/manifest.json          the recipe, inputs, options, counts, skipped items; the driver's
    RUN_DIR/stored.parquet         (id, content_hash) of the store when the run began
    RUN_DIR/shards/shard-K.parquet chunk rows of the documents whose id hashes to shard K

A shard file is written under a temporary name and renamed when complete, so a file that exists
is complete and a rerun skips it. Rows are sorted by the documents' place in the input (file,
then position), and `merged` reads all shards back in that order, so that ingesting them gives
the store the local job would have built.
"""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from store.catalog import ChunkRecord, DocumentRecord

MANIFEST = "manifest.json"
STORED = "stored.parquet"
SHARDS = "shards"
MANIFEST_VERSION = 1

CHUNK_SCHEMA = pa.schema(
    [
        ("file_index", pa.int32()),
        ("position", pa.int64()),
        ("doc_id", pa.string()),
        ("ord", pa.int32()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("n_tokens", pa.int32()),
        ("vector", pa.binary()),  # float32, little-endian
        # the document's own fields, on its first chunk's row only
        ("text", pa.string()),
        ("title", pa.string()),
        ("source", pa.string()),
        ("metadata", pa.string()),  # JSON
        ("content_hash", pa.string()),
    ]
)


@dataclass(frozen=True)
class RunDir:
    """The folder of one distributed run."""

    path: Path

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def stored_path(self) -> Path:
        return self.path / STORED

    @property
    def shard_folder(self) -> Path:
        return self.path / SHARDS

    def shard_path(self, shard: int) -> Path:
        return self.shard_folder / f"shard-{shard:05d}.parquet"

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Written to a temporary file and renamed: a reader sees the old or the new one."""
        self.path.mkdir(parents=True, exist_ok=True)
        temporary = self.manifest_path.with_suffix(f".tmp{os.getpid()}")
        temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(temporary, self.manifest_path)

    def complete_shards(self) -> list[int]:
        """The shards whose file exists (written whole, then renamed)."""
        if not self.shard_folder.is_dir():
            return []
        return sorted(
            int(path.stem.split("-")[1]) for path in self.shard_folder.glob("shard-*.parquet")
        )


class ShardWriter:
    """Chunk rows of one shard, written as they come, published by a rename when closed."""

    def __init__(self, run: RunDir, shard: int, attempt: str) -> None:
        run.shard_folder.mkdir(parents=True, exist_ok=True)
        self.final = run.shard_path(shard)
        self.temporary = self.final.with_name(f".{self.final.name}.{attempt}")
        self.writer = pq.ParquetWriter(self.temporary, CHUNK_SCHEMA)
        self.documents = 0
        self.chunks = 0

    def write(self, rows: dict[str, list]) -> None:
        self.writer.write_table(pa.table(rows, schema=CHUNK_SCHEMA))
        self.documents += sum(1 for o in rows["ord"] if o == 0)
        self.chunks += len(rows["ord"])

    def close(self) -> None:
        self.writer.close()
        os.replace(self.temporary, self.final)


def document_rows(
    order: tuple[int, int], record: DocumentRecord, metadata_json: str
) -> dict[str, list]:
    """The chunk rows of one embedded document (column lists for CHUNK_SCHEMA)."""
    count = len(record.chunks)
    first = lambda value: [value] + [None] * (count - 1)  # noqa: E731
    return {
        "file_index": [order[0]] * count,
        "position": [order[1]] * count,
        "doc_id": [record.id] * count,
        "ord": [c.ord for c in record.chunks],
        "start": [c.start for c in record.chunks],
        "end": [c.end for c in record.chunks],
        "n_tokens": [c.n_tokens for c in record.chunks],
        "vector": [np.asarray(c.vector, "<f4").tobytes() for c in record.chunks],
        "text": first(record.text),
        "title": first(record.title),
        "source": first(record.source),
        "metadata": first(metadata_json),
        "content_hash": first(record.content_hash),
    }


def _documents(path: Path) -> Iterator[tuple[tuple[int, int], DocumentRecord]]:
    """The documents of one shard file, in its order, each with its place in the input."""
    current: DocumentRecord | None = None
    order = (0, 0)
    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            vector = np.frombuffer(row["vector"], "<f4").copy()
            chunk = ChunkRecord(row["ord"], row["start"], row["end"], row["n_tokens"], vector)
            if row["ord"] == 0:
                if current is not None:
                    yield order, current
                order = (row["file_index"], row["position"])
                current = DocumentRecord(
                    id=row["doc_id"],
                    text=row["text"],
                    title=row["title"],
                    source=row["source"],
                    metadata=json.loads(row["metadata"]),
                    content_hash=row["content_hash"],
                )
            current.chunks.append(chunk)
    if current is not None:
        yield order, current


def merged(run: RunDir) -> Iterator[DocumentRecord]:
    """Every document of every shard, in input order (a k-way merge: memory of one batch per
    shard)."""
    streams = [_documents(run.shard_path(shard)) for shard in run.complete_shards()]
    for _, record in heapq.merge(*streams, key=lambda item: item[0]):
        yield record

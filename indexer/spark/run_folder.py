"""A distributed run's folder, a sealed unit that may travel between machines.

    RUN_DIR/manifest.json          the typed `Manifest`: identity, status, every shard's count and
                                   checksum, what was left out; written by the driver
    RUN_DIR/stored.parquet         (id, content_hash, source) of the store when the run began
    RUN_DIR/moved.parquet          (id, source) of unchanged documents found under a new path
    RUN_DIR/shards/shard-K.parquet chunk rows of the documents whose id hashes to shard K

A shard file is written under a temporary name and renamed when complete; its Parquet footer
names the run and its counts, so a complete file left by a killed run is recognised (and a file
of another run is not). Rows are sorted by the documents' place in the input (file, then
position), and `merged` reads the shards back in that order, so that ingesting them gives the
store the local job would have built. Anything read from a run folder is untrusted: a damaged
manifest or shard is a `RunFolderError` naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from indexer.summary import Skipped, Summary
from store.errors import SemsearchError
from store.records import ChunkRecord, DocumentRecord

MANIFEST = "manifest.json"
STORED = "stored.parquet"
MOVED = "moved.parquet"
SHARDS = "shards"
MANIFEST_VERSION = 3  # 3: shards carry page numbers
EMBEDDING, EMBEDDED, INGESTED = "embedding", "embedded", "ingested"
STATUSES = (EMBEDDING, EMBEDDED, INGESTED)
FOOTER_KEY = b"semsearch"  # the shard's run id and counts, JSON, in the Parquet footer
READ_BATCH = 4096

STORED_SCHEMA = pa.schema(
    [("id", pa.string()), ("content_hash", pa.string()), ("source", pa.string())]
)
MOVED_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string())])
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
        ("page", pa.int32()),  # the chunk's first and last page, null when not paginated
        ("last_page", pa.int32()),
        # the document's own fields, on its first chunk's row only
        ("text", pa.string()),
        ("title", pa.string()),
        ("source", pa.string()),
        ("metadata", pa.string()),  # JSON
        ("pages", pa.string()),  # JSON list of page starts, null when not paginated
        ("content_hash", pa.string()),
        ("seen_hash", pa.string()),  # the store's content hash of this id when the run began
    ]
)


class RunFolderError(SemsearchError):
    """A run folder that cannot be used as it is: damaged, incomplete, foreign or stale."""


@dataclass(frozen=True)
class RunIdentity:
    """What makes two runs the same run: a rerun with the same identity resumes. `contents` is a
    digest of every input file's path, size and modification time: an edited input makes a new
    run, never the old shards."""

    inputs: list[str]
    sources: dict[str, Any]
    recipe: dict[str, Any]
    store: str
    store_id: str | None
    contents: str

    def same_command(self, other: RunIdentity) -> bool:
        """The same inputs, options, recipe and store, whatever the inputs now hold."""
        return {**asdict(self), "contents": ""} == {**asdict(other), "contents": ""}


@dataclass
class Shard:
    """One complete shard file: its counts and the checksum of its bytes."""

    documents: int
    chunks: int
    tokens: int
    sha256: str
    unknown_only: list[str] = field(default_factory=list)
    pid: int = 0  # the worker process that embedded it
    loaded: bool = False  # whether that worker loaded the model for it
    model_seconds: float = 0.0


@dataclass
class Manifest:
    """Everything a run folder says about its run."""

    run_id: str
    identity: RunIdentity
    status: str
    shards: int  # shard files the documents are hashed into, fixed when the run starts
    started_at: str  # when the store's content hashes were read (ISO, UTC)
    to_embed: int | None = None  # documents the shards must hold, once counted
    done: dict[int, Shard] = field(default_factory=dict)
    unchanged: int = 0
    moved: int = 0
    moved_sha256: str = ""
    skipped: list[Skipped] = field(default_factory=list)
    replaced: dict[str, int] = field(default_factory=dict)
    nulled: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    version: int = MANIFEST_VERSION

    @property
    def recipe(self) -> dict[str, Any]:
        return self.identity.recipe

    def summary(self) -> Summary:
        """What the embedding part of the run did, as an index run's Summary (nothing stored)."""
        return Summary(
            unchanged=self.unchanged,
            chunks=sum(s.chunks for s in self.done.values()),
            tokens=sum(s.tokens for s in self.done.values()),
            seconds=self.seconds,
            skipped=list(self.skipped),
            replaced=dict(self.replaced),
            nulled=dict(self.nulled),
            unknown_only=[doc_id for s in self.done.values() for doc_id in s.unknown_only],
        )

    def to_json(self) -> str:
        data = asdict(self)
        data["done"] = {str(k): v for k, v in data["done"].items()}
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: Path) -> Manifest:
        """The manifest in `text`; RunFolderError naming `where` when it is not one."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            if data.get("version") != MANIFEST_VERSION:
                raise ValueError(
                    f"version {data.get('version')!r}; this semsearch reads {MANIFEST_VERSION}"
                )
            _require(data, cls)
            manifest = cls(
                **{
                    **data,
                    "identity": RunIdentity(**_require(data["identity"], RunIdentity)),
                    "done": {int(k): Shard(**_require(v, Shard)) for k, v in data["done"].items()},
                    "skipped": [Skipped(**_require(s, Skipped)) for s in data["skipped"]],
                }
            )
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise RunFolderError(f"{where} is damaged: {error}") from None
        if manifest.status not in STATUSES or manifest.shards < 1:
            raise RunFolderError(f"{where} is damaged: status {manifest.status!r}")
        return manifest


def _require(data: Any, kind: type) -> dict[str, Any]:
    """`data` as the keyword arguments of dataclass `kind`: every field without a default present,
    no other keys."""
    if not isinstance(data, dict):
        raise TypeError(f"{kind.__name__}: a JSON {type(data).__name__}, not an object")
    known = {f.name for f in fields(kind)}
    missing_default = dataclasses.MISSING
    needed = {
        f.name
        for f in fields(kind)
        if f.default is missing_default and f.default_factory is missing_default
    }
    if missing := needed - set(data):
        raise KeyError(f"{kind.__name__} lacks {', '.join(sorted(missing))}")
    if unknown := set(data) - known:
        raise KeyError(f"{kind.__name__} has unknown {', '.join(sorted(unknown))}")
    return data


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class RunFolder:
    """The folder of one distributed run, and the paths of its files."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.manifest_path = self.path / MANIFEST
        self.stored_path = self.path / STORED
        self.moved_path = self.path / MOVED
        self.shard_folder = self.path / SHARDS

    def shard_path(self, shard: int) -> Path:
        return self.shard_folder / f"shard-{shard:05d}.parquet"

    def read_manifest(self) -> Manifest | None:
        """The manifest, or None when there is none; RunFolderError when it is damaged."""
        try:
            text = self.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise RunFolderError(f"{self.manifest_path} cannot be read: {error}") from None
        return Manifest.from_json(text, self.manifest_path)

    def write_manifest(self, manifest: Manifest) -> None:
        """Written to a temporary file and renamed: a reader sees the old or the new one."""
        self.path.mkdir(parents=True, exist_ok=True)
        temporary = self.manifest_path.with_suffix(f".tmp{os.getpid()}")
        temporary.write_text(manifest.to_json(), encoding="utf-8")
        os.replace(temporary, self.manifest_path)

    def shard_files(self) -> list[Path]:
        """Every complete (renamed) shard file in the folder, listed or not."""
        if not self.shard_folder.is_dir():
            return []
        return sorted(self.shard_folder.glob("shard-*.parquet"))

    def leftover_shard(self, path: Path, manifest: Manifest) -> tuple[int, Shard] | None:
        """A complete shard file of this run that the manifest does not list yet (its run was
        killed after the file was renamed): its number and counts, or None for anything else."""
        try:
            shard = int(path.stem.removeprefix("shard-"))
            footer = json.loads(pq.read_metadata(path).metadata[FOOTER_KEY])
        except (ValueError, TypeError, KeyError, OSError, pa.ArrowException):
            return None
        if footer.get("run_id") != manifest.run_id or path != self.shard_path(shard):
            return None
        if not 0 <= shard < manifest.shards:
            return None
        counts = {k: footer[k] for k in ("documents", "chunks", "tokens", "unknown_only")}
        return shard, Shard(**counts, sha256=file_sha256(path))


class ShardWriter:
    """Chunk rows of one shard, written as they come, published by a rename when closed."""

    def __init__(self, run: RunFolder, shard: int, attempt: str, run_id: str) -> None:
        run.shard_folder.mkdir(parents=True, exist_ok=True)
        self.shard = shard
        self.run_id = run_id
        self.final = run.shard_path(shard)
        self.temporary = self.final.with_name(f".{self.final.name}.{attempt}")
        self.writer = pq.ParquetWriter(self.temporary, CHUNK_SCHEMA)

    def write(self, rows: dict[str, list]) -> None:
        self.writer.write_table(pa.table(rows, schema=CHUNK_SCHEMA))

    def close(self, counts: dict[str, Any]) -> None:
        """Finish the file with its run id and `counts` in the footer, and rename it."""
        self.writer.add_key_value_metadata(
            {FOOTER_KEY: json.dumps({"run_id": self.run_id, "shard": self.shard, **counts})}
        )
        self.writer.close()
        os.replace(self.temporary, self.final)


def pages_json(pages: list[int] | None) -> str | None:
    """A document's page starts as JSON text for a Parquet column (None: not paginated)."""
    return None if pages is None else json.dumps(pages)


def pages_from_json(text: str | None) -> list[int] | None:
    """The page starts `pages_json` wrote."""
    return None if text is None else json.loads(text)


def document_rows(
    order: tuple[int, int], record: DocumentRecord, metadata_json: str, seen_hash: str | None
) -> dict[str, list]:
    """The chunk rows of one embedded document (column lists for CHUNK_SCHEMA)."""
    count = len(record.chunks)

    def first(value: Any) -> list:
        return [value] + [None] * (count - 1)

    return {
        "file_index": [order[0]] * count,
        "position": [order[1]] * count,
        "doc_id": [record.id] * count,
        "ord": [c.ord for c in record.chunks],
        "start": [c.start for c in record.chunks],
        "end": [c.end for c in record.chunks],
        "n_tokens": [c.n_tokens for c in record.chunks],
        "vector": [np.asarray(c.vector, "<f4").tobytes() for c in record.chunks],
        "page": [c.page for c in record.chunks],
        "last_page": [c.last_page for c in record.chunks],
        "text": first(record.text),
        "title": first(record.title),
        "source": first(record.source),
        "metadata": first(metadata_json),
        "pages": first(pages_json(record.pages)),
        "content_hash": first(record.content_hash),
        "seen_hash": first(seen_hash),
    }


@dataclass
class ShardDocument:
    """A document read back from a shard, with what the store held for its id when the run
    began (`seen_hash`, None when it held nothing)."""

    record: DocumentRecord
    seen_hash: str | None


def _documents(path: Path) -> Iterator[tuple[tuple[int, int], ShardDocument]]:
    """The documents of one shard file, in its order, each with its place in the input."""
    current: ShardDocument | None = None
    order = (0, 0)
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH):
            for row in batch.to_pylist():
                vector = np.frombuffer(row["vector"], "<f4").copy()
                chunk = ChunkRecord(
                    row["ord"],
                    row["start"],
                    row["end"],
                    row["n_tokens"],
                    vector,
                    row["page"],
                    row["last_page"],
                )
                if row["ord"] == 0:
                    if current is not None:
                        yield order, current
                    order = (row["file_index"], row["position"])
                    record = DocumentRecord(
                        id=row["doc_id"],
                        text=row["text"],
                        title=row["title"],
                        source=row["source"],
                        metadata=json.loads(row["metadata"]),
                        content_hash=row["content_hash"],
                        pages=pages_from_json(row["pages"]),
                    )
                    current = ShardDocument(record, row["seen_hash"])
                current.record.chunks.append(chunk)
    except (pa.ArrowException, OSError, ValueError, TypeError, KeyError) as error:
        raise RunFolderError(f"{path} is damaged: {error}") from None
    if current is not None:
        yield order, current


def merged(run: RunFolder, shards: list[int]) -> Iterator[ShardDocument]:
    """Every document of the given shards, in input order (a k-way merge: memory of one batch
    per shard)."""
    streams = [_documents(run.shard_path(shard)) for shard in shards]
    for _, document in heapq.merge(*streams, key=lambda item: item[0]):
        yield document

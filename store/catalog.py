"""The SQLite schema of a store and the statements that read and write it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlite_utils

from store.vectors import from_blobs, to_blob

SCHEMA_VERSION = 1
ID_BATCH = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT,
    title TEXT,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    ord INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE (doc_id, ord)
);
CREATE TABLE IF NOT EXISTS index_log (
    generation INTEGER NOT NULL,
    chunk_id INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('add', 'del'))
);
CREATE INDEX IF NOT EXISTS index_log_generation ON index_log (generation);
"""
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"


@dataclass
class ChunkRecord:
    """One window of a document: character span, wordpiece count, text and unit vector."""

    ord: int
    start: int
    end: int
    n_tokens: int
    text: str
    vector: np.ndarray


@dataclass
class DocumentRecord:
    """A document to store, with all its chunks."""

    id: str
    text: str
    title: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    chunks: list[ChunkRecord] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        return content_hash(self.text, self.title, self.metadata)


def content_hash(text: str, title: str | None, metadata: dict[str, Any]) -> str:
    """sha256 of what a document says: text, title and metadata."""
    payload = json.dumps([text, title, metadata], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def connect(path: str) -> sqlite_utils.Database:
    """Open (creating if needed) a store database in WAL mode with the schema in place. The
    connection may be used from other threads (the UI's script threads), one at a time."""
    db = sqlite_utils.Database(sqlite3.connect(path, check_same_thread=False))
    db.execute("PRAGMA busy_timeout = 30000")
    db.enable_wal()
    db.executescript(SCHEMA)
    if not db["chunks_fts"].exists():
        db["chunks"].enable_fts(["text"], create_triggers=True, tokenize=FTS_TOKENIZER)
    return db


def get_meta(db: sqlite_utils.Database, key: str, default: Any = None) -> Any:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return json.loads(row[0]) if row else default


def set_meta(db: sqlite_utils.Database, key: str, value: Any) -> None:
    db["meta"].upsert({"key": key, "value": json.dumps(value, sort_keys=True)}, pk="key")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_document(db: sqlite_utils.Database, doc: DocumentRecord, generation: int) -> bool:
    """Replace a document and its chunks (inside the caller's transaction), logging chunk ids
    for the FAISS index. True when the document existed before."""
    old = [row[0] for row in db.execute("SELECT id FROM chunks WHERE doc_id = ?", [doc.id])]
    existed = db.execute("SELECT 1 FROM documents WHERE id = ?", [doc.id]).fetchone() is not None
    if old:
        log(db, generation, old, "del")
        db.execute("DELETE FROM chunks WHERE doc_id = ?", [doc.id])
    db["documents"].upsert(
        {
            "id": doc.id,
            "source": doc.source,
            "title": doc.title,
            "text": doc.text,
            "metadata": json.dumps(doc.metadata, sort_keys=True, ensure_ascii=False),
            "content_hash": doc.content_hash,
            "indexed_at": now(),
        },
        pk="id",
    )
    new = []
    for chunk in doc.chunks:
        cursor = db.execute(
            'INSERT INTO chunks (doc_id, ord, start, "end", n_tokens, text, vector) '
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                doc.id,
                chunk.ord,
                chunk.start,
                chunk.end,
                chunk.n_tokens,
                chunk.text,
                to_blob(chunk.vector),
            ],
        )
        new.append(cursor.lastrowid)
    log(db, generation, new, "add")
    return existed


def delete_document(db: sqlite_utils.Database, doc_id: str, generation: int) -> bool:
    """Remove a document and its chunks (inside the caller's transaction); False if absent."""
    old = [row[0] for row in db.execute("SELECT id FROM chunks WHERE doc_id = ?", [doc_id])]
    log(db, generation, old, "del")
    db.execute("DELETE FROM chunks WHERE doc_id = ?", [doc_id])
    return db.execute("DELETE FROM documents WHERE id = ?", [doc_id]).rowcount > 0


def log(db: sqlite_utils.Database, generation: int, chunk_ids: list[int], op: str) -> None:
    db.conn.executemany(
        "INSERT INTO index_log (generation, chunk_id, op) VALUES (?, ?, ?)",
        [(generation, chunk_id, op) for chunk_id in chunk_ids],
    )


def pages(db: sqlite_utils.Database, sql: str, batch: int) -> Iterator[list[tuple]]:
    """Rows of `sql` (first column an id; `WHERE ... id > ? ORDER BY id LIMIT ?`) in pages of
    `batch`, each page starting after the last id of the one before."""
    last = -1
    while rows := db.execute(sql, [last, batch]).fetchall():
        yield rows
        last = rows[-1][0]


def vector_batches(
    db: sqlite_utils.Database, dim: int, batch: int = 20_000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every (ids, vectors) in id order, `batch` rows at a time."""
    sql = "SELECT id, vector FROM chunks WHERE id > ? ORDER BY id LIMIT ?"
    for rows in pages(db, sql, batch):
        yield np.array([r[0] for r in rows], np.int64), from_blobs([r[1] for r in rows], dim)


def select_in(db: sqlite_utils.Database, sql: str, values: Sequence) -> Iterator[tuple]:
    """Rows of `sql`, whose `IN ({marks})` receives `values`, ID_BATCH parameters per query."""
    for start in range(0, len(values), ID_BATCH):
        part = [
            v.item() if isinstance(v, np.generic) else v for v in values[start : start + ID_BATCH]
        ]
        yield from db.execute(sql.format(marks=", ".join("?" * len(part))), part)


def vectors_for(
    db: sqlite_utils.Database, chunk_ids: Sequence[int], dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of the given chunk ids that exist."""
    rows = list(select_in(db, "SELECT id, vector FROM chunks WHERE id IN ({marks})", chunk_ids))
    return np.array([r[0] for r in rows], np.int64), from_blobs([r[1] for r in rows], dim)


def sample_vectors(db: sqlite_utils.Database, dim: int, size: int) -> np.ndarray:
    """A random sample of stored vectors (for training IVF quantizers): ids are drawn first, so
    SQLite sorts ids rather than vectors, and the rows are copied once, into the result."""
    ids = [row[0] for row in db.execute("SELECT id FROM chunks ORDER BY random() LIMIT ?", [size])]
    sample = np.empty((len(ids), dim), np.float32)
    sql = "SELECT vector FROM chunks WHERE id IN ({marks})"
    for row, (blob,) in enumerate(select_in(db, sql, ids)):
        sample[row] = np.frombuffer(blob, dtype="<f4")
    return sample

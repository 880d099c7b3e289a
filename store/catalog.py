"""The SQLite side of a store: schema, connections, and the batched statements that write it.

Chunk text is not stored twice: a chunk is a span of its document's text, and the full-text index
(FTS5, external content) reads it through the `chunk_text` view. The write path keeps the
full-text index in step explicitly, one statement per batch.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from store import filters, id_checksum
from store.database import Database
from store.errors import DamagedStoreError, StoreError
from store.records import DocumentRecord, encode_metadata
from store.vectors import from_blobs, to_blob

SCHEMA_VERSION = 3
ID_BATCH = 500
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
CHUNK_TEXT = 'substr(d.text, c.start + 1, c."end" - c.start)'  # for `chunks c JOIN documents d`

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT,
    title TEXT,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{{}}',
    content_hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL,
    pages TEXT  -- JSON list of the offsets where each page starts; NULL: not paginated
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    ord INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL,
    vector BLOB NOT NULL,
    page INTEGER,  -- the 1-based page the chunk starts on; NULL: not paginated
    last_page INTEGER,  -- and the page it ends on
    UNIQUE (doc_id, ord)
);
-- the documents read from a file: an `add` of records files looks up what each file held before
CREATE INDEX IF NOT EXISTS document_sources ON documents (source);
-- chunk id -> document, read for every candidate of a search without touching the chunk's row
-- (its vector makes rows ~1 KB: 400 candidates at 1M chunks are 400 pages; here, a few)
CREATE INDEX IF NOT EXISTS chunk_owners ON chunks (id, doc_id);
CREATE TABLE IF NOT EXISTS index_log (
    generation INTEGER NOT NULL,
    chunk_id INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('add', 'del'))
);
CREATE INDEX IF NOT EXISTS index_log_generation ON index_log (generation);
CREATE VIEW IF NOT EXISTS chunk_text AS
    SELECT c.id AS id, {CHUNK_TEXT} AS text FROM chunks c JOIN documents d ON d.id = c.doc_id;
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, tokenize='{FTS_TOKENIZER}', content='chunk_text', content_rowid='id'
);
"""


# -- connections ----------------------------------------------------------------------------


def open_writable(path: Path) -> Database:
    """A connection that may write: the schema is created in a new file and brought up to date
    in an old one. It may be used from other threads, one at a time."""
    try:
        db = Database(sqlite3.connect(str(path), check_same_thread=False))
        filters.register(db.conn)
        db.execute("PRAGMA busy_timeout = 30000")
        fresh = not db.table_names()
        if not fresh:
            _check_ours(db, path)
        db.enable_wal()
        with db.conn:
            if fresh or get_meta(db, "schema_version") == SCHEMA_VERSION:
                db.executescript(SCHEMA)
            else:
                _migrate(db, path)
    except sqlite3.Error as error:
        raise translated(path, error) or error from None
    return db


def require_ours(path: Path) -> None:
    """DamagedStoreError unless an existing `path` is a semsearch store (of any schema version);
    opened read-only, so that nothing is created next to a database that is not ours."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            _check_ours(Database(connection), path)
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise translated(path, error) or error from None


def open_readonly(path: Path) -> Database:
    """A connection that never writes: `mode=ro`, or `immutable=1` for a store in a folder this
    process cannot write to (so no writer can be active) whose write-ahead log is absent or empty
    (closed cleanly)."""
    wal = Path(str(path) + "-wal")
    pending = wal.exists() and wal.stat().st_size > 0
    flags = "mode=ro" if os.access(path.parent, os.W_OK) or pending else "immutable=1"
    try:
        uri = f"{path.resolve().as_uri()}?{flags}"
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        filters.register(connection)
        db = Database(connection)
        db.execute("PRAGMA busy_timeout = 30000")
        _check_ours(db, path)
        version = get_meta(db, "schema_version")
    except sqlite3.Error as error:
        raise translated(path, error) or error from None
    if version != SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version}; this semsearch reads version "
            f"{SCHEMA_VERSION}: run `semsearch repair --store {path.parent}` once to upgrade it"
        )
    return db


def translated(path: Path, error: sqlite3.Error) -> StoreError | None:
    """The user-facing error for an SQLite failure that is the store's or the disk's condition
    (damaged, read-only, full, busy, unreadable); None for anything else, which is a bug."""
    name = getattr(error, "sqlite_errorname", "")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return damaged(path, error)
    conditions = {
        "SQLITE_READONLY": "the store is read-only here",
        "SQLITE_IOERR": "the disk could not be read or written",
        "SQLITE_FULL": "the disk is full",
        "SQLITE_BUSY": "another process keeps the database busy",
        "SQLITE_CANTOPEN": "the database file cannot be opened",
        "SQLITE_PERM": "permission denied",
    }
    for prefix, meaning in conditions.items():
        if name.startswith(prefix):
            return StoreError(f"store {path.parent}: {meaning} ({error})")
    return None


def damaged(path: Path, error: Exception) -> DamagedStoreError:
    """The error for a store.db that SQLite cannot read."""
    return DamagedStoreError(
        f"{path} is damaged or not a database ({error}). Nothing can be repaired from inside it: "
        f"`sqlite3 {path} .recover` may salvage its rows; otherwise move it away and index your "
        "sources again"
    )


def _check_ours(db: Database, path: Path) -> None:
    tables = set(db.table_names())
    if "meta" not in tables or get_meta(db, "schema_version") is None:
        raise DamagedStoreError(
            f"{path} is an SQLite database but not a semsearch store (no manifest); "
            "nothing was changed. Choose another --store folder"
        )


def _migrate(db: Database, path: Path) -> None:
    """Schema 1 to 2: chunk text is read from the documents instead of being stored twice, and
    the full-text index is written by the store instead of triggers. Schema 2 to 3: page numbers
    (`documents.pages`, `chunks.page` and `last_page`, NULL for what was stored before)."""
    version = get_meta(db, "schema_version")
    if version not in (1, 2):
        raise StoreError(f"{path} has schema version {version}, newer than this semsearch knows")
    if version == 1:
        for trigger in ("chunks_ai", "chunks_ad", "chunks_au"):
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        db.execute("DROP TABLE IF EXISTS chunks_fts")
        db.execute("ALTER TABLE chunks DROP COLUMN text")
    db.execute("ALTER TABLE documents ADD COLUMN pages TEXT")
    db.execute("ALTER TABLE chunks ADD COLUMN page INTEGER")
    db.execute("ALTER TABLE chunks ADD COLUMN last_page INTEGER")
    db.executescript(SCHEMA)
    if version == 1:
        db.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild')")
        ids = np.array([row[0] for row in db.execute("SELECT id FROM chunks")], np.int64)
        set_meta(db, "id_checksum", id_checksum.checksum(ids))
    set_meta(db, "schema_version", SCHEMA_VERSION)


# -- the manifest ---------------------------------------------------------------------------


def get_meta(db: Database, key: str, default: Any = None) -> Any:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return json.loads(row[0]) if row else default


def set_meta(db: Database, key: str, value: Any) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, json.dumps(value, sort_keys=True)],
    )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- writing (inside the caller's transaction) ----------------------------------------------


def check_storable(doc: DocumentRecord) -> None:
    """StoreError unless SQLite can keep the document whole: text fields without NUL (SQLite's
    text functions stop at one) or lone surrogates (not UTF-8), metadata that is valid JSON (no
    NaN or Infinity)."""
    fields = {"id": doc.id, "text": doc.text, "title": doc.title or "", "source": doc.source or ""}
    for name, value in fields.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise StoreError(f"document {doc.id!r}: its {name} holds a lone surrogate") from None
        if "\x00" in value:
            raise StoreError(f"document {doc.id!r}: its {name} holds a NUL character")
    if doc.metadata_json is not None:
        return  # encoded already, so valid
    try:
        json.dumps(doc.metadata, allow_nan=False)
    except (ValueError, TypeError) as error:
        raise StoreError(f"document {doc.id!r}: metadata is not valid JSON ({error})") from None


def write_documents(
    db: Database, docs: Sequence[DocumentRecord], generation: int
) -> dict[str, int]:
    """Add or replace documents with all their chunks: a few statements per batch, whatever its
    size. Chunk ids are logged for the FAISS index. Returns counts of added and updated."""
    ids = [doc.id for doc in docs]
    existed = {row[0] for row in select_in(db, "SELECT id FROM documents WHERE id IN ({m})", ids)}
    old = _chunk_ids_of(db, ids)
    _remove_chunks(db, old, generation)
    stamp = now()
    db.conn.executemany(
        "INSERT OR REPLACE INTO documents (id, source, title, text, metadata, content_hash, "
        "indexed_at, pages) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                doc.id,
                doc.source,
                doc.title,
                doc.text,
                doc.metadata_json or encode_metadata(doc.metadata),
                doc.content_hash,
                stamp,
                None if doc.pages is None else json.dumps(doc.pages),
            )
            for doc in docs
        ],
    )
    next_id = db.execute(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'chunks'), 0) + 1"
    ).fetchone()[0]
    rows, texts = [], []
    for doc in docs:
        for chunk in doc.chunks:
            vector = to_blob(chunk.vector)
            rows.append(
                (
                    next_id,
                    doc.id,
                    chunk.ord,
                    chunk.start,
                    chunk.end,
                    chunk.n_tokens,
                    vector,
                    chunk.page,
                    chunk.last_page,
                )
            )
            texts.append((next_id, doc.text[chunk.start : chunk.end]))
            next_id += 1
    db.conn.executemany(
        'INSERT INTO chunks (id, doc_id, ord, start, "end", n_tokens, vector, page, last_page) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.conn.executemany("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", texts)
    new = [row[0] for row in rows]
    log(db, generation, new, "add")
    _update_checksum(db, new, old)
    return {"added": len(set(ids) - existed), "updated": len(existed)}


def set_sources(db: Database, sources: dict[str, str | None]) -> int:
    """Point documents at a new source; returns how many exist."""
    cursor = db.conn.executemany(
        "UPDATE documents SET source = ? WHERE id = ?", [(s, i) for i, s in sources.items()]
    )
    return cursor.rowcount


def delete_documents(db: Database, doc_ids: Sequence[str], generation: int) -> int:
    """Remove documents and their chunks; returns how many existed."""
    old = _chunk_ids_of(db, doc_ids)
    _remove_chunks(db, old, generation)
    _update_checksum(db, [], old)
    deleted = 0
    for start in range(0, len(doc_ids), ID_BATCH):
        part = list(doc_ids[start : start + ID_BATCH])
        marks = ", ".join("?" * len(part))
        deleted += db.execute(f"DELETE FROM documents WHERE id IN ({marks})", part).rowcount
    return deleted


def _chunk_ids_of(db: Database, doc_ids: Sequence[str]) -> list[int]:
    sql = "SELECT id FROM chunks WHERE doc_id IN ({m})"
    return [row[0] for row in select_in(db, sql, list(doc_ids))]


def _remove_chunks(db: Database, chunk_ids: list[int], generation: int) -> None:
    """Take chunks out of the full-text index (while their text is still readable), the chunks
    table, and log them for FAISS."""
    for start in range(0, len(chunk_ids), ID_BATCH):
        part = chunk_ids[start : start + ID_BATCH]
        marks = ", ".join("?" * len(part))
        db.execute(
            "INSERT INTO chunks_fts (chunks_fts, rowid, text) "
            f"SELECT 'delete', id, text FROM chunk_text WHERE id IN ({marks})",
            part,
        )
        db.execute(f"DELETE FROM chunks WHERE id IN ({marks})", part)
    log(db, generation, chunk_ids, "del")


def _update_checksum(db: Database, added: list[int], removed: list[int]) -> None:
    current = int(get_meta(db, "id_checksum", 0))
    set_meta(db, "id_checksum", id_checksum.updated(current, added, removed))


def log(db: Database, generation: int, chunk_ids: list[int], op: str) -> None:
    db.conn.executemany(
        "INSERT INTO index_log (generation, chunk_id, op) VALUES (?, ?, ?)",
        [(generation, chunk_id, op) for chunk_id in chunk_ids],
    )


def forget_logged(db: Database, generation: int) -> None:
    """Drop the log rows up to `generation` (the index file covers them) and remember that the
    log now starts after it."""
    db.execute("DELETE FROM index_log WHERE generation <= ?", [generation])
    set_meta(db, "log_floor", generation)


def rebuild_fulltext(db: Database) -> None:
    """The full-text index anew from the chunks and their documents."""
    db.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild')")


# -- reading --------------------------------------------------------------------------------


def pages(db: Database, sql: str, batch: int) -> Iterator[list[tuple]]:
    """Rows of `sql` (first column an id; `WHERE ... id > ? ORDER BY id LIMIT ?`) in pages of
    `batch`, each page starting after the last id of the one before."""
    last = -1
    while rows := db.execute(sql, [last, batch]).fetchall():
        yield rows
        last = rows[-1][0]


def vector_batches(
    db: Database, dim: int, batch: int = 4_096
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every (ids, vectors) in id order, `batch` rows at a time."""
    sql = "SELECT id, vector FROM chunks WHERE id > ? ORDER BY id LIMIT ?"
    for rows in pages(db, sql, batch):
        yield np.array([r[0] for r in rows], np.int64), from_blobs([r[1] for r in rows], dim)


def select_in(db: Database, sql: str, values: Sequence) -> Iterator[tuple]:
    """Rows of `sql`, whose `IN ({m})` receives `values`, ID_BATCH parameters per query."""
    for start in range(0, len(values), ID_BATCH):
        part = [
            v.item() if isinstance(v, np.generic) else v for v in values[start : start + ID_BATCH]
        ]
        yield from db.execute(sql.format(m=", ".join("?" * len(part))), part)


def has_owner_index(db: Database) -> bool:
    """Whether the store has the `chunk_owners` index (one opened only for reading since before
    it was added may not)."""
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'chunk_owners'"
    return db.execute(sql).fetchone() is not None


def owners(db: Database, chunk_ids: Sequence[int], indexed: bool) -> dict[int, str]:
    """The document of each given chunk that exists; from the `chunk_owners` index when
    `indexed` (see `has_owner_index`), without touching the chunks' rows."""
    source = "chunks INDEXED BY chunk_owners" if indexed else "chunks"
    return dict(select_in(db, f"SELECT id, doc_id FROM {source} WHERE id IN ({{m}})", chunk_ids))


def vectors_for(db: Database, chunk_ids: Sequence[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of the given chunk ids that exist."""
    rows = list(select_in(db, "SELECT id, vector FROM chunks WHERE id IN ({m})", chunk_ids))
    return np.array([r[0] for r in rows], np.int64), from_blobs([r[1] for r in rows], dim)


def chunk_texts(db: Database, chunk_ids: Sequence[int]) -> Iterator[tuple]:
    """(id, doc_id, text) of those chunks that exist."""
    sql = (
        f"SELECT c.id, c.doc_id, {CHUNK_TEXT} FROM chunks c JOIN documents d ON d.id = c.doc_id "
        "WHERE c.id IN ({m})"
    )
    return select_in(db, sql, chunk_ids)


def all_chunk_texts(db: Database, batch: int = 5_000) -> Iterator[tuple]:
    """(id, doc_id, text) of every chunk, in id order, read `batch` rows at a time."""
    sql = (
        f"SELECT c.id, c.doc_id, {CHUNK_TEXT} FROM chunks c JOIN documents d ON d.id = c.doc_id "
        "WHERE c.id > ? ORDER BY c.id LIMIT ?"
    )
    for rows in pages(db, sql, batch):
        yield from rows


def log_since(db: Database, after: int, upto: int) -> list[tuple[int, str]]:
    """(chunk id, op) of the index log's rows past generation `after` up to `upto`."""
    return db.execute(
        "SELECT chunk_id, op FROM index_log WHERE generation > ? AND generation <= ?",
        [after, upto],
    ).fetchall()


def sample_vectors(db: Database, dim: int, size: int) -> np.ndarray:
    """A random sample of stored vectors (for training IVF quantizers): ids are drawn first, so
    SQLite sorts ids rather than vectors, and the rows are copied once, into the result."""
    ids = [row[0] for row in db.execute("SELECT id FROM chunks ORDER BY random() LIMIT ?", [size])]
    sample = np.empty((len(ids), dim), np.float32)
    sql = "SELECT vector FROM chunks WHERE id IN ({m})"
    for row, (blob,) in enumerate(select_in(db, sql, ids)):
        sample[row] = np.frombuffer(blob, dtype="<f4")
    return sample

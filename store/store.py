"""A store folder: `store.db` (SQLite, the source of truth) and two rebuildable caches,
`index.faiss` (dense) and the `fulltext.tantivy` engine folder (lexical).

Every write is one SQLite transaction that bumps `generation` and logs the chunk ids it added
and deleted. Both caches catch up from that log (or are rebuilt from SQLite), so a missing,
damaged, stale or foreign cache costs time, never data.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from store import catalog, recall, verification
from store.catalog import CHUNK_TEXT
from store.errors import MissingStoreError, RecipeMismatchError, StoreError
from store.faiss_index import VectorIndex
from store.filters import Filter, compile_filters
from store.full_text import ENGINE_FOLDER, RANKING
from store.full_text_cache import FullTextCache, remove_leftovers
from store.index_cache import INDEX_FILE, IndexCache
from store.index_types import DEFAULT_SPEC, check_spec
from store.lock import WriterLock
from store.ranking import MODES, ChunkMatch, best_per_document, fts_query, fuse
from store.recipe import QUERY_KEYS, WRITE_KEYS, Recipe
from store.records import DocumentRecord, StoredVersion
from store.results import (
    Chunk,
    ChunkSpan,
    Corpus,
    Document,
    Hit,
    MetadataField,
    Recall,
    SampledDocument,
    Stats,
    VerifyReport,
)
from store.vectors import from_blobs

DB_FILE = "store.db"
EXACT_SCAN_MAX = 20_000
FUSION_DEPTH = 100
# Chunks asked of an index per document wanted (four times more each round while too few
# documents come back): most stores hold a few chunks a document.
FETCH_FACTOR = 2
# A filter allowing at most this many documents is handed to the full-text engine as a set of
# document ids; a larger one is applied to the engine's chunks as they come, fetching more until
# k documents pass or the matches run out. Either way a filtered search never comes back short.
ENGINE_FILTER_MAX = 20_000


class Store:
    """Open with `Store.create` (new or existing, writable) or `Store.open` (read-only unless
    `writable=True`). Use as a context manager, or call `close()`, so a writer saves its index.

    A reader never creates or changes anything in `store.db`."""

    def __init__(self, folder: Path, writable: bool) -> None:
        self.folder = Path(folder)
        self.writable = writable
        if writable and (self.folder / DB_FILE).exists():
            catalog.require_ours(self.folder / DB_FILE)  # before a lock file is created there
        self._lock = WriterLock(self.folder) if writable else None
        if self._lock:
            self._lock.acquire()
        try:
            path = self.folder / DB_FILE
            self.db = catalog.open_writable(path) if writable else catalog.open_readonly(path)
        except BaseException:
            self._release()
            raise
        self._file = _file_identity(self.folder / DB_FILE)  # the file this connection reads
        self._owner_index = catalog.has_owner_index(self.db)
        recipe = catalog.get_meta(self.db, "recipe")
        self.recipe: Recipe | None = Recipe.from_dict(recipe) if recipe else None
        self.store_id: str = catalog.get_meta(self.db, "store_id") or ""
        self._cache: IndexCache | None = None
        self._full_text: FullTextCache | None = None
        if writable:
            for stale in self.folder.glob(INDEX_FILE + ".tmp*"):
                stale.unlink()
            remove_leftovers(self.folder)

    # -- opening and closing ------------------------------------------------------------------

    @classmethod
    def create(cls, folder: str | Path, recipe: Recipe, index_spec: str = DEFAULT_SPEC) -> Store:
        """A writable store in `folder`, made with `recipe` if new. An existing one must have
        the same recipe (RecipeMismatchError otherwise); when only the model's location differs,
        the store remembers the new one (and a store made before tokenizers were recorded, the
        tokenizer's fingerprint)."""
        check_spec(index_spec)
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the store folder {folder}: {error.strerror}") from None
        store = cls(folder, writable=True)
        new = False
        try:
            with store.db.atomic():
                if store.recipe is None:
                    store._initialise(recipe, index_spec)
                    new = True
                else:
                    store.check_recipe(recipe, WRITE_KEYS)
                    known = replace(
                        store.recipe,
                        model=recipe.model,
                        tokenizer_fingerprint=store.recipe.tokenizer_fingerprint
                        or recipe.tokenizer_fingerprint,
                    )
                    if known != store.recipe:
                        catalog.set_meta(store.db, "recipe", known.to_dict())
                        store.recipe = known
                if not store.store_id:  # made before stores had ids
                    store.store_id = uuid.uuid4().hex
                    catalog.set_meta(store.db, "store_id", store.store_id)
                if catalog.get_meta(store.db, "full_text") != RANKING:
                    catalog.set_meta(store.db, "full_text", RANKING)  # new, or made before
            if new:
                store.full_text.current()  # an empty engine, which every write then follows
        except BaseException:
            store.close()
            raise
        return store

    def _initialise(self, recipe: Recipe, index_spec: str) -> None:
        self.store_id = uuid.uuid4().hex
        for key, value in {
            "schema_version": catalog.SCHEMA_VERSION,
            "store_id": self.store_id,
            "recipe": recipe.to_dict(),
            "index_spec": index_spec,
            "generation": 0,
            "log_floor": 0,
            "id_checksum": 0,
            "created_at": catalog.now(),
            "full_text": RANKING,
        }.items():
            catalog.set_meta(self.db, key, value)
        self.recipe = recipe

    @classmethod
    def open(cls, folder: str | Path, writable: bool = False) -> Store:
        """An existing store; MissingStoreError when there is none at `folder`."""
        folder = Path(folder)
        if not (folder / DB_FILE).is_file():
            raise MissingStoreError(
                f"no store at {folder} (no {DB_FILE}); create one with `semsearch index`"
            )
        store = cls(folder, writable)
        if store.recipe is None:
            store.close()
            raise StoreError(f"{folder / DB_FILE} has no recipe: not a semsearch store")
        return store

    def close(self, save: bool = True) -> None:
        """Save the index (a writer, unless `save` is False) and release the lock."""
        try:
            if save and self.writable and self.recipe is not None:
                self.flush()
        finally:
            try:
                if self._full_text is not None:
                    self._full_text.close()
            finally:
                self.db.close()
                self._release()

    def _release(self) -> None:
        if self._lock:
            self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        """Close; after an error, without saving the index (a cache: the next open catches it
        up), so that the error that stopped the work is the one reported."""
        self.close(save=kind is None)

    def replaced(self) -> bool:
        """True when the folder's `store.db` is no longer the file this store opened: deleted,
        or another store built in its place (this connection would go on reading the old one)."""
        return self._file is None or _file_identity(self.folder / DB_FILE) != self._file

    # -- manifest -----------------------------------------------------------------------------

    @property
    def index_spec(self) -> str:
        return catalog.get_meta(self.db, "index_spec", DEFAULT_SPEC)

    @property
    def generation(self) -> int:
        return int(catalog.get_meta(self.db, "generation", 0))

    @property
    def dim(self) -> int:
        return self.recipe.dim

    @property
    def cache(self) -> IndexCache:
        if self._cache is None:
            self._cache = IndexCache(self.folder, self.db, self.dim, self.store_id, self.writable)
        return self._cache

    @property
    def full_text(self) -> FullTextCache:
        if self._full_text is None:
            self._full_text = FullTextCache(self.folder, self.db, self.store_id, self.writable)
        return self._full_text

    def check_recipe(self, recipe: Recipe, keys: tuple[str, ...] = QUERY_KEYS) -> None:
        """RecipeMismatchError naming both recipes when they differ in any of `keys`."""
        differing = self.recipe.differences(recipe, keys)
        if differing:
            raise RecipeMismatchError(
                f"store {self.folder} holds vectors made with {self.recipe.describe()}; "
                f"this run uses {recipe.describe()} (differs in {', '.join(differing)}). "
                "Use the store's recipe (omit --model and chunking options), or another --store."
            )

    # -- writing ------------------------------------------------------------------------------

    def _require_writer(self) -> None:
        if not self.writable:
            raise StoreError(f"store {self.folder} is open read-only")

    def upsert(self, documents: Sequence[DocumentRecord]) -> dict[str, int]:
        """Add or replace documents and all their chunks in one transaction."""
        self._require_writer()
        for doc in documents:
            catalog.check_storable(doc)
            for chunk in doc.chunks:
                if chunk.vector.shape != (self.dim,):
                    raise StoreError(
                        f"document {doc.id!r}: vector of shape {chunk.vector.shape}, "
                        f"store dimension is {self.dim}"
                    )
        if not documents:
            return {"added": 0, "updated": 0}
        with self.db.atomic():
            generation = self.generation + 1
            counts = catalog.write_documents(self.db, documents, generation)
            catalog.set_meta(self.db, "generation", generation)
        self.full_text.follow(sum(len(doc.chunks) for doc in documents))
        return counts

    def relocate(self, sources: dict[str, str | None]) -> int:
        """Record a new source for stored documents (their file moved, their content did not), in
        one transaction; returns how many were stored."""
        self._require_writer()
        with self.db.atomic():
            moved = catalog.set_sources(self.db, sources)
            catalog.set_meta(self.db, "generation", self.generation + 1)
        self.full_text.follow(0)
        return moved

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Delete documents with their chunks in one transaction; returns how many existed."""
        self._require_writer()
        with self.db.atomic():
            generation = self.generation + 1
            deleted = catalog.delete_documents(self.db, list(doc_ids), generation)
            catalog.set_meta(self.db, "generation", generation)
        self.full_text.follow(0)
        return deleted

    def flush(self) -> None:
        """Bring both indexes up to date and save the FAISS file if it is behind, damaged or of
        another type; then drop the log rows both cover."""
        self._require_writer()
        engine = self.full_text.current()[0]
        index = self.cache.current()
        if index.generation == self.cache.file_generation:
            return
        self.cache.save(index)
        covered = min(index.generation, engine.generation)
        with self.db.atomic():
            catalog.forget_logged(self.db, covered)

    def rebuild(self, index_spec: str | None = None) -> VectorIndex:
        """Build the FAISS index anew from SQLite (optionally of another type) and save it."""
        self._require_writer()
        if index_spec is not None:
            check_spec(index_spec)
            with self.db.atomic():
                catalog.set_meta(self.db, "index_spec", index_spec)
        self.cache.index = self.cache.build()
        self.cache.file_generation = -1
        self.flush()
        return self.cache.index

    def repair(self, sample: int) -> VerifyReport:
        """Rebuild the full-text indexes (FTS5 and the engine) and the FAISS index from the
        documents and vectors; returns the verify report (`sample` vectors compared)."""
        self._require_writer()
        with self.db.atomic():
            catalog.rebuild_fulltext(self.db)
        self.full_text.rebuild()
        self.rebuild()
        return self.verify(sample)

    # -- reading ------------------------------------------------------------------------------

    def document(self, doc_id: str) -> Document | None:
        """A document with its page starts (None: not paginated) and its chunks' spans and pages
        (no vectors), or None."""
        row = self.db.execute(
            "SELECT id, source, title, text, pages, metadata, content_hash, indexed_at "
            "FROM documents WHERE id = ?",
            [doc_id],
        ).fetchone()
        if row is None:
            return None
        *head, pages, metadata, content_hash, indexed_at = row
        spans = self.db.execute(
            'SELECT id, ord, start, "end", n_tokens, page, last_page FROM chunks '
            "WHERE doc_id = ? ORDER BY ord",
            [doc_id],
        ).fetchall()
        return Document(
            *head,
            pages=None if pages is None else json.loads(pages),
            metadata=json.loads(metadata),
            content_hash=content_hash,
            indexed_at=indexed_at,
            chunks=[ChunkSpan(*span) for span in spans],
        )

    def chunk(self, chunk_id: int) -> Chunk | None:
        """One chunk: its document id, span, wordpiece count, pages and text (no vector), or
        None."""
        row = self.db.execute(
            'SELECT c.id, c.doc_id, c.ord, c.start, c."end", c.n_tokens, c.page, c.last_page, '
            f"{CHUNK_TEXT} FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?",
            [chunk_id],
        ).fetchone()
        return None if row is None else Chunk(*row)

    def versions(self, doc_ids: list[str]) -> dict[str, StoredVersion]:
        """What is stored now of those of `doc_ids` that are stored."""
        sql = "SELECT id, content_hash, source, indexed_at FROM documents WHERE id IN ({m})"
        return {row[0]: StoredVersion(*row[1:]) for row in catalog.select_in(self.db, sql, doc_ids)}

    def stored_documents(self, batch: int = 50_000) -> Iterator[list[tuple[str, str, str | None]]]:
        """(id, content_hash, source) of every stored document, in pages of `batch` rows."""
        cursor = self.db.execute("SELECT id, content_hash, source FROM documents")
        while rows := cursor.fetchmany(batch):
            yield rows

    def sources(self, among: Sequence[str] | None = None) -> dict[str, str | None]:
        """Every document id with its source; only of the sources `among` when given."""
        if among is None:
            return dict(self.db.execute("SELECT id, source FROM documents").fetchall())
        sql = "SELECT id, source FROM documents WHERE source IN ({m})"
        return dict(catalog.select_in(self.db, sql, list(among)))

    def page_starts(self, doc_id: str) -> list[int] | None:
        """Where each page of a document starts in its text (None: not paginated, or no such
        document)."""
        row = self.db.execute("SELECT pages FROM documents WHERE id = ?", [doc_id]).fetchone()
        return None if row is None or row[0] is None else json.loads(row[0])

    def chunks_with_word(self, word: str) -> list[int]:
        """Ids of the chunks whose full-text index holds `word` (its stem: "bank" finds "banks"
        too; the caller picks the exact word out of the text), in id order."""
        query = fts_query(word)
        if not query:
            return []
        rows = self.db.execute(
            "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rowid", [query]
        ).fetchall()
        return [row[0] for row in rows]

    def chunk_contexts(self, chunk_ids: list[int], margin: int) -> list[dict[str, Any]]:
        """Those chunks (id, doc_id, title, ord, start, end) each with its document's text from
        `margin` characters before the chunk to `margin` after (`context`, which begins at
        `context_start` of the document), in id order; missing ids left out."""
        sql = (
            'SELECT c.id, c.doc_id, d.title, c.ord, c.start, c."end", '
            "max(c.start - ?, 0), substr(d.text, max(c.start - ?, 0) + 1, "
            'c."end" + ? - max(c.start - ?, 0)) FROM chunks c '
            "JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({m})"
        )
        keys = ("id", "doc_id", "title", "ord", "start", "end", "context_start", "context")
        rows = []
        for first in range(0, len(chunk_ids), catalog.ID_BATCH):
            part = [int(i) for i in chunk_ids[first : first + catalog.ID_BATCH]]
            marks = ", ".join("?" * len(part))
            found = self.db.execute(sql.format(m=marks), [margin] * 4 + part).fetchall()
            rows += [dict(zip(keys, row, strict=True)) for row in found]
        return sorted(rows, key=lambda row: row["id"])

    def chunk_vectors(self, chunk_ids: list[int]) -> dict[int, np.ndarray]:
        """Stored vectors of the given chunks."""
        ids, vectors = catalog.vectors_for(self.db, chunk_ids, self.dim)
        return dict(zip(ids.tolist(), vectors, strict=True))

    def iter_chunks(self, batch: int = 5_000) -> Iterator[dict[str, Any]]:
        """Every chunk (id, doc_id, title, ord, text, vector) in id order, read in batches."""
        sql = (
            f"SELECT c.id, c.doc_id, d.title, c.ord, {CHUNK_TEXT}, c.vector FROM chunks c "
            "JOIN documents d ON d.id = c.doc_id WHERE c.id > ? ORDER BY c.id LIMIT ?"
        )
        for rows in catalog.pages(self.db, sql, batch):
            for chunk_id, doc_id, title, ord_, text, blob in rows:
                yield {
                    "id": chunk_id,
                    "doc_id": doc_id,
                    "title": title,
                    "ord": ord_,
                    "text": text,
                    "vector": from_blobs([blob], self.dim)[0],
                }

    def sample(self, size: int, seed: int = 0) -> list[SampledDocument]:
        """Up to `size` documents (id, title, metadata) with their first chunk's vector."""
        rows = self.db.execute(
            "SELECT d.id, d.title, d.metadata, c.vector FROM documents d "
            "JOIN chunks c ON c.doc_id = d.id AND c.ord = 0 "
            "ORDER BY (d.rowid * 2654435761 + ?) % 4294967296 LIMIT ?",
            [seed, size],
        ).fetchall()
        return [
            SampledDocument(doc_id, title, json.loads(metadata), from_blobs([blob], self.dim)[0])
            for doc_id, title, metadata, blob in rows
        ]

    def fields(self) -> dict[str, MetadataField]:
        """Each metadata key with its JSON types, count, distinct values, min and max."""
        fields: dict[str, MetadataField] = {}
        rows = self.db.execute(
            "SELECT j.key, j.type, count(*), min(j.value), max(j.value), "
            "count(DISTINCT j.value) FROM documents d, json_each(d.metadata) j "
            "GROUP BY j.key, j.type"
        )
        for key, kind, count, low, high, distinct in rows:
            entry = fields.setdefault(key, MetadataField([], 0, 0, None, None))
            entry.types.append(kind)
            entry.count += count
            entry.distinct += distinct
            entry.min, entry.max = low, high
        return fields

    def values(self, key: str, limit: int = 200) -> list[Any]:
        """Distinct values of one top-level metadata key, most frequent first."""
        path = f'$."{key}"'
        rows = self.db.execute(
            "SELECT json_extract(metadata, ?) AS v, count(*) AS n FROM documents "
            "WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC LIMIT ?",
            [path, limit],
        )
        return [row[0] for row in rows]

    def numbers(self, key: str) -> list[float]:
        """Every number one top-level metadata key holds, sorted (documents where it holds text
        or nothing left out)."""
        path = f'$."{key}"'
        rows = self.db.execute(
            "SELECT json_extract(metadata, ?) AS v FROM documents "
            "WHERE json_type(metadata, ?) IN ('integer', 'real') ORDER BY v",
            [path, path],
        )
        return [row[0] for row in rows]

    def sample_texts(self, size: int, seed: int = 0) -> list[str]:
        """The first chunk's text of up to `size` documents, the same ones for the same seed."""
        rows = self.db.execute(
            f"SELECT {CHUNK_TEXT} FROM documents d JOIN chunks c ON c.doc_id = d.id AND c.ord = 0 "
            "ORDER BY (d.rowid * 2654435761 + ?) % 4294967296 LIMIT ?",
            [seed, size],
        )
        return [row[0] for row in rows]

    def corpus(self) -> Corpus:
        """How many documents, from how many distinct sources, and where: the one source, or
        the folder every source is in (None without sources, or without a common folder)."""
        documents, sources, first, last = self.db.execute(
            "SELECT count(*), count(DISTINCT source), min(source), max(source) FROM documents"
        ).fetchone()
        where = first if sources == 1 else None
        if sources > 1 and first[:1] == last[:1] == "/":
            where = os.path.commonpath([first, last])  # the sorted ends share every one's prefix
        return Corpus(documents, sources, where)

    def count(self, filters: list[Filter]) -> int:
        """Documents that every filter holds for."""
        condition, params = compile_filters(filters)
        return self.db.execute(
            f"SELECT count(*) FROM documents d WHERE {condition}", params
        ).fetchone()[0]

    def stats(self) -> Stats:
        """Counts, recipe, index type and sizes on disk (the recall is the facade's to add)."""
        documents, chunks, embedded = self.db.execute(
            "SELECT (SELECT count(*) FROM documents), count(*), coalesce(sum(n_tokens), 0) "
            "FROM chunks"
        ).fetchone()
        index = self.cache.current()
        sizes = {
            name: (self.folder / name).stat().st_size
            for name in (DB_FILE, DB_FILE + "-wal", INDEX_FILE)
            if (self.folder / name).exists()
        }
        sizes[ENGINE_FOLDER] = self.full_text.current()[0].size_on_disk()
        return Stats(
            store=str(self.folder),
            documents=documents,
            chunks=chunks,
            wordpieces=embedded - self.recipe.overlap * (chunks - documents),
            wordpieces_embedded=embedded,
            generation=self.generation,
            recipe=self.recipe.to_dict(),
            index_spec=self.index_spec,
            index_type=index.spec,
            full_text=catalog.get_meta(self.db, "full_text", RANKING),
            dim=self.dim,
            bytes=sizes,
        )

    def index_recall(self, sample: int, k: int) -> Recall:
        """recall@k of the FAISS index against an exact scan, on `sample` stored chunks as
        queries (`store.recall`); 1.0 for a flat index."""
        return recall.measure(self.db, self.cache, sample, k)

    # -- searching ----------------------------------------------------------------------------

    def search(
        self,
        vector: np.ndarray | None,
        text: str | None,
        *,
        k: int,
        mode: str,
        filters: list[Filter] | None = None,
    ) -> list[Hit]:
        """Top-k documents by `mode`: dense needs `vector`, lexical needs `text`, hybrid both.
        With filters, returns min(k, number of matching documents) hits."""
        if mode not in MODES:
            raise StoreError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if mode in ("dense", "hybrid") and vector is None:
            raise StoreError(f"{mode} search needs a query vector")
        if mode in ("lexical", "hybrid") and text is None:
            raise StoreError(f"{mode} search needs query text")
        if k <= 0:
            return []
        with self.db.atomic():  # one snapshot: every hit is a chunk SQLite holds
            return self._search(vector, text, k, mode, filters or [])

    def _search(
        self, vector: np.ndarray | None, text: str | None, k: int, mode: str, filters: list[Filter]
    ) -> list[Hit]:
        condition, params = compile_filters(filters)
        depth = k if mode != "hybrid" else max(k, FUSION_DEPTH)
        rankings: dict[str, list[ChunkMatch]] = {}
        if mode in ("dense", "hybrid"):
            rankings["dense"] = self._dense(
                np.asarray(vector, np.float32), depth, condition, params
            )
        if mode in ("lexical", "hybrid"):
            rankings["lexical"] = self._lexical(text, depth, condition, params)
        if mode == "hybrid":
            hits = fuse(rankings, k)
        else:
            hits = [
                Hit(m.doc_id, m.score, m.chunk_id, parts={mode: {"rank": r, "score": m.score}})
                for r, m in enumerate(rankings[mode][:k], start=1)
            ]
        return self._describe(hits)

    def _dense(self, vector: np.ndarray, k: int, condition: str, params: list) -> list[ChunkMatch]:
        if vector.shape != (self.dim,):
            raise StoreError(f"query vector has shape {vector.shape}; the store is {self.dim}-d")
        index = self.cache.current()
        if condition == "1":
            return self._dense_search(index, vector, k, None, None)
        rows = self.db.execute(
            f"SELECT c.id, c.doc_id FROM chunks c JOIN documents d ON d.id = c.doc_id "
            f"WHERE {condition}",
            params,
        ).fetchall()
        allowed = np.array([row[0] for row in rows], np.int64)
        wanted = min(k, len({row[1] for row in rows}))
        if wanted == 0:
            return []
        if len(allowed) <= EXACT_SCAN_MAX and index.spec != "flat":
            return self._exact(vector, allowed)[:k]
        matches = self._dense_search(index, vector, k, allowed, len(allowed))
        if len(matches) < wanted:  # the approximate index missed some: never come back short
            return self._exact(vector, allowed)[:k]
        return matches

    def _dense_search(
        self,
        index: VectorIndex,
        vector: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        available: int | None,
    ) -> list[ChunkMatch]:
        """Ask FAISS for more chunks until k distinct documents are found or none are left."""
        available = index.count if available is None else available
        fetch = k * FETCH_FACTOR
        while True:
            scores, ids = index.search(vector, fetch, allowed)
            matches = self._best(ids, scores)
            if len(matches) >= k or fetch >= available or len(ids) < fetch:
                return matches[:k]
            fetch *= 4

    def _exact(self, vector: np.ndarray, allowed: np.ndarray) -> list[ChunkMatch]:
        found = []
        for start in range(0, len(allowed), catalog.ID_BATCH * 10):
            ids, vectors = catalog.vectors_for(
                self.db, allowed[start : start + catalog.ID_BATCH * 10], self.dim
            )
            found.append((ids, vectors @ vector))
        ids = np.concatenate([f[0] for f in found])
        scores = np.concatenate([f[1] for f in found])
        order = np.argsort(-scores, kind="stable")
        return self._best(ids[order], scores[order])

    def _best(
        self, ids: np.ndarray, scores: np.ndarray, allowed: set[str] | None = None
    ) -> list[ChunkMatch]:
        """`best_per_document` of chunks given best first, with their documents from SQLite."""
        id_list = ids.tolist()
        doc_of = catalog.owners(self.db, id_list, self._owner_index)
        return best_per_document(id_list, scores.tolist(), doc_of, allowed)

    def _lexical(self, text: str, k: int, condition: str, params: list) -> list[ChunkMatch]:
        """The best chunk of each of the top-k documents by BM25 (the full-text engine), only
        of documents the filter allows; chunks SQLite no longer holds are passed over."""
        engines = self.full_text.current()
        terms = engines[0].terms(text)
        if not terms:
            return []
        doc_ids: list[str] | None = None
        allowed: set[str] | None = None
        if condition != "1":
            sql = f"SELECT d.id FROM documents d WHERE {condition}"
            matching = [row[0] for row in self.db.execute(sql, params)]
            if not matching:
                return []
            if len(matching) <= ENGINE_FILTER_MAX:
                doc_ids = matching
            else:
                allowed = set(matching)
        queries = [(engine, engine.query(terms, doc_ids)) for engine in engines]
        fetch = k * FETCH_FACTOR
        while True:
            found = [engine.search(query, fetch) for engine, query in queries]
            ids = np.concatenate([f[0] for f in found])
            scores = np.concatenate([f[1] for f in found])
            order = np.lexsort((ids, -scores))[:fetch]  # best first, ties by chunk id
            best = self._best(ids[order], scores[order], allowed)
            if len(best) >= k or all(len(f[0]) < fetch for f in found):
                return best[:k]
            fetch *= 4

    def _describe(self, hits: list[Hit]) -> list[Hit]:
        """Fill in titles, sources, metadata and chunk spans, pages and text."""
        for hit in hits:
            row = self.db.execute(
                'SELECT d.title, d.source, d.metadata, c.ord, c.start, c."end", c.page, '
                f"c.last_page, {CHUNK_TEXT} "
                "FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?",
                [hit.chunk_id],
            ).fetchone()
            if row:
                hit.title, hit.source, metadata, hit.chunk_ord, hit.start, hit.end = row[:6]
                hit.first_page, hit.last_page, hit.text = row[6:]
                hit.page = hit.first_page
                hit.metadata = json.loads(metadata)
        return hits

    # -- checking -----------------------------------------------------------------------------

    def verify(self, sample: int) -> VerifyReport:
        """Compare SQLite with FAISS, FTS5 and the full-text engine (`sample` vectors one by one);
        `ok` is True when all agree."""
        return verification.verify(self.db, self.cache, self.full_text, sample)


def store_exists(folder: str | Path) -> bool:
    """True when `folder` holds a store database."""
    return os.path.isfile(Path(folder) / DB_FILE)


def _file_identity(path: Path) -> tuple[int, int] | None:
    """Device and inode (while a file is open, no other file has both); None when it is gone."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino

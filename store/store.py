"""A store folder: `store.db` (SQLite, the source of truth) and `index.faiss` (a rebuildable cache).

Every write is one SQLite transaction that bumps `generation` and logs the chunk ids it added
and deleted. The FAISS index catches up from that log (or is rebuilt from the vectors in SQLite),
so a missing, damaged or stale `index.faiss` costs time, never data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from store import catalog
from store.catalog import DocumentRecord
from store.faiss_index import IndexFileError, VectorIndex, check_spec, resolve_spec
from store.filters import Filter, compile_filters
from store.lock import WriterLock
from store.ranking import ChunkMatch, Hit, best_per_document, fts_query, fuse
from store.vectors import from_blobs

DB_FILE = "store.db"
INDEX_FILE = "index.faiss"
MODES = ("dense", "lexical", "hybrid")
EXACT_SCAN_MAX = 20_000
FUSION_DEPTH = 100
TRAINING_SAMPLE = 100_000
CATCH_UP_BATCH = 20_000
QUERY_RECIPE_KEYS = ("model", "model_fingerprint", "dim", "pooling", "normalize")
WRITE_RECIPE_KEYS = (*QUERY_RECIPE_KEYS, "chunk_tokens", "overlap")


class StoreError(RuntimeError):
    """A store that cannot be used as asked; the message says why and what to do."""


class RecipeMismatchError(StoreError):
    """Vectors made another way than the store's."""


def describe_recipe(recipe: dict) -> str:
    return (
        f"model {recipe.get('model')} ({recipe.get('model_fingerprint')}), {recipe.get('dim')}-d, "
        f"pooling {recipe.get('pooling')}, chunks of {recipe.get('chunk_tokens')} wordpieces "
        f"overlapping {recipe.get('overlap')}"
    )


class Store:
    """Open with `Store.create` (new or existing, writable) or `Store.open` (read-only unless
    `writable=True`). Use as a context manager, or call `close()`, so a writer saves its index."""

    def __init__(self, folder: Path, writable: bool) -> None:
        self.folder = Path(folder)
        self.writable = writable
        self._lock = WriterLock(self.folder) if writable else None
        if self._lock:
            self._lock.acquire()
        try:
            self.db = catalog.connect(str(self.folder / DB_FILE))
        except Exception:
            self._release()
            raise
        self._index: VectorIndex | None = None
        self._file_generation = -1
        if writable:
            for stale in self.folder.glob(INDEX_FILE + ".tmp*"):
                stale.unlink()

    # -- opening and closing ------------------------------------------------------------------

    @classmethod
    def create(cls, folder: str | Path, recipe: dict, index_spec: str = "auto") -> Store:
        """A writable store in `folder`, made with `recipe` if new; an existing one must have the
        same recipe (RecipeMismatchError otherwise)."""
        check_spec(index_spec)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        store = cls(folder, writable=True)
        try:
            if store.recipe is None:
                with store.db.atomic():
                    catalog.set_meta(store.db, "schema_version", catalog.SCHEMA_VERSION)
                    catalog.set_meta(store.db, "recipe", recipe)
                    catalog.set_meta(store.db, "index_spec", index_spec)
                    catalog.set_meta(store.db, "generation", 0)
                    catalog.set_meta(store.db, "log_floor", 0)
                    catalog.set_meta(store.db, "created_at", catalog.now())
            else:
                store.check_recipe(recipe, WRITE_RECIPE_KEYS)
        except Exception:
            store.close()
            raise
        return store

    @classmethod
    def open(cls, folder: str | Path, writable: bool = False) -> Store:
        """An existing store; StoreError when there is none at `folder`."""
        folder = Path(folder)
        if not (folder / DB_FILE).is_file():
            raise StoreError(
                f"no store at {folder} (no {DB_FILE}); create one with `semsearch index`"
            )
        store = cls(folder, writable)
        if store.recipe is None:
            store.close()
            raise StoreError(f"{folder / DB_FILE} has no recipe: not a semsearch store")
        return store

    def close(self) -> None:
        """Save the index (writer) and release the lock."""
        try:
            if self.writable:
                self.flush()
        finally:
            self.db.close()
            self._release()

    def _release(self) -> None:
        if self._lock:
            self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- manifest -----------------------------------------------------------------------------

    @property
    def recipe(self) -> dict | None:
        return catalog.get_meta(self.db, "recipe")

    @property
    def index_spec(self) -> str:
        return catalog.get_meta(self.db, "index_spec", "auto")

    @property
    def generation(self) -> int:
        return int(catalog.get_meta(self.db, "generation", 0))

    @property
    def dim(self) -> int:
        return int(self.recipe["dim"])

    def check_recipe(self, recipe: dict, keys: Iterable[str] = QUERY_RECIPE_KEYS) -> None:
        """RecipeMismatchError naming both recipes when they differ in any of `keys`."""
        mine = self.recipe
        differing = [key for key in keys if mine.get(key) != recipe.get(key)]
        if differing:
            raise RecipeMismatchError(
                f"store {self.folder} holds vectors made with {describe_recipe(mine)}; "
                f"this run uses {describe_recipe(recipe)} (differs in {', '.join(differing)}). "
                "Use the store's recipe (omit --model and chunking options), or another --store."
            )

    # -- writing ------------------------------------------------------------------------------

    def _require_writer(self) -> None:
        if not self.writable:
            raise StoreError(f"store {self.folder} is open read-only")

    def upsert(self, documents: list[DocumentRecord]) -> dict[str, int]:
        """Add or replace documents and all their chunks in one transaction."""
        self._require_writer()
        for doc in documents:
            for chunk in doc.chunks:
                if chunk.vector.shape != (self.dim,):
                    raise StoreError(
                        f"document {doc.id!r}: vector of shape {chunk.vector.shape}, "
                        f"store dimension is {self.dim}"
                    )
        counts = {"added": 0, "updated": 0}
        with self.db.atomic():
            generation = self.generation + 1
            for doc in documents:
                existed = catalog.write_document(self.db, doc, generation)
                counts["updated" if existed else "added"] += 1
            catalog.set_meta(self.db, "generation", generation)
        return counts

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Delete documents with their chunks in one transaction; returns how many existed."""
        self._require_writer()
        with self.db.atomic():
            generation = self.generation + 1
            deleted = sum(
                catalog.delete_document(self.db, doc_id, generation) for doc_id in doc_ids
            )
            catalog.set_meta(self.db, "generation", generation)
        return deleted

    def flush(self) -> None:
        """Bring the index up to date and save it if the file is behind; then drop log rows the
        file covers."""
        self._require_writer()
        index = self._current_index()
        if index.generation == self._file_generation and (self.folder / INDEX_FILE).exists():
            return
        index.save(self.folder / INDEX_FILE)
        self._file_generation = index.generation
        with self.db.atomic():
            self.db.execute("DELETE FROM index_log WHERE generation <= ?", [index.generation])
            catalog.set_meta(self.db, "log_floor", index.generation)

    def rebuild(self, index_spec: str | None = None) -> VectorIndex:
        """Build the FAISS index anew from SQLite (optionally of another type) and save it."""
        self._require_writer()
        if index_spec is not None:
            check_spec(index_spec)
            with self.db.atomic():
                catalog.set_meta(self.db, "index_spec", index_spec)
        self._index = self._build_index()
        self._file_generation = -1
        self.flush()
        return self._index

    def repair(self) -> dict[str, Any]:
        """Rebuild the full-text index and the FAISS index from the documents and vectors."""
        self._require_writer()
        with self.db.atomic():
            self.db.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild')")
        self.rebuild()
        return self.verify()

    # -- the FAISS index's life cycle ------------------------------------------------------

    def _build_index(self) -> VectorIndex:
        with self.db.atomic():  # one snapshot: the generation matches the vectors read
            generation = self.generation
            count = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            spec = resolve_spec(self.index_spec, count)
            training = None
            if spec.startswith("ivf"):
                training = catalog.sample_vectors(self.db, self.dim, TRAINING_SAMPLE)
            return VectorIndex.build(
                spec,
                self.dim,
                catalog.vector_batches(self.db, self.dim),
                training,
                generation,
                count,
            )

    def _load_file(self, count: int) -> VectorIndex | None:
        try:
            index = VectorIndex.load(self.folder / INDEX_FILE)
        except IndexFileError:
            return None
        wanted = self.index_spec  # `auto`: any type will do; the writer switches it at flush
        if index.dim != self.dim or (
            wanted != "auto" and index.spec != resolve_spec(wanted, count)
        ):
            return None
        self._file_generation = index.generation
        return index

    def _current_index(self) -> VectorIndex:
        """The index at the database's generation: loaded, caught up from the log, or rebuilt."""
        with self.db.atomic():  # a consistent snapshot of generation, log floor and log
            generation = self.generation
            if self._index is not None and self._index.generation == generation:
                return self._index
            floor = int(catalog.get_meta(self.db, "log_floor", 0))
            count = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            index = self._index
            if index is None or index.generation < floor or index.generation > generation:
                index = self._load_file(count)
            stale = index is None or index.generation < floor or index.generation > generation
            if not stale and self.writable and self._needs_new_type(index, count):
                stale = True  # rebuilt below: no point catching the old one up first
            index = None if stale else self._catch_up(index, generation)
        self._index = None  # let the old index go before a new one is built
        if index is None:
            index = self._build_index()
        self._index = index
        return index

    def _needs_new_type(self, index: VectorIndex, count: int) -> bool:
        """`auto` crossed its threshold, IVF can train now, or IVF has outgrown its lists."""
        return resolve_spec(self.index_spec, count) != index.spec or index.outgrown(count)

    def _catch_up(self, index: VectorIndex, generation: int) -> VectorIndex | None:
        """Apply logged adds and deletes past the index's generation; None: rebuild it."""
        rows = self.db.execute(
            "SELECT chunk_id, op FROM index_log WHERE generation > ? AND generation <= ?",
            [index.generation, generation],
        ).fetchall()
        deleted = {chunk_id for chunk_id, op in rows if op == "del"}
        added = [chunk_id for chunk_id, op in rows if op == "add" and chunk_id not in deleted]
        present = np.intersect1d(index.ids(), np.fromiter(deleted, np.int64, len(deleted)))
        if not index.remove(present):
            return None
        for start in range(0, len(added), CATCH_UP_BATCH):  # bounded memory for big catch-ups
            ids, vectors = catalog.vectors_for(
                self.db, added[start : start + CATCH_UP_BATCH], self.dim
            )
            index.add(ids, vectors)
        index.generation = generation
        return index

    # -- reading ------------------------------------------------------------------------------

    def get(self, doc_id: str) -> dict[str, Any] | None:
        """A document with its chunks' spans (no vectors), or None."""
        rows = list(self.db.query("SELECT * FROM documents WHERE id = ?", [doc_id]))
        if not rows:
            return None
        doc = rows[0]
        doc["metadata"] = json.loads(doc["metadata"])
        doc["chunks"] = list(
            self.db.query(
                'SELECT id, ord, start, "end", n_tokens FROM chunks WHERE doc_id = ? ORDER BY ord',
                [doc_id],
            )
        )
        return doc

    def hashes(self, doc_ids: list[str]) -> dict[str, str]:
        """content_hash of those of `doc_ids` that are stored."""
        sql = "SELECT id, content_hash FROM documents WHERE id IN ({marks})"
        return dict(catalog.select_in(self.db, sql, doc_ids))

    def sources(self) -> dict[str, str | None]:
        """Every document id with its source."""
        return dict(self.db.execute("SELECT id, source FROM documents").fetchall())

    def chunk_vectors(self, chunk_ids: list[int]) -> dict[int, np.ndarray]:
        """Stored vectors of the given chunks."""
        ids, vectors = catalog.vectors_for(self.db, chunk_ids, self.dim)
        return dict(zip(ids.tolist(), vectors, strict=True))

    def iter_chunks(self, batch: int = 5_000) -> Iterator[dict[str, Any]]:
        """Every chunk (id, doc_id, title, ord, text, vector) in id order, read in batches."""
        sql = (
            "SELECT c.id, c.doc_id, d.title, c.ord, c.text, c.vector FROM chunks c "
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

    def sample_documents(self, size: int, seed: int = 0) -> list[dict[str, Any]]:
        """Up to `size` documents (id, title, metadata) with their first chunk's vector."""
        rows = list(
            self.db.query(
                "SELECT d.id, d.title, d.metadata, c.vector FROM documents d "
                "JOIN chunks c ON c.doc_id = d.id AND c.ord = 0 "
                "ORDER BY (d.rowid * 2654435761 + ?) % 4294967296 LIMIT ?",
                [seed, size],
            )
        )
        for row in rows:
            row["metadata"] = json.loads(row["metadata"])
            row["vector"] = from_blobs([row["vector"]], self.dim)[0]
        return rows

    def metadata_fields(self) -> dict[str, dict[str, Any]]:
        """Each metadata key with its JSON types, count, distinct values, min and max."""
        fields: dict[str, dict[str, Any]] = {}
        rows = self.db.execute(
            "SELECT j.key, j.type, count(*), min(j.value), max(j.value), "
            "count(DISTINCT j.value) FROM documents d, json_each(d.metadata) j "
            "GROUP BY j.key, j.type"
        )
        for key, kind, count, low, high, distinct in rows:
            entry = fields.setdefault(key, {"types": [], "count": 0, "distinct": 0})
            entry["types"].append(kind)
            entry["count"] += count
            entry["distinct"] += distinct
            entry["min"], entry["max"] = low, high
        return fields

    def distinct_values(self, key: str, limit: int = 200) -> list[Any]:
        """Distinct values of one metadata key, most frequent first."""
        path = "$" + "".join(f'."{part}"' for part in key.split("."))
        rows = self.db.execute(
            "SELECT json_extract(metadata, ?) AS v, count(*) AS n FROM documents "
            "WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC LIMIT ?",
            [path, limit],
        )
        return [row[0] for row in rows]

    def stats(self) -> dict[str, Any]:
        """Counts, recipe, index type and sizes on disk."""
        documents, chunks, tokens = self.db.execute(
            "SELECT (SELECT count(*) FROM documents), count(*), coalesce(sum(n_tokens), 0) "
            "FROM chunks"
        ).fetchone()
        index = self._current_index()
        sizes = {
            name: (self.folder / name).stat().st_size
            for name in (DB_FILE, DB_FILE + "-wal", INDEX_FILE)
            if (self.folder / name).exists()
        }
        return {
            "store": str(self.folder),
            "documents": documents,
            "chunks": chunks,
            "tokens": tokens,
            "generation": self.generation,
            "recipe": self.recipe,
            "index_spec": self.index_spec,
            "index_type": index.spec,
            "dim": self.dim,
            "bytes": sizes,
        }

    # -- searching ----------------------------------------------------------------------------

    def search(
        self,
        vector: np.ndarray | None = None,
        text: str | None = None,
        k: int = 10,
        mode: str = "dense",
        filters: list[Filter] | None = None,
    ) -> list[Hit]:
        """Top-k documents by `mode`: dense needs `vector`, lexical needs `text`, hybrid both.
        With filters, returns min(k, number of matching documents) hits."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if mode in ("dense", "hybrid") and vector is None:
            raise ValueError(f"{mode} search needs a query vector")
        if mode in ("lexical", "hybrid") and text is None:
            raise ValueError(f"{mode} search needs query text")
        if k <= 0:
            return []
        condition, params = compile_filters(filters or [])
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
            raise ValueError(f"query vector has shape {vector.shape}; the store is {self.dim}-d")
        index = self._current_index()
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
        fetch = k * 4
        while True:
            scores, ids = index.search(vector, fetch, allowed)
            matches = best_per_document(self._matches(ids, scores))
            if len(matches) >= k or fetch >= available or len(ids) < fetch:
                return matches[:k]
            fetch *= 4

    def _exact(self, vector: np.ndarray, allowed: np.ndarray) -> list[ChunkMatch]:
        matches = []
        for start in range(0, len(allowed), catalog.ID_BATCH * 10):
            ids, vectors = catalog.vectors_for(
                self.db, allowed[start : start + catalog.ID_BATCH * 10], self.dim
            )
            matches += self._matches(ids, vectors @ vector)
        return best_per_document(matches)

    def _matches(self, ids: np.ndarray, scores: np.ndarray) -> list[ChunkMatch]:
        id_list = [int(i) for i in ids]
        sql = "SELECT id, doc_id FROM chunks WHERE id IN ({marks})"
        doc_of = dict(catalog.select_in(self.db, sql, id_list))
        return [
            ChunkMatch(chunk_id, doc_of[chunk_id], float(score))
            for chunk_id, score in zip(id_list, scores, strict=True)
            if chunk_id in doc_of
        ]

    def _lexical(self, text: str, k: int, condition: str, params: list) -> list[ChunkMatch]:
        query = fts_query(text)
        if not query:
            return []
        rows = self.db.execute(
            "WITH m AS (SELECT rowid AS chunk_id, bm25(chunks_fts) AS s FROM chunks_fts "
            "WHERE chunks_fts MATCH ?) "
            "SELECT chunk_id, doc_id, score FROM ("
            "  SELECT m.chunk_id, c.doc_id, -m.s AS score, "
            "  row_number() OVER (PARTITION BY c.doc_id ORDER BY m.s) AS best "
            f"  FROM m JOIN chunks c ON c.id = m.chunk_id JOIN documents d ON d.id = c.doc_id "
            f"  WHERE {condition}) "
            "WHERE best = 1 ORDER BY score DESC LIMIT ?",
            [query, *params, k],
        ).fetchall()
        return [ChunkMatch(row[0], row[1], float(row[2])) for row in rows]

    def _describe(self, hits: list[Hit]) -> list[Hit]:
        """Fill in titles, sources, metadata and chunk spans."""
        for hit in hits:
            row = self.db.execute(
                'SELECT d.title, d.source, d.metadata, c.ord, c.start, c."end", c.text '
                "FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?",
                [hit.chunk_id],
            ).fetchone()
            if row:
                hit.title, hit.source, metadata, hit.chunk_ord, hit.start, hit.end, hit.text = row
                hit.metadata = json.loads(metadata)
        return hits

    # -- checking -----------------------------------------------------------------------------

    def verify(self, sample: int = 100) -> dict[str, Any]:
        """Compare SQLite with FAISS: counts, id sets, dimension, generation, a sample of vectors;
        and the full-text index's row count. `ok` is True when all agree. A missing, damaged or
        stale index file is a warning: it is a cache, rebuilt or caught up on open."""
        problems: list[str] = []
        warnings: list[str] = []
        documents = self.db.execute("SELECT count(*) FROM documents").fetchone()[0]
        chunk_ids = np.array(
            [row[0] for row in self.db.execute("SELECT id FROM chunks ORDER BY id")], np.int64
        )
        orphans = self.db.execute(
            "SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} chunks belong to no document")
        fts_rows = self.db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        if fts_rows != len(chunk_ids):
            problems.append(f"full-text index has {fts_rows} rows for {len(chunk_ids)} chunks")
        file_generation = None
        try:
            file_index = VectorIndex.load(self.folder / INDEX_FILE)
            file_generation = file_index.generation
        except IndexFileError as error:
            warnings.append(f"index file: {error}; it is rebuilt in memory (`repair` rewrites it)")
        index = self._current_index()
        faiss_ids = index.ids()
        missing = np.setdiff1d(chunk_ids, faiss_ids)
        extra = np.setdiff1d(faiss_ids, chunk_ids)
        if len(missing):
            problems.append(
                f"{len(missing)} chunks missing from FAISS, e.g. {missing[:5].tolist()}"
            )
        if len(extra):
            problems.append(f"{len(extra)} FAISS ids with no chunk, e.g. {extra[:5].tolist()}")
        if index.dim != self.dim:
            problems.append(f"FAISS dimension {index.dim}, store dimension {self.dim}")
        mismatched = self._compare_sample(index, chunk_ids, sample)
        if mismatched:
            problems.append(f"{len(mismatched)} sampled vectors differ, e.g. {mismatched[:5]}")
        return {
            "ok": not problems,
            "problems": problems,
            "warnings": warnings,
            "documents": int(documents),
            "chunks": len(chunk_ids),
            "faiss_vectors": index.count,
            "index_type": index.spec,
            "dim": self.dim,
            "generation": self.generation,
            "index_file_generation": file_generation,
            "sampled_vectors": min(sample, len(chunk_ids)),
        }

    def _compare_sample(self, index: VectorIndex, chunk_ids: np.ndarray, sample: int) -> list[int]:
        if not len(chunk_ids):
            return []
        rng = np.random.default_rng(0)
        picked = rng.choice(chunk_ids, size=min(sample, len(chunk_ids)), replace=False)
        present = set(index.ids().tolist())
        picked = [int(i) for i in picked if int(i) in present]
        if not picked:
            return []
        stored = self.chunk_vectors(picked)
        expected = index.expected_reconstruction(np.stack([stored[i] for i in picked]))
        return [
            chunk_id
            for chunk_id, want in zip(picked, expected, strict=True)
            if not np.allclose(index.reconstruct(chunk_id), want, atol=1e-5)
        ]


def store_exists(folder: str | Path) -> bool:
    """True when `folder` holds a store database."""
    return os.path.isfile(Path(folder) / DB_FILE)

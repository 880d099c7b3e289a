"""The FAISS side of a store kept at SQLite's generation: loaded from `index.faiss`, caught up from
the index log, or rebuilt from the stored vectors, and saved by whoever may write.

A file is only used when it belongs to this store: the same store id, and once caught up, the same
checksum of chunk ids as the manifest and the same vectors for a sample of chunks. Anything else
(a file from another store, a damaged or truncated one) is rebuilt, never searched.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from store import catalog
from store.database import Database
from store.faiss_index import IndexFileError, VectorIndex
from store.index_types import resolve_spec
from store.lock import WriterLock

INDEX_FILE = "index.faiss"
# Vectors an IVF index trains on (so at most TRAINING_SAMPLE // 39 lists). At 117k real MiniLM
# vectors (plus noise, as make bench) 32k trained as well as 100k did: recall@10 0.993 vs 0.992,
# p50 1.2 vs 1.3 ms, built in 7 s instead of 25, and the sample, held beside the model's memory
# at the end of a run, is a third of the size (peak RSS at 117k seed-shape documents: -60 MB).
TRAINING_SAMPLE = 32_768
CATCH_UP_BATCH = 20_000
SPOT_CHECKS = 8  # vectors compared with SQLite when a file is taken into use


class IndexCache:
    """The in-memory index of one store and its file."""

    def __init__(self, folder: Path, db: Database, dim: int, store_id: str, writable: bool) -> None:
        self.path = folder / INDEX_FILE
        self.db = db
        self.dim = dim
        self.store_id = store_id
        self.writable = writable
        self.index: VectorIndex | None = None
        self.file_generation = -1  # the generation of the usable file on disk; -1: none

    def spec(self) -> str:
        return catalog.get_meta(self.db, "index_spec", "auto")

    # -- the index at the database's generation ---------------------------------------------

    def current(self) -> VectorIndex:
        """The index at the database's generation: loaded, caught up from the log, or rebuilt.
        A reader that had to rebuild or catch up saves the result when no writer is active."""
        with self.db.atomic():  # a consistent snapshot of generation, log floor, log and count
            generation = int(catalog.get_meta(self.db, "generation", 0))
            if self.index is not None and self.index.generation == generation:
                return self.index
            floor = int(catalog.get_meta(self.db, "log_floor", 0))
            count = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            index = self.index
            if index is None or not floor <= index.generation <= generation:
                index = self._load_file(count)
            if index is not None and not floor <= index.generation <= generation:
                index = None
            if index is not None and self.writable and self.needs_new_type(index, count):
                index = None  # rebuilt below: no point catching the old one up first
            if index is not None:
                index = self._catch_up(index, generation)
        self.index = None  # let the old index go before a new one is built
        if index is None:
            index = self.build()
        self.index = index
        if not self.writable and index.generation != self.file_generation:
            self._save_if_no_writer(index)
        return index

    def needs_new_type(self, index: VectorIndex, count: int) -> bool:
        """`auto` crossed its threshold, IVF can train now, or IVF has outgrown its lists."""
        return resolve_spec(self.spec(), count) != index.spec or index.outgrown(count)

    def build(self) -> VectorIndex:
        """A new index of the configured type from every vector in SQLite."""
        with self.db.atomic():  # one snapshot: the generation matches the vectors read
            generation = int(catalog.get_meta(self.db, "generation", 0))
            count = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            spec = resolve_spec(self.spec(), count)

            def training() -> np.ndarray:
                return catalog.sample_vectors(self.db, self.dim, TRAINING_SAMPLE)

            return VectorIndex.build(
                spec,
                self.dim,
                catalog.vector_batches(self.db, self.dim),
                training if spec.startswith("ivf") else None,
                generation,
                self.store_id,
                count,
            )

    def _load_file(self, count: int) -> VectorIndex | None:
        """The file's index if it is this store's and of the configured type, else None."""
        self.file_generation = -1
        try:
            index = VectorIndex.load(self.path)
        except IndexFileError:
            return None
        if index.store_id != self.store_id or index.dim != self.dim:
            return None
        wanted = self.spec()  # `auto`: any type will do; the writer switches it at flush
        if wanted != "auto" and index.spec != resolve_spec(wanted, count):
            return None
        self.file_generation = index.generation
        return index

    def _catch_up(self, index: VectorIndex, generation: int) -> VectorIndex | None:
        """Apply logged adds and deletes past the index's generation, then check that it holds
        exactly the store's chunks; None: rebuild it."""
        rows = self.db.execute(
            "SELECT chunk_id, op FROM index_log WHERE generation > ? AND generation <= ?",
            [index.generation, generation],
        ).fetchall()
        deleted = {chunk_id for chunk_id, op in rows if op == "del"}
        added = [chunk_id for chunk_id, op in rows if op == "add" and chunk_id not in deleted]
        present = np.intersect1d(index.ids(), np.fromiter(deleted, np.int64, len(deleted)))
        if not index.remove(present):
            return None  # HNSW cannot remove: rebuilt, which the file did not need to be
        for start in range(0, len(added), CATCH_UP_BATCH):  # bounded memory for big catch-ups
            ids, vectors = catalog.vectors_for(
                self.db, added[start : start + CATCH_UP_BATCH], self.dim
            )
            index.add(ids, vectors)
        index.generation = generation
        checksum = int(catalog.get_meta(self.db, "id_checksum", 0))
        if index.id_checksum() != checksum or self.differing_vectors(index, spot_check_ids(index)):
            self.file_generation = -1  # not this store's content: the file must be replaced
            return None
        return index

    def differing_vectors(self, index: VectorIndex, chunk_ids: list[int]) -> list[int]:
        """Those of `chunk_ids` whose vector in the index is not the one stored in SQLite."""
        ids, vectors = catalog.vectors_for(self.db, chunk_ids, self.dim)
        if not len(ids):
            return []
        expected = index.expected_reconstruction(vectors)
        return [
            int(chunk_id)
            for chunk_id, want in zip(ids, expected, strict=True)
            if not np.allclose(index.reconstruct(int(chunk_id)), want, atol=1e-5)
        ]

    # -- saving ---------------------------------------------------------------------------------

    def save(self, index: VectorIndex) -> None:
        index.save(self.path)
        self.file_generation = index.generation

    def _save_if_no_writer(self, index: VectorIndex) -> None:
        """Save what a reader rebuilt or caught up, so the next process need not, when no writer
        is active, unless a writer has since saved a newer file of this store (a cache: skipped
        where the folder is read-only)."""
        if not os.access(self.path.parent, os.W_OK):
            return
        lock = WriterLock(self.path.parent)
        if not lock.try_acquire():
            return
        try:
            if not self._newer_on_disk(index):
                self.save(index)
        except IndexFileError:
            return  # a full disk: this reader goes on searching the index it holds in memory
        finally:
            lock.release()

    def _newer_on_disk(self, index: VectorIndex) -> bool:
        """True when the file holds a later generation of this store than `index`."""
        try:
            on_disk = VectorIndex.load(self.path)
        except IndexFileError:
            return False
        return on_disk.store_id == self.store_id and on_disk.generation > index.generation


def spot_check_ids(index: VectorIndex) -> list[int]:
    """A few chunk ids to compare with SQLite: the newest (where two copies of a store diverge)
    and some drawn at random."""
    ids = index.ids()
    if not len(ids):
        return []
    rng = np.random.default_rng(len(ids))
    drawn = rng.choice(ids, size=min(SPOT_CHECKS // 2, len(ids)), replace=False)
    return sorted({int(i) for i in (*ids[-(SPOT_CHECKS // 2) :], *drawn)})

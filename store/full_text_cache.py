"""The full-text engine of a store kept at SQLite's generation, with the same protocol as FAISS
(`index_cache`): loaded from the engine folder, caught up from the index log, or rebuilt from the
chunk text in SQLite.

The writer brings the engine up to date and commits it once `LAG_CHUNKS` chunks were added since
it last did (a Tantivy commit per small write cost a batch job 2.6 times the engine's CPU), whenever
it searches, and when it flushes or closes. A reader that finds the engine behind catches it up
on disk when no writer is active (it takes the writer's lock for that); while a writer is at work
it catches up in memory instead: a small in-memory engine of the chunks added since (at most
about `LAG_CHUNKS`), searched beside the one on disk (chunks deleted since are dropped by the
caller, who keeps only chunks SQLite holds). An engine that is missing, damaged, foreign or made
with another ranking rule is rebuilt: it costs time, never data.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from store import catalog
from store.database import Database
from store.full_text import BUILD_HEAP, ENGINE_FOLDER, RANKING, EngineFolderError, FullTextIndex
from store.lock import WriterLock

# Chunks a writer adds before it commits the engine: 50,000 WordNet glosses in 1,000-chunk commits
# cost the engine 1.3 CPU-s, in 10,000-chunk commits 0.5 (2-core EPYC, 2026-12-04); a reader
# searching meanwhile indexes at most this many in memory (~0.1 s for glosses).
LAG_CHUNKS = 5_000


@dataclass(frozen=True)
class Snapshot:
    """What SQLite holds now, read in one transaction."""

    generation: int
    floor: int
    id_checksum: int


class FullTextCache:
    """The engine of one store folder, and (for a reader behind an active writer) its delta."""

    def __init__(self, folder: Path, db: Database, store_id: str, writable: bool) -> None:
        self.path = folder / ENGINE_FOLDER
        self.db = db
        self.store_id = store_id
        self.writable = writable
        self.engine: FullTextIndex | None = None
        self._delta: FullTextIndex | None = None  # chunks added past the engine's generation
        self._delta_deleted = np.empty(0, np.int64)  # and those deleted since
        self._lag = 0  # chunks the writer added past the engine's commit
        self._failed: int | None = None  # the generation a reader could not commit the engine at

    def current(self) -> list[FullTextIndex]:
        """The engines to search, together at least at the database's generation: the engine
        alone, or (a reader while a writer is at work) the engine and an in-memory delta."""
        with self.db.atomic():  # one snapshot of generation, log and chunks
            snapshot = self._snapshot()
            engine = self._usable(snapshot)
            if engine is not None and engine.generation >= snapshot.generation:
                return [engine]  # ahead only for a reader whose writer just committed
            if self.writable:
                engine = self._updated_on_disk(engine, snapshot)
                self._lag = 0
                return [engine]
            lock = WriterLock(self.path.parent)
            may_write = os.access(self.path.parent, os.W_OK) and self._failed != snapshot.generation
            if may_write and lock.try_acquire():
                try:
                    return [self._caught_up_by_reader(engine, snapshot)]
                except (ValueError, OSError) as error:  # Tantivy's I/O errors are ValueErrors
                    self._failed = snapshot.generation  # not tried again for this generation
                    print(
                        f"semsearch: the full-text index in {self.path} could not be brought up "
                        f"to date on disk ({error}); it is searched from memory",
                        file=sys.stderr,
                        flush=True,
                    )
                    self.engine = None
                    engine = self._usable(snapshot)
                finally:
                    lock.release()
            if engine is None:  # a writer is at work, the folder is read-only or the disk full
                self.engine = self._build(None, snapshot)
                return [self.engine]
            return [engine, self._delta_of(engine, snapshot)]

    def follow(self, added: int) -> None:
        """After a write that added `added` chunks: commit the engine up to it once `LAG_CHUNKS`
        were added since the last commit, or when no engine is held yet (a writer only)."""
        self._lag += added
        if self.engine is None or self._lag >= LAG_CHUNKS:
            self.current()

    def chunk_ids(self) -> np.ndarray:
        """Every chunk id the engines to search hold for the database's generation, sorted (for
        a reader behind, the chunks deleted since taken out)."""
        engines = self.current()
        ids = engines[0].chunk_ids()
        if len(engines) > 1:
            ids = np.union1d(np.setdiff1d(ids, self._delta_deleted), engines[1].chunk_ids())
        return ids

    def rebuild(self) -> FullTextIndex:
        """The engine anew from SQLite, on disk (a writer only)."""
        with self.db.atomic():
            self.close()
            self.engine = self._build(self.path, self._snapshot())
        return self.engine

    def close(self) -> None:
        """Finish the writer's merges and release Tantivy's lock."""
        if self.engine is not None:
            self.engine.close()

    def state(self, snapshot: Snapshot) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "generation": snapshot.generation,
            "id_checksum": snapshot.id_checksum,
            "ranking": RANKING,
        }

    # -- the parts ------------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        return Snapshot(
            int(catalog.get_meta(self.db, "generation", 0)),
            int(catalog.get_meta(self.db, "log_floor", 0)),
            int(catalog.get_meta(self.db, "id_checksum", 0)),
        )

    def _usable(self, snapshot: Snapshot) -> FullTextIndex | None:
        """The engine held or on disk if it is this store's, made by this ranking rule, and
        can be caught up from the log; None: it must be rebuilt."""
        engine = self.engine
        try:
            if engine is None:
                engine = FullTextIndex.open(self.path)
            elif engine.generation != snapshot.generation and engine.path is not None:
                engine.reload()
        except (EngineFolderError, ValueError, OSError):
            self.engine = None
            return None
        self.engine = engine
        state = engine.state or {}
        if state.get("store_id") != self.store_id or state.get("ranking") != RANKING:
            return None
        if engine.generation < snapshot.floor:
            return None  # the log no longer reaches back to it
        if engine.generation > snapshot.generation and self.writable:
            return None  # ahead of the source of truth (a store.db put back from a copy)
        if engine.generation == snapshot.generation and (
            state.get("id_checksum") != snapshot.id_checksum
        ):
            return None
        return engine

    def _updated_on_disk(self, engine: FullTextIndex | None, snapshot: Snapshot) -> FullTextIndex:
        """The engine brought to the snapshot's generation and committed (by whoever holds the
        writer's lock), or rebuilt."""
        if engine is None or engine.path is None:
            self.engine = self._build(self.path, snapshot)
            return self.engine
        deleted, added = changes(catalog.log_since(self.db, engine.generation, snapshot.generation))
        engine.apply(catalog.chunk_texts(self.db, added), deleted, self.state(snapshot))
        self._delta = None
        return engine

    def _caught_up_by_reader(
        self, engine: FullTextIndex | None, snapshot: Snapshot
    ) -> FullTextIndex:
        """`_updated_on_disk` for a reader holding the writer's lock, closing the engine's writer
        after (so that the lock can be given back)."""
        try:
            return self._updated_on_disk(engine, snapshot)
        finally:
            engine_close(self.engine)  # the engine brought up to date (or left) is self.engine

    def _build(self, path: Path | None, snapshot: Snapshot) -> FullTextIndex:
        """A new engine of every chunk in SQLite: in `path` (built beside it, then swapped in),
        or in memory."""
        count = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        if count:
            where = "in memory" if path is None else f"in {path}"
            print(
                f"semsearch: building the full-text index of {count} chunks {where} "
                "(once: it is kept up to date from then on)",
                file=sys.stderr,
                flush=True,
            )
        building = None if path is None else path.with_name(f"{path.name}.tmp-{os.getpid()}")
        try:
            engine = FullTextIndex.create(building)
            engine.apply(
                catalog.all_chunk_texts(self.db), [], self.state(snapshot), BUILD_HEAP, fresh=True
            )
            if path is None:
                return engine
            engine.close()
        except BaseException:  # a full disk, Ctrl-C: nothing half-built is left beside the store
            if building is not None:
                shutil.rmtree(building, ignore_errors=True)
            raise
        old = path.with_name(f"{path.name}.old-{os.getpid()}")
        if path.exists():
            path.rename(old)
        building.rename(path)
        shutil.rmtree(old, ignore_errors=True)
        return FullTextIndex.open(path)

    def _delta_of(self, engine: FullTextIndex, snapshot: Snapshot) -> FullTextIndex:
        """An in-memory engine of the chunks added past `engine`'s generation."""
        delta = self._delta
        wanted = (engine.generation, snapshot.generation)
        if delta is None or (delta.state or {}).get("span") != list(wanted):
            deleted, added = changes(catalog.log_since(self.db, *wanted))
            self._delta_deleted = np.array(deleted, np.int64)
            delta = FullTextIndex.create(None)
            delta.apply(catalog.chunk_texts(self.db, added), [], {"span": list(wanted)}, fresh=True)
            delta.close()
            self._delta = delta
        return delta


def changes(rows: list[tuple[int, str]]) -> tuple[list[int], list[int]]:
    """(deleted, added) chunk ids of index log rows; a chunk added and deleted is only deleted."""
    deleted = {chunk_id for chunk_id, op in rows if op == "del"}
    added = [chunk_id for chunk_id, op in rows if op == "add" and chunk_id not in deleted]
    return sorted(deleted), added


def engine_close(engine: FullTextIndex | None) -> None:
    if engine is not None:
        engine.close()


def remove_leftovers(folder: Path) -> None:
    """Engine folders a killed build or swap left behind (a writer only)."""
    for stale in folder.glob(ENGINE_FOLDER + ".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in folder.glob(ENGINE_FOLDER + ".old-*"):
        shutil.rmtree(stale, ignore_errors=True)

"""`verify`: SQLite against FAISS, FTS5 and the full-text engine, and the index file and the engine
folder against the store."""

from __future__ import annotations

import numpy as np

from store import catalog
from store.database import Database
from store.faiss_index import IndexFileError, VectorIndex
from store.full_text import EngineFolderError, FullTextIndex
from store.full_text_cache import FullTextCache
from store.index_cache import IndexCache
from store.index_types import resolve_spec
from store.results import VerifyReport


def verify(db: Database, cache: IndexCache, full_text: FullTextCache, sample: int) -> VerifyReport:
    """Counts, id sets, dimension, `sample` vectors, the full-text indexes' chunks, and the index
    file's and engine folder's owner, type and generation. `ok` is True when nothing needs repair.
    A missing, damaged, stale or foreign index file or engine folder is a warning: it is a cache,
    rebuilt or caught up on open."""
    generation = int(catalog.get_meta(db, "generation", 0))
    problems: list[str] = []
    warnings: list[str] = []
    documents = db.execute("SELECT count(*) FROM documents").fetchone()[0]
    chunk_ids = np.array([row[0] for row in db.execute("SELECT id FROM chunks ORDER BY id")])
    chunk_ids = chunk_ids.astype(np.int64)
    orphans = db.execute(
        "SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)"
    ).fetchone()[0]
    if orphans:
        problems.append(f"{orphans} chunks belong to no document")
    unindexed, stray = db.execute(
        "SELECT (SELECT count(*) FROM chunks WHERE id NOT IN (SELECT id FROM chunks_fts_docsize)),"
        " (SELECT count(*) FROM chunks_fts_docsize WHERE id NOT IN (SELECT id FROM chunks))"
    ).fetchone()
    if unindexed or stray:
        problems.append(
            f"full-text index: {unindexed} chunks missing, {stray} rows with no chunk "
            "(`semsearch repair` rebuilds it)"
        )
    engine_generation = _check_engine(full_text, generation, warnings)
    engine_ids = full_text.chunk_ids()
    missing = np.setdiff1d(chunk_ids, engine_ids)
    extra = np.setdiff1d(engine_ids, chunk_ids)
    if len(missing) or len(extra):
        problems.append(
            f"full-text engine: {len(missing)} chunks missing (e.g. {missing[:5].tolist()}), "
            f"{len(extra)} chunks SQLite does not hold (e.g. {extra[:5].tolist()}); "
            "`semsearch repair` rebuilds it"
        )
    file_generation = _check_file(cache, generation, len(chunk_ids), problems, warnings)
    index = cache.current()
    faiss_ids = index.ids()
    missing = np.setdiff1d(chunk_ids, faiss_ids)
    extra = np.setdiff1d(faiss_ids, chunk_ids)
    if len(missing):
        problems.append(f"{len(missing)} chunks missing from FAISS, e.g. {missing[:5].tolist()}")
    if len(extra):
        problems.append(f"{len(extra)} FAISS ids with no chunk, e.g. {extra[:5].tolist()}")
    if index.dim != cache.dim:
        problems.append(f"FAISS dimension {index.dim}, store dimension {cache.dim}")
    picked = _sample(chunk_ids, np.intersect1d(chunk_ids, faiss_ids), sample)
    mismatched = cache.differing_vectors(index, picked)
    if mismatched:
        problems.append(f"{len(mismatched)} sampled vectors differ, e.g. {mismatched[:5]}")
    return VerifyReport(
        ok=not problems,
        problems=problems,
        warnings=warnings,
        documents=int(documents),
        chunks=len(chunk_ids),
        faiss_vectors=index.count,
        index_type=index.spec,
        dim=cache.dim,
        generation=generation,
        index_file_generation=file_generation,
        full_text_chunks=len(engine_ids),
        full_text_generation=engine_generation,
        sampled_vectors=len(picked),
    )


def _check_file(
    cache: IndexCache, generation: int, count: int, problems: list[str], warnings: list[str]
) -> int | None:
    """The index file's generation, with what is wrong with it added to problems or warnings."""
    path = cache.path
    try:
        loaded = VectorIndex.load(path)
    except IndexFileError as error:
        warnings.append(f"index file: {error}; it is rebuilt in memory (`repair` rewrites it)")
        return None
    if loaded.store_id != cache.store_id:
        warnings.append(
            f"{path} belongs to another store ({loaded.store_id}); it is never searched, and is "
            "rebuilt from this store's vectors (`repair` rewrites it)"
        )
    configured = cache.spec()
    if configured != "auto" and loaded.spec != resolve_spec(configured, count):
        problems.append(
            f"{path} is a {loaded.spec} index but the store is configured for {configured} "
            "(an interrupted rebuild?); every reader rebuilds it: run `semsearch repair`"
        )
    if loaded.generation < generation:
        warnings.append(
            f"{path} is at generation {loaded.generation}, the store at {generation}: "
            "readers catch it up from the log; the next write saves it"
        )
    return loaded.generation


def _check_engine(full_text: FullTextCache, generation: int, warnings: list[str]) -> int | None:
    """The engine folder's generation, with what is wrong with it added to warnings."""
    path = full_text.path
    try:
        engine = FullTextIndex.open(path)
    except EngineFolderError as error:
        warnings.append(f"full-text engine: {error}; it is rebuilt (`repair` rebuilds it)")
        return None
    state = engine.state or {}
    if state.get("store_id") != full_text.store_id:
        warnings.append(
            f"{path} belongs to another store or has no state; it is never searched, and is "
            "rebuilt from this store's text (`repair` rebuilds it)"
        )
    elif engine.generation < generation:
        warnings.append(
            f"{path} is at generation {engine.generation}, the store at {generation}: "
            "it is caught up from the log"
        )
    return engine.generation


def _sample(chunk_ids: np.ndarray, present: np.ndarray, sample: int) -> list[int]:
    if not len(present):
        return []
    rng = np.random.default_rng(0)
    return [int(i) for i in rng.choice(present, size=min(sample, len(present)), replace=False)]

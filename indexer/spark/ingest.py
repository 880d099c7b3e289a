"""The single writer of a distributed run: the shards' documents, in input order, written to a
store through the batched write path, `commit_every` documents per transaction.

A run folder is checked whole before anything is written (`check_run`, `check_target`): every
shard the manifest lists is there with its checksum, the counts add up, and the store is the one
the run was made against. Ingest never replaces a document with older content than the store
holds: a document the store changed after the run read its stored hashes is kept and listed.
Documents already stored with the same content hash are skipped, so an ingest killed at any
point (even by SIGKILL) and started again ends with every document stored once.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq

from indexer.memory import release_free_memory
from indexer.pipeline import batched
from indexer.spark.run_folder import (
    EMBEDDING,
    INGESTED,
    Manifest,
    RunFolder,
    RunFolderError,
    ShardDocument,
    file_sha256,
    merged,
)
from indexer.summary import Skipped, Summary
from store.recipe import WRITE_KEYS, Recipe
from store.records import StoredVersion
from store.store import Store

NEWER_IN_STORE = "newer in store"


def check_run(folder: RunFolder) -> Manifest:
    """The manifest of a finished and complete run; RunFolderError saying what is wrong
    otherwise: no manifest, a damaged one, an unfinished run, a shard missing, changed or of
    another run, counts that do not add up."""
    manifest = folder.read_manifest()
    if manifest is None:
        raise RunFolderError(
            f"{folder.path} is not a Spark run folder (no {folder.manifest_path.name})"
        )
    if manifest.status == EMBEDDING:
        raise RunFolderError(
            f"{folder.path} is not a finished Spark run (still embedding); run the same "
            "`semsearch index ... --spark` command again to complete it"
        )
    missing = [s for s in sorted(manifest.done) if not folder.shard_path(s).is_file()]
    if missing:
        raise RunFolderError(
            f"{folder.path}: the run is incomplete: {len(missing)} of {len(manifest.done)} shard "
            f"files are missing ({folder.shard_path(missing[0]).name} first); nothing was written"
        )
    for shard in sorted(manifest.done):
        path = folder.shard_path(shard)
        if file_sha256(path) != manifest.done[shard].sha256:
            raise RunFolderError(
                f"{path} is not the file this run wrote (its checksum differs: damaged, or a "
                "shard of another run); nothing was written"
            )
    held = sum(shard.documents for shard in manifest.done.values())
    if manifest.to_embed is None or held != manifest.to_embed:
        raise RunFolderError(
            f"{folder.path}: the shards hold {held} documents, the run embedded "
            f"{manifest.to_embed}; nothing was written"
        )
    if manifest.moved and (
        not folder.moved_path.is_file() or file_sha256(folder.moved_path) != manifest.moved_sha256
    ):
        raise RunFolderError(f"{folder.moved_path} is missing or changed; nothing was written")
    return manifest


def check_target(
    manifest: Manifest, folder: RunFolder, store_id: str | None, any_store: bool
) -> None:
    """RunFolderError unless the store (`store_id`, None for a new one) may take this run: the
    store it was made against; any store for a run made against none (it carries every document);
    with `any_store`, another store when the run left nothing out as unchanged."""
    made_for = manifest.identity.store_id
    if made_for is None or made_for == store_id:
        return
    where = f"store {manifest.identity.store} ({made_for})"
    if not any_store:
        raise RunFolderError(
            f"{folder.path} was made against {where}, not this one: it leaves out what that store "
            "already held. Ingest it there, or run `semsearch index --spark` against this store "
            "(--any-store takes a run that left nothing out); nothing was written"
        )
    if manifest.unchanged or manifest.moved:
        raise RunFolderError(
            f"{folder.path} was made against {where} and left out {manifest.unchanged} documents "
            "that store already held: this store would miss them; nothing was written"
        )


def recipe_of(manifest: Manifest) -> Recipe:
    return Recipe.from_dict(manifest.recipe)


def ingest(
    folder: RunFolder,
    manifest: Manifest,
    store: Store,
    commit_every: int,
    progress: bool = False,
) -> Summary:
    """Write the documents of a checked run to the writable `store`; returns what this ingest
    did (the run's skipped items included)."""
    from tqdm import tqdm

    store.check_recipe(recipe_of(manifest), WRITE_KEYS)
    summary = manifest.summary()
    summary.chunks = summary.tokens = 0
    own_store = manifest.identity.store_id == store.store_id
    started = time.perf_counter()
    documents = merged(folder, sorted(manifest.done))
    with tqdm(
        total=manifest.to_embed,
        desc="ingesting",
        unit=" doc",
        disable=not progress,
        file=sys.stderr,
    ) as bar:
        for batch in batched(documents, commit_every):
            stored = store.versions([doc.record.id for doc in batch])
            writes = []
            for doc in batch:
                now = stored.get(doc.record.id)
                if now is not None and now.content_hash == doc.record.content_hash:
                    summary.unchanged += 1
                elif _newer_in_store(doc, now, own_store, manifest.started_at):
                    summary.skipped.append(_kept(doc))
                else:
                    writes.append(doc.record)
            counts = store.upsert(writes)
            summary.added += counts["added"]
            summary.updated += counts["updated"]
            summary.chunks += sum(len(record.chunks) for record in writes)
            summary.tokens += sum(c.n_tokens for record in writes for c in record.chunks)
            bar.update(len(batch))
    summary.moved = _relocate(folder, manifest, store)
    release_free_memory()
    manifest.status = INGESTED
    folder.write_manifest(manifest)
    summary.seconds = time.perf_counter() - started
    return summary


def _newer_in_store(doc: ShardDocument, now: StoredVersion | None, own: bool, since: str) -> bool:
    """True when the store changed this document after the run read it: for the run's own store,
    its content is no longer what the run saw; for another, it was written after the run began."""
    if now is None:
        return False
    if own:
        return now.content_hash != doc.seen_hash
    return datetime.fromisoformat(now.indexed_at) >= datetime.fromisoformat(since)


def _kept(doc: ShardDocument) -> Skipped:
    return Skipped(
        doc.record.id,
        NEWER_IN_STORE,
        "the store's copy changed after this run read it; kept (index it again to replace it)",
    )


def _relocate(folder: RunFolder, manifest: Manifest, store: Store) -> int:
    """Record the new source of unchanged documents found under another path."""
    if not manifest.moved:
        return 0
    try:
        table = pq.read_table(folder.moved_path)
    except (pa.ArrowException, OSError) as error:
        raise RunFolderError(f"{folder.moved_path} is damaged: {error}") from None
    sources = dict(zip(table["id"].to_pylist(), table["source"].to_pylist(), strict=True))
    return store.relocate(sources)

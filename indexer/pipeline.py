"""The batch indexing job as three overlapping stages joined by bounded queues:

    reader thread: read, drop repeated ids and unchanged documents, tokenize, cut windows
    main thread:   the model's forward passes (they release the GIL)
    writer thread: one SQLite transaction per batch of `commit_every` documents

Batches stay in input order, and each is committed whole or not at all, so a run killed at any
point resumes where it stopped when started again (unchanged documents are skipped by their
content hash). Memory holds a few batches, whatever the corpus size.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from indexer.embedder import EmbeddedChunk, Embedder, Prepared
from indexer.sources import SourceDocument
from indexer.summary import Skipped, Summary
from store import catalog
from store.catalog import ChunkRecord, DocumentRecord, content_hash
from store.store import DB_FILE, Store

QUEUE_DEPTH = 2  # batches waiting between two stages
POLL_SECONDS = 0.2


class IndexInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; `summary` says what was safely stored before it."""

    def __init__(self, summary: Summary) -> None:
        super().__init__(f"interrupted after {summary.stored} documents were stored")
        self.summary = summary


@dataclass
class _Batch:
    documents: list[SourceDocument]  # changed ones only
    prepared: Prepared
    chunks: list[list[EmbeddedChunk]] | None = None


_DONE = object()


def run(
    store: Store,
    embedder: Embedder,
    items: Iterable[SourceDocument | Skipped],
    commit_every: int,
    progress: bool = False,
) -> Summary:
    """Index `items` into the writable `store`; returns the summary. Ctrl-C stops after the
    batch being written and raises IndexInterrupted with the summary of what was stored."""
    summary = Summary()
    started = time.perf_counter()
    stop = threading.Event()
    prepared: queue.Queue = queue.Queue(QUEUE_DEPTH)
    embedded: queue.Queue = queue.Queue(QUEUE_DEPTH)
    bar = tqdm(desc="indexing", unit=" doc", disable=not progress, file=sys.stderr)
    errors: list[BaseException] = []

    def reader() -> None:
        with _Lookup(store.folder / DB_FILE) as lookup:
            for batch in _batches(items, commit_every, summary):
                changed = lookup.changed(batch)
                summary.unchanged += len(batch) - len(changed)
                bar.update(len(batch) - len(changed))
                if changed:
                    ready = embedder.prepare([doc.text for doc in changed])
                    summary.unknown_only += [changed[i].id for i in ready.unknown_only]
                    if not _put(prepared, _Batch(changed, ready), stop):
                        return

    def writer() -> None:
        while (batch := _get(embedded, stop)) is not _DONE:
            counts = store.upsert(_records(batch))
            summary.added += counts["added"]
            summary.updated += counts["updated"]
            summary.chunks += sum(len(chunks) for chunks in batch.chunks)
            summary.tokens += batch.prepared.tokens
            bar.update(len(batch.documents))
            bar.set_postfix(
                tokens_per_s=f"{summary.tokens / (time.perf_counter() - started):,.0f}",
                refresh=False,
            )

    threads = [
        threading.Thread(target=_stage(reader, prepared, stop, errors), name="semsearch-reader"),
        threading.Thread(target=_stage(writer, None, stop, errors), name="semsearch-writer"),
    ]
    for thread in threads:
        thread.start()
    try:
        while (batch := _get(prepared, stop)) is not _DONE:
            batch.chunks = embedder.vectors(batch.prepared)
            if not _put(embedded, batch, stop):
                break
        _put(embedded, _DONE, stop)
        threads[1].join()
    except KeyboardInterrupt:
        summary.interrupted = True
        raise IndexInterrupted(summary) from None
    except BaseException:
        stop.set()
        raise
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        bar.close()
        summary.seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return summary


def _stage(
    work: Callable[[], None], output: queue.Queue | None, stop: threading.Event, errors: list
) -> Callable[[], None]:
    """A thread body: run `work`, then tell the next stage it is done; an error stops every
    stage and is re-raised by `run`."""

    def body() -> None:
        try:
            work()
        except BaseException as error:  # re-raised in the main thread
            errors.append(error)
            stop.set()
        finally:
            if output is not None:
                _put(output, _DONE, stop)

    return body


def _put(channel: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put `item`, waiting for room; False when the run is stopping."""
    while not stop.is_set():
        try:
            channel.put(item, timeout=POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def _get(channel: queue.Queue, stop: threading.Event) -> Any:
    """The next item, or _DONE when the run is stopping."""
    while not stop.is_set():
        try:
            return channel.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
    return _DONE


class _Lookup:
    """The reader's own read-only connection, for the content hashes already stored (the writer's
    connection is busy writing; documents in flight have ids no earlier batch had)."""

    def __init__(self, path: Path) -> None:
        self.db = catalog.open_readonly(path)

    def changed(self, batch: list[SourceDocument]) -> list[SourceDocument]:
        """The documents of `batch` whose content differs from what is stored."""
        sql = "SELECT id, content_hash FROM documents WHERE id IN ({m})"
        stored = dict(catalog.select_in(self.db, sql, [doc.id for doc in batch]))
        return [d for d in batch if stored.get(d.id) != content_hash(d.text, d.title, d.metadata)]

    def __enter__(self) -> _Lookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()


def _batches(
    items: Iterable[SourceDocument | Skipped], size: int, summary: Summary
) -> Iterator[list[SourceDocument]]:
    """Documents in batches of `size`; skipped, empty and repeated ones go to the summary."""
    seen: dict[str, str] = {}
    batch: list[SourceDocument] = []
    for item in items:
        if isinstance(item, Skipped):
            summary.skipped.append(item)
            continue
        where = item.where or item.id
        if item.replaced:
            summary.replaced[where] = summary.replaced.get(where, 0) + item.replaced
        if not item.text.strip():
            summary.skipped.append(Skipped(where, "empty document", "empty document"))
        elif item.id in seen:
            reason = f"duplicate id {item.id!r} (first at {seen[item.id]})"
            summary.skipped.append(Skipped(where, "duplicate id", reason))
        else:
            seen[item.id] = where
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def _records(batch: _Batch) -> list[DocumentRecord]:
    return [
        DocumentRecord(
            id=doc.id,
            text=doc.text,
            title=doc.title,
            source=doc.source,
            metadata=doc.metadata,
            chunks=[
                ChunkRecord(c.window.ord, c.window.start, c.window.end, c.window.n_tokens, c.vector)
                for c in chunks
            ],
        )
        for doc, chunks in zip(batch.documents, batch.chunks, strict=True)
    ]

"""The batch indexing job as three overlapping stages joined by bounded queues:

    reader thread: read, drop repeated ids and unchanged documents, tokenize, cut windows
    main thread:   the model's forward passes (they release the GIL)
    writer thread: one SQLite transaction per batch of `commit_every` documents

Batches stay in input order, and each is committed whole or not at all, so a run killed at any
point resumes where it stopped when started again (unchanged documents are skipped by their
content hash). Consecutive batches are embedded together, up to ROUND_CHARS of text, so that the
windows sorted by length pad little (1,000-document groups cost 9% more model time than one
sorted group on WordNet, 5,000 about 1%); the first round is one batch, so that the model starts
early. Memory holds a few rounds, whatever the corpus size.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from indexer.documents import SourceDocument
from indexer.memory import release_free_memory
from indexer.summary import Skipped, Summary
from store import catalog
from store.catalog import ChunkRecord, DocumentRecord, content_hash
from store.store import DB_FILE, Store

if TYPE_CHECKING:
    from indexer.embedder import EmbeddedChunk, Embedder, Prepared

QUEUE_DEPTH = 1  # rounds waiting between two stages
ROUNDS_AHEAD = 2  # rounds prepared but not yet through the model: one in it, one waiting
POLL_SECONDS = 0.2
ROUND_CHARS = 500_000  # text embedded together: ~6,000 WordNet glosses, ~500 abstracts
ROUND_BATCHES = 16


class IndexInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; `summary` says what was safely stored before it."""

    def __init__(self, summary: Summary) -> None:
        super().__init__(f"interrupted after {summary.stored} documents were stored")
        self.summary = summary


@dataclass
class _Round:
    """Consecutive batches embedded together; each is still written in its own transaction."""

    batches: list[list[SourceDocument]]  # the changed documents of each batch
    hashes: list[list[str]]  # their content hashes
    prepared: Prepared | None  # None once through the model
    chunks: list[list[EmbeddedChunk]] | None = None  # per document, in order


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
    ahead = threading.Semaphore(ROUNDS_AHEAD)  # the reader prepares only this far ahead
    prepared: queue.Queue = queue.Queue(QUEUE_DEPTH)
    embedded: queue.Queue = queue.Queue(QUEUE_DEPTH)
    bar = tqdm(desc="indexing", unit=" doc", disable=not progress, file=sys.stderr)
    errors: list[BaseException] = []

    # On a CPU the model keeps every core busy: a tokenizer thread pool beside it only slows it
    # (measured: 20k WordNet glosses, 2 cores, end-to-end / pure embedding 0.94 -> 0.96).
    parallel_tokenizer = embedder.loaded.device.type != "cpu"

    def reader() -> None:
        with _Lookup(store.folder / DB_FILE) as lookup:
            for batches, hashes in _rounds(_batches(items, commit_every, summary), lookup, summary):
                if not _acquire(ahead, stop):
                    return
                documents = [doc for batch in batches for doc in batch]
                ready = embedder.prepare([doc.text for doc in documents], parallel_tokenizer)
                summary.unknown_only += [documents[i].id for i in ready.unknown_only]
                if not _put(prepared, _Round(batches, hashes, ready), stop):
                    return

    def write(round_: _Round) -> None:
        chunks = iter(round_.chunks)
        for batch, hashes in zip(round_.batches, round_.hashes, strict=True):
            records = _records(batch, hashes, [next(chunks) for _ in batch])
            counts = store.upsert(records)
            summary.added += counts["added"]
            summary.updated += counts["updated"]
            summary.chunks += sum(len(record.chunks) for record in records)
            summary.tokens += sum(c.n_tokens for record in records for c in record.chunks)
            bar.update(len(batch))
            bar.set_postfix(
                tokens_per_s=f"{summary.tokens / (time.perf_counter() - started):,.0f}",
                refresh=False,
            )

    def writer() -> None:
        while (round_ := _get(embedded, stop)) is not _DONE:
            write(round_)
            del round_
            release_free_memory()  # the round's buffers, before the next ones are allocated

    threads = [
        threading.Thread(target=_stage(reader, prepared, stop, errors), name="semsearch-reader"),
        threading.Thread(target=_stage(writer, None, stop, errors), name="semsearch-writer"),
    ]
    for thread in threads:
        thread.start()
    try:
        while (round_ := _get(prepared, stop)) is not _DONE:
            round_.chunks = embedder.vectors(round_.prepared)
            round_.prepared = None  # the model inputs are done with
            ahead.release()
            if not _put(embedded, round_, stop):
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
        release_free_memory()  # before the store's final FAISS build
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


def _acquire(semaphore: threading.Semaphore, stop: threading.Event) -> bool:
    """Acquire, waiting as long as the run goes on; False when it is stopping."""
    while not stop.is_set():
        if semaphore.acquire(timeout=POLL_SECONDS):
            return True
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

    def changed(self, batch: list[SourceDocument]) -> tuple[list[SourceDocument], list[str]]:
        """The documents of `batch` whose content differs from what is stored, with their new
        content hashes."""
        sql = "SELECT id, content_hash FROM documents WHERE id IN ({m})"
        stored = dict(catalog.select_in(self.db, sql, [doc.id for doc in batch]))
        changed, hashes = [], []
        for doc in batch:
            digest = content_hash(doc.text, doc.title, doc.metadata)
            if stored.get(doc.id) != digest:
                changed.append(doc)
                hashes.append(digest)
        return changed, hashes

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
            origin = item.file or where
            summary.replaced[origin] = summary.replaced.get(origin, 0) + item.replaced
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


def _rounds(
    batches: Iterable[list[SourceDocument]], lookup: _Lookup, summary: Summary
) -> Iterator[tuple[list[list[SourceDocument]], list[list[str]]]]:
    """The changed documents of consecutive batches (and their hashes), grouped into rounds of at
    most ROUND_CHARS characters or ROUND_BATCHES batches. Unchanged ones are counted."""
    group: list[list[SourceDocument]] = []
    hashes: list[list[str]] = []
    chars, limit = 0, 0  # the first round is one batch
    for batch in batches:
        changed, digests = lookup.changed(batch)
        summary.unchanged += len(batch) - len(changed)
        if changed:
            group.append(changed)
            hashes.append(digests)
            chars += sum(len(doc.text) for doc in changed)
        if group and (chars >= limit or len(group) >= ROUND_BATCHES):
            yield group, hashes
            group, hashes, chars, limit = [], [], 0, ROUND_CHARS
    if group:
        yield group, hashes


def _records(
    batch: list[SourceDocument], hashes: list[str], chunks: list[list[EmbeddedChunk]]
) -> list[DocumentRecord]:
    return [
        DocumentRecord(
            id=doc.id,
            text=doc.text,
            title=doc.title,
            source=doc.source,
            metadata=doc.metadata,
            chunks=chunk_records(doc_chunks),
            content_hash=digest,
        )
        for doc, digest, doc_chunks in zip(batch, hashes, chunks, strict=True)
    ]


def chunk_records(chunks: list[EmbeddedChunk]) -> list[ChunkRecord]:
    """A document's embedded chunks as the store writes them."""
    return [
        ChunkRecord(c.window.ord, c.window.start, c.window.end, c.window.n_tokens, c.vector)
        for c in chunks
    ]

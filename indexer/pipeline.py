"""The batch indexing job as three overlapping stages joined by bounded queues:

    reader thread: read, hash, drop repeated ids and unchanged documents, tokenize, cut windows
                   (with workers > 1, worker processes read, hash and tokenize parts of the
                   input, and this thread puts their results together in input order)
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

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tqdm import tqdm

from indexer import documents
from indexer.batch.examined import CHANGED, MOVED, Examined, examine_each
from indexer.embedding.preparation import Prepared
from indexer.memory import release_free_memory
from indexer.sources.inputs import Input, read_inputs
from indexer.sources.options import SourceDocument, SourceOptions
from indexer.summary import IndexInterrupted, Skipped, Summary
from store.store import Store

if TYPE_CHECKING:
    from indexer.embedding.embedder import EmbeddedChunk, Embedder

QUEUE_DEPTH = 1  # rounds waiting between two stages
ROUNDS_AHEAD = 2  # rounds prepared but not yet through the model: one in it, one waiting
POLL_SECONDS = 0.2
ROUND_CHARS = 500_000  # text embedded together: ~6,000 WordNet glosses, ~500 abstracts
ROUND_BATCHES = 16
Item = TypeVar("Item")


@dataclass
class _Batch:
    """What one transaction writes: the changed documents of `commit_every` read ones, with
    their content hashes, and the new sources of unchanged ones found under another path."""

    changed: list[SourceDocument]
    hashes: list[str]
    moved: dict[str, str | None]
    inputs: list[tuple[Prepared, int]]  # where each changed document's model inputs are
    metadata: list[str | None]  # each changed document's metadata as the store keeps it


@dataclass
class _Round:
    """Consecutive batches embedded together; each is still written in its own transaction."""

    batches: list[_Batch]
    prepared: Prepared | None  # None once through the model
    chunks: list[list[EmbeddedChunk]] | None = None  # per changed document, in order


_DONE = object()
Examine = Callable[[Store], Iterator[Examined]]  # the reader's read-only store -> examined parts


def run(
    store: Store,
    embedder: Embedder,
    items: Iterable[SourceDocument | Skipped],
    commit_every: int,
    progress: bool = False,
) -> Summary:
    """Index `items` (read by the caller, examined in this process) into the writable `store`;
    returns the summary. Ctrl-C stops after the batch being written and raises IndexInterrupted
    with the summary of what was stored."""
    return _run(store, embedder, _in_process(embedder, items), commit_every, progress)


def run_plan(
    store: Store,
    embedder: Embedder,
    plan: Sequence[Input | Skipped],
    options: SourceOptions,
    commit_every: int,
    workers: int,
    progress: bool = False,
) -> Summary:
    """Index the planned inputs like `run`; with `workers` > 1, worker processes read, hash and
    tokenize them, and the documents are stored in the same order, with the same results."""
    if workers == 1:
        return run(store, embedder, read_inputs(plan, options), commit_every, progress)
    from indexer.batch.workers import examine_parts

    def examine(lookup: Store) -> Iterator[Examined]:
        return examine_parts(plan, options, lookup, embedder.preparer, workers)

    return _run(store, embedder, examine, commit_every, progress)


def _in_process(embedder: Embedder, items: Iterable[SourceDocument | Skipped]) -> Examine:
    # On a CPU the model keeps every core busy: a tokenizer thread pool beside it only slows it
    # (measured: 20k WordNet glosses, 2 cores, end-to-end / pure embedding 0.94 -> 0.96).
    parallel_tokenizer = embedder.loaded.device_type != "cpu"

    def examine(lookup: Store) -> Iterator[Examined]:
        return examine_each(items, lookup, embedder.preparer, parallel_tokenizer)

    return examine


def _run(
    store: Store, embedder: Embedder, examine: Examine, commit_every: int, progress: bool
) -> Summary:
    summary = Summary()
    started = time.perf_counter()
    stop = threading.Event()
    ahead = threading.Semaphore(ROUNDS_AHEAD)  # the reader prepares only this far ahead
    prepared: queue.Queue = queue.Queue(QUEUE_DEPTH)
    embedded: queue.Queue = queue.Queue(QUEUE_DEPTH)
    bar = tqdm(desc="indexing", unit=" doc", disable=not progress, file=sys.stderr)
    errors: list[BaseException] = []

    def reader() -> None:
        # its own read-only connection: the writer's is busy writing, and documents in flight
        # have ids no earlier batch had
        with Store.open(store.folder) as lookup, contextlib.closing(examine(lookup)) as parts:
            for batches in _rounds(_batches(parts, commit_every, summary)):
                if not _acquire(ahead, stop):
                    return
                changed = [doc for batch in batches for doc in batch.changed]
                ready = Prepared.join([each for batch in batches for each in batch.inputs])
                summary.unknown_only += [changed[i].id for i in ready.unknown_only]
                if not _put(prepared, _Round(batches, ready), stop):
                    return

    def write(round_: _Round) -> None:
        chunks = iter(round_.chunks)
        for batch in round_.batches:
            records = [
                documents.record(doc, digest, next(chunks), metadata)
                for doc, digest, metadata in zip(
                    batch.changed, batch.hashes, batch.metadata, strict=True
                )
            ]
            counts = store.upsert(records)
            if batch.moved:
                summary.moved += store.relocate(batch.moved)
            summary.added += counts["added"]
            summary.updated += counts["updated"]
            summary.chunks += sum(len(record.chunks) for record in records)
            summary.tokens += sum(c.n_tokens for record in records for c in record.chunks)
            bar.update(len(batch.changed))
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
            round_.chunks = embedder.embed_prepared(round_.prepared)
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


def _batches(parts: Iterable[Examined], size: int, summary: Summary) -> Iterator[_Batch]:
    """Batches of `size` accepted documents (the last may be shorter): the changed ones with
    their hashes and model inputs, and the unchanged ones stored under another source. Skipped,
    empty and repeated documents go to the summary; unchanged ones are counted."""
    seen: dict[str, str] = {}
    batch, read = _Batch([], [], {}, [], []), 0
    for part in parts:
        rows = zip(part.items, part.hashes, part.states, part.inputs, part.metadata, strict=True)
        for item, digest, state, index, metadata in rows:
            if not _accepted(item, seen, summary):
                continue
            read += 1
            if state == CHANGED:
                batch.changed.append(item)
                batch.hashes.append(digest)
                batch.inputs.append((part.prepared, index))
                batch.metadata.append(metadata)
            else:
                summary.unchanged += 1
                if state == MOVED:
                    batch.moved[item.id] = item.source
            if read >= size:
                yield batch
                batch, read = _Batch([], [], {}, [], []), 0
    if read:
        yield batch


def _accepted(item: SourceDocument | Skipped, seen: dict[str, str], summary: Summary) -> bool:
    """Whether `item` is a document to store; a skipped, empty or repeated one goes to the
    summary (`seen`: the ids so far, with where they were)."""
    if isinstance(item, Skipped):
        summary.skipped.append(item)
        return False
    where = item.where or item.id
    origin = item.file or where
    if item.replaced:
        summary.replaced[origin] = summary.replaced.get(origin, 0) + item.replaced
    if item.nulled:
        summary.nulled[origin] = summary.nulled.get(origin, 0) + item.nulled
    if documents.is_empty(item.text):
        summary.skipped.append(documents.empty(where))
        return False
    if item.id in seen:
        summary.skipped.append(documents.duplicate(where, item.id, seen[item.id]))
        return False
    seen[item.id] = where
    return True


def batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """`items` in lists of `size` (the last may be shorter): one transaction each."""
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _rounds(batches: Iterable[_Batch]) -> Iterator[list[_Batch]]:
    """Consecutive batches with something to write, grouped into rounds of at most ROUND_CHARS
    characters of changed text or ROUND_BATCHES batches."""
    group: list[_Batch] = []
    chars, limit = 0, 0  # the first round is one batch
    for batch in batches:
        if batch.changed or batch.moved:
            group.append(batch)
            chars += sum(len(doc.text) for doc in batch.changed)
        if group and (chars >= limit or len(group) >= ROUND_BATCHES):
            yield group
            group, chars, limit = [], 0, ROUND_CHARS
    if group:
        yield group

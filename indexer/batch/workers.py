"""The CPU side of a run in worker processes: each reads one part of the input (parts.py),
hashes its documents against the store and tokenizes the changed ones (examined.py), while the
indexing process runs the model and writes. Results come back in input order.

Workers start from a fork server that has imported this module once (no torch: they never load
the model), ignore Ctrl-C (the indexing process stops them), and exit when the indexing process
is gone (even after kill -9). A worker that dies (a reader crashing the interpreter, the kernel's
OOM killer) breaks the pool: the parts that were in flight are read again one at a time in a new
pool, and the one it dies on again is skipped, named, and the run goes on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from indexer.batch.examined import Examined, examine, examine_each
from indexer.batch.parts import LineRange, Part, parts, read_part
from indexer.embedding.preparation import Preparer
from indexer.sources.inputs import Input, InputFile, read_inputs
from indexer.sources.options import SourceOptions
from indexer.summary import Skipped
from store.store import Store

PARTS_AHEAD = 2  # parts in flight per worker: one being read, one waiting
WATCH_SECONDS = 0.5  # how often a worker looks whether the indexing process is still there
CRASHED = "reader crashed"

_Pending = deque[tuple[Part | Skipped, Future]]  # in input order; a Skipped is done already
_worker: dict[str, Any] = {}  # in a worker process: what `_start` set up


def examine_parts(
    plan: Sequence[Input | Skipped],
    options: SourceOptions,
    lookup: Store,
    preparer: Preparer,
    workers: int,
) -> Iterator[Examined]:
    """Every part of the plan examined by `workers` processes, in order. Skipped entries pass
    through; streams are read and examined here, in turn."""
    pool = _Pool(workers, (preparer, lookup.folder, options))
    pending: _Pending = deque()
    try:
        for item in parts(plan):
            if isinstance(item, Skipped):  # in its place, without waiting for the parts before
                pending.append((item, _done(Examined.skipped(item, preparer))))
            elif isinstance(item, (InputFile, LineRange)):
                pending.append((item, pool.submit(item)))
                if len(pending) >= workers * PARTS_AHEAD:
                    yield from pool.results(pending, keep=workers * PARTS_AHEAD - 1)
            else:
                yield from pool.results(pending, keep=0)
                yield from examine_each(read_inputs([item], options), lookup, preparer)
        yield from pool.results(pending, keep=0)
    finally:
        pool.shutdown()


def _done(result: Examined) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


class _Pool:
    """A process pool that is started again when a worker dies."""

    def __init__(self, workers: int, setup: tuple) -> None:
        self.workers = workers
        self.setup = setup
        self.executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if context.get_start_method() == "forkserver":
            context.set_forkserver_preload([__name__])
        executor = ProcessPoolExecutor(
            self.workers, context, initializer=_start, initargs=(*self.setup, os.getpid())
        )
        with _main_not_rerun():
            for _ in range(self.workers):  # every worker started now (one per task submitted)
                executor.submit(int)
        return executor

    def submit(self, part: Part) -> Future:
        return self.executor.submit(_examine, part)

    def results(self, pending: _Pending, keep: int) -> Iterator[Examined]:
        """Results of the oldest pending parts until `keep` are left. When the pool broke, the
        parts not yet done are read again one at a time: the one that breaks it alone is the
        one its worker died on."""
        while len(pending) > keep:
            future = pending[0][1]
            try:
                result = future.result()
            except BrokenProcessPool:
                yield from self._one_at_a_time(pending)
                continue
            pending.popleft()
            yield result

    def _one_at_a_time(self, pending: _Pending) -> Iterator[Examined]:
        self._restart()
        while pending:
            part, future = pending.popleft()
            if future.done() and not future.cancelled() and future.exception() is None:
                yield future.result()
                continue
            try:
                yield self.submit(part).result()
            except BrokenProcessPool:
                self._restart()
                reason = "the worker process reading it died (the reader crashed or was killed)"
                item = Skipped(part.label, CRASHED, reason)
                yield Examined.skipped(item, self.setup[0])

    def _restart(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.executor = self._start()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Workers started without running the indexing process's main script again (what spawned
    processes do to find functions defined there; a script calling `Collection.add` without an
    `if __name__ == "__main__":` guard would start indexing in every worker). Workers need only
    this module."""
    main = vars(sys.modules["__main__"])
    saved = {name: main.pop(name) for name in ("__file__", "__spec__") if name in main}
    main["__spec__"] = None  # read by multiprocessing, which then looks for `__file__`
    try:
        yield
    finally:
        del main["__spec__"]
        main.update(saved)


def _start(preparer: Preparer, folder: Any, options: SourceOptions, indexing: int) -> None:
    """A worker's set-up: ignore Ctrl-C, watch the indexing process, open the store to read."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker.update(preparer=preparer, lookup=Store.open(folder), options=options)
    threading.Thread(target=_watch, args=(indexing,), daemon=True).start()


def _watch(indexing: int) -> None:
    """Exit when the indexing process is gone: nothing is left running after it was killed
    (the fork server would not notice: every worker holds its keep-alive pipe)."""
    while True:
        time.sleep(WATCH_SECONDS)
        try:
            os.kill(indexing, 0)
        except OSError:  # no such process, or another user's that took its id
            os._exit(1)


def _examine(part: Part) -> Examined:
    """In a worker: one part read and examined."""
    items = list(read_part(part, _worker["options"]))
    return examine(items, _worker["lookup"], _worker["preparer"])

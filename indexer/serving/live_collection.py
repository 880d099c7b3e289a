"""A store's Collection kept loaded and at the store's latest generation, for a server that runs
for days while other processes write the store.

The model and the index load in the background once the server listens. A watcher reads the
store's identity and generation every `watch_seconds` and brings the index to a new one (caught
up from the store's log, or the new file loaded after a rebuild); a store deleted and built again
in the folder has another identity and is loaded whole (until it can be, requests get 503). Calls
run in worker threads, one at a time: the Collection serialises them anyway, and on a CPU one
forward pass already uses every core. A call that arrives while a load is in progress waits up to
`load_wait_seconds` for it, then is refused with `NotReady` (HTTP 503), so that clients retry
instead of hanging.

The model's views of texts a client sends (embed, tokens, explain) run on a Collection of their
own, so that a search never waits behind a big embedding. Writes go through another Collection on
the same store, so that searches never wait for a write's embedding; each write is one store
transaction that bumps the generation, so a search sees a write whole or not at all.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from indexer.collection import Collection
from indexer.settings import LOAD_WAIT_SECONDS, WATCH_SECONDS
from store.errors import SemsearchError

log = logging.getLogger(__name__)
T = TypeVar("T")
WARM_UP_QUERY = "warm up"


class NotReady(SemsearchError):
    """The store or its model is `loading`, or cannot be served now (`unavailable`): retry
    after `retry_after` seconds."""

    def __init__(self, code: str, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True)
class Health:
    """What the server holds now: `status` is loading, ready or failed (`message` says why)."""

    status: str
    store_id: str | None = None
    generation: int | None = None
    documents: int | None = None
    chunks: int | None = None
    model: str | None = None
    dim: int | None = None
    index_type: str | None = None
    writable: bool = False
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LiveCollection:
    """The reading Collection, the one for the model's views (`viewer`, the reader unless
    given), and the writing one (when writes are allowed) of one store."""

    def __init__(
        self,
        reader: Collection,
        writer: Collection | None = None,
        *,
        viewer: Collection | None = None,
        watch_seconds: float = WATCH_SECONDS,
        load_wait_seconds: float = LOAD_WAIT_SECONDS,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.viewer = viewer or reader
        self.watch_seconds = watch_seconds
        self.load_wait_seconds = load_wait_seconds
        self.health = Health("loading", writable=writer is not None)
        self._settled = anyio.Event()  # set when a load ends; a new one for each load
        self._reads = anyio.CapacityLimiter(1)
        self._views = anyio.CapacityLimiter(1) if viewer is not None else self._reads
        self._writes = anyio.CapacityLimiter(1)
        self.start_failure: Exception | None = None

    async def keep_current(self) -> None:
        """Load the model and the index, then follow the store's generation until cancelled.
        When the first load fails, `start_failure` holds the error and this returns (a later
        failure keeps the server up, answering 503 with the reason, retried at the next check)."""
        self.start_failure = await self._load()
        if self.start_failure is not None:
            return
        while True:
            await anyio.sleep(self.watch_seconds)
            if not await self._current():
                await self._load()

    async def _current(self) -> bool:
        """True when the server holds the store's identity and generation (False when the
        store cannot be read: the load that follows says why)."""
        if self.health.status != "ready":
            return False
        try:
            held = await self._in_thread(self._reads, self._identity)
        except SemsearchError:
            return False
        return held == (self.health.store_id, self.health.generation)

    def _identity(self) -> tuple[str, int]:
        return self.reader.store_id, self.reader.generation

    async def _load(self) -> Exception | None:
        """Bring the model and the index to the store's generation; the error if that failed
        (a semsearch error is reported in one line, anything else is a bug: its traceback)."""
        self._settled = anyio.Event()
        if self.health.status == "ready":
            self.health = replace(self.health, status="loading")
        try:
            health = await self._in_thread(self._reads, self._load_now)
        except Exception as error:
            if isinstance(error, SemsearchError):
                log.warning("cannot serve the store: %s", error)
            else:
                log.exception("unexpected error while loading the store")
            self._set(Health("failed", writable=self.writer is not None, message=str(error)))
            return error
        log.info("ready: generation %s, %s documents", health.generation, health.documents)
        # what the load made (the model's modules, the libraries') stays: the garbage collector
        # need not walk it again during every full collection a request triggers
        gc.freeze()
        self._set(health)
        return None

    def _load_now(self) -> Health:
        """In a worker thread: the model loaded, the index at the store's generation."""
        reader = self.reader
        store_id = reader.store_id  # first: a store replaced during the load is loaded again
        reader.search(WARM_UP_QUERY, k=1, mode="dense")  # model, recipe check, index current
        stats = reader.stats()
        return Health(
            "ready",
            store_id=store_id,
            generation=stats.generation,
            documents=stats.documents,
            chunks=stats.chunks,
            model=stats.recipe["model"],
            dim=stats.dim,
            index_type=stats.index_type,
            writable=self.writer is not None,
        )

    def _set(self, health: Health) -> None:
        self.health = health
        self._settled.set()

    async def read(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`method(*args, **kwargs)` of the reading Collection (passed as its first argument),
        once the store is ready, in a worker thread."""
        await self._wait_until_ready()
        return await self._in_thread(self._reads, partial(method, self.reader, *args, **kwargs))

    async def view(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`method(*args, **kwargs)` of the Collection for the model's views, once the store is
        ready, in a worker thread beside the reads."""
        await self._wait_until_ready()
        return await self._in_thread(self._views, partial(method, self.viewer, *args, **kwargs))

    async def write(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`method(*args, **kwargs)` of the writing Collection (there is one only when writes
        are allowed), once the store is ready, one write at a time, beside the reads."""
        await self._wait_until_ready()
        return await self._in_thread(self._writes, partial(method, self.writer, *args, **kwargs))

    async def _wait_until_ready(self) -> None:
        if self.health.status != "ready":
            with anyio.move_on_after(self.load_wait_seconds):
                await self._settled.wait()
        if self.health.status == "failed":
            message = f"the store cannot be served now: {self.health.message}"
            raise NotReady("unavailable", message, self.watch_seconds)
        if self.health.status != "ready":
            message = "the store is loading; retry in a moment"
            raise NotReady("loading", message, self.load_wait_seconds)

    @staticmethod
    async def _in_thread(limiter: anyio.CapacityLimiter, call: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(call, limiter=limiter)

"""A reader's failure of any kind as a listed skip: one file, message or attachment that cannot be
read never costs the run its other documents. The reason says what went wrong on one line, with
the exception's type when it is not a known condition, so that a bug in a reader stays visible."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from indexer.sources.extracted import Unreadable
from indexer.summary import Skipped

REASON_CHARS = 300  # an exception's message shown in a reason, at most
T = TypeVar("T")


def skipped(where: str, error: Exception) -> Skipped:
    """The listed skip for `error`, raised while reading what is at `where`."""
    if isinstance(error, Unreadable):
        return Skipped(where, error.kind, str(error))
    if isinstance(error, OSError):
        return Skipped(where, "unreadable", f"unreadable ({error.strerror or error})")
    if isinstance(error, RecursionError):
        return Skipped(where, "nested too deeply", "nested too deeply to read")
    if isinstance(error, MemoryError):
        return Skipped(where, "too large", "too large to read: memory ran out")
    message = " ".join(str(error).split())
    if len(message) > REASON_CHARS:
        message = message[:REASON_CHARS] + "..."
    detail = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return Skipped(where, "reader error", f"the reader failed ({detail})")


def guarded(where: str, found: Iterator[T]) -> Iterator[T | Skipped]:
    """What `found` yields, then a Skipped for the failure that ended it, if any: what it yielded
    before the failure stands."""
    try:
        yield from found
    except Exception as error:  # a reader's failure is a listed skip, never the run's end
        yield skipped(where, error)

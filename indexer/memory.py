"""Giving freed heap memory back to the operating system during a long run.

glibc keeps memory freed by one thread in that thread's arena, and an allocation too large for a
free piece maps new pages: without a trim, the buffers of earlier batches stay resident and the
final FAISS build stacks on top of them (measured: peak RSS of a 117k-document run 1,390 MB
without, 1,225 MB with a trim before the build).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:
    if not sys.platform.startswith("linux"):
        return None
    library = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(library).malloc_trim if library else None
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


def release_free_memory() -> None:
    """Return freed heap memory to the operating system (glibc's malloc_trim); elsewhere a no-op."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

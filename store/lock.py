"""One writer per store: an exclusive, non-blocking lock on a file in the store folder."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from store.errors import StoreError, StoreLockedError

LOCK_FILE = "writer.lock"


class WriterLock:
    """Held from `acquire` until `release` (or process exit: the OS drops flock locks)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or StoreLockedError naming the process that holds it."""
        if not self.try_acquire():
            holder = self.path.read_text(errors="replace").strip() or "unknown"
            raise StoreLockedError(
                f"store {self.path.parent} is being written by another process (pid {holder}); "
                "wait for it to finish, then run again"
            )

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another process holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StoreError(
                f"cannot write to store {self.path.parent}: {error.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        # the pid is for the second writer's message; the lock is the flock itself, so on a full
        # disk it holds without one
        with contextlib.suppress(OSError):
            os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

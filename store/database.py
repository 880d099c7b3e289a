"""A store's SQLite connection with explicit transactions: a statement outside `atomic()` commits
on its own; `atomic()` is one transaction (a savepoint when nested), rolled back on any error.

The connection runs in SQLite's own autocommit mode (the `sqlite3` module opens no transaction
behind the caller's back), so what is atomic is exactly what the code says is.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any


class Database:
    """One SQLite connection of a store."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        connection.isolation_level = None  # no implicit BEGIN: transactions are `atomic()`'s
        self.conn = connection
        self._savepoints = 0

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, parameters)

    def executescript(self, sql: str) -> sqlite3.Cursor:
        """Several statements; outside a transaction only (sqlite3 would commit it first)."""
        if self.conn.in_transaction:
            raise RuntimeError("executescript inside a transaction would commit it")
        return self.conn.executescript(sql)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        """One transaction around the block: committed at its end, rolled back if it raises.
        Nested blocks are savepoints of the outer transaction."""
        if self.conn.in_transaction:
            self._savepoints += 1
            name = f"nested_{self._savepoints}"
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
                self.conn.execute(f"RELEASE SAVEPOINT {name}")
            except BaseException:
                if self.conn.in_transaction:  # an error may have ended the whole transaction
                    self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    self.conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            return
        self.conn.execute("BEGIN")
        try:
            yield self
            self.conn.execute("COMMIT")
        except BaseException:  # the block's error or the commit's
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def table_names(self) -> list[str]:
        rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return [row[0] for row in rows]

    def enable_wal(self) -> None:
        """Write-ahead logging (readers never block the writer); outside a transaction."""
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.conn.execute("PRAGMA journal_mode = wal")

    def close(self) -> None:
        self.conn.close()

"""The SQLite engine Tortoise is configured with: its own client whose transactions take the
write lock when they begin (`BEGIN IMMEDIATE`).

Several processes share one SQLite file (two servers, the CLI, the relay). A deferred
transaction reads first and asks for the write lock on its first write; when another
process committed in between, SQLite refuses the upgrade at once with "database is locked"
(its snapshot is stale, so waiting cannot help and the busy timeout is never used). Taking
the lock at `BEGIN` waits out the other writer for the busy timeout instead, and then reads
a snapshot nobody can change under it. A `BEGIN` that still finds the file locked fails
before anything ran and gives the connection back, so the next transaction can try again.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

# Seconds a statement waits for another process's write lock before the database counts as
# unavailable (503 with Retry-After).
BUSY_TIMEOUT_MS = 5000


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateTransactionContext(SqliteTransactionContext):
    async def __aenter__(self) -> Any:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            self.token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                get_connections().reset(self.token)
                raise
        except BaseException:
            self._trxlock.release()
            raise
        return self.connection


class ImmediateSqliteClient(SqliteClient):
    def __init__(self, file_path: str, **kwargs: Any) -> None:
        kwargs.setdefault("busy_timeout", BUSY_TIMEOUT_MS)
        super().__init__(file_path, **kwargs)

    def _in_transaction(self) -> ImmediateTransactionContext:
        return ImmediateTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient

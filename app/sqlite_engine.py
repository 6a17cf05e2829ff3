"""The SQLite engine Tortoise is configured with: its own client whose transactions take the
write lock when they begin (`BEGIN IMMEDIATE`).

Several processes share one SQLite file (two servers, the CLI, the relay). A deferred
transaction reads first and asks for the write lock on its first write; when another
process committed in between, SQLite refuses the upgrade at once with "database is locked"
(its snapshot is stale, so waiting cannot help and the busy timeout is never used). Taking
the lock at `BEGIN` waits out the other writer for the busy timeout instead, and then reads
a snapshot nobody can change under it. A `BEGIN` that still finds the file locked fails
before anything ran and gives the connection back, so the next transaction can try again.

Every statement of a process shares one connection, one at a time. When another process
holds the lock for long (a backup), each queued transaction would wait out the whole busy
timeout in turn, and a request behind a few background loops would wait several times over.
So once a `BEGIN` has waited the whole timeout in vain, the connection is contended: its
busy timeout drops to `CONTENDED_TIMEOUT_MS` until a `BEGIN` takes the lock again, and a
request's wait stays bounded by about one busy timeout whatever is queued before it.
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
# The wait while the lock has already been found held past the whole busy timeout.
CONTENDED_TIMEOUT_MS = 250


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        client = self._parent
        assert isinstance(client, ImmediateSqliteClient)
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_lock_timeout(exc) and not client.contended:
                client.contended = True
                await self._set_busy_timeout(CONTENDED_TIMEOUT_MS)
            raise TransactionManagementError(exc) from exc
        if client.contended:
            client.contended = False
            await self._set_busy_timeout(BUSY_TIMEOUT_MS)

    async def _set_busy_timeout(self, milliseconds: int) -> None:
        await self._connection.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")


def _is_lock_timeout(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "database is locked" in message or "database is busy" in message


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
        # True from a `BEGIN` that waited the whole busy timeout in vain until one succeeds.
        self.contended = False

    def _in_transaction(self) -> ImmediateTransactionContext:
        return ImmediateTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient

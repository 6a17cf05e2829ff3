"""Two processes on one SQLite file: a transaction that read before another process wrote
still commits its own write, and a transaction that cannot get the lock gives the
connection back."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import Tortoise, connections
from tortoise.context import TortoiseContext
from tortoise.transactions import in_transaction

from app import database
from app.config import Settings


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "shared.db"
    config = database.tortoise_config(Settings(database_url=f"sqlite://{path}?busy_timeout=100"))
    async with TortoiseContext():
        await Tortoise.init(config=config)
        conn = connections.get("default")
        await conn.execute_script("CREATE TABLE counter (n INTEGER NOT NULL)")
        await conn.execute_insert("INSERT INTO counter (n) VALUES (?)", [0])
        yield path
        await Tortoise.close_connections()


def other_process(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=0.05)


async def test_a_transaction_that_read_first_still_writes_after_another_process_tried(db: Path):
    other = other_process(db)
    try:
        async with in_transaction() as conn:
            # given a transaction that has read the counter
            _, rows = await conn.execute_query("SELECT n FROM counter")
            # when another process tries to write meanwhile, it waits for the lock (and gives up)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("UPDATE counter SET n = 100")
            # then the transaction's own write, from what it read, commits
            await conn.execute_query("UPDATE counter SET n = ?", [rows[0]["n"] + 1])
        assert other.execute("SELECT n FROM counter").fetchone() == (1,)
    finally:
        other.close()


async def test_a_transaction_refused_the_lock_leaves_the_next_one_free(db: Path):
    # given another process holding the write lock
    holder = other_process(db)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # when a transaction begins, it is refused after the busy timeout
        with pytest.raises(Exception, match="locked") as refused:
            async with in_transaction() as conn:
                await conn.execute_query("UPDATE counter SET n = 1")
        assert database.is_outage(refused.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # then, the lock given back, the next transaction on this connection commits
    async with in_transaction() as conn:
        await conn.execute_query("UPDATE counter SET n = 2")
    _, rows = await connections.get("default").execute_query("SELECT n FROM counter")
    assert rows[0]["n"] == 2

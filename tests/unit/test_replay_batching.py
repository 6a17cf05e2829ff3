"""Batched read-backs: concurrent callers share one read, and never one that had already
started when they asked (it may predate their subscription)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest

from app.services.incidents.replay import Batcher


class Database:
    """A fake read: a counter per key that callers bump; each read is recorded and can be
    held open until the test releases it."""

    def __init__(self) -> None:
        self.value = 0
        self.reads: list[tuple[str, list[int]]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def read(self, group: str, keys: Collection[int]) -> dict[int, tuple[int, int]]:
        self.reads.append((group, sorted(keys)))
        seen = self.value  # what the statement sees is fixed when it starts
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {key: (key, seen) for key in keys}


async def turns(n: int = 10) -> None:
    """Let the loop run `n` turns: enough for queued reads to start."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_concurrent_callers_cause_one_read():
    # given 200 callers of one group asking at once, with a few distinct keys
    db = Database()
    batcher = Batcher(db.read)

    # when they load
    results = await asyncio.gather(*(batcher.load("incident-1", i % 3) for i in range(200)))

    # then one read served them all, each with its own key's value
    assert db.reads == [("incident-1", [0, 1, 2])]
    assert results == [(i % 3, 0) for i in range(200)]


async def test_a_caller_never_joins_a_read_that_has_started():
    # given a read in flight, which saw the database before the change below
    db = Database()
    batcher = Batcher(db.read)
    db.release.clear()
    early = asyncio.ensure_future(batcher.load("incident-1", 0))
    await turns()
    assert len(db.reads) == 1

    # when something is committed and then more callers ask (same key) while it is in flight
    db.value = 1
    late = [asyncio.ensure_future(batcher.load("incident-1", 0)) for _ in range(50)]
    await turns()
    assert len(db.reads) == 1, "nothing is sent while a read of the group is in flight"
    db.release.set()

    # then the early caller has the old read; the late ones share one new read that sees it
    assert await early == (0, 0)
    assert await asyncio.gather(*late) == [(0, 1)] * 50
    assert len(db.reads) == 2


async def test_groups_are_read_separately_and_at_once():
    # given callers of two groups, while the first group's read is held open
    db = Database()
    batcher = Batcher(db.read)
    db.release.clear()
    first = asyncio.ensure_future(batcher.load("incident-1", 5))
    second = asyncio.ensure_future(batcher.load("incident-2", 5))
    await turns()

    # then both reads are in flight together, one per group
    assert sorted(db.reads) == [("incident-1", [5]), ("incident-2", [5])]
    db.release.set()
    assert await asyncio.gather(first, second) == [(5, 0), (5, 0)]


async def test_a_failed_read_fails_its_callers_only():
    # given a read that fails
    db = Database()
    batcher = Batcher(db.read)
    db.fail = RuntimeError("database gone")

    # when callers share it, then each gets the error
    results = await asyncio.gather(
        *(batcher.load("incident-1", 0) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)

    # and the next caller is read afresh
    db.fail = None
    assert await batcher.load("incident-1", 0) == (0, 0)
    assert len(db.reads) == 2


async def test_a_caller_that_leaves_does_not_cancel_the_others_read():
    # given two callers of one batch, the read held open
    db = Database()
    batcher = Batcher(db.read)
    db.release.clear()
    leaving = asyncio.ensure_future(batcher.load("incident-1", 0))
    staying = asyncio.ensure_future(batcher.load("incident-1", 0))
    await turns()

    # when one is cancelled (its client disconnected)
    leaving.cancel()
    db.release.set()

    # then the other still gets the read
    assert await staying == (0, 0)
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_key_the_read_did_not_return_is_an_error():
    async def partial(group: str, keys: Collection[int]) -> dict[int, int]:
        return {}

    with pytest.raises(LookupError):
        await Batcher(partial).load("incident-1", 7)


async def test_a_burst_right_after_a_read_waits_to_share_the_next_one():
    # given a batcher that sends a group's reads at least 50 ms apart, and one read just made
    db = Database()
    batcher = Batcher(db.read, interval=0.05)
    assert await batcher.load("incident-1", 0) == (0, 0)

    # when callers arrive one by one, each in a later loop turn
    waiting = []
    for key in range(5):
        waiting.append(asyncio.ensure_future(batcher.load("incident-1", key)))
        await turns()

    # then nothing was sent meanwhile, and one read serves them all
    assert len(db.reads) == 1
    assert await asyncio.gather(*waiting) == [(key, 0) for key in range(5)]
    assert db.reads[1] == ("incident-1", [0, 1, 2, 3, 4])

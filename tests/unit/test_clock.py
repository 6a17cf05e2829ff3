"""The clock reads a replayed past only inside `as_of`, only in its own task."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.core.clock import as_of, utcnow


async def test_as_of_sets_the_time_for_this_task_and_the_tasks_it_starts_only():
    past = datetime(2026, 11, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    outside: list[datetime] = []
    seen = asyncio.Event()

    async def elsewhere() -> None:
        await seen.wait()
        outside.append(utcnow())

    async def read() -> datetime:
        return utcnow()

    other = asyncio.create_task(elsewhere())
    with as_of(past):
        inside = utcnow()
        started = await asyncio.create_task(read())
        seen.set()
        await other
    assert inside == started == past and inside.tzinfo is UTC
    assert abs(outside[0] - datetime.now(UTC)) < timedelta(seconds=5)
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError), as_of(datetime(2026, 11, 1)):
        pass

"""Named leases (services/lease.py) on each backend: one owner at a time, until it expires."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from app.models import Lease
from app.services import lease
from tests.support import connected


def a_name() -> str:
    return f"test-lease:{uuid.uuid4().hex}"


async def test_a_held_lease_is_refused_to_another_owner_until_it_expires(
    database_url: str,
) -> None:
    async with connected(database_url):
        # given a lease taken by one owner for a short time
        name = a_name()
        assert await lease.acquire(name, seconds=0.5, owner="worker-a")

        # when another owner asks for it while it is held, it is refused
        assert not await lease.acquire(name, seconds=30, owner="worker-b")
        assert (await Lease.get(name=name)).owner == "worker-a"

        # and once it has expired, the other owner takes it
        await asyncio.sleep(0.7)
        assert await lease.acquire(name, seconds=30, owner="worker-b")
        assert (await Lease.get(name=name)).owner == "worker-b"
        assert not await lease.acquire(name, seconds=30, owner="worker-a")


async def test_the_holder_renews_its_lease(database_url: str) -> None:
    async with connected(database_url):
        # given a lease held for a short time
        name = a_name()
        assert await lease.acquire(name, seconds=0.5, owner="worker-a")

        # when its holder takes it again for longer
        assert await lease.acquire(name, seconds=30, owner="worker-a")

        # then it is held past the first expiry, and still refused to others after it
        expires = (await Lease.get(name=name)).expires_at
        assert expires > datetime.now(UTC) + timedelta(seconds=20)
        await asyncio.sleep(0.7)
        assert not await lease.acquire(name, seconds=30, owner="worker-b")


async def test_a_released_lease_is_free_but_only_its_holder_releases_it(
    database_url: str,
) -> None:
    async with connected(database_url):
        # given a lease held by one owner
        name = a_name()
        assert await lease.acquire(name, seconds=30, owner="worker-a")

        # when another owner releases it, nothing changes
        await lease.release(name, owner="worker-b")
        assert not await lease.acquire(name, seconds=30, owner="worker-b")

        # when the holder releases it, the other owner takes it at once
        await lease.release(name, owner="worker-a")
        assert await lease.acquire(name, seconds=30, owner="worker-b")


async def test_of_many_owners_racing_for_a_lease_exactly_one_wins(database_url: str) -> None:
    async with connected(database_url):
        # given a lease nobody has held yet, and one that has expired
        fresh, expired = a_name(), a_name()
        assert await lease.acquire(expired, seconds=0.01, owner="gone")
        await asyncio.sleep(0.1)

        # when ten owners ask for each at the same moment
        for name in (fresh, expired):
            owners = [f"worker-{i}" for i in range(10)]
            won = await asyncio.gather(
                *(lease.acquire(name, seconds=30, owner=owner) for owner in owners)
            )

            # then exactly one holds it, and the row names that one
            assert won.count(True) == 1, (name, won)
            assert (await Lease.get(name=name)).owner == owners[won.index(True)]


async def test_a_released_lease_stays_as_an_expired_row_nobody_holds(database_url: str) -> None:
    async with connected(database_url):
        # given a lease its holder released
        name = a_name()
        assert await lease.acquire(name, seconds=30, owner="worker-a")
        await lease.release(name, owner="worker-a")

        # then its row is still there, expired, so a fence still has a row to lock
        row = await Lease.get(name=name)
        assert row.expires_at < datetime.now(UTC)
        assert row.owner != "worker-a"


async def test_a_fence_on_a_lease_never_taken_keeps_a_new_holder_out_until_it_ends(
    database_url: str,
) -> None:
    async with connected(database_url):
        # given a transaction that fenced a lease nobody has taken yet
        name = a_name()
        # (the other owner's task must not inherit the transaction's connection)
        outside = contextvars.copy_context()
        async with in_transaction():
            await lease.fence(name)

            # when an owner asks for the lease meanwhile
            taken = asyncio.create_task(
                lease.acquire(name, seconds=30, owner="worker-a"), context=outside
            )
            await asyncio.sleep(0.5)

            # then it waits for the fencing transaction
            assert not taken.done()

        # and gets the lease once that transaction has ended
        assert await asyncio.wait_for(taken, 10)
        assert (await Lease.get(name=name)).owner == "worker-a"

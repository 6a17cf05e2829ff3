"""Named leases (services/lease.py) on each backend: one owner at a time, until it expires."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.context import TortoiseContext

from app.config import Settings
from app.database import tortoise_config
from app.models import Lease
from app.services import lease
from tests.support import ROOT, create_pg_database, drop_pg_database


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)],
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database of each kind, migrated by `incidentgraph migrate`."""
    pg_url = None
    if request.param == "embedded":
        url = f"sqlite://{tmp_path_factory.mktemp('lease') / 'incidentgraph.db'}"
    else:
        from tests.conftest import require_real_services

        require_real_services()
        url = pg_url = create_pg_database()
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        cwd=ROOT,
        env={**os.environ, "INCIDENTGRAPH_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    yield url
    if pg_url:
        drop_pg_database(pg_url)


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[None]:
    """This process on `url`, as a server process is. The connection is named after the
    backend: Tortoise caches prepared statements per connection name, process-wide, and
    one name for both would hand SQLite's statements to PostgreSQL."""
    config = tortoise_config(Settings(database_url=url))
    name = url.split(":", 1)[0]
    config["connections"] = {name: config["connections"]["default"]}
    config["apps"]["models"]["default_connection"] = name
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        yield


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

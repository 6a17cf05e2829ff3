"""The feed's positions follow commit order: a transaction that began first but commits
last is placed after the one that overtook it, so a reader that has read up to some position
never finds an older position appearing behind its cursor (docs/architecture.md, "The
tenant's event feed")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.config import Settings
from app.database import tortoise_config
from app.models import (
    Classification,
    FeedEntry,
    Impact,
    RecordEvent,
    Role,
    Severity,
    TimelineEvent,
    Urgency,
)
from app.services import writer
from app.services.access.caller import Caller
from app.services.access.tenants import create_tenant
from app.services.feed.queries import events_after, head
from app.services.feed.types import FeedFilter
from app.services.incidents.commands import add_note, declare_incident
from tests.support import (
    connected,
    create_pg_database,
    drop_pg_database,
    old_tenant,
    require_real_services,
)

CALLER_ROLE = Role.ADMIN


def caller(tenant: str) -> Caller:
    return Caller(tenant, "ops", CALLER_ROLE, Classification.RESTRICTED)


async def declared(tenant: str, title: str) -> str:
    result = await declare_incident(
        caller=caller(tenant),
        title=title,
        severity=Severity.SEV3,
        impact=Impact.LOW,
        urgency=Urgency.LOW,
    )
    return result.incident.id


async def test_a_transaction_that_commits_later_takes_a_later_position(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time: its commits cannot interleave")
    async with connected(database_url):
        # given a tenant with two incidents (positions 1 and 2)
        tenant = f"t-{uuid.uuid4().hex[:12]}"
        await create_tenant(tenant_id=tenant, name=tenant)
        one, two = await declared(tenant, "one"), await declared(tenant, "two")
        assert await head(tenant) == 2

        # and a hook that holds the transaction of the note "slow" open until released
        inside, release = asyncio.Event(), asyncio.Event()

        async def hold(change: writer.Change) -> None:
            if change.events[0].data.get("body") == "slow":
                inside.set()
                await release.wait()

        stop = writer.on_change(hold)
        try:
            # when the note "slow" begins first and waits inside its transaction
            slow = asyncio.create_task(
                add_note(caller=caller(tenant), incident_id=one, body="slow")
            )
            await asyncio.wait_for(inside.wait(), 10)
            # and the note "fast" begins after it and commits while it waits
            await asyncio.wait_for(
                add_note(caller=caller(tenant), incident_id=two, body="fast"), 10
            )
            # then a reader sees "fast" at position 3, and nothing of "slow" yet
            first = await events_after(
                caller=caller(tenant), after=2, limit=100, filter=FeedFilter()
            )
            assert [i.event.data["body"] for i in first.items] == ["fast"]
            assert first.last == 3

            # when "slow" commits at last
            release.set()
            await asyncio.wait_for(slow, 10)
        finally:
            stop()

        # then it comes after the reader's cursor, at position 4: nothing was skipped
        then = await events_after(
            caller=caller(tenant), after=first.last, limit=100, filter=FeedFilter()
        )
        assert [(i.position, i.event.data["body"]) for i in then.items] == [(4, "slow")]
        positions = (
            await FeedEntry.filter(tenant_id=tenant)
            .order_by("position")
            .values_list("position", flat=True)
        )
        assert positions == [1, 2, 3, 4]


async def test_a_rolled_back_transaction_leaves_no_position_behind(database_url):
    async with connected(database_url):
        # given a tenant with one event
        tenant = f"t-{uuid.uuid4().hex[:12]}"
        await create_tenant(tenant_id=tenant, name=tenant)
        incident = await declared(tenant, "one")

        # when a change fails inside its transaction after writing its event
        async def fail(change: writer.Change) -> None:
            raise RuntimeError("hook failed")

        stop = writer.on_change(fail)
        try:
            with pytest.raises(RuntimeError):
                await add_note(caller=caller(tenant), incident_id=incident, body="lost")
        finally:
            stop()
        await add_note(caller=caller(tenant), incident_id=incident, body="kept")

        # then the next change takes the next position: no gap, nothing of the failed one
        page = await events_after(caller=caller(tenant), after=0, limit=10, filter=FeedFilter())
        assert [i.position for i in page.items] == [1, 2]
        assert page.items[1].event.data["body"] == "kept"


async def test_tenants_have_positions_of_their_own(database_url):
    async with connected(database_url):
        a, b = (f"t-{uuid.uuid4().hex[:12]}" for _ in range(2))
        for tenant in (a, b):
            await create_tenant(tenant_id=tenant, name=tenant)
        await declared(a, "a1")
        await declared(b, "b1")
        await declared(a, "a2")
        assert (await head(a), await head(b)) == (2, 1)
        seen_by_b = await events_after(caller=caller(b), after=0, limit=10, filter=FeedFilter())
        assert len(seen_by_b.items) == 1


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)])
async def old_database(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """A database at the version before the feed."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.api import migrate

    if request.param == "embedded":
        url = f"sqlite://{tmp_path / 'old.db'}"
    else:
        require_real_services()
        url = create_pg_database()
    async with TortoiseContext():
        await migrate(
            config=tortoise_config(Settings(database_url=url)), target="models.0043_rule_event"
        )
    try:
        yield url
    finally:
        if request.param == "postgres":
            drop_pg_database(url)


async def test_the_upgrade_places_earlier_events_in_the_feed_by_time(old_database):
    # given a tenant whose incident and problem have events from before the feed
    from app.database import migrate

    tenant = f"t-{uuid.uuid4().hex[:12]}"
    start = datetime(2026, 5, 1, tzinfo=UTC)
    async with connected(old_database):
        await old_tenant(tenant)
        # The columns of that version: today's model has more.
        conn = TimelineEvent._meta.db
        postgres = conn.capabilities.dialect == "postgres"
        incident_id = uuid.uuid4()
        columns = (
            "id, tenant_id, number, title, severity, impact, urgency, priority, status, "
            "is_major, classification, sla_paused_seconds, version, last_seq, created_at, "
            "updated_at"
        )
        marks = ", ".join(f"${n}" if postgres else "?" for n in range(1, 17))
        at = start if postgres else start.isoformat(" ")
        await conn.execute_query(
            f"INSERT INTO incident ({columns}) VALUES ({marks})",
            [incident_id if postgres else str(incident_id), tenant, 1, "old", "SEV3", "LOW",
             "LOW", "P4", "OPEN", False, "INTERNAL", 0.0, 1, 2, at, at],
        )  # fmt: skip
        problem_id = uuid.uuid4()
        for seq, minutes, kind in [(1, 0, "declared"), (2, 10, "note_added")]:
            await TimelineEvent.create(
                id=uuid.uuid4(), tenant_id=tenant, incident_id=incident_id, seq=seq,
                type=f"com.incidents.{kind}.v1", source="incidents://api",
                event_id=str(uuid.uuid4()), time=start + timedelta(minutes=minutes), data={},
            )  # fmt: skip
        await RecordEvent.create(
            id=uuid.uuid4(), tenant_id=tenant, record_type="problem", record_id=problem_id,
            seq=1, type="com.incidents.problem.created.v1", source="incidents://api",
            event_id=str(uuid.uuid4()), time=start + timedelta(minutes=5), data={},
        )  # fmt: skip

    # when the database is upgraded and a new note is written
    await migrate(Settings(database_url=old_database))
    async with connected(old_database):
        rows = await FeedEntry.filter(tenant_id=tenant).order_by("position")
        await add_note(caller=caller(tenant), incident_id=str(incident_id), body="new")
        after = await head(tenant)

    # then the old events hold positions 1..3 in the order they happened, and the new one 4
    assert [(r.position, r.type) for r in rows] == [
        (1, "com.incidents.declared.v1"),
        (2, "com.incidents.problem.created.v1"),
        (3, "com.incidents.note_added.v1"),
    ]
    assert rows[1].record_id == problem_id
    assert after == 4

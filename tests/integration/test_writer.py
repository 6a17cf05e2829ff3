"""The writer: every incident change commits events, outbox row and audit together, tells
its hooks inside the transaction, and owes nothing to anyone when it rolls back."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from app.models import (
    AuditRecord,
    Classification,
    Impact,
    Incident,
    IncidentStatus,
    OutboxMessage,
    Role,
    Severity,
    TimelineEvent,
    Urgency,
)
from app.pubsub import outbox
from app.services import writer
from app.services.access.caller import Caller
from app.services.access.tenants import create_tenant
from app.services.incidents.commands import declare_incident, transition_incident
from tests.support import connected


async def _declare(tenant: str, title: str = "Checkout down"):
    return await declare_incident(
        caller=Caller(tenant, "ops", Role.INCIDENT_MANAGER, Classification.INTERNAL),
        title=title,
        severity=Severity.SEV2,
        impact=Impact.HIGH,
        urgency=Urgency.HIGH,
    )


async def test_hooks_hear_each_change_in_its_transaction_and_act_after_commit(database_url):
    async with connected(database_url):
        # given a tenant, a hook that notes each change, and a listener on committed rows
        tenant = f"t-{uuid.uuid4().hex[:12]}"
        await create_tenant(tenant_id=tenant, name=tenant)
        seen: list[writer.Change] = []
        log: list[str] = []

        async def hook(change: writer.Change) -> Callable[[], None]:
            seen.append(change)
            log.append(f"in transaction: {change.events[0].type}")
            return lambda: log.append("after commit")

        stop_hook = writer.on_change(hook)
        stop_listening = outbox.message_committed.connect(
            lambda m: log.append(f"outbox row {m.incident_id == seen[-1].after.id}")
        )
        try:
            # when an incident is declared and acknowledged
            declared = await _declare(tenant)
            acknowledged = await transition_incident(
                caller=Caller(tenant, "ops", Role.RESPONDER, Classification.INTERNAL),
                incident_id=declared.incident.id,
                to=IncidentStatus.IN_PROGRESS,
            )
        finally:
            stop_hook()
            stop_listening()

        # then the hook saw both changes with their before and after, and the after-commit
        # work ran once each commit was done, after the outbox row went to the relay
        assert [c.before is None for c in seen] == [True, False]
        assert seen[1].before is not None and seen[1].before.status is IncidentStatus.OPEN
        assert seen[1].after.status is IncidentStatus.IN_PROGRESS
        assert [e.seq for e in seen[1].events] == [e.seq for e in acknowledged.events]
        assert log == [
            "in transaction: com.incidents.declared.v1",
            "outbox row True",
            "after commit",
            "in transaction: com.incidents.state_change.v1",
            "outbox row True",
            "after commit",
        ]


async def test_a_change_whose_hook_fails_leaves_nothing_behind(database_url):
    async with connected(database_url):
        # given a hook that fails inside the transaction
        tenant = f"t-{uuid.uuid4().hex[:12]}"
        await create_tenant(tenant_id=tenant, name=tenant)
        committed: list[str] = []
        after: list[str] = []

        async def failing(change: writer.Change) -> Callable[[], None]:
            after.append("owed")
            raise RuntimeError("integration down")

        stop_hook = writer.on_change(failing)
        stop_listening = outbox.message_committed.connect(lambda m: committed.append(m.tenant_id))
        try:
            # when a declaration runs into it
            with pytest.raises(RuntimeError, match="integration down"):
                await _declare(tenant, title="Never declared")
        finally:
            stop_hook()
            stop_listening()

        # then no event, outbox row or audit record of it exists, and nothing was announced
        assert await TimelineEvent.filter(tenant_id=tenant).count() == 0
        assert await OutboxMessage.filter(tenant_id=tenant).count() == 0
        assert await AuditRecord.filter(tenant_id=tenant).count() == 0
        assert committed == []


async def test_a_hook_registered_twice_runs_once_until_both_stop(database_url):
    async with connected(database_url):
        tenant = f"t-{uuid.uuid4().hex[:12]}"
        await create_tenant(tenant_id=tenant, name=tenant)
        calls: list[str] = []

        async def hook(change: writer.Change) -> None:
            calls.append(change.after.title)

        # given one hook registered by two applications in one process
        first, second = writer.on_change(hook), writer.on_change(hook)

        # when changes are written while both, one, and none hold it
        await _declare(tenant, title="both")
        first()
        await _declare(tenant, title="one")
        second()
        await _declare(tenant, title="none")

        # then it ran once per change while anyone held it
        assert calls == ["both", "one"]


async def test_a_guarded_update_loses_to_a_writer_that_got_there_first(database_url):
    async with connected(database_url):
        # given an incident read by two writers
        tenant = f"t-{uuid.uuid4().hex[:12]}"
        await create_tenant(tenant_id=tenant, name=tenant)
        declared = await _declare(tenant, title="Raced")
        mine = await Incident.get(id=declared.incident.id)
        theirs = await Incident.get(id=declared.incident.id)
        seen = mine.last_seq

        # when the other writer commits first
        async with writer.transaction() as commit:
            theirs.title, theirs.last_seq = "Theirs", seen + 1
            await commit.update(theirs, seen_seq=seen)

        # then this one's update, from the same seq, is refused and rolls back whole
        with pytest.raises(writer.LostRace):
            async with writer.transaction() as commit:
                mine.title, mine.last_seq = "Mine", seen + 1
                await commit.update(mine, seen_seq=seen)
        stored = await Incident.get(id=declared.incident.id)
        assert (stored.title, stored.last_seq) == ("Theirs", seen + 1)

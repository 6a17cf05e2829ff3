"""Retention over real servers: closed incidents take no change after the tenant's days,
are purged with all that names them after its retention, leave a tombstone in the audit log,
and are kept while an incident or the tenant is on legal hold."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from app.core.clock import utcnow
from app.models import Communication, FeedEntry, Incident, TimelineEvent
from tests.api.test_communications import log
from tests.support import (
    Server,
    answered,
    cli,
    connected,
    create_tenant,
    create_token,
    declare,
    transition,
)

RETENTION = """
mutation($input: UpdateRetentionInput!) {
  updateRetention(input: $input) {
    retention { readOnlyAfterDays purgeAfterDays legalHold } errors { field code message }
  }
}"""
HOLD = """
mutation($input: SetLegalHoldInput!) {
  setLegalHold(input: $input) { incidentId legalHold errors { field code message } }
}"""
INCIDENT = "query($id: ID!) { incident(id: $id) { id legalHold timeline { totalCount } } }"
NOTE = """
mutation($input: AddNoteInput!) { addNote(input: $input) { errors { field code message } } }
"""
AUDIT = """
query($filter: AuditFilter) {
  auditLog(filter: $filter, first: 20) { edges { node { action target changes } } }
}"""
EVENTS = "query { events(first: 100) { edges { node { subject } } } }"
TENANT = "query { tenant { retention { readOnlyAfterDays purgeAfterDays legalHold } } }"


@pytest.fixture
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"ret-{uuid.uuid4().hex[:8]}", name="Keep")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="ret admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="ret r", tenant=tenant_id),
    }


async def closed(admin: Any, title: str, *, logged: bool = False) -> dict[str, Any]:
    incident = await declare(admin, title=title, severity="SEV4", impact="LOW", urgency="LOW")
    if logged:  # a communication with its ref: a table of its own that names the incident
        assert (await log(admin, incident["id"]))["errors"] == []
    await transition(admin, incident["id"], "IN_PROGRESS")
    await transition(admin, incident["id"], "RESOLVED", resolutionSummary="fixed")
    done = await transition(admin, incident["id"], "CLOSED")
    assert done["errors"] == [], done
    return incident


async def age(server: Server, incident_id: str, days: int) -> None:
    """Make the incident look closed `days` ago."""
    async with connected(server.backend.database_url):
        await Incident.filter(id=uuid.UUID(incident_id.removeprefix("inc_"))).update(
            closed_at=utcnow() - timedelta(days=days)
        )


async def test_incidents_past_retention_are_purged_unless_held(api, server, tenant):
    # given a tenant keeping ended incidents 30 days, two closed 40 days ago (one on legal
    # hold), one closed today and one still open, each with a note
    admin = api("ADMIN")
    kept = await admin.execute(RETENTION, {"input": {"purgeAfterDays": 30}})
    assert kept["updateRetention"]["errors"] == []
    old = await closed(admin, "old", logged=True)
    held = await closed(admin, "held")
    recent = await closed(admin, "recent")
    open_one = await declare(admin, title="still open")
    hold = await admin.execute(
        HOLD, {"input": {"incidentId": held["id"], "hold": True, "reason": "litigation 42"}}
    )
    assert hold["setLegalHold"]["legalHold"] is True
    for incident in (old, held):
        await age(server, incident["id"], 40)

    # when the purge runs
    done = cli(server, "retention", "purge", "--tenant", tenant["id"])

    # then the old one is gone with all that named it, and the others are kept
    assert done.returncode == 0, done.stderr
    assert "purged INC-1" in done.stdout and "1 incident(s) purged" in done.stdout
    assert (await admin.execute(INCIDENT, {"id": old["id"]}))["incident"] is None
    for incident in (held, recent, open_one):
        assert (await admin.execute(INCIDENT, {"id": incident["id"]}))["incident"] is not None
    subjects = {e["node"]["subject"] for e in (await admin.execute(EVENTS))["events"]["edges"]}
    assert f"incidents/{old['id']}" not in subjects
    assert f"incidents/{held['id']}" in subjects

    # and the audit log keeps a tombstone
    log = await admin.execute(AUDIT, {"filter": {"action": "retention.purged"}})
    [tombstone] = [e["node"] for e in log["auditLog"]["edges"]]
    assert tombstone["changes"]["number"] == 1 and tombstone["changes"]["purgeAfterDays"] == 30
    assert tombstone["changes"]["events"] >= 5
    key = uuid.UUID(old["id"].removeprefix("inc_"))
    async with connected(server.backend.database_url):
        left = [
            await model.filter(incident_id=key).count()
            for model in (Communication, TimelineEvent, FeedEntry)
            if model is not FeedEntry
        ] + [await FeedEntry.filter(record_id=key).count()]
    assert left == [0, 0, 0]

    # when the hold is lifted, the next purge takes it too
    await admin.execute(
        HOLD, {"input": {"incidentId": held["id"], "hold": False, "reason": "case closed"}}
    )
    again = cli(server, "retention", "purge", "--tenant", tenant["id"])
    assert "1 incident(s) purged" in again.stdout
    assert (await admin.execute(INCIDENT, {"id": held["id"]}))["incident"] is None


async def test_a_tenant_on_legal_hold_keeps_everything(api, server, tenant):
    admin = api("ADMIN")
    await admin.execute(RETENTION, {"input": {"purgeAfterDays": 30, "legalHold": True}})
    incident = await closed(admin, "kept by the hold")
    await age(server, incident["id"], 400)
    done = cli(server, "retention", "purge", "--tenant", tenant["id"])
    assert "0 incident(s) purged" in done.stdout
    assert (await admin.execute(INCIDENT, {"id": incident["id"]}))["incident"] is not None
    seen = (await admin.execute(TENANT))["tenant"]["retention"]
    assert seen == {"readOnlyAfterDays": None, "purgeAfterDays": 30, "legalHold": True}
    # and changing one part of the retention keeps the others, the hold included
    await admin.execute(RETENTION, {"input": {"readOnlyAfterDays": 20}})
    seen = (await admin.execute(TENANT))["tenant"]["retention"]
    assert seen == {"readOnlyAfterDays": 20, "purgeAfterDays": 30, "legalHold": True}


async def test_a_closed_incident_becomes_read_only(api, server, tenant):
    admin = api("ADMIN")
    await admin.execute(RETENTION, {"input": {"readOnlyAfterDays": 30, "purgeAfterDays": 365}})
    incident = await closed(admin, "archived")
    before = (await admin.execute(INCIDENT, {"id": incident["id"]}))["incident"]
    await age(server, incident["id"], 31)

    note = {"input": {"incidentId": incident["id"], "body": "late"}}
    errors = await answered(admin, NOTE, note, "addNote")
    assert [e["code"] for e in errors] == ["FORBIDDEN"], errors
    assert "read-only" in errors[0]["message"]
    # while one closed yesterday still takes notes
    fresh = await closed(admin, "closed yesterday")
    await age(server, fresh["id"], 1)
    ok = await admin.execute(NOTE, {"input": {"incidentId": fresh["id"], "body": "still fine"}})
    assert ok["addNote"]["errors"] == []
    after = (await admin.execute(INCIDENT, {"id": incident["id"]}))["incident"]
    assert after["timeline"]["totalCount"] == before["timeline"]["totalCount"]


async def test_bad_retention_and_holds_are_refused(api, tenant):
    admin = api("ADMIN")
    for values, field in [
        ({"purgeAfterDays": 5}, "purgeAfterDays"),
        ({"purgeAfterDays": 99999}, "purgeAfterDays"),
        ({"readOnlyAfterDays": 0}, "readOnlyAfterDays"),
        ({"readOnlyAfterDays": 400, "purgeAfterDays": 365}, "readOnlyAfterDays"),
    ]:
        data = await admin.execute(RETENTION, {"input": values})
        errors = data["updateRetention"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, "VALIDATION")], values
    incident = await declare(admin, title="hold me")
    for values, field, code in [
        ({"incidentId": "inc_" + "0" * 32, "hold": True, "reason": "x"}, "incidentId", "NOT_FOUND"),
        ({"incidentId": incident["id"], "hold": True, "reason": " "}, "reason", "VALIDATION"),
    ]:
        data = await admin.execute(HOLD, {"input": values})
        errors = data["setLegalHold"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)], values
    refused = await api("RESPONDER").post(
        HOLD, {"input": {"incidentId": incident["id"], "hold": True, "reason": "mine"}}
    )
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await admin.execute(INCIDENT, {"id": incident["id"]}))["incident"]["legalHold"] is False

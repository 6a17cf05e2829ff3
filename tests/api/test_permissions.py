"""Roles: every entry point checks the permission table; closing rules; docs match the code."""

from __future__ import annotations

import uuid

import pytest

from app.services.access.permissions import render_markdown
from tests.support import ROOT, declare, refused_transition, subscriber, transition

LIST = "query($text: String!) { incidents(filter: {text: $text}) { totalCount } }"
POLICY = "{ tenantPolicy { sla { priority } } }"
UPDATE_POLICY = """
mutation { updateTenantPolicy(input: {sla: [{priority: P5, responseMinutes: 1440,
  resolveMinutes: 10080}]}) { errors { code } } }
"""
DECLARE = """
mutation($title: String!) {
  declareIncident(input: {title: $title, severity: SEV3, impact: LOW, urgency: LOW}) {
    incident { id } errors { code }
  }
}
"""
WATCH = "subscription($id: ID!) { incidentUpdated(id: $id) { id } }"


def codes(body):
    return [e["extensions"]["code"] for e in body.get("errors") or []]


@pytest.mark.parametrize("role", ["STAKEHOLDER", "INGEST"])
async def test_roles_without_incident_access_are_refused_reads(as_role, role):
    # when
    body = await as_role(role).raw(LIST, {"text": "x"})

    # then
    assert codes(body) == ["FORBIDDEN"] and body["data"] is None


@pytest.mark.parametrize("role", ["VIEWER", "STAKEHOLDER", "INGEST"])
async def test_roles_below_responder_cannot_declare_and_nothing_is_written(client, as_role, role):
    # given
    title = f"Not allowed {uuid.uuid4().hex}"

    # when
    body = await as_role(role).raw(DECLARE, {"title": title})

    # then
    assert codes(body) == ["FORBIDDEN"]
    assert (await client.execute(LIST, {"text": title}))["incidents"]["totalCount"] == 0


async def test_a_viewer_reads_and_a_responder_declares(as_role):
    # given
    title = f"Responder's {uuid.uuid4().hex}"

    # when
    declared = await as_role("RESPONDER").execute(DECLARE, {"title": title})
    seen = await as_role("VIEWER").execute(LIST, {"text": title})

    # then
    assert declared["declareIncident"]["errors"] == []
    assert seen["incidents"]["totalCount"] == 1


async def test_only_admins_change_the_tenant_policy(as_role):
    # when
    by_manager = await as_role("INCIDENT_MANAGER").raw(UPDATE_POLICY)
    by_admin = await as_role("ADMIN").raw(UPDATE_POLICY)

    # then
    assert codes(by_manager) == ["FORBIDDEN"]
    assert by_admin["data"]["updateTenantPolicy"]["errors"] == []
    assert (await as_role("VIEWER").raw(POLICY)).get("errors") is None


async def test_a_stakeholder_cannot_subscribe_to_incidents(server, client, role_tokens):
    # given
    incident = await declare(client, title="Stakeholders see boards only")
    sub = await subscriber(server, token=role_tokens["STAKEHOLDER"])

    # when
    await sub.subscribe(WATCH, {"id": incident["id"]})

    # then
    message = await sub.next()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]
    await sub.close()


async def closable(client, severity, impact="HIGH", urgency="HIGH"):
    incident = await declare(
        client, title="To close", severity=severity, impact=impact, urgency=urgency
    )
    for status in ("IN_PROGRESS", "RESOLVED"):
        extra = {"resolutionSummary": "fixed"} if status == "RESOLVED" else {}
        assert (await transition(client, incident["id"], status, **extra))["errors"] == []
    return incident


async def test_closing_a_p2_needs_an_incident_manager(as_role):
    # given a resolved P2
    incident = await closable(as_role("ADMIN"), "SEV2", "HIGH", "MEDIUM")

    # when a responder tries to close it
    refused = await refused_transition(as_role("RESPONDER"), incident["id"], "CLOSED")

    # then it is refused and stays RESOLVED, and an incident manager may close it
    assert [e["code"] for e in refused] == ["FORBIDDEN"]
    closed = await transition(as_role("INCIDENT_MANAGER"), incident["id"], "CLOSED")
    assert closed["errors"] == [] and closed["incident"]["status"] == "CLOSED"


async def test_whoever_declared_a_p1_cannot_close_it(as_role):
    # given a resolved P1 declared by one incident manager
    manager = as_role("INCIDENT_MANAGER")
    incident = await closable(manager, "SEV1")

    # when the same person closes it
    refused = await refused_transition(manager, incident["id"], "CLOSED")

    # then it is refused, nothing changes, and another manager may close it
    assert [e["code"] for e in refused] == ["FORBIDDEN"]
    assert "segregation of duties" in refused[0]["message"]
    closed = await transition(as_role("OTHER_ADMIN"), incident["id"], "CLOSED")
    assert closed["incident"]["status"] == "CLOSED"


async def test_a_responder_may_close_a_low_priority_incident(as_role):
    # given a resolved P5
    incident = await closable(as_role("RESPONDER"), "SEV4", "LOW", "LOW")

    # when / then
    closed = await transition(as_role("RESPONDER"), incident["id"], "CLOSED")
    assert closed["errors"] == []


def test_the_documented_permission_table_is_the_one_in_code():
    assert (ROOT / "docs" / "permissions.md").read_text() == render_markdown()

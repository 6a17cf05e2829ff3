"""Escalation paths over real servers: an unacknowledged incident moves up its priority's
levels by itself on time, stops once acknowledged or at the last level; escalation by
hand needs a reason; a breach of the response SLA escalates where the policy says so."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_people import errors, new_team
from tests.support import GraphQLClient, Server, create_tenant, create_token, declare, transition

ESCALATED = "com.incidents.escalated.v1"
POLICY = """
mutation($input: UpdateEscalationPolicyInput!) { updateEscalationPolicy(input: $input) {
  path { priority escalateOnBreach levels { teamId tier ackTimeoutMinutes } }
  errors { field code message } } }
"""
ESCALATE = """
mutation($input: EscalateIncidentInput!) { escalateIncident(input: $input) {
  incident { escalationLevel assignedTeam { id } } errors { field code message } } }
"""
INCIDENT = """
query($id: ID!) { incident(id: $id) { escalationLevel escalatedAt nextEscalationAt
  assignedTeam { id } isMajor status
  timeline(first: 50) { edges { node { type time data actor } } } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"esc-{uuid.uuid4().hex[:8]}", name="Esc")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="esc admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="esc r", tenant=tenant_id),
    }


async def set_path(admin: GraphQLClient, priority: str, levels: list[dict[str, Any]], **more: Any):
    data = await admin.execute(POLICY, {"input": {"priority": priority, "levels": levels, **more}})
    assert data["updateEscalationPolicy"]["errors"] == [], data
    return data["updateEscalationPolicy"]["path"]


async def escalations(client: GraphQLClient, incident_id: str) -> tuple[dict[str, Any], list[Any]]:
    data = (await client.execute(INCIDENT, {"id": incident_id}))["incident"]
    found = [e["node"] for e in data["timeline"]["edges"] if e["node"]["type"] == ESCALATED]
    return data, found


async def wait_for(client: GraphQLClient, incident_id: str, count: int, timeout: float):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        data, found = await escalations(client, incident_id)
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return data, found
        await asyncio.sleep(0.2)


async def test_an_unacknowledged_incident_climbs_its_path_on_time_and_stops_at_the_top(api):
    # given a P2 path: the database team after 3 s, then tier L2 after 3 s more
    admin = api()
    team = await new_team(admin)
    await set_path(
        admin,
        "P2",
        [
            {"teamId": team["id"], "ackTimeoutMinutes": 0.05},
            {"tier": "L2", "ackTimeoutMinutes": 0.05},
        ],
    )

    # when a P2 incident is left unacknowledged
    incident = await declare(admin, title="Replication lag")
    data, found = await wait_for(admin, incident["id"], 2, timeout=10)
    await asyncio.sleep(4)  # past when a third level would have fallen
    settled, after = await escalations(admin, incident["id"])

    # then it went to the team, then to L2, by itself, and no further
    assert [(e["data"]["level"], e["data"]["target"], e["data"]["automatic"]) for e in found] == [
        (1, {"team": team["id"], "tier": None}, True),
        (2, {"team": None, "tier": "L2"}, True),
    ]
    assert {e["data"]["reason"] for e in found} == {"ack timeout"}
    assert {e["actor"] for e in found} == {"escalation"}
    assert settled["escalationLevel"] == 2 and len(after) == 2
    assert settled["assignedTeam"] == {"id": team["id"]}
    assert settled["nextEscalationAt"] is None
    # and escalation is not the major flag nor the ESCALATED status
    assert settled["isMajor"] is False and settled["status"] == "OPEN"


async def test_an_acknowledged_incident_is_not_escalated_by_itself(api):
    admin = api()
    await set_path(admin, "P3", [{"tier": "L1", "ackTimeoutMinutes": 0.05}])
    incident = await declare(admin, title="Acked", severity="SEV3", impact="MEDIUM")
    assert (await transition(admin, incident["id"], "IN_PROGRESS"))["errors"] == []

    await asyncio.sleep(4.5)
    data, found = await escalations(admin, incident["id"])

    assert found == [] and data["escalationLevel"] == 0
    assert data["nextEscalationAt"] is None


async def test_escalating_by_hand_needs_a_reason_and_a_target_past_the_last_level(api):
    admin, responder = api(), api("RESPONDER")
    team = await new_team(admin)
    await set_path(admin, "P4", [{"tier": "L1", "ackTimeoutMinutes": 600}])
    incident = await declare(
        responder, title="By hand", severity="SEV4", impact="MEDIUM", urgency="LOW"
    )

    def escalate(**fields: Any) -> dict[str, Any]:
        return {"input": {"id": incident["id"], "reason": "customer called twice", **fields}}

    first = (await responder.execute(ESCALATE, escalate()))["escalateIncident"]
    beyond = (await responder.execute(ESCALATE, escalate()))["escalateIncident"]
    no_reason = (await responder.execute(ESCALATE, escalate(reason="  ")))["escalateIncident"]
    unknown = (await responder.execute(
        ESCALATE, escalate(teamId="team_" + uuid.uuid4().hex)
    ))["escalateIncident"]  # fmt: skip
    both = (await responder.execute(ESCALATE, escalate(teamId=team["id"], tier="L3")))[
        "escalateIncident"
    ]
    named = (await responder.execute(ESCALATE, escalate(teamId=team["id"])))["escalateIncident"]

    assert first["errors"] == [] and first["incident"]["escalationLevel"] == 1
    assert errors(beyond) == [("id", "VALIDATION")]
    assert errors(no_reason) == [("reason", "VALIDATION")]
    assert errors(unknown) == [("teamId", "NOT_FOUND")]
    assert errors(both) == [("teamId", "VALIDATION")]
    assert named["errors"] == [] and named["incident"]["escalationLevel"] == 2
    assert named["incident"]["assignedTeam"] == {"id": team["id"]}
    _, found = await escalations(admin, incident["id"])
    assert [(e["data"]["level"], e["data"]["automatic"], e["data"]["reason"]) for e in found] == [
        (1, False, "customer called twice"),
        (2, False, "customer called twice"),
    ]


async def test_a_response_breach_escalates_at_once_where_the_policy_says_so(api):
    # given P5 must be answered within 3 s and its path escalates on a breach
    admin = api()
    sla = {"priority": "P5", "responseMinutes": 0.05, "resolveMinutes": 600}
    policy = await admin.execute(
        "mutation($input: UpdateTenantPolicyInput!) { updateTenantPolicy(input: $input) "
        "{ errors { code } } }",
        {"input": {"sla": [sla]}},
    )
    assert policy["updateTenantPolicy"]["errors"] == []
    await set_path(admin, "P5", [{"tier": "L2", "ackTimeoutMinutes": 600}], escalateOnBreach=True)

    # when a P5 incident is left unanswered past its response deadline
    incident = await declare(admin, title="Slow", severity="SEV4", impact="LOW", urgency="LOW")
    data, found = await wait_for(admin, incident["id"], 1, timeout=8)

    # then it is escalated right after the breach, saying why
    assert [(e["data"]["level"], e["data"]["reason"]) for e in found] == [
        (1, "response SLA breached")
    ]
    breach = [
        e["node"]["time"]
        for e in data["timeline"]["edges"]
        if e["node"]["type"] == "com.incidents.sla.breached.v1"
    ]
    assert breach and breach[0] <= found[0]["time"]


async def test_bad_paths_are_refused(api):
    admin, responder = api(), api("RESPONDER")
    cases = [
        ([{"ackTimeoutMinutes": 5}], "levels[0]"),
        (
            [{"tier": "L1", "teamId": "team_" + uuid.uuid4().hex, "ackTimeoutMinutes": 5}],
            "levels[0]",
        ),
        ([{"tier": "L1", "ackTimeoutMinutes": 0}], "levels[0].ackTimeoutMinutes"),
        ([{"teamId": "team_" + uuid.uuid4().hex, "ackTimeoutMinutes": 5}], "levels[0].teamId"),
        ([{"tier": "L1", "ackTimeoutMinutes": 5}] * 11, "levels"),
    ]
    for levels, field in cases:
        data = await admin.execute(POLICY, {"input": {"priority": "P1", "levels": levels}})
        assert [e["field"] for e in data["updateEscalationPolicy"]["errors"]] == [field], levels
    refused = await responder.post(POLICY, {"input": {"priority": "P1", "levels": []}})
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    paths = (await responder.execute("{ escalationPolicy { priority levels { tier } } }"))[
        "escalationPolicy"
    ]
    assert [p["priority"] for p in paths] == ["P1", "P2", "P3", "P4", "P5"]
    assert paths[0]["levels"] == []


async def test_a_tenant_may_have_matrix_changes_clear_a_priority_override(api):
    admin = api()
    policy = await admin.execute(
        "mutation { updateTenantPolicy(input: {clearOverrideOnChange: true}) "
        "{ policy { clearOverrideOnChange } errors { code } } }"
    )
    assert policy["updateTenantPolicy"]["policy"]["clearOverrideOnChange"] is True
    incident = await declare(admin, title="Override", severity="SEV4", impact="LOW", urgency="LOW")
    overridden = await admin.execute(
        "mutation($id: ID!) { overridePriority(input: {id: $id, priority: P2, "
        'justification: "VIP customer"}) { incident { priority } errors { code } } }',
        {"id": incident["id"]},
    )
    changed = await admin.execute(
        "mutation($id: ID!) { updateIncident(input: {id: $id, urgency: HIGH}) "
        "{ incident { priority derivedPriority priorityOverridden priorityOverrideReason } } }",
        {"id": incident["id"]},
    )

    assert overridden["overridePriority"]["incident"]["priority"] == "P2"
    assert changed["updateIncident"]["incident"] == {
        "priority": "P3",
        "derivedPriority": "P3",
        "priorityOverridden": False,
        "priorityOverrideReason": None,
    }

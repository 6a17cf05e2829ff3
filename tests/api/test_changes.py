"""Changes over a real server: request, approval by someone else, the lifecycle by type,
links to incidents and problems with their rules, conflicting windows, and bad input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_identity import person
from tests.api.test_people import errors
from tests.support import Server, answered_errors, create_tenant, create_token, declare

CHANGE_FIELDS = """
id reference title type risk status requestedBy approvedBy allowedTransitions approvalOverdue
services { name } links { relation incident { id } problem { id } } timeline { seq type data }
"""
PAYLOAD = f"change {{ {CHANGE_FIELDS} }} conflicts {{ reference }} errors {{ field code message }}"


def mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {PAYLOAD} }} }}"


REQUEST = mutation("requestChange", "RequestChangeInput")
APPROVE = mutation("approveChange", "ApproveChangeInput")
REJECT = mutation("rejectChange", "RejectChangeInput")
MOVE = mutation("transitionChange", "TransitionChangeInput")
LINK = mutation("linkChange", "LinkChangeInput")


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"chg-{uuid.uuid4().hex[:8]}", name="Changes")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="chg admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="chg r", tenant=tenant_id),
    }


async def people(server: Server, api: Any) -> tuple[Any, Any]:
    """A requester (responder) and an approver (incident manager), each a user."""
    admin = api()
    _, requester = await person(server, admin, "RESPONDER")
    _, approver = await person(server, admin, "INCIDENT_MANAGER")
    return requester, approver


async def request(client: Any, **fields: Any) -> dict[str, Any]:
    values = {"title": f"Change {uuid.uuid4().hex[:6]}", "type": "NORMAL", "risk": "MEDIUM"}
    data = await client.execute(REQUEST, {"input": {**values, **fields}})
    assert data["requestChange"]["errors"] == [], data
    return data["requestChange"]  # type: ignore[no-any-return]


async def move(client: Any, change: dict[str, Any], to: str) -> dict[str, Any]:
    data = await client.execute(MOVE, {"input": {"id": change["id"], "to": to}})
    return data["transitionChange"]  # type: ignore[no-any-return]


async def test_a_normal_change_is_approved_by_someone_else_then_carried_out(server, api):
    requester, approver = await people(server, api)
    try:
        change = (await request(requester, title="Upgrade PostgreSQL to 17"))["change"]

        early = await move(requester, change, "SCHEDULED")
        approved = await approver.execute(
            APPROVE, {"input": {"id": change["id"], "comment": "Window agreed with DBA"}}
        )
        steps = [
            await move(requester, change, to)
            for to in ("SCHEDULED", "IN_PROGRESS", "IMPLEMENTED", "CLOSED")
        ]
    finally:
        await requester.aclose()
        await approver.aclose()

    assert change["reference"].startswith("CHG-") and change["status"] == "REQUESTED"
    assert errors(early) == [("to", "INVALID_TRANSITION")]
    body = approved["approveChange"]["change"]
    assert body["status"] == "APPROVED"
    assert body["approvedBy"] is not None and body["approvedBy"] != body["requestedBy"]
    assert [s["change"]["status"] for s in steps] == [
        "SCHEDULED", "IN_PROGRESS", "IMPLEMENTED", "CLOSED",
    ]  # fmt: skip
    assert [e["type"].split(".")[-2] for e in steps[-1]["change"]["timeline"]] == [
        "requested", "approved", "state_change", "state_change", "state_change", "state_change",
    ]  # fmt: skip
    audit = await api().execute(
        '{ auditLog(filter: {action: "change.close"}, first: 50) '
        "{ edges { node { target changes } } } }"
    )
    closed = [e["node"] for e in audit["auditLog"]["edges"]]
    assert any(
        r["changes"] == {"state_change": {"from": "IMPLEMENTED", "to": "CLOSED"}} for r in closed
    )


async def test_nobody_approves_or_rejects_their_own_change(server, api):
    # given an incident manager who requests a change
    _, manager = await person(server, api(), "INCIDENT_MANAGER")
    try:
        change = (await request(manager))["change"]

        # when they approve or reject it themselves
        approve = await manager.execute(APPROVE, {"input": {"id": change["id"]}})
        reject = await manager.execute(
            REJECT, {"input": {"id": change["id"], "reason": "changed my mind"}}
        )
    finally:
        await manager.aclose()

    # then both are refused, and the change is still waiting
    assert errors(approve["approveChange"]) == [("id", "SEPARATION_OF_DUTIES")]
    assert errors(reject["rejectChange"]) == [("id", "SEPARATION_OF_DUTIES")]
    assert change["status"] == "REQUESTED"
    # and a responder may not approve at all
    refused = await api("RESPONDER").raw(APPROVE, {"input": {"id": change["id"]}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_standard_is_pre_approved_and_emergency_goes_first_then_is_approved(server, api):
    requester, approver = await people(server, api)
    try:
        standard = (await request(requester, type="STANDARD", risk="LOW"))["change"]
        emergency = (await request(requester, type="EMERGENCY", risk="HIGH"))["change"]
        started = await move(requester, emergency, "IN_PROGRESS")
        done = await move(requester, emergency, "IMPLEMENTED")
        late = await approver.execute(APPROVE, {"input": {"id": emergency["id"]}})
    finally:
        await requester.aclose()
        await approver.aclose()

    assert standard["status"] == "APPROVED"
    assert "IN_PROGRESS" in emergency["allowedTransitions"]
    assert started["change"]["status"] == "IN_PROGRESS"
    assert started["change"]["approvalOverdue"] is False  # within its 24 hours
    assert done["change"]["status"] == "IMPLEMENTED"
    retro = late["approveChange"]["change"]
    assert retro["status"] == "IMPLEMENTED" and retro["approvedBy"] is not None
    assert retro["timeline"][-1]["data"]["retrospective"] is True


async def test_links_follow_the_rules_and_show_on_both_timelines(server, api):
    requester, approver = await people(server, api)
    try:
        incident = await declare(requester, title="Checkout errors after deploy")
        normal = (await request(requester))["change"]
        fixes_early = await requester.execute(
            LINK,
            {
                "input": {
                    "changeId": normal["id"],
                    "incidentId": incident["id"],
                    "relation": "FIXES",
                }
            },
        )
        caused = await requester.execute(
            LINK,
            {
                "input": {
                    "changeId": normal["id"],
                    "incidentId": incident["id"],
                    "relation": "CAUSED_BY",
                }
            },
        )
        again = await requester.execute(
            LINK,
            {
                "input": {
                    "changeId": normal["id"],
                    "incidentId": incident["id"],
                    "relation": "CAUSED_BY",
                }
            },
        )
        problem = await requester.execute(
            "mutation($t: String!) { createProblem(input: {title: $t, force: true}) "
            "{ problem { id } errors { code } } }",
            {"t": f"Deploys break checkout {uuid.uuid4().hex[:6]}"},
        )
        problem_id = problem["createProblem"]["problem"]["id"]
        await approver.execute(APPROVE, {"input": {"id": normal["id"]}})
        fixes = await requester.execute(
            LINK,
            {"input": {"changeId": normal["id"], "problemId": problem_id, "relation": "FIXES"}},
        )
        seen = await requester.execute(
            "query($i: ID!, $p: ID!) { incident(id: $i) { changes { reference } "
            "timeline(last: 1) { edges { node { type data } } } } "
            "node(id: $p) { ... on Problem { timeline { type } } } }",
            {"i": incident["id"], "p": problem_id},
        )
    finally:
        await requester.aclose()
        await approver.aclose()

    assert errors(fixes_early["linkChange"]) == [("relation", "VALIDATION")]
    assert caused["linkChange"]["errors"] == []
    assert errors(again["linkChange"]) == [("incidentId", "CONFLICT")]
    links = fixes["linkChange"]["change"]["links"]
    assert [
        (link["relation"], bool(link["incident"]), bool(link["problem"])) for link in links
    ] == [
        ("CAUSED_BY", True, False),
        ("FIXES", False, True),
    ]
    assert seen["incident"]["changes"] == [{"reference": normal["reference"]}]
    last = seen["incident"]["timeline"]["edges"][0]["node"]
    assert last["type"] == "com.incidents.record.linked.v1"
    assert last["data"]["reference"] == normal["reference"]
    assert seen["node"]["timeline"][-1]["type"] == "com.incidents.problem.change_linked.v1"


async def test_overlapping_windows_on_a_service_are_reported_not_refused(api):
    admin = api()
    service = await admin.execute(
        "mutation($n: String!) { createService(input: {name: $n}) { service { id } } }",
        {"n": f"db-{uuid.uuid4().hex[:6]}"},
    )
    service_id = service["createService"]["service"]["id"]
    window = {"plannedStart": "2026-12-10T22:00:00Z", "plannedEnd": "2026-12-11T02:00:00Z"}
    first = await request(admin, serviceIds=[service_id], **window)
    second = await request(
        admin,
        serviceIds=[service_id],
        plannedStart="2026-12-11T01:00:00Z",
        plannedEnd="2026-12-11T03:00:00Z",
    )
    apart = await request(
        admin,
        serviceIds=[service_id],
        plannedStart="2026-12-11T03:00:00Z",
        plannedEnd="2026-12-11T04:00:00Z",
    )

    assert first["conflicts"] == []
    assert second["conflicts"] == [{"reference": first["change"]["reference"]}]
    assert apart["conflicts"] == []


async def test_bad_change_requests_are_refused_on_their_field(api):
    responder = api("RESPONDER")
    good = {"title": "x", "type": "NORMAL", "risk": "LOW"}
    cases = [
        ({**good, "title": " "}, ("title", "VALIDATION")),
        ({**good, "plannedStart": "2026-12-10T22:00:00Z"}, ("plannedEnd", "VALIDATION")),
        (
            {**good, "plannedStart": "2026-12-10T22:00:00Z", "plannedEnd": "2026-12-10T21:00:00Z"},
            ("plannedEnd", "VALIDATION"),
        ),
        ({**good, "serviceIds": ["svc_" + uuid.uuid4().hex]}, ("serviceIds", "NOT_FOUND")),
        ({**good, "classification": "RESTRICTED"}, ("classification", "FORBIDDEN")),
    ]
    before = (await responder.execute("{ changes { totalCount } }"))["changes"]["totalCount"]
    for given, expected in cases:
        found = await answered_errors(responder, REQUEST, {"input": given}, "requestChange")
        assert found == [expected], given
    after = (await responder.execute("{ changes { totalCount } }"))["changes"]["totalCount"]
    assert after == before
    change = (await request(responder))["change"]
    neither = await responder.execute(
        LINK, {"input": {"changeId": change["id"], "relation": "CAUSED_BY"}}
    )
    ghost = await responder.execute(
        LINK,
        {
            "input": {
                "changeId": "chg_" + uuid.uuid4().hex,
                "incidentId": "inc_" + uuid.uuid4().hex,
                "relation": "CAUSED_BY",
            }
        },
    )
    approve_via_move = await move(responder, change, "APPROVED")
    assert errors(neither["linkChange"]) == [("incidentId", "VALIDATION")]
    assert errors(ghost["linkChange"]) == [("changeId", "NOT_FOUND")]
    assert errors(approve_via_move) == [("to", "INVALID_TRANSITION")]
    assert "approveChange" in approve_via_move["errors"][0]["message"]

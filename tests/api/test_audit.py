"""The audit log: every change recorded with who, what and which request; immutable."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.support import declare, transition

AUDIT = """
query Audit($filter: AuditFilter, $first: Int!, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    edges { cursor node { time actor tokenId requestId action target changes } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def audit_of(client, incident_id, **extra):
    data = await client.execute(AUDIT, {"filter": {"target": incident_id}, "first": 50, **extra})
    return [e["node"] for e in data["auditLog"]["edges"]]


async def test_each_change_is_recorded_with_actor_request_and_deltas(client):
    # given a request that names itself
    request_id = f"req-{uuid.uuid4().hex}"
    client.http.headers["X-Request-Id"] = request_id
    try:
        incident = await declare(client, title="Audited")
        await transition(client, incident["id"], "IN_PROGRESS")
    finally:
        del client.http.headers["X-Request-Id"]

    # when an admin reads the incident's audit trail
    records = await audit_of(client, incident["id"])

    # then both changes are there, newest first, with who, which request and what changed
    assert [r["action"] for r in records] == ["incident.state_change", "incident.declared"]
    assert {r["actor"] for r in records} == {"bootstrap"}
    assert {r["requestId"] for r in records} == {request_id}
    assert records[0]["changes"]["fields"]["status"] == {"from": "OPEN", "to": "IN_PROGRESS"}
    assert records[1]["changes"]["fields"]["title"] == {"from": None, "to": "Audited"}


async def test_a_refused_command_leaves_no_record(client):
    # given
    incident = await declare(client, title="Refused change")
    before = await audit_of(client, incident["id"])

    # when a forbidden transition is attempted
    payload = await transition(client, incident["id"], "CLOSED")

    # then it is refused and the trail is unchanged
    assert payload["errors"][0]["code"] == "INVALID_TRANSITION"
    assert await audit_of(client, incident["id"]) == before


async def test_the_log_pages_by_cursor(client):
    # given three records for one incident
    incident = await declare(client, title="Paged trail")
    await transition(client, incident["id"], "IN_PROGRESS")
    await transition(client, incident["id"], "PENDING")

    # when it is read one record at a time
    seen, after = [], None
    while True:
        data = await client.execute(
            AUDIT, {"filter": {"target": incident["id"]}, "first": 1, "after": after}
        )
        seen += [e["node"]["action"] for e in data["auditLog"]["edges"]]
        if not data["auditLog"]["pageInfo"]["hasNextPage"]:
            break
        after = data["auditLog"]["pageInfo"]["endCursor"]

    # then every record comes once, newest first
    assert seen == ["incident.state_change", "incident.state_change", "incident.declared"]


async def test_only_admins_read_the_log(as_role):
    body = await as_role("INCIDENT_MANAGER").raw(AUDIT, {"first": 1})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


@pytest.mark.integration
async def test_postgresql_refuses_to_update_or_delete_audit_records(server, client):
    # given a PostgreSQL-backed server with at least one record
    if not server.backend.database_url.startswith("postgres"):
        pytest.skip("the trigger is PostgreSQL's")
    await declare(client, title="Trigger check")

    # when someone edits the table directly
    for statement in ("UPDATE audit_record SET actor = 'mallory'", "DELETE FROM audit_record"):
        result = subprocess.run(
            ["psql", server.backend.database_url.replace("postgres://", "postgresql://", 1)]
            + ["-v", "ON_ERROR_STOP=1", "-c", statement],
            capture_output=True,
            text=True,
        )

        # then the database refuses
        assert result.returncode != 0
        assert "audit records cannot be changed or deleted" in result.stderr


async def test_token_events_are_recorded(client):
    # given
    created = await client.execute(
        'mutation { createApiToken(input: {name: "audited bot", role: VIEWER}) '
        "{ token { id } errors { code } } }"
    )
    token_id = created["createApiToken"]["token"]["id"]
    await client.execute(
        "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { errors { code } } }",
        {"id": token_id},
    )

    # when
    data = await client.execute(AUDIT, {"filter": {"action": "token.revoked"}, "first": 50})

    # then
    revoked = [e["node"] for e in data["auditLog"]["edges"]]
    assert any(r["changes"]["name"] == "audited bot" for r in revoked)
    created_log = await client.execute(AUDIT, {"filter": {"action": "token.created"}, "first": 50})
    assert any(
        e["node"]["changes"] == {"name": "audited bot", "role": "VIEWER", "clearance": "INTERNAL"}
        for e in created_log["auditLog"]["edges"]
    )

"""Communications over real servers: every message about an incident logged with a short
ref people quote back, found again by that ref, listed on the incident by channel, and
classified like the incident's own text."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_people import errors
from tests.support import Server, create_tenant, create_token, declare

LOG = """
mutation($input: LogCommunicationInput!) { logCommunication(input: $input) {
  communication { id shortRef channel direction audience recipient message status sentAt
    redacted incident { id } }
  errors { field code message } } }
"""
BY_REF = """
query($ref: String!) { communicationByRef(shortRef: $ref) { id shortRef message redacted } }
"""
LIST = """
query($id: ID!, $channel: CommunicationChannel, $first: Int, $after: String) {
  incident(id: $id) {
    communications(channel: $channel, first: $first, after: $after) {
      totalCount edges { cursor node { shortRef channel message } }
      pageInfo { hasNextPage endCursor } }
    timeline(last: 1) { edges { node { type data } } } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"com-{uuid.uuid4().hex[:8]}", name="Comms")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="com admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="com r", tenant=tenant_id),
        "VIEWER": create_token(server, role="VIEWER", name="com v", tenant=tenant_id),
    }


async def log(client: Any, incident_id: str, **fields: Any) -> dict[str, Any]:
    values = {"channel": "PHONE", "direction": "INBOUND", "message": "Caller reports 502s"}
    data = await client.execute(LOG, {"input": {"incidentId": incident_id, **values, **fields}})
    return data["logCommunication"]  # type: ignore[no-any-return]


async def test_a_logged_call_gets_a_ref_that_finds_it_again(api):
    # given an incident
    responder = api("RESPONDER")
    incident = await declare(responder, title="Checkout 502")

    # when a phone call about it is logged
    logged = await log(responder, incident["id"], recipient="+44 20 7946 0000")

    # then it has a short ref of today, and the ref finds it, however it is typed back
    assert logged["errors"] == []
    message = logged["communication"]
    ref = message["shortRef"]
    assert ref.startswith("REF-") and len(ref) == 17
    assert (message["channel"], message["direction"], message["status"]) == (
        "PHONE",
        "INBOUND",
        "SENT",
    )
    assert message["incident"] == {"id": incident["id"]}
    found = await responder.execute(BY_REF, {"ref": f"  {ref.lower()} "})
    assert found["communicationByRef"]["id"] == message["id"]
    # and the incident's timeline says a message was logged, without its text
    data = await responder.execute(LIST, {"id": incident["id"]})
    [event] = [e["node"] for e in data["incident"]["timeline"]["edges"]]
    assert event["type"] == "com.incidents.comms.logged.v1"
    assert event["data"]["shortRef"] == ref and "message" not in event["data"]


async def test_an_incidents_messages_are_listed_by_channel_and_paged(api):
    responder = api("RESPONDER")
    incident = await declare(responder, title="Many messages")
    sent = []
    for n, channel in enumerate(["PHONE", "EMAIL", "MEETING", "EMAIL", "EMAIL"]):
        logged = await log(responder, incident["id"], channel=channel, message=f"Message {n}")
        sent.append(logged["communication"]["shortRef"])

    everything = await responder.execute(LIST, {"id": incident["id"]})
    first = await responder.execute(LIST, {"id": incident["id"], "channel": "EMAIL", "first": 2})
    page = first["incident"]["communications"]
    rest = await responder.execute(
        LIST,
        {
            "id": incident["id"],
            "channel": "EMAIL",
            "first": 2,
            "after": page["pageInfo"]["endCursor"],
        },
    )

    listed = everything["incident"]["communications"]
    assert listed["totalCount"] == 5
    assert [e["node"]["shortRef"] for e in listed["edges"]] == sent  # oldest first
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is True
    emails = [e["node"]["message"] for e in page["edges"]]
    emails += [e["node"]["message"] for e in rest["incident"]["communications"]["edges"]]
    assert emails == ["Message 1", "Message 3", "Message 4"]


async def test_bad_communications_are_refused_and_unknown_refs_are_null(api):
    admin, responder, viewer = api("ADMIN"), api("RESPONDER"), api("VIEWER")
    incident = await declare(responder, title="Bad messages")
    cases = [
        ({"message": "  "}, [("message", "VALIDATION")]),
        ({"audience": "END_USERS"}, [("classification", "VALIDATION")]),
        ({"occurredAt": "2099-01-01T00:00:00Z"}, [("occurredAt", "VALIDATION")]),
        ({"recipient": "x" * 513}, [("recipient", "VALIDATION")]),
        ({"classification": "RESTRICTED"}, [("classification", "FORBIDDEN")]),
        ({"incidentId": str(uuid.uuid4())}, [("incidentId", "NOT_FOUND")]),
    ]
    for fields, expected in cases:
        payload = await log(responder, fields.pop("incidentId", incident["id"]), **fields)
        assert errors(payload) == expected, (fields, payload)
    public = await log(
        responder, incident["id"], audience="END_USERS", classification="PUBLIC",
        direction="OUTBOUND", channel="STATUS_PAGE", message="We are investigating",
    )  # fmt: skip
    assert public["errors"] == []
    attempt = {"incidentId": incident["id"], "channel": "PHONE", "direction": "INBOUND",
               "message": "x"}  # fmt: skip
    refused = await viewer.post(LOG, {"input": attempt})
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    unknown = await admin.execute(BY_REF, {"ref": "REF-20200101-ZZZZ"})
    malformed = await admin.post(BY_REF, {"ref": "REF-1"})
    assert unknown["communicationByRef"] is None
    assert malformed.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
    data = await responder.execute(LIST, {"id": incident["id"]})
    assert data["incident"]["communications"]["totalCount"] == 1  # only the good one


async def test_a_confidential_message_reads_redacted_below_it_and_a_restricted_incidents_not_at_all(
    api,
):
    admin, viewer = api("ADMIN"), api("VIEWER")
    incident = await declare(admin, title="Sensitive")
    secret = await log(
        admin, incident["id"], message="Customer X lost data", classification="CONFIDENTIAL"
    )
    hidden_incident = await declare(admin, title="Breach", classification="RESTRICTED")
    hidden = await log(admin, hidden_incident["id"], message="Forensics engaged")

    seen = await viewer.execute(BY_REF, {"ref": secret["communication"]["shortRef"]})
    unseen = await viewer.execute(BY_REF, {"ref": hidden["communication"]["shortRef"]})

    assert seen["communicationByRef"]["message"] == "[REDACTED]"
    assert seen["communicationByRef"]["redacted"] is True
    assert unseen["communicationByRef"] is None

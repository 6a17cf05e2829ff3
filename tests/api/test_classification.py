"""Classification: restricted incidents exist only for the cleared; the rest is redacted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.services.access.classification import REDACTED, redact_json
from tests.support import (
    GraphQLClient,
    Server,
    Subscriber,
    answered_errors,
    declare,
    subscribe_and_wait,
    subscriber,
    transition,
)

CREATE_TOKEN = """
mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { secret token { role clearance } errors { code } }
}
"""
INCIDENT = """
query($id: ID!) {
  incident(id: $id) {
    id title description assignee declaredBy rootCause resolutionSummary status priority
    service classification redactedFields publicSummary
    timeline { totalCount edges { node { seq type actor data classification redacted
                                        cloudEvent } } }
  }
}
"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Incident { title } } }"
LIST = """
query($text: String) {
  incidents(filter: {text: $text}, first: 500) { totalCount edges { node { id title } } }
}
"""
UPDATE = """
mutation($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { id classification version } errors { code field } }
}
"""
NOTE = """
mutation($input: AddNoteInput!) {
  addNote(input: $input) { event { seq data classification redacted } errors { code field } }
}
"""
AUDIT = """
query($target: String!) {
  auditLog(filter: {action: "incident.read", target: $target}, first: 100) {
    edges { node { actor action target changes } }
  }
}
"""
WATCH = """
subscription($id: ID!) {
  incidentUpdated(id: $id) { id title description status classification redactedFields }
}
"""
FOLLOW = """
subscription($id: ID!, $after: String) {
  timelineEventAdded(incidentId: $id, after: $after) { seq type data redacted }
}
"""
FEED = "subscription { incidentsChanged { id title status } }"


@pytest.fixture
async def token_for(client: GraphQLClient, server: Server) -> AsyncIterator[Any]:
    """`token_for("RESPONDER", clearance="RESTRICTED")`: a client with a fresh token."""
    opened: list[GraphQLClient] = []

    async def make(role: str, clearance: str | None = None) -> GraphQLClient:
        name = f"{role} {uuid.uuid4().hex[:6]}"
        data = await client.execute(
            CREATE_TOKEN,
            {
                "input": {
                    "name": name,
                    "role": role,
                    "clearance": clearance,
                }
            },
        )
        assert data["createApiToken"]["errors"] == []
        c = server.client(token=data["createApiToken"]["secret"])
        c.name = name  # type: ignore[attr-defined]
        opened.append(c)
        return c

    yield make
    for c in opened:
        await c.aclose()


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def restricted_incident(client: GraphQLClient, **extra: Any) -> dict[str, Any]:
    return await declare(
        client,
        title=f"Credential stuffing {uuid.uuid4().hex}",
        description="attacker from 203.0.113.7",
        classification="RESTRICTED",
        **extra,
    )


# --- who sees what -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "clearance", "expected"),
    [
        ("STAKEHOLDER", None, "PUBLIC"),
        ("VIEWER", None, "INTERNAL"),
        ("RESPONDER", None, "CONFIDENTIAL"),
        ("INCIDENT_MANAGER", None, "RESTRICTED"),
        ("ADMIN", None, "RESTRICTED"),
        ("RESPONDER", "RESTRICTED", "RESTRICTED"),
        ("ADMIN", "INTERNAL", "INTERNAL"),
    ],
)
async def test_clearance_defaults_to_the_role_and_a_token_may_carry_another(
    client, role, clearance, expected
):
    # when an admin creates a token with or without a clearance
    data = await client.execute(
        CREATE_TOKEN, {"input": {"name": "clearance check", "role": role, "clearance": clearance}}
    )

    # then the token reads up to its own clearance, or its role's
    assert data["createApiToken"]["token"] == {"role": role, "clearance": expected}


async def test_a_restricted_incident_does_not_exist_for_a_caller_without_clearance(
    client, token_for
):
    # given a restricted incident, and a responder not cleared for it
    incident = await restricted_incident(client)
    responder = await token_for("RESPONDER")
    unknown = "inc_" + uuid.uuid4().hex

    # then every read answers exactly as for an id that does not exist
    for query in (INCIDENT, NODE):
        hidden = await responder.raw(query, {"id": incident["id"]})
        missing = await responder.raw(query, {"id": unknown})
        assert hidden == missing and not hidden.get("errors")
    listed = await responder.execute(LIST, {"text": None})
    assert incident["id"] not in {e["node"]["id"] for e in listed["incidents"]["edges"]}
    searched = await responder.execute(LIST, {"text": incident["title"]})
    assert searched["incidents"] == {"totalCount": 0, "edges": []}

    # and so does every write, which changes nothing
    for variables in (
        {"input": {"id": incident["id"], "title": "renamed"}},
        {"input": {"id": incident["id"], "classification": "INTERNAL"}},
    ):
        body = await responder.execute(UPDATE, variables)
        assert body["updateIncident"] == {
            "incident": None,
            "errors": [{"code": "NOT_FOUND", "field": "id"}],
        }
    note = await responder.execute(NOTE, {"input": {"incidentId": incident["id"], "body": "hi"}})
    assert note["addNote"]["errors"] == [{"code": "NOT_FOUND", "field": "incidentId"}]
    moved = await transition(responder, incident["id"], "IN_PROGRESS")
    assert moved["errors"][0]["code"] == "NOT_FOUND"
    seen = (await client.execute(INCIDENT, {"id": incident["id"]}))["incident"]
    assert seen["title"] == incident["title"] and seen["status"] == "OPEN"
    assert seen["timeline"]["totalCount"] == 1


async def test_a_cleared_token_of_any_role_sees_the_restricted_incident(client, token_for):
    # given
    incident = await restricted_incident(client)

    # when a responder of the security team (cleared) and an incident manager read it
    for c in (await token_for("RESPONDER", "RESTRICTED"), await token_for("INCIDENT_MANAGER")):
        seen = (await c.execute(INCIDENT, {"id": incident["id"]}))["incident"]

        # then they see it whole
        assert seen["title"] == incident["title"]
        assert seen["description"] == "attacker from 203.0.113.7"
        assert seen["redactedFields"] == []
        listed = await c.execute(LIST, {"text": incident["title"]})
        assert listed["incidents"]["totalCount"] == 1


async def test_nobody_classifies_above_their_own_clearance(client, token_for):
    # given a responder (CONFIDENTIAL clearance)
    responder = await token_for("RESPONDER")
    title = f"Not mine to hide {uuid.uuid4().hex}"

    # when it declares a RESTRICTED incident, or raises one, or writes a RESTRICTED note
    declared = await answered_errors(
        responder,
        """mutation($t: String!) { declareIncident(input: {title: $t, severity: SEV3,
           impact: LOW, urgency: LOW, classification: RESTRICTED}) {
           incident { id } errors { code field } } }""",
        {"t": title},
        "declareIncident",
    )
    own = await declare(responder, title=f"{title} (own)")
    raised = await answered_errors(
        responder,
        UPDATE,
        {"input": {"id": own["id"], "classification": "RESTRICTED"}},
        "updateIncident",
    )
    note = await answered_errors(
        responder,
        NOTE,
        {"input": {"incidentId": own["id"], "body": "x", "classification": "RESTRICTED"}},
        "addNote",
    )

    # then each is FORBIDDEN on the classification (a top-level error), and nothing was written
    assert declared == raised == note == [("classification", "FORBIDDEN")]
    assert (await client.execute(LIST, {"text": title}))["incidents"]["totalCount"] == 1
    seen = (await client.execute(INCIDENT, {"id": own["id"]}))["incident"]
    assert seen["classification"] == "INTERNAL" and seen["timeline"]["totalCount"] == 1


# --- redaction ---------------------------------------------------------------------------


async def test_fields_and_events_above_the_callers_clearance_are_redacted(client, token_for):
    # given a CONFIDENTIAL incident with an assignee, a public note, and a root cause
    incident = await declare(
        client,
        title=f"Payroll export leaking {uuid.uuid4().hex}",
        description="bucket acl wrong",
        assignee="dana",
        classification="CONFIDENTIAL",
    )
    await client.execute(
        NOTE,
        {
            "input": {
                "incidentId": incident["id"],
                "body": "We are investigating.",
                "classification": "PUBLIC",
            }
        },
    )
    await transition(client, incident["id"], "IN_PROGRESS")
    await transition(
        client, incident["id"], "RESOLVED", resolutionSummary="acl fixed", rootCause="typo"
    )
    viewer = await token_for("VIEWER")  # INTERNAL clearance

    # when a viewer and a responder read it
    hidden = (await viewer.execute(INCIDENT, {"id": incident["id"]}))["incident"]
    shown = (await (await token_for("RESPONDER")).execute(INCIDENT, {"id": incident["id"]}))[
        "incident"
    ]

    # then the viewer sees the structure and [REDACTED] text, the responder everything
    assert hidden["status"] == shown["status"] == "RESOLVED"
    assert hidden["priority"] == shown["priority"]
    for name in (
        "title",
        "description",
        "assignee",
        "declaredBy",
        "rootCause",
        "resolutionSummary",
        "publicSummary",
    ):
        assert hidden[name] == REDACTED, name
    assert sorted(hidden["redactedFields"]) == sorted(
        [
            "title",
            "description",
            "assignee",
            "commander",
            "declaredBy",
            "rootCause",
            "resolutionSummary",
            "publicSummary",
            "subcategory",
            "priorityOverrideReason",
            "drillScenario",
            "drillScope",
            "drillOutcome",
        ]
    )
    assert shown["title"] == incident["title"] and shown["rootCause"] == "typo"
    assert shown["publicSummary"] == "We are investigating."
    assert shown["redactedFields"] == []

    # and every timeline event's data and actor are redacted for the viewer, in cloudEvent too
    events = [e["node"] for e in hidden["timeline"]["edges"]]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    for event in events:
        assert event["redacted"] is True and event["classification"] == "CONFIDENTIAL"
        assert event["actor"] == REDACTED
        assert event["data"] == event["cloudEvent"]["data"]
        assert "Payroll" not in str(event) and "typo" not in str(event)
    assert events[1]["data"]["body"] == REDACTED
    assert not any(e["node"]["redacted"] for e in shown["timeline"]["edges"])


async def test_notes_and_root_causes_carry_their_own_classification(client, token_for):
    # given an INTERNAL incident with notes of each level below RESTRICTED, resolved with a cause
    incident = await declare(client, title=f"Disk full {uuid.uuid4().hex}")
    for level in ("PUBLIC", "INTERNAL", "CONFIDENTIAL"):
        await client.execute(
            NOTE,
            {
                "input": {
                    "incidentId": incident["id"],
                    "body": f"{level} note",
                    "classification": level,
                }
            },
        )
    await transition(client, incident["id"], "IN_PROGRESS")
    await transition(
        client, incident["id"], "RESOLVED", resolutionSummary="cleaned", rootCause="log spam"
    )

    # when a viewer (INTERNAL) reads it
    viewer = await token_for("VIEWER")
    seen = (await viewer.execute(INCIDENT, {"id": incident["id"]}))["incident"]

    # then it reads the title and the notes it is cleared for, not the confidential ones
    assert seen["title"] == incident["title"] and seen["rootCause"] == REDACTED
    assert seen["redactedFields"] == ["rootCause"]
    notes = [
        (e["node"]["classification"], e["node"]["data"]["body"])
        for e in seen["timeline"]["edges"]
        if e["node"]["type"] == "com.incidents.note_added.v1"
    ]
    # (an event is as classified as its incident, at least)
    assert notes == [
        ("INTERNAL", "PUBLIC note"),
        ("INTERNAL", "INTERNAL note"),
        ("CONFIDENTIAL", REDACTED),
    ]
    resolved = [
        e["node"]
        for e in seen["timeline"]["edges"]
        if e["node"]["type"] == "com.incidents.resolved.v1"
    ]
    assert resolved[0]["data"] == {"resolutionSummary": REDACTED, "rootCause": REDACTED}


async def error_codes(sub: Subscriber, op_id: str) -> list[str]:
    """The error codes the operation ends with (a `next` with errors, or an `error`)."""
    while True:
        message = await sub.next()
        if message.get("id") != op_id or message["type"] == "complete":
            continue
        assert message["type"] in ("next", "error"), message
        payload = message["payload"]
        errors = payload.get("errors", []) if isinstance(payload, dict) else payload
        return [e["extensions"]["code"] for e in errors]


# --- live --------------------------------------------------------------------------------


async def test_each_subscriber_gets_the_push_its_clearance_allows(server, client, token_for):
    # given a confidential incident watched by a viewer and a responder with the same document
    incident = await declare(
        client, title=f"Vendor breach {uuid.uuid4().hex}", classification="CONFIDENTIAL"
    )
    viewer_token = (await token_for("VIEWER")).token
    responder_token = (await token_for("RESPONDER")).token
    viewer = await subscriber(server, token=viewer_token)
    responder = await subscriber(server, token=responder_token)
    try:
        await subscribe_and_wait(viewer, server, WATCH, {"id": incident["id"]})
        await subscribe_and_wait(responder, server, WATCH, {"id": incident["id"]})

        # when the incident changes
        await client.execute(
            UPDATE, {"input": {"id": incident["id"], "description": "customer data exposed"}}
        )

        # then the viewer's push is redacted and the responder's is not
        hidden = (await viewer.next_data())["incidentUpdated"]
        shown = (await responder.next_data())["incidentUpdated"]
        assert hidden["title"] == REDACTED and hidden["description"] == REDACTED
        assert "description" in hidden["redactedFields"]
        assert shown["title"] == incident["title"]
        assert shown["description"] == "customer data exposed"
    finally:
        await viewer.close()
        await responder.close()


async def test_subscribers_of_one_document_get_the_frame_of_their_own_clearance(
    server, client, token_for
):
    # given a confidential incident watched with one document by three viewers and three
    # responders, each on a socket of its own, subscribing in turn
    incident = await declare(
        client, title=f"Vendor breach {uuid.uuid4().hex}", classification="CONFIDENTIAL"
    )
    viewer_token = (await token_for("VIEWER")).token
    responder_token = (await token_for("RESPONDER")).token
    subscribers = []
    for token in [viewer_token, responder_token] * 3:
        sub = await subscriber(server, token=token)
        await subscribe_and_wait(sub, server, WATCH, {"id": incident["id"]})
        subscribers.append((token, sub))
    try:
        # when the incident changes twice
        for text in ("customer data exposed", "vendor notified"):
            await client.execute(UPDATE, {"input": {"id": incident["id"], "description": text}})

            # then every viewer gets the redacted push and every responder the full one
            for token, sub in subscribers:
                pushed = (await sub.next_data())["incidentUpdated"]
                if token == viewer_token:
                    assert pushed["description"] == REDACTED, pushed
                    assert "description" in pushed["redactedFields"]
                else:
                    assert pushed["description"] == text, pushed
                    assert pushed["redactedFields"] == []
    finally:
        for _, sub in subscribers:
            await sub.close()


async def test_timeline_pushes_are_redacted_per_subscriber(server, client, token_for):
    # given an internal incident whose timeline a viewer and a responder follow
    incident = await declare(client, title=f"Latency {uuid.uuid4().hex}")
    viewer = await subscriber(server, token=(await token_for("VIEWER")).token)
    responder = await subscriber(server, token=(await token_for("RESPONDER")).token)
    try:
        await subscribe_and_wait(viewer, server, FOLLOW, {"id": incident["id"]})
        await subscribe_and_wait(responder, server, FOLLOW, {"id": incident["id"]})

        # when a confidential note and then an internal one are added
        for level in ("CONFIDENTIAL", "INTERNAL"):
            await client.execute(
                NOTE,
                {
                    "input": {
                        "incidentId": incident["id"],
                        "body": f"{level} detail",
                        "classification": level,
                    }
                },
            )

        # then the viewer gets both events, the first redacted; the responder reads both
        seen = [(await viewer.next_data())["timelineEventAdded"] for _ in range(2)]
        read = [(await responder.next_data())["timelineEventAdded"] for _ in range(2)]
        assert [e["seq"] for e in seen] == [e["seq"] for e in read] == [2, 3]
        assert seen[0]["redacted"] and seen[0]["data"]["body"] == REDACTED
        assert not seen[1]["redacted"] and seen[1]["data"]["body"] == "INTERNAL detail"
        assert [e["data"]["body"] for e in read] == ["CONFIDENTIAL detail", "INTERNAL detail"]
    finally:
        await viewer.close()
        await responder.close()


async def test_every_event_of_one_change_reaches_the_timeline_subscriber(server, client):
    # given a subscriber to the timeline of an incident in progress
    incident = await declare(client, title=f"Two events {uuid.uuid4().hex}")
    await transition(client, incident["id"], "IN_PROGRESS")
    sub = await subscriber(server)
    try:
        await subscribe_and_wait(sub, server, FOLLOW, {"id": incident["id"]})

        # when one command appends two events (state change and resolved)
        await transition(client, incident["id"], "RESOLVED", resolutionSummary="done")

        # then both arrive, each its own
        got = [(await sub.next_data())["timelineEventAdded"] for _ in range(2)]
        assert [(e["seq"], e["type"]) for e in got] == [
            (3, "com.incidents.state_change.v1"),
            (4, "com.incidents.resolved.v1"),
        ]
    finally:
        await sub.close()


async def test_raising_an_incident_to_restricted_ends_uncleared_streams(server, client, token_for):
    # given a responder watching an incident and the tenant feed
    incident = await declare(client, title=f"Turns out to be an attack {uuid.uuid4().hex}")
    responder_token = (await token_for("RESPONDER")).token
    watcher = await subscriber(server, token=responder_token)
    feed = await subscriber(server, token=responder_token)
    try:
        await subscribe_and_wait(watcher, server, WATCH, {"id": incident["id"]})
        await subscribe_and_wait(feed, server, FEED, {})

        # when an incident manager restricts it, changes it, then declares a sentinel incident
        await client.execute(
            UPDATE, {"input": {"id": incident["id"], "classification": "RESTRICTED"}}
        )
        await transition(client, incident["id"], "IN_PROGRESS")
        sentinel = await declare(client, title=f"Sentinel {uuid.uuid4().hex}")

        # then the watcher is told the incident is gone, as if deleted
        assert await error_codes(watcher, "1") == ["NOT_FOUND"]
        # and the feed skips the restricted changes and carries on with the next incident
        assert (await feed.next_data())["incidentsChanged"]["id"] == sentinel["id"]
    finally:
        await watcher.close()
        await feed.close()


async def test_subscribing_to_a_restricted_incident_without_clearance_is_not_found(
    server, client, token_for
):
    # given
    incident = await restricted_incident(client)
    sub = await subscriber(server, token=(await token_for("VIEWER")).token)
    try:
        # when it subscribes to the incident and to its timeline, and to a random id
        answers = []
        for query, variables in (
            (WATCH, {"id": incident["id"]}),
            (FOLLOW, {"id": incident["id"]}),
            (WATCH, {"id": "inc_" + uuid.uuid4().hex}),
        ):
            op_id = await sub.subscribe(query, variables)
            answers.append(await error_codes(sub, op_id))

        # then each is NOT_FOUND, the restricted one exactly like the missing one
        assert answers == [["NOT_FOUND"]] * 3
    finally:
        await sub.close()


# --- audit of reads ----------------------------------------------------------------------


async def audited_reads(client: GraphQLClient, incident_id: str) -> list[dict[str, Any]]:
    raw_id = uuid.UUID(incident_id.removeprefix("inc_"))
    data = await client.execute(AUDIT, {"target": str(raw_id)})
    return [e["node"] for e in data["auditLog"]["edges"]]


async def test_every_read_of_a_restricted_incident_is_audited(server, client, token_for):
    # given a restricted incident and a cleared reader
    incident = await restricted_incident(client)
    reader = await token_for("INCIDENT_MANAGER")
    before = await audited_reads(client, incident["id"])

    # when it reads it by id twice, by node, in a list
    await reader.execute(INCIDENT, {"id": incident["id"]})
    await reader.execute(INCIDENT, {"id": incident["id"]})
    await reader.execute(NODE, {"id": incident["id"]})
    await reader.execute(LIST, {"text": incident["title"]})

    # then each way it read it is on the audit log, with who read it: once in the window
    # (INCIDENTGRAPH_AUDIT_READ_WINDOW_SECONDS, five minutes), however often it read it so
    after = await audited_reads(client, incident["id"])
    new = after[: len(after) - len(before)]
    assert sorted(r["changes"]["via"] for r in new) == ["incident", "incidents", "node"]
    assert {r["action"] for r in new} == {"incident.read"}
    assert all(r["actor"] and r["actor"].startswith("INCIDENT_MANAGER") for r in new)


async def test_a_polled_restricted_incident_is_cached_and_audited_once_for_each_reader(
    client, token_for
):
    # given a restricted incident and two readers of the same role and clearance
    incident = await restricted_incident(client)
    first, second = await token_for("INCIDENT_MANAGER"), await token_for("INCIDENT_MANAGER")
    poll = {"query": LIST, "variables": {"text": incident["title"]}}

    # when the first polls it, and the second asks the same right after, a few times
    answered: list[str] = []
    for _ in range(10):
        for reader in (first, second):
            response = await reader.http.post("/graphql", json=poll)
            assert response.status_code == 200 and not response.json().get("errors")
            answered.append(response.headers["x-cache"])
        if answered[-1] == "hit":
            break

    # then the second was answered from the cache (a poll costs no query)
    assert answered[-1] == "hit", answered
    # and yet each reader's reads are on the audit log as its own, once in the window
    reads = [r for r in await audited_reads(client, incident["id"])]
    readers = sorted(r["actor"] for r in reads if r["changes"] == {"via": "incidents"})
    assert readers == sorted([first.name, second.name])  # type: ignore[attr-defined]


async def test_reads_of_ordinary_incidents_are_not_audited(client, token_for):
    # given
    incident = await declare(client, title=f"Ordinary {uuid.uuid4().hex}")

    # when
    await (await token_for("VIEWER")).execute(INCIDENT, {"id": incident["id"]})

    # then
    assert await audited_reads(client, incident["id"]) == []


async def test_a_live_push_of_a_restricted_incident_is_audited(server, client, token_for):
    # given a cleared subscriber watching a restricted incident
    incident = await restricted_incident(client)
    sub = await subscriber(server, token=(await token_for("ADMIN")).token)
    try:
        await subscribe_and_wait(sub, server, WATCH, {"id": incident["id"]})

        # when it changes and the push arrives
        await transition(client, incident["id"], "IN_PROGRESS")
        pushed = (await sub.next_data())["incidentUpdated"]
        assert pushed["status"] == "IN_PROGRESS" and pushed["title"] != REDACTED

        # then the push was audited as a read
        reads = await audited_reads(client, incident["id"])
        assert any(r["changes"] == {"via": "incidentUpdated"} for r in reads)
    finally:
        await sub.close()


# --- the rules themselves ----------------------------------------------------------------


def test_redacted_json_keeps_its_shape_and_drops_every_value():
    # given
    data = {
        "body": "secret",
        "mentions": ["ana", "bo"],
        "count": 3,
        "ok": True,
        "nested": {"ip": "203.0.113.7", "none": None},
    }

    # when
    redacted = redact_json(data)

    # then
    assert redacted == {
        "body": REDACTED,
        "mentions": [REDACTED, REDACTED],
        "count": None,
        "ok": None,
        "nested": {"ip": REDACTED, "none": None},
    }


AUDIT_PAGE = """
query($actor: String!, $after: String) {
  auditLog(filter: {action: "incident.read", actor: $actor}, first: 1, after: $after) {
    edges { node { target changes } } pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_reads_audited_together_page_one_by_one(client, token_for):
    # given restricted incidents read in one list, so audited at the same instant
    made = [await restricted_incident(client) for _ in range(3)]
    reader = await token_for("INCIDENT_MANAGER")
    listed = await reader.execute(
        "{ incidents(first: 500) { edges { node { id classification } } } }"
    )
    restricted = {
        str(uuid.UUID(e["node"]["id"].removeprefix("inc_")))
        for e in listed["incidents"]["edges"]
        if e["node"]["classification"] == "RESTRICTED"
    }
    assert {str(uuid.UUID(m["id"].removeprefix("inc_"))) for m in made} <= restricted

    # when the reader's audit records are paged one at a time from the newest
    targets, after, more = [], None, True
    while more:
        page = (await client.execute(AUDIT_PAGE, {"actor": reader.name, "after": after}))[
            "auditLog"
        ]
        targets += [e["node"]["target"] for e in page["edges"]]
        after, more = page["pageInfo"]["endCursor"], page["pageInfo"]["hasNextPage"]
        assert len(targets) <= len(restricted)

    # then each restricted incident it read comes once, none skipped or repeated
    assert sorted(targets) == sorted(restricted)

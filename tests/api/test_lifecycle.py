"""The incident lifecycle as the README documents it: states, side effects, SLA, versions,
events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support import GraphQLClient, declare, transition

INCIDENT = """
query Incident($id: ID!) {
  incident(id: $id) {
    id number title description status severity impact urgency priority isMajor version
    assignee resolutionSummary rootCause allowedTransitions
    createdAt acknowledgedAt resolvedAt closedAt cancelledAt updatedAt
    slaResponseDue slaResolveDue slaResponseBreached slaResolveBreached
    timeline(first: 500) {
      totalCount
      edges { node { id seq type source time subject actor data cloudEvent } }
    }
  }
}
"""

UPDATE = """
mutation Update($input: UpdateIncidentInput!) {
  updateIncident(input: $input) {
    incident { id title severity impact urgency priority isMajor version
               slaResponseDue slaResolveDue }
    errors { field code message }
  }
}
"""

ASSIGN = """
mutation Assign($input: AssignIncidentInput!) {
  assignIncident(input: $input) {
    incident { id assignee version }
    errors { field code message }
  }
}
"""

ADD_NOTE = """
mutation AddNote($input: AddNoteInput!) {
  addNote(input: $input) {
    event { id seq type data subject }
    errors { field code message }
  }
}
"""

INCIDENTS_MATCHING = """
query Matching($text: String!) {
  incidents(filter: {text: $text}) { totalCount edges { node { id } } }
}
"""

OPEN, IN_PROGRESS, PENDING, ESCALATED = "OPEN", "IN_PROGRESS", "PENDING", "ESCALATED"
MITIGATED, RESOLVED, CLOSED, CANCELLED = "MITIGATED", "RESOLVED", "CLOSED", "CANCELLED"
STATUSES = [OPEN, IN_PROGRESS, PENDING, ESCALATED, MITIGATED, RESOLVED, CLOSED, CANCELLED]

# The documented state table, written out independently of the app's own table.
ALLOWED = {
    OPEN: {IN_PROGRESS, CANCELLED},
    IN_PROGRESS: {PENDING, ESCALATED, MITIGATED, RESOLVED},
    PENDING: {IN_PROGRESS},
    ESCALATED: {IN_PROGRESS, MITIGATED, RESOLVED},
    MITIGATED: {IN_PROGRESS, RESOLVED},
    RESOLVED: {CLOSED, IN_PROGRESS},
    CLOSED: set(),
    CANCELLED: set(),
}
# A shortest way to reach each status from OPEN.
PATH = {
    OPEN: [],
    IN_PROGRESS: [IN_PROGRESS],
    PENDING: [IN_PROGRESS, PENDING],
    ESCALATED: [IN_PROGRESS, ESCALATED],
    MITIGATED: [IN_PROGRESS, MITIGATED],
    RESOLVED: [IN_PROGRESS, RESOLVED],
    CLOSED: [IN_PROGRESS, RESOLVED, CLOSED],
    CANCELLED: [CANCELLED],
}
# Fields a running SLA clock moves on its own while PENDING.
MOVING = ("slaResponseDue", "slaResolveDue")

EVENT = "com.incidents.{}.v1".format
SUMMARY = "Rolled back the bad deploy"


def marker() -> str:
    return f"mk{uuid.uuid4().hex}"


def at(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value} has no UTC offset"
    return parsed


async def fetch(client: GraphQLClient, incident_id: str) -> dict[str, Any]:
    data = await client.execute(INCIDENT, {"id": incident_id})
    assert data["incident"] is not None
    return data["incident"]  # type: ignore[no-any-return]


async def walk(client: GraphQLClient, incident_id: str, *statuses: str) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for status in statuses:
        extra = {"resolutionSummary": SUMMARY} if status == RESOLVED else {}
        payload = await transition(client, incident_id, status, **extra)
        assert payload["errors"] == [], payload
    return payload


async def incident_in(client: GraphQLClient, status: str, **overrides: Any) -> dict[str, Any]:
    incident = await declare(client, title=f"Lifecycle {marker()}", **overrides)
    await walk(client, incident["id"], *PATH[status])
    return await fetch(client, incident["id"])


def types_of(incident: dict[str, Any]) -> list[str]:
    return [edge["node"]["type"] for edge in incident["timeline"]["edges"]]


def without_moving_clocks(incident: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in incident.items() if k not in MOVING}


# --- the happy path -------------------------------------------------------------------------


async def test_an_incident_walks_the_whole_lifecycle(client):
    # given
    declared = await declare(client, title=f"Payments failing {marker()}", severity="SEV2")
    assert declared["status"] == OPEN
    assert declared["acknowledgedAt"] is None and declared["isMajor"] is False

    # when / then: someone picks it up
    started = (await transition(client, declared["id"], IN_PROGRESS))["incident"]
    assert started["status"] == IN_PROGRESS
    acknowledged_at = started["acknowledgedAt"]
    assert acknowledged_at is not None
    assert at(acknowledged_at) >= at(declared["createdAt"])

    # when / then: waiting on a vendor and back
    assert (await transition(client, declared["id"], PENDING))["incident"]["status"] == PENDING
    resumed = (await transition(client, declared["id"], IN_PROGRESS))["incident"]
    assert resumed["status"] == IN_PROGRESS
    assert resumed["acknowledgedAt"] == acknowledged_at, "the first response happens once"

    # when / then: escalated, it becomes a major incident
    escalated = (await transition(client, declared["id"], ESCALATED))["incident"]
    assert escalated["status"] == ESCALATED and escalated["isMajor"] is True

    # when / then: mitigated, then resolved with a summary
    assert (await transition(client, declared["id"], MITIGATED))["incident"]["status"] == MITIGATED
    resolved = (
        await transition(
            client, declared["id"], RESOLVED, resolutionSummary=SUMMARY, rootCause="Bad config"
        )
    )["incident"]
    assert resolved["status"] == RESOLVED
    assert resolved["resolvedAt"] is not None and resolved["closedAt"] is None
    assert resolved["resolutionSummary"] == SUMMARY

    # when / then: closed
    closed = (await transition(client, declared["id"], CLOSED))["incident"]
    assert closed["status"] == CLOSED
    assert closed["closedAt"] is not None
    assert at(closed["closedAt"]) >= at(resolved["resolvedAt"]) >= at(acknowledged_at)

    # then: every step is on the timeline, and the incident stayed major
    incident = await fetch(client, declared["id"])
    assert incident["isMajor"] is True
    assert incident["rootCause"] == "Bad config"
    assert incident["version"] == declared["version"] + 7
    assert types_of(incident) == [
        EVENT("declared"),
        *[EVENT("state_change")] * 6,
        EVENT("resolved"),
        EVENT("state_change"),
        EVENT("closed"),
    ]
    moves = [
        (e["node"]["data"]["from"], e["node"]["data"]["to"])
        for e in incident["timeline"]["edges"]
        if e["node"]["type"] == EVENT("state_change")
    ]
    assert moves == [
        (OPEN, IN_PROGRESS),
        (IN_PROGRESS, PENDING),
        (PENDING, IN_PROGRESS),
        (IN_PROGRESS, ESCALATED),
        (ESCALATED, MITIGATED),
        (MITIGATED, RESOLVED),
        (RESOLVED, CLOSED),
    ]


@pytest.mark.parametrize(
    ("current", "target"),
    sorted((current, target) for current, targets in ALLOWED.items() for target in targets),
)
async def test_every_allowed_transition_is_accepted(client, current, target):
    # given
    before = await incident_in(client, current)

    # when
    extra = {"resolutionSummary": SUMMARY} if target == RESOLVED else {}
    payload = await transition(client, before["id"], target, reason="on call", **extra)

    # then
    assert payload["errors"] == []
    assert payload["incident"]["status"] == target
    after = await fetch(client, before["id"])
    assert after["status"] == target
    assert after["version"] == before["version"] + 1
    change = next(
        e["node"]
        for e in after["timeline"]["edges"][before["timeline"]["totalCount"] :]
        if e["node"]["type"] == EVENT("state_change")
    )
    assert change["data"] == {"from": current, "to": target, "reason": "on call"}


async def test_resolving_without_a_summary_is_refused_and_writes_nothing(client):
    # given
    before = await incident_in(client, IN_PROGRESS)

    for summary in (None, "", "   "):
        # when
        extra = {} if summary is None else {"resolutionSummary": summary}
        payload = await transition(client, before["id"], RESOLVED, **extra)

        # then
        assert payload["incident"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [
            ("resolutionSummary", "VALIDATION")
        ]
        after = await fetch(client, before["id"])
        assert after == before


async def test_reopening_a_resolved_incident_clears_resolved_at(client):
    # given
    before = await incident_in(client, RESOLVED)
    assert before["resolvedAt"] is not None

    # when
    reopened = await transition(client, before["id"], IN_PROGRESS, reason="it came back")

    # then
    assert reopened["errors"] == []
    assert reopened["incident"]["status"] == IN_PROGRESS
    assert reopened["incident"]["resolvedAt"] is None
    after = await fetch(client, before["id"])
    assert after["resolvedAt"] is None
    assert after["acknowledgedAt"] == before["acknowledgedAt"]

    # and when it is resolved again, a new resolution time is recorded
    again = await transition(client, before["id"], RESOLVED, resolutionSummary="Fixed for good")
    assert again["errors"] == []
    assert at(again["incident"]["resolvedAt"]) >= at(before["resolvedAt"])
    assert again["incident"]["resolutionSummary"] == "Fixed for good"


async def test_an_open_incident_can_be_cancelled_and_then_nothing_more(client):
    # given
    before = await incident_in(client, OPEN)

    # when
    payload = await transition(client, before["id"], CANCELLED, reason="false alarm")

    # then
    assert payload["errors"] == []
    assert payload["incident"]["status"] == CANCELLED
    after = await fetch(client, before["id"])
    assert after["cancelledAt"] is not None
    assert after["resolvedAt"] is None and after["closedAt"] is None
    assert after["allowedTransitions"] == []
    assert types_of(after)[-1] == EVENT("state_change")


@pytest.mark.parametrize("current", STATUSES)
async def test_every_forbidden_transition_is_refused_and_writes_nothing(client, current):
    # given
    before = await incident_in(client, current)
    assert set(before["allowedTransitions"]) == ALLOWED[current]
    forbidden = [s for s in STATUSES if s not in ALLOWED[current]]
    assert current in forbidden, "staying in the same state is not a transition"

    for target in forbidden:
        # when
        payload = await transition(
            client, before["id"], target, reason="try", resolutionSummary=SUMMARY
        )

        # then
        assert payload["incident"] is None, (current, target)
        assert [e["code"] for e in payload["errors"]] == ["INVALID_TRANSITION"], (current, target)
        after = await fetch(client, before["id"])
        assert after["status"] == current
        assert after["version"] == before["version"]
        assert after["timeline"]["totalCount"] == before["timeline"]["totalCount"]
        assert without_moving_clocks(after) == without_moving_clocks(before), (current, target)


@pytest.mark.parametrize("terminal", [CLOSED, CANCELLED])
async def test_a_terminal_incident_refuses_updates_and_assignment(client, terminal):
    # given
    before = await incident_in(client, terminal)

    # when
    updated = (
        await client.execute(
            UPDATE, {"input": {"id": before["id"], "title": "Renamed", "severity": "SEV1"}}
        )
    )["updateIncident"]
    assigned = (await client.execute(ASSIGN, {"input": {"id": before["id"], "assignee": "alice"}}))[
        "assignIncident"
    ]

    # then
    for payload in (updated, assigned):
        assert payload["incident"] is None
        assert [e["code"] for e in payload["errors"]] == ["INVALID_TRANSITION"]
    assert await fetch(client, before["id"]) == before


# --- priority and SLA -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "impact", "urgency", "priority"),
    [
        ("SEV4", "HIGH", "HIGH", "P1"),
        ("SEV4", "HIGH", "MEDIUM", "P2"),
        ("SEV4", "HIGH", "LOW", "P3"),
        ("SEV4", "MEDIUM", "HIGH", "P2"),
        ("SEV4", "MEDIUM", "MEDIUM", "P3"),
        ("SEV4", "MEDIUM", "LOW", "P4"),
        ("SEV4", "LOW", "MEDIUM", "P4"),
        ("SEV4", "LOW", "LOW", "P5"),
        # the severity floor raises the matrix value, never lowers it
        ("SEV1", "LOW", "LOW", "P1"),
        ("SEV2", "LOW", "LOW", "P2"),
        ("SEV3", "LOW", "LOW", "P3"),
        ("SEV3", "HIGH", "HIGH", "P1"),
        ("SEV2", "MEDIUM", "HIGH", "P2"),
    ],
)
async def test_priority_is_derived_from_impact_urgency_and_severity(
    client, severity, impact, urgency, priority
):
    # when
    incident = await declare(
        client, title=f"Priority {marker()}", severity=severity, impact=impact, urgency=urgency
    )

    # then
    assert incident["priority"] == priority
    assert (await fetch(client, incident["id"]))["priority"] == priority


@pytest.mark.parametrize(
    ("severity", "impact", "urgency", "response", "resolve"),
    [
        ("SEV1", "HIGH", "HIGH", timedelta(minutes=15), timedelta(hours=4)),  # P1
        ("SEV4", "HIGH", "MEDIUM", timedelta(minutes=30), timedelta(hours=8)),  # P2
        ("SEV4", "MEDIUM", "MEDIUM", timedelta(hours=2), timedelta(hours=24)),  # P3
        ("SEV4", "MEDIUM", "LOW", timedelta(hours=8), timedelta(hours=72)),  # P4
        ("SEV4", "LOW", "LOW", timedelta(hours=24), timedelta(days=7)),  # P5
    ],
)
async def test_sla_deadlines_follow_the_default_policy(
    client, severity, impact, urgency, response, resolve
):
    # when
    incident = await declare(
        client, title=f"SLA {marker()}", severity=severity, impact=impact, urgency=urgency
    )

    # then
    created = at(incident["createdAt"])
    assert at(incident["slaResponseDue"]) - created == response
    assert at(incident["slaResolveDue"]) - created == resolve
    assert incident["slaResponseBreached"] is False
    assert incident["slaResolveBreached"] is False
    stored = await fetch(client, incident["id"])
    assert (stored["slaResponseDue"], stored["slaResolveDue"]) == (
        incident["slaResponseDue"],
        incident["slaResolveDue"],
    )


async def test_update_recomputes_priority_and_deadlines_and_records_the_changes(client):
    # given: a P5
    incident = await declare(
        client, title=f"Update {marker()}", severity="SEV4", impact="LOW", urgency="LOW"
    )
    created = at(incident["createdAt"])

    # when: it turns out to hurt everyone, right now
    first = (
        await client.execute(
            UPDATE,
            {"input": {"id": incident["id"], "impact": "HIGH", "urgency": "HIGH"}},
        )
    )["updateIncident"]

    # then
    assert first["errors"] == []
    assert first["incident"]["priority"] == "P1"
    assert at(first["incident"]["slaResponseDue"]) - created == timedelta(minutes=15)
    assert at(first["incident"]["slaResolveDue"]) - created == timedelta(hours=4)
    assert first["incident"]["version"] == incident["version"] + 1

    # when: the blast radius shrinks, but it is a SEV2
    second = (
        await client.execute(
            UPDATE,
            {
                "input": {
                    "id": incident["id"],
                    "impact": "LOW",
                    "urgency": "LOW",
                    "severity": "SEV2",
                }
            },
        )
    )["updateIncident"]

    # then: the severity floor holds it at P2
    assert second["errors"] == []
    assert second["incident"]["priority"] == "P2"
    assert at(second["incident"]["slaResponseDue"]) - created == timedelta(minutes=30)
    assert at(second["incident"]["slaResolveDue"]) - created == timedelta(hours=8)

    # and the timeline says what changed
    stored = await fetch(client, incident["id"])
    updates = [
        e["node"] for e in stored["timeline"]["edges"] if e["node"]["type"] == EVENT("updated")
    ]
    assert [u["data"]["changes"] for u in updates] == [
        {
            "impact": {"from": "LOW", "to": "HIGH"},
            "urgency": {"from": "LOW", "to": "HIGH"},
            "priority": {"from": "P5", "to": "P1"},
        },
        {
            "impact": {"from": "HIGH", "to": "LOW"},
            "urgency": {"from": "HIGH", "to": "LOW"},
            "severity": {"from": "SEV4", "to": "SEV2"},
            "priority": {"from": "P1", "to": "P2"},
        },
    ]


async def test_update_without_a_change_records_nothing(client):
    # given
    incident = await declare(client, title=f"Same {marker()}", severity="SEV3")
    before = await fetch(client, incident["id"])

    # when
    payload = (
        await client.execute(
            UPDATE, {"input": {"id": incident["id"], "title": before["title"], "severity": "SEV3"}}
        )
    )["updateIncident"]

    # then
    assert payload["errors"] == []
    assert await fetch(client, incident["id"]) == before


async def test_the_resolve_clock_pauses_while_pending(client):
    # given
    incident = await incident_in(
        client, IN_PROGRESS, severity="SEV1", impact="HIGH", urgency="HIGH"
    )
    original = at(incident["slaResolveDue"])

    # when
    await walk(client, incident["id"], PENDING)
    first = at((await fetch(client, incident["id"]))["slaResolveDue"])
    await asyncio.sleep(1.1)
    second = at((await fetch(client, incident["id"]))["slaResolveDue"])

    # then: the deadline moves forward with the pause
    assert original <= first < second

    # when
    await walk(client, incident["id"], IN_PROGRESS)
    resumed = await fetch(client, incident["id"])
    await asyncio.sleep(0.2)
    later = await fetch(client, incident["id"])

    # then: the pause is credited for good, and the clock no longer moves
    assert at(resumed["slaResolveDue"]) > original
    assert at(resumed["slaResolveDue"]) - original >= timedelta(seconds=1)
    assert later["slaResolveDue"] == resumed["slaResolveDue"]
    assert resumed["slaResolveBreached"] is False


# --- optimistic concurrency -----------------------------------------------------------------


async def test_a_stale_version_is_a_conflict_and_writes_nothing(client):
    # given
    incident = await declare(client, title=f"Versions {marker()}")
    version = incident["version"]

    # when: someone updates with the version they read
    fresh = (
        await client.execute(
            UPDATE, {"input": {"id": incident["id"], "version": version, "title": "First edit"}}
        )
    )["updateIncident"]

    # then
    assert fresh["errors"] == []
    assert fresh["incident"]["title"] == "First edit"
    assert fresh["incident"]["version"] == version + 1
    before = await fetch(client, incident["id"])

    # when: someone else updates with the same, now stale, version
    stale = (
        await client.execute(
            UPDATE, {"input": {"id": incident["id"], "version": version, "title": "Second edit"}}
        )
    )["updateIncident"]
    stale_move = await transition(client, incident["id"], IN_PROGRESS, version=version)
    stale_assign = (
        await client.execute(
            ASSIGN, {"input": {"id": incident["id"], "assignee": "bob", "version": version}}
        )
    )["assignIncident"]

    # then
    for payload in (stale, stale_move, stale_assign):
        assert payload["incident"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("version", "CONFLICT")]
    assert await fetch(client, incident["id"]) == before

    # when: they reload and retry with the current version
    retried = (
        await client.execute(
            UPDATE,
            {"input": {"id": incident["id"], "version": before["version"], "title": "Second edit"}},
        )
    )["updateIncident"]

    # then
    assert retried["errors"] == []
    assert retried["incident"]["title"] == "Second edit"
    assert retried["incident"]["version"] == before["version"] + 1


# --- events ---------------------------------------------------------------------------------


async def test_every_change_is_a_cloud_event_in_seq_order(client, as_role):
    # given
    incident = await declare(client, title=f"Events {marker()}")

    # when (a P1 by then: someone other than its declarer closes it)
    await walk(client, incident["id"], IN_PROGRESS)
    await client.execute(ASSIGN, {"input": {"id": incident["id"], "assignee": "alice"}})
    await client.execute(ADD_NOTE, {"input": {"incidentId": incident["id"], "body": "Looking"}})
    await client.execute(UPDATE, {"input": {"id": incident["id"], "severity": "SEV1"}})
    await walk(client, incident["id"], RESOLVED)
    await walk(as_role("OTHER_ADMIN"), incident["id"], CLOSED)

    # then
    stored = await fetch(client, incident["id"])
    events = [e["node"] for e in stored["timeline"]["edges"]]
    assert stored["timeline"]["totalCount"] == len(events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events] == [
        EVENT("declared"),
        EVENT("state_change"),
        EVENT("assigned"),
        EVENT("note_added"),
        EVENT("updated"),
        EVENT("state_change"),
        EVENT("resolved"),
        EVENT("state_change"),
        EVENT("closed"),
    ]
    assert events[2]["data"] == {"from": None, "to": "alice"}
    assert len({e["cloudEvent"]["id"] for e in events}) == len(events)
    times = [at(e["time"]) for e in events]
    assert times == sorted(times)
    for event in events:
        envelope = event["cloudEvent"]
        assert envelope["specversion"] == "1.0"
        assert envelope["id"]
        assert envelope["source"] == event["source"] == "incidents://api"
        assert envelope["type"] == event["type"]
        assert at(envelope["time"]) == at(event["time"])
        assert envelope["subject"] == event["subject"] == f"incidents/{incident['id']}"
        assert envelope["datacontenttype"] == "application/json"
        assert envelope["data"] == event["data"]
    assert events[0]["data"]["title"] == incident["title"]


@pytest.mark.parametrize(
    "kind", ["GENERAL", "INVESTIGATION", "MITIGATION", "ROOT_CAUSE", "RESOLUTION"]
)
async def test_notes_carry_their_kind_and_mentions(client, kind):
    # given an incident and two users to mention
    incident = await declare(client, title=f"Notes {marker()}")
    people = [await a_user(client, f"{name}{marker()}") for name in ("alice", "bob")]

    # when a note mentions one by name and the other in its body
    payload = (
        await client.execute(
            ADD_NOTE,
            {
                "input": {
                    "incidentId": incident["id"],
                    "body": f"A {kind.lower()} note, cc @{people[1]['handle']}.",
                    "kind": kind,
                    "mentions": [people[0]["handle"]],
                }
            },
        )
    )["addNote"]

    # then
    assert payload["errors"] == []
    note = payload["event"]
    assert note["type"] == EVENT("note_added")
    assert note["seq"] == 2
    assert note["subject"] == f"incidents/{incident['id']}"
    assert note["data"] == {
        "body": f"A {kind.lower()} note, cc @{people[1]['handle']}.",
        "kind": kind,
        "mentions": [p["handle"] for p in people],
        "mentionedUsers": [p["id"] for p in people],
    }
    stored = await fetch(client, incident["id"])
    assert stored["timeline"]["edges"][-1]["node"]["id"] == note["id"]
    assert stored["version"] == incident["version"], "a note does not edit the incident"


async def a_user(client: GraphQLClient, handle: str) -> dict[str, Any]:
    data = await client.execute(
        "mutation($h: String!, $e: String!) { createUser(input: {handle: $h, name: $h, "
        "email: $e}) { user { id handle } errors { code } } }",
        {"h": handle, "e": f"{handle}@example.com"},
    )
    assert data["createUser"]["errors"] == []
    return data["createUser"]["user"]  # type: ignore[no-any-return]


async def test_a_note_without_a_kind_is_general(client):
    # given
    incident = await declare(client, title=f"Notes {marker()}")

    # when
    payload = (
        await client.execute(ADD_NOTE, {"input": {"incidentId": incident["id"], "body": "Hi"}})
    )["addNote"]

    # then
    assert payload["event"]["data"] == {
        "body": "Hi",
        "kind": "GENERAL",
        "mentions": [],
        "mentionedUsers": [],
    }


async def test_the_same_note_delivered_twice_is_stored_once(client):
    # given
    incident = await declare(client, title=f"Idempotent {marker()}")
    note = {
        "incidentId": incident["id"],
        "body": "Paged the DBA",
        "eventId": f"note-{uuid.uuid4()}",
    }

    # when
    first = (await client.execute(ADD_NOTE, {"input": note}))["addNote"]
    second = (await client.execute(ADD_NOTE, {"input": note}))["addNote"]

    # then
    assert first["errors"] == [] and second["errors"] == []
    assert second["event"]["id"] == first["event"]["id"]
    stored = await fetch(client, incident["id"])
    assert types_of(stored) == [EVENT("declared"), EVENT("note_added")]


async def test_the_same_declaration_delivered_twice_creates_one_incident(client):
    # given
    title = f"Idempotent declare {marker()}"
    event_id = f"declare-{uuid.uuid4()}"

    # when
    first = await declare(client, title=title, eventId=event_id)
    second = await declare(client, title=title, eventId=event_id)

    # then
    assert second["id"] == first["id"]
    assert second["number"] == first["number"]
    listed = (await client.execute(INCIDENTS_MATCHING, {"text": title}))["incidents"]
    assert listed["totalCount"] == 1
    assert [e["node"]["id"] for e in listed["edges"]] == [first["id"]]
    assert (await fetch(client, first["id"]))["timeline"]["totalCount"] == 1


async def test_concurrent_writers_get_contiguous_seqs_and_lose_nothing(client):
    # given
    incident = await declare(client, title=f"Busy {marker()}")

    # when: ten responders write at once while it is picked up
    notes = [
        client.execute(ADD_NOTE, {"input": {"incidentId": incident["id"], "body": f"note {i}"}})
        for i in range(10)
    ]
    results = await asyncio.gather(*notes, transition(client, incident["id"], IN_PROGRESS))

    # then
    assert all(r["addNote"]["errors"] == [] for r in results[:-1])
    assert results[-1]["errors"] == []
    stored = await fetch(client, incident["id"])
    events = [e["node"] for e in stored["timeline"]["edges"]]
    assert [e["seq"] for e in events] == list(range(1, 13))
    bodies = sorted(e["data"]["body"] for e in events if e["type"] == EVENT("note_added"))
    assert bodies == sorted(f"note {i}" for i in range(10))
    assert stored["status"] == IN_PROGRESS


async def test_the_same_declaration_sent_concurrently_creates_one_incident(client):
    # given
    title = f"Racing declare {marker()}"
    event_id = f"declare-{uuid.uuid4()}"

    # when
    incidents = await asyncio.gather(
        *(declare(client, title=title, eventId=event_id) for _ in range(8))
    )

    # then
    assert len({i["id"] for i in incidents}) == 1
    listed = (await client.execute(INCIDENTS_MATCHING, {"text": title}))["incidents"]
    assert listed["totalCount"] == 1


async def test_the_same_note_sent_concurrently_is_stored_once(client):
    # given
    incident = await declare(client, title=f"Racing note {marker()}")
    note = {
        "incidentId": incident["id"],
        "body": "Paged the DBA",
        "eventId": f"note-{uuid.uuid4()}",
    }

    # when
    results = await asyncio.gather(*(client.execute(ADD_NOTE, {"input": note}) for _ in range(8)))

    # then
    assert all(r["addNote"]["errors"] == [] for r in results)
    assert len({r["addNote"]["event"]["id"] for r in results}) == 1
    stored = await fetch(client, incident["id"])
    assert types_of(stored) == [EVENT("declared"), EVENT("note_added")]

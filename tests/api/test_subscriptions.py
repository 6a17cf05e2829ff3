"""Live subscriptions over a real WebSocket, on both protocols and both backends."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import declare, subscribe_and_wait, subscriber, transition

INCIDENT_UPDATED = """
subscription Watch($id: ID!) {
  incidentUpdated(id: $id) {
    id status version updatedAt
    timeline(last: 1) { edges { node { type } } }
  }
}
"""

TIMELINE_EVENT_ADDED = """
subscription Follow($id: ID!, $after: String) {
  timelineEventAdded(incidentId: $id, after: $after) { seq type cursor data }
}
"""

INCIDENTS_CHANGED = """
subscription Feed($filter: IncidentFilter) {
  incidentsChanged(filter: $filter) { id title severity status }
}
"""

ADD_NOTE = """
mutation Note($input: AddNoteInput!) {
  addNote(input: $input) { event { seq cursor } errors { code message } }
}
"""

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_incident_updated_pushes_each_change(server, client, protocol):
    # given
    incident = await declare(client, title="Watched over the socket")
    sub = await subscriber(server, protocol=protocol)
    await subscribe_and_wait(sub, server, INCIDENT_UPDATED, {"id": incident["id"]})

    # when
    await transition(client, incident["id"], "IN_PROGRESS")

    # then
    data = (await sub.next_data())["incidentUpdated"]
    assert data["id"] == incident["id"]
    assert data["status"] == "IN_PROGRESS"
    assert data["version"] == incident["version"] + 1
    assert data["timeline"]["edges"][0]["node"]["type"] == "com.incidents.state_change.v1"
    await sub.close()


def error_codes(message):
    """Codes of an operation's errors, sent as an `error` frame or as `next` with errors."""
    payload = message["payload"]
    errors = payload if message["type"] == "error" else payload.get("errors")
    assert errors, message
    assert not (isinstance(payload, dict) and payload.get("data")), message
    return [e["extensions"]["code"] for e in errors]


async def add_note(client, incident_id, body, **extra):
    data = await client.execute(
        ADD_NOTE, {"input": {"incidentId": incident_id, "body": body, **extra}}
    )
    assert data["addNote"]["errors"] == [], data
    return data["addNote"]["event"]


async def collect_seqs(sub, until_seq, timeout=20):
    seqs = []
    while not seqs or seqs[-1] < until_seq:
        data = await sub.next_data(timeout)
        seqs.append(data["timelineEventAdded"]["seq"])
    return seqs


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_timeline_resumes_after_cursor_with_no_gap_and_no_duplicate(server, client, protocol):
    # given an incident whose timeline is being written while subscribers join
    incident = await declare(client, title="Busy timeline")
    notes = 60
    cursors = []

    async def writer():
        for i in range(notes):
            event = await add_note(client, incident["id"], f"note {i}")
            cursors.append(event["cursor"])

    writing = asyncio.create_task(writer())
    while len(cursors) < 10:
        await asyncio.sleep(0.005)

    # when subscribers resume from different cursors while writes go on
    starts = [3, 7, len(cursors) - 1]
    subs = []
    for start in starts:
        sub = await subscriber(server, protocol=protocol)
        await sub.subscribe(TIMELINE_EVENT_ADDED, {"id": incident["id"], "after": cursors[start]})
        subs.append((start, sub))
    await writing
    final_seq = 1 + notes  # declared is seq 1

    # then each sees every event after its cursor, once, in order
    for start, sub in subs:
        seqs = await collect_seqs(sub, final_seq)
        first_expected = start + 3  # cursors[i] is the note at seq i + 2
        assert seqs == list(range(first_expected, final_seq + 1))
        await sub.close()


async def test_timeline_without_cursor_starts_live(server, client):
    # given
    incident = await declare(client, title="Live only")
    await add_note(client, incident["id"], "before subscribing")
    sub = await subscriber(server)
    await subscribe_and_wait(sub, server, TIMELINE_EVENT_ADDED, {"id": incident["id"]})

    # when
    await add_note(client, incident["id"], "after subscribing")
    await transition(client, incident["id"], "IN_PROGRESS")

    # then
    first = (await sub.next_data())["timelineEventAdded"]
    second = (await sub.next_data())["timelineEventAdded"]
    assert (first["seq"], first["type"], first["data"]["body"]) == (
        3,
        "com.incidents.note_added.v1",
        "after subscribing",
    )
    assert (second["seq"], second["type"]) == (4, "com.incidents.state_change.v1")
    await sub.close()


async def test_incidents_changed_applies_the_filter(server, client):
    # given a dashboard feed of SEV1 incidents only
    sub = await subscriber(server)
    await subscribe_and_wait(sub, server, INCIDENTS_CHANGED, {"filter": {"severity": ["SEV1"]}})

    # when a SEV3 and then a SEV1 are declared
    await declare(client, title="Minor glitch", severity="SEV3")
    major = await declare(client, title="Everything is on fire", severity="SEV1")

    # then only the SEV1 arrives
    data = (await sub.next_data())["incidentsChanged"]
    assert (data["id"], data["severity"]) == (major["id"], "SEV1")
    await sub.close()


async def test_subscribing_to_an_unknown_incident_is_not_found(server):
    # given
    sub = await subscriber(server)

    # when
    await sub.subscribe(INCIDENT_UPDATED, {"id": "inc_00000000000000000000000000000000"})

    # then
    assert error_codes(await sub.next()) == ["NOT_FOUND"]
    await sub.close()


async def test_malformed_cursor_is_a_validation_error(server, client):
    # given
    incident = await declare(client, title="Cursor check")
    sub = await subscriber(server)

    # when
    await sub.subscribe(TIMELINE_EVENT_ADDED, {"id": incident["id"], "after": "not-a-cursor"})

    # then
    assert error_codes(await sub.next()) == ["VALIDATION"]
    await sub.close()

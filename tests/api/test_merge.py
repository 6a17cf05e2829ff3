"""mergeIncidents: what moves to the target, what the source becomes, who sees it live."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.servicenow import FakeServiceNow
from tests.support import (
    GraphQLClient,
    Server,
    create_tenant,
    create_token,
    declare,
    eventually,
    subscribe_and_wait,
    subscriber,
    transition,
)

MERGE = """
mutation Merge($input: MergeIncidentsInput!) {
  mergeIncidents(input: $input) {
    source { id status cancelledAt version mergedInto { id reference } }
    target { id status version }
    errors { field code message }
  }
}
"""

INCIDENT = """
query One($id: ID!) {
  incident(id: $id) {
    id reference title status cancelledAt version mergedInto { id }
    timeline(first: 500) {
      totalCount edges { node { seq type actor classification redacted data } }
    }
    alerts(first: 50) { totalCount edges { node { id title incident { id } } } }
    connectedTickets { id externalKey syncState }
  }
}
"""

ADD_NOTE = """
mutation Note($input: AddNoteInput!) { addNote(input: $input) { event { seq } errors { code } } }
"""

AUDIT = """
query Audit($target: String!) {
  auditLog(filter: {target: $target, action: "incident.merged"}) {
    edges { node { action target actor } }
  }
}
"""

CONFIGURE = """
mutation Configure($input: ConfigureItsmConnectionInput!) {
  configureItsmConnection(input: $input) { errors { field code message } }
}
"""

CREATE_TICKET = """
mutation Create($input: CreateTicketInput!) {
  createTicket(input: $input) { ticket { id externalKey } errors { field code message } }
}
"""

ALERTS = """
query Alerts($filter: AlertFilter) {
  alerts(filter: $filter) { totalCount edges { node { id title incident { id } } } }
}
"""

INCIDENT_UPDATED = (
    "subscription($id: ID!) { incidentUpdated(id: $id) { id status mergedInto { id } } }"
)
TIMELINE_EVENT_ADDED = """
subscription($id: ID!) { timelineEventAdded(incidentId: $id) { seq type data } }
"""
INCIDENTS_CHANGED = "subscription { incidentsChanged { id status } }"

MERGED = "com.incidents.merged.v1"
MERGED_EVENT = "com.incidents.merged_event.v1"


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    """A tenant of these tests' own: its correlation rules and connections touch no one else."""
    tenant_id = create_tenant(server, tenant_id=f"merge-{uuid.uuid4().hex[:8]}", name="Merges")
    yield {
        "id": tenant_id,
        **{
            role: create_token(server, role=role, name=f"merge {role.lower()}", tenant=tenant_id)
            for role in ("ADMIN", "RESPONDER", "VIEWER", "INGEST")
        },
    }


async def merge(client: GraphQLClient, source: str, target: str, **extra: Any) -> dict[str, Any]:
    data = await client.execute(MERGE, {"input": {"sourceId": source, "targetId": target, **extra}})
    return data["mergeIncidents"]  # type: ignore[no-any-return]


async def incident_of(client: GraphQLClient, incident_id: str) -> dict[str, Any]:
    return (await client.execute(INCIDENT, {"id": incident_id}))["incident"]  # type: ignore[no-any-return]


def timeline(incident: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in incident["timeline"]["edges"]]


async def classify(client: GraphQLClient, incident_id: str, classification: str) -> None:
    data = await client.execute(
        "mutation($id: ID!, $c: Classification!) { updateIncident(input: {id: $id, "
        "classification: $c}) { errors { field code message } } }",
        {"id": incident_id, "c": classification},
    )
    assert data["updateIncident"]["errors"] == [], data


async def fire(server: Server, token: str, **alert: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post(
            "/webhooks/alerts/generic", json=alert, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 202, response.text


# --- the happy path -------------------------------------------------------------------------


async def test_the_target_takes_the_source_timeline_and_the_source_is_cancelled(api):
    # given a source incident with some history, a note included, and a target
    admin = api("ADMIN")
    source = await declare(admin, title="Checkout 502s in EU")
    await transition(admin, source["id"], "IN_PROGRESS", reason="on it")
    note = await admin.execute(
        ADD_NOTE, {"input": {"incidentId": source["id"], "body": "Rolled back 4.2.1"}}
    )
    assert note["addNote"]["errors"] == []
    target = await declare(admin, title="Checkout down")
    before = timeline(await incident_of(admin, source["id"]))
    target_before = timeline(await incident_of(admin, target["id"]))

    # when the source is merged into the target
    payload = await merge(admin, source["id"], target["id"], reason="same outage")

    # then the source is cancelled and points at the target
    assert payload["errors"] == []
    assert payload["source"]["status"] == "CANCELLED"
    assert payload["source"]["cancelledAt"]
    assert payload["source"]["mergedInto"]["id"] == target["id"]
    assert payload["target"]["status"] == "OPEN"
    merged_source = await incident_of(admin, source["id"])
    assert merged_source["mergedInto"] == {"id": target["id"]}
    tail = timeline(merged_source)[len(before) :]
    assert [e["type"] for e in tail] == [MERGED, "com.incidents.state_change.v1"]
    assert tail[0]["data"]["into"]["number"] == target["number"]
    assert tail[1]["data"] == {"from": "IN_PROGRESS", "to": "CANCELLED", "reason": "same outage"}

    # and the target's timeline holds one merged event, then a copy of every source event
    events = timeline(await incident_of(admin, target["id"]))
    added = events[len(target_before) :]
    assert added[0]["type"] == MERGED
    assert added[0]["data"]["from"]["title"] == "Checkout 502s in EU"
    assert added[0]["data"]["counts"]["events"] == len(before)
    assert added[0]["data"]["counts"]["notes"] == 1
    copies = added[1:]
    assert [e["type"] for e in copies] == [MERGED_EVENT] * len(before)
    assert [c["data"]["seq"] for c in copies] == [e["seq"] for e in before]
    assert [c["data"]["type"] for c in copies] == [e["type"] for e in before]
    assert [c["data"]["data"] for c in copies] == [e["data"] for e in before]
    assert copies[-1]["data"]["data"]["body"] == "Rolled back 4.2.1"
    assert {c["data"]["number"] for c in copies} == {source["number"]}
    # seqs stay contiguous on both timelines
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

    # and both sides are audited
    for incident in (source, target):
        key = str(uuid.UUID(hex=incident["id"][len("inc_") :]))
        audit = await admin.execute(AUDIT, {"target": key})
        assert [e["node"]["actor"] for e in audit["auditLog"]["edges"]] == ["merge admin"]


async def test_subscribers_of_either_incident_see_the_merge_live(server, api, tenant):
    # given subscribers of the source, of the target's timeline and of the tenant's feed
    admin = api("ADMIN")
    source = await declare(admin, title="Search slow")
    target = await declare(admin, title="Search down")
    subs = [await subscriber(server, token=tenant["ADMIN"]) for _ in range(3)]
    try:
        await subscribe_and_wait(subs[0], server, INCIDENT_UPDATED, {"id": source["id"]})
        await subscribe_and_wait(subs[1], server, TIMELINE_EVENT_ADDED, {"id": target["id"]})
        await subscribe_and_wait(subs[2], server, INCIDENTS_CHANGED, {})

        # when one is merged into the other
        payload = await merge(admin, source["id"], target["id"])
        assert payload["errors"] == []

        # then the source's watcher sees it cancelled, pointing at the target
        updated = (await subs[0].next_data())["incidentUpdated"]
        assert updated["status"] == "CANCELLED"
        assert updated["mergedInto"] == {"id": target["id"]}
        # the target's timeline grows by the merged event and the copies, in order
        first = (await subs[1].next_data())["timelineEventAdded"]
        assert first["type"] == MERGED and first["data"]["from"]["title"] == "Search slow"
        copy = (await subs[1].next_data())["timelineEventAdded"]
        assert copy["type"] == MERGED_EVENT and copy["seq"] == first["seq"] + 1
        assert copy["data"]["type"] == "com.incidents.declared.v1"
        # and the tenant's feed hears of both incidents
        seen = {}
        for _ in range(2):
            item = (await subs[2].next_data())["incidentsChanged"]
            seen[item["id"]] = item["status"]
        assert seen == {source["id"]: "CANCELLED", target["id"]: "OPEN"}
    finally:
        for sub in subs:
            await sub.close()


async def test_alerts_and_their_group_follow_the_target(server, api, tenant):
    # given an incident declared from an alert (the default rule), and another incident
    admin = api("ADMIN")
    service = f"cart-{uuid.uuid4().hex[:6]}"
    await fire(
        server,
        tenant["INGEST"],
        source="synthetics",
        id=f"{service}-1",
        title="Cart 5xx",
        alertname="Cart5xx",
        service=service,
    )

    async def declared() -> Any:
        data = await admin.execute(ALERTS, {"filter": {"service": [service]}})
        edges = data["alerts"]["edges"]
        return edges[0]["node"]["incident"] if edges and edges[0]["node"]["incident"] else None

    source = await eventually(declared, what="an incident declared from the alert")
    target = await declare(admin, title="Cart outage")

    # when the alert's incident is merged into the other
    payload = await merge(admin, source["id"], target["id"])
    assert payload["errors"] == []

    # then the target has the alert, and a later alert of the same group links to it too
    taken = await incident_of(admin, target["id"])
    assert taken["alerts"]["totalCount"] == 1
    assert timeline(taken)[-1]["type"] == MERGED_EVENT
    merged_event = [e for e in timeline(taken) if e["type"] == MERGED][0]
    assert merged_event["data"]["counts"]["alerts"] == 1
    assert merged_event["data"]["counts"]["alertGroups"] == 1
    await fire(
        server,
        tenant["INGEST"],
        source="synthetics",
        id=f"{service}-2",
        title="Cart 5xx again",
        alertname="Cart5xx",
        service=service,
    )

    async def followed() -> Any:
        return (await incident_of(admin, target["id"]))["alerts"]["totalCount"] == 2

    await eventually(followed, what="the group's next alert linked to the target")
    assert (await incident_of(admin, source["id"]))["alerts"]["totalCount"] == 0


async def test_linked_tickets_move_to_the_target_and_sync_with_it(server, api):
    # given a source with a ServiceNow ticket
    admin = api("ADMIN")
    with FakeServiceNow() as servicenow:
        configured = await admin.execute(
            CONFIGURE,
            {
                "input": {
                    "provider": "SERVICENOW",
                    "baseUrl": servicenow.url,
                    "username": "integration",
                    "secret": "s3cret-pw",
                }
            },
        )
        assert configured["configureItsmConnection"]["errors"] == []
        source = await declare(admin, title="Payments slow")
        created = await admin.execute(
            CREATE_TICKET, {"input": {"incidentId": source["id"], "provider": "SERVICENOW"}}
        )
        assert created["createTicket"]["errors"] == []

        async def ticket_made() -> Any:
            tickets = (await incident_of(admin, source["id"]))["connectedTickets"]
            return tickets[0] if tickets and tickets[0]["externalKey"] else None

        ticket = await eventually(ticket_made, what="the ticket created")
        target = await declare(admin, title="Payments down everywhere")

        # when the source is merged into the target
        payload = await merge(admin, source["id"], target["id"])
        assert payload["errors"] == []

        # then the ticket belongs to the target and is brought in line with it
        assert (await incident_of(admin, source["id"]))["connectedTickets"] == []
        moved = (await incident_of(admin, target["id"]))["connectedTickets"]
        assert [t["id"] for t in moved] == [ticket["id"]]

        async def synced() -> bool:
            record = servicenow.ticket(ticket["externalKey"])
            return record["short_description"] == "Payments down everywhere"

        await eventually(synced, what="the ticket showing the target's title")


# --- refusals -------------------------------------------------------------------------------


async def test_bad_merges_are_refused_and_write_nothing(server, api, tenant):
    admin = api("ADMIN")
    source = await declare(admin, title="Refused source")
    target = await declare(admin, title="Refused target")
    closed = await declare(admin, title="Already cancelled")
    await transition(admin, closed["id"], "CANCELLED")
    unknown = "inc_" + uuid.uuid4().hex
    other_tenant = await declare(server.client(), title="Another tenant's")

    cases = [
        (source["id"], source["id"], "targetId", "VALIDATION"),
        (unknown, target["id"], "sourceId", "NOT_FOUND"),
        (source["id"], unknown, "targetId", "NOT_FOUND"),
        ("not-an-id", target["id"], "sourceId", "NOT_FOUND"),
        (source["id"], "", "targetId", "NOT_FOUND"),
        (other_tenant["id"], target["id"], "sourceId", "NOT_FOUND"),
        (source["id"], other_tenant["id"], "targetId", "NOT_FOUND"),
        (closed["id"], target["id"], "sourceId", "INVALID_TRANSITION"),
        (source["id"], closed["id"], "targetId", "INVALID_TRANSITION"),
    ]
    for source_id, target_id, field, code in cases:
        # when
        payload = await merge(admin, source_id, target_id)

        # then
        assert payload["source"] is None and payload["target"] is None, (source_id, target_id)
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)], payload

    too_long = await merge(admin, source["id"], target["id"], reason="x" * 70_000)
    assert [e["code"] for e in too_long["errors"]] == ["VALIDATION"]
    for incident in (source, target):
        after = await incident_of(admin, incident["id"])
        assert after["status"] == "OPEN" and after["mergedInto"] is None
        assert after["timeline"]["totalCount"] == 1


async def test_a_restricted_source_does_not_exist_for_an_uncleared_responder(api):
    # given a RESTRICTED incident and an ordinary one
    admin = api("ADMIN")
    secret = await declare(admin, title="Credential leak", classification="RESTRICTED")
    target = await declare(admin, title="Auth errors")

    # when a responder (cleared CONFIDENTIAL) tries to merge it, either way round
    responder = api("RESPONDER")
    away = await merge(responder, secret["id"], target["id"])
    into = await merge(responder, target["id"], secret["id"])

    # then it is not found, exactly like an unknown id, and nothing changed
    assert [(e["field"], e["code"]) for e in away["errors"]] == [("sourceId", "NOT_FOUND")]
    assert [(e["field"], e["code"]) for e in into["errors"]] == [("targetId", "NOT_FOUND")]
    assert (await incident_of(admin, secret["id"]))["status"] == "OPEN"
    assert (await incident_of(admin, target["id"]))["timeline"]["totalCount"] == 1


async def test_a_source_classified_above_the_target_is_refused(server, api, tenant):
    # given an incident declared from an alert, then made RESTRICTED, and an INTERNAL one
    admin = api("ADMIN")
    service = f"idp-{uuid.uuid4().hex[:6]}"
    await fire(server, tenant["INGEST"], source="synthetics", title="Odd logins", service=service)

    async def declared() -> Any:
        data = await admin.execute(ALERTS, {"filter": {"service": [service]}})
        edges = data["alerts"]["edges"]
        return edges[0]["node"]["incident"] if edges and edges[0]["node"]["incident"] else None

    secret = await eventually(declared, what="an incident declared from the alert")
    await classify(admin, secret["id"], "RESTRICTED")
    target = await declare(admin, title="Login failures")

    # when an admin merges it into the less classified one
    payload = await merge(admin, secret["id"], target["id"])

    # then the merge is refused, telling what to do, and nothing moved
    assert payload["source"] is None and payload["target"] is None
    [error] = payload["errors"]
    assert (error["field"], error["code"]) == ("targetId", "VALIDATION")
    assert "classification" in error["message"]
    assert (await incident_of(admin, secret["id"]))["status"] == "OPEN"
    after = await incident_of(admin, target["id"])
    assert after["timeline"]["totalCount"] == 1 and after["alerts"]["totalCount"] == 0
    # the alert is still the secret incident's, unseen by a responder
    responder = await api("RESPONDER").execute(ALERTS, {"filter": {"service": [service]}})
    assert responder["alerts"]["totalCount"] == 0

    # and once the target is raised to the source's classification, the merge goes through
    await classify(admin, target["id"], "RESTRICTED")
    assert (await merge(admin, secret["id"], target["id"]))["errors"] == []


async def test_restricted_history_stays_restricted_on_the_target(api):
    # given an incident with a RESTRICTED note, merged by an admin into an INTERNAL target
    admin = api("ADMIN")
    source = await declare(admin, title="Login failures in EU")
    note = await admin.execute(
        ADD_NOTE,
        {
            "input": {
                "incidentId": source["id"],
                "body": "Token stolen",
                "classification": "RESTRICTED",
            }
        },
    )
    assert note["addNote"]["errors"] == []
    target = await declare(admin, title="Login failures")
    assert (await merge(admin, source["id"], target["id"]))["errors"] == []

    # when a responder reads the target's timeline
    events = timeline(await incident_of(api("RESPONDER"), target["id"]))

    # then the copy of the note is redacted for them
    copies = [
        e for e in events if e["type"] == MERGED_EVENT and e["classification"] == "RESTRICTED"
    ]
    assert len(copies) == 1 and copies[0]["redacted"]
    assert "Token stolen" not in str(events)


async def test_a_merge_into_a_restricted_incident_tells_uncleared_readers_nothing(
    server, api, tenant
):
    # given an INTERNAL incident a responder follows live, and a RESTRICTED one they cannot see
    admin = api("ADMIN")
    source = await declare(admin, title="Logins slow")
    target = await declare(admin, title="Credential stuffing", classification="RESTRICTED")
    responder = api("RESPONDER")
    sub = await subscriber(server, token=tenant["RESPONDER"])
    try:
        await subscribe_and_wait(sub, server, TIMELINE_EVENT_ADDED, {"id": source["id"]})

        # when an admin merges the first into the second, with a reason
        reason = "folded into the stuffing investigation"
        payload = await merge(admin, source["id"], target["id"], reason=reason)
        assert payload["errors"] == []
        live = [(await sub.next_data())["timelineEventAdded"] for _ in range(2)]
    finally:
        await sub.close()

    # then the responder sees the source cancelled, and neither the target nor the reason
    seen = await incident_of(responder, source["id"])
    assert seen["status"] == "CANCELLED" and seen["mergedInto"] is None
    tail = timeline(seen)[-2:]
    assert [e["type"] for e in tail] == [MERGED, "com.incidents.state_change.v1"]
    assert [(e["classification"], e["redacted"]) for e in tail] == [("RESTRICTED", True)] * 2
    target_uuid = str(uuid.UUID(hex=target["id"][len("inc_") :]))
    secrets = (target["id"], target_uuid, reason, f'"number": {target["number"]}')
    for shown in (json.dumps(timeline(seen)), json.dumps(live)):
        assert not any(secret in shown for secret in secrets), shown
    # and the admin, cleared for the target, reads it all
    full = timeline(await incident_of(admin, source["id"]))[-2:]
    assert full[0]["data"]["into"]["number"] == target["number"]
    assert full[1]["data"]["reason"] == reason


async def test_a_viewer_may_not_merge(api):
    admin = api("ADMIN")
    source = await declare(admin, title="Viewer source")
    target = await declare(admin, title="Viewer target")

    body = await api("VIEWER").raw(
        MERGE, {"input": {"sourceId": source["id"], "targetId": target["id"]}}
    )

    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert (await incident_of(admin, source["id"]))["status"] == "OPEN"

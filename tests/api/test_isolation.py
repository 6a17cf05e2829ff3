"""Tenant isolation: to every read, command and subscription of one tenant, another tenant's
incident is indistinguishable from one that does not exist.

Each test makes two fresh tenants, each with an admin token, gives tenant A an incident with a
history, and then probes it with tenant B's token. Every probe is compared with the same probe
for an id that names nothing anywhere: same answer, same error code, same message apart from
the id itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from app.pubsub import channels
from tests.support import (
    GraphQLClient,
    Server,
    Subscriber,
    create_tenant,
    create_token,
    declare,
    subscribe_and_wait,
    subscriber,
    transition,
)

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]

INCIDENT = """
query Incident($id: ID!) {
  incident(id: $id) { id title status version assignee }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Incident { title }
    ... on TimelineEvent { seq type incidentId data }
  }
}
"""

INCIDENTS = """
query Incidents($filter: IncidentFilter, $orderBy: IncidentOrder, $first: Int, $after: String) {
  incidents(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    edges { cursor node { id title } }
    pageInfo { hasNextPage hasPreviousPage }
  }
}
"""

TIMELINE = """
query Timeline($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  incident(id: $id) {
    id title status version assignee severity
    timeline(first: $first, after: $after, last: $last, before: $before) {
      totalCount
      edges { cursor node { id seq type incidentId data } }
    }
  }
}
"""

UPDATE = """
mutation Update($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { id version } errors { field code message } }
}
"""

TRANSITION = """
mutation Transition($input: TransitionIncidentInput!) {
  transitionIncident(input: $input) { incident { id status } errors { field code message } }
}
"""

ASSIGN = """
mutation Assign($input: AssignIncidentInput!) {
  assignIncident(input: $input) { incident { id assignee } errors { field code message } }
}
"""

ADD_NOTE = """
mutation Note($input: AddNoteInput!) {
  addNote(input: $input) { event { id seq cursor incidentId } errors { field code message } }
}
"""

INCIDENT_UPDATED = """
subscription Watch($id: ID!) {
  incidentUpdated(id: $id) { id title status version }
}
"""

TIMELINE_EVENT_ADDED = """
subscription Follow($id: ID!, $after: String) {
  timelineEventAdded(incidentId: $id, after: $after) { id seq type incidentId data }
}
"""

INCIDENTS_CHANGED = """
subscription Feed($filter: IncidentFilter) {
  incidentsChanged(filter: $filter) { id title status }
}
"""

TENANT_POLICY = """
query Policy {
  tenantPolicy {
    matrix { impact urgency priority }
    severityFloor { severity priority }
    sla { priority responseMinutes resolveMinutes }
  }
}
"""

UPDATE_POLICY = """
mutation Policy($input: UpdateTenantPolicyInput!) {
  updateTenantPolicy(input: $input) { errors { code message } }
}
"""

API_TOKENS = """
query Tokens { apiTokens(first: 500) { edges { node { id name role revokedAt } } } }
"""

CREATE_TOKEN = """
mutation Create($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { token { id name } errors { code } }
}
"""

REVOKE_TOKEN = """
mutation Revoke($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) { token { id revokedAt } errors { field code message } }
}
"""

AUDIT_LOG = """
query Audit($filter: AuditFilter, $first: Int!, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    edges { cursor node { actor tokenId action target changes } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


# --- tenants, data and ids ------------------------------------------------------------------


@dataclass
class Tenant:
    id: str
    admin: str  # the admin token's name, which the audit log shows as actor
    token: str
    client: GraphQLClient


@dataclass
class History:
    """An incident with a few changes behind it, as its own tenant sees it."""

    incident: dict[str, Any]
    title: str
    description: str
    declare_key: str
    note_key: str
    events: list[dict[str, Any]]  # timeline edges: {cursor, node}

    @property
    def id(self) -> str:
        return self.incident["id"]  # type: ignore[no-any-return]


@pytest.fixture
async def tenants(server: Server):
    """Two fresh tenants, each with an admin token: (A, B)."""
    made = []
    for label in ("alpha", "beta"):
        tenant_id = create_tenant(
            server, tenant_id=f"iso-{label}-{uuid.uuid4().hex[:8]}", name=f"Isolation {label}"
        )
        admin = f"{label} admin {uuid.uuid4().hex[:6]}"
        token = create_token(server, role="ADMIN", name=admin, tenant=tenant_id)
        made.append(Tenant(tenant_id, admin, token, server.client(token)))
    yield made
    for tenant in made:
        await tenant.client.aclose()


def marker() -> str:
    return uuid.uuid4().hex[:12]


def missing_id() -> str:
    """A well-formed incident id that names no incident in any tenant."""
    return f"inc_{uuid.uuid4().hex}"


def bare(global_id: str) -> str:
    """The UUID inside a global id, which the API accepts for incidents too."""
    return str(uuid.UUID(hex=global_id.split("_", 1)[1]))


def forms(value: str) -> list[str]:
    """Every spelling of an id that an answer might echo: global, hyphenated UUID, hex."""
    key = uuid.UUID(hex=value.split("_", 1)[1]) if "_" in value else uuid.UUID(value)
    return [value, str(key), key.hex]


def redact(answer: Any, *ids: str) -> Any:
    """The answer with each spelling of the given ids replaced by a placeholder."""
    text = json.dumps(answer, sort_keys=True)
    for value in ids:
        for spelling in forms(value):
            text = text.replace(spelling, "<id>")
    return json.loads(text)


def ids_of(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def add_note(client: GraphQLClient, incident_id: str, body: str, **extra: Any) -> dict:
    data = await client.execute(
        ADD_NOTE, {"input": {"incidentId": incident_id, "body": body, **extra}}
    )
    assert data["addNote"]["errors"] == [], data
    return data["addNote"]["event"]  # type: ignore[no-any-return]


async def assign(client: GraphQLClient, incident_id: str, assignee: str) -> None:
    data = await client.execute(ASSIGN, {"input": {"id": incident_id, "assignee": assignee}})
    assert data["assignIncident"]["errors"] == [], data


async def update(client: GraphQLClient, incident_id: str, **changes: Any) -> None:
    data = await client.execute(UPDATE, {"input": {"id": incident_id, **changes}})
    assert data["updateIncident"]["errors"] == [], data


async def read_incident(client: GraphQLClient, incident_id: str) -> dict[str, Any]:
    data = await client.execute(TIMELINE, {"id": incident_id, "first": 100})
    assert data["incident"] is not None, f"{incident_id} not readable by its own tenant"
    return data["incident"]  # type: ignore[no-any-return]


async def incident_with_history(client: GraphQLClient, label: str) -> History:
    """Declared (with an idempotency key), noted, acknowledged, assigned and updated."""
    m = marker()
    title, description = f"{label} secret outage {m}", f"only {label} knows {m}"
    declare_key, note_key = f"declare-{m}", f"note-{m}"
    incident = await declare(client, title=title, description=description, eventId=declare_key)
    await add_note(client, incident["id"], f"{label} private note", eventId=note_key)
    assert (await transition(client, incident["id"], "IN_PROGRESS"))["errors"] == []
    await assign(client, incident["id"], f"{label}-oncall")
    await update(client, incident["id"], severity="SEV1")
    events = (await read_incident(client, incident["id"]))["timeline"]["edges"]
    assert [e["node"]["seq"] for e in events] == [1, 2, 3, 4, 5]
    return History(incident, title, description, declare_key, note_key, events)


async def all_audit(client: GraphQLClient, **filter: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    after = None
    while True:
        data = await client.execute(AUDIT_LOG, {"filter": filter, "first": 100, "after": after})
        records += [edge["node"] for edge in data["auditLog"]["edges"]]
        if not data["auditLog"]["pageInfo"]["hasNextPage"]:
            return records
        after = data["auditLog"]["pageInfo"]["endCursor"]


async def state_of(client: GraphQLClient, incident_id: str) -> dict[str, Any]:
    """What the owning tenant can see of an incident: fields, timeline, audit trail."""
    return {
        "incident": await read_incident(client, incident_id),
        "audit": await all_audit(client, target=incident_id),
    }


# --- WebSocket helpers ----------------------------------------------------------------------


async def answer_to(sub: Subscriber, op_id: str, timeout: float = 10) -> dict[str, Any]:
    """The next message for this operation; only `complete`s of earlier ones may come first."""
    while True:
        message = await sub.next(timeout)
        if message.get("id") == op_id:
            return message
        assert message["type"] == "complete", f"unexpected message for another op: {message}"


async def first_answer(sub: Subscriber, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The first thing the server says to a new subscription, without the operation's id."""
    op_id = await sub.subscribe(query, variables)
    message = await answer_to(sub, op_id)
    return {"type": message["type"], "payload": message["payload"]}


def error_codes(message: dict[str, Any]) -> list[str]:
    """Codes of an operation's errors, sent as an `error` frame or as `next` with errors."""
    payload = message["payload"]
    errors = payload if message["type"] == "error" else payload.get("errors")
    assert errors, message
    assert not (isinstance(payload, dict) and payload.get("data")), message
    return [e["extensions"]["code"] for e in errors]


# --- reads by id ----------------------------------------------------------------------------


async def test_another_tenants_incident_and_events_read_as_missing_by_id(tenants):
    # given an incident with a history in tenant A, and an incident of B's own
    a, b = tenants
    history = await incident_with_history(a.client, "alpha")
    b_incident = await declare(b.client, title=f"beta own {marker()}")
    missing = missing_id()
    missing_event = f"evt_{uuid.uuid4().hex}"

    # when B asks for A's incident and events by id, beside ids that name nothing
    probes = [
        (INCIDENT, "incident", history.id, missing),
        (INCIDENT, "incident", bare(history.id), bare(missing)),
        (INCIDENT, "incident", uuid.UUID(bare(history.id)).hex, uuid.UUID(bare(missing)).hex),
        (NODE, "node", history.id, missing),
    ] + [(NODE, "node", e["node"]["id"], missing_event) for e in history.events]
    answers = []
    for query, field, probe, control in probes:
        seen = await b.client.raw(query, {"id": probe})
        absent = await b.client.raw(query, {"id": control})
        answers.append((field, probe, control, seen, absent))

    # then every answer is a plain null, exactly the answer for an id that names nothing
    for field, probe, control, seen, absent in answers:
        assert seen == {"data": {field: None}}, (probe, seen)
        assert redact(seen, probe) == redact(absent, control)

    # while A itself reads each of them, so the ids were real
    for query, field, probe, _ in probes:
        found = (await a.client.execute(query, {"id": probe}))[field]
        assert found is not None and found["id"] in (probe, history.id), (probe, found)

    # and the other way round, A cannot read B's incident either
    for query, field, probe in (
        (INCIDENT, "incident", b_incident["id"]),
        (INCIDENT, "incident", bare(b_incident["id"])),
        (NODE, "node", b_incident["id"]),
    ):
        assert await a.client.raw(query, {"id": probe}) == {"data": {field: None}}


async def test_forged_ids_of_another_type_read_as_null(tenants):
    # given A's incident, events and token, and their ids spelt under other prefixes
    a, b = tenants
    history = await incident_with_history(a.client, "alpha")
    a_token_id = (await a.client.execute(API_TOKENS))["apiTokens"]["edges"][0]["node"]["id"]
    incident_hex = uuid.UUID(bare(history.id)).hex
    event = history.events[0]
    event_hex = event["node"]["id"].split("_", 1)[1]
    forged = [
        f"evt_{incident_hex}",  # A's incident under the event prefix
        f"inc_{event_hex}",  # A's event under the incident prefix
        f"tok_{incident_hex}",
        a_token_id,  # a real id of a type that is no Node
        bare(event["node"]["id"]),  # an event's bare UUID
        f"inc_{incident_hex}x",
        f"INC-{history.incident['number']}",  # A's human reference
        event["cursor"],  # a cursor is no id
    ]

    # when B asks for each with node(id:) and incident(id:)
    by_node = [await b.client.raw(NODE, {"id": value}) for value in forged]
    by_incident = [await b.client.raw(INCIDENT, {"id": value}) for value in forged]
    # and A, whose objects they name, asks with node(id:)
    by_node_for_a = [await a.client.raw(NODE, {"id": value}) for value in forged]

    # then each answer is a plain null that reveals nothing
    assert by_node == [{"data": {"node": None}}] * len(forged)
    assert by_incident == [{"data": {"incident": None}}] * len(forged)
    assert by_node_for_a == [{"data": {"node": None}}] * len(forged)


# --- lists, counts and cursors --------------------------------------------------------------


async def test_lists_and_counts_hold_only_the_callers_incidents(tenants):
    # given two incidents in A, one of them with a history, and one in B
    a, b = tenants
    history = await incident_with_history(a.client, "alpha")
    a_second = await declare(a.client, title=f"alpha second {marker()}", severity="SEV1")
    b_own = await declare(b.client, title=f"beta own {marker()}", severity="SEV3")

    # when each lists its incidents, whole and filtered by what only A's incident has
    b_all = (await b.client.execute(INCIDENTS))["incidents"]
    a_all = (await a.client.execute(INCIDENTS))["incidents"]
    b_filtered = [
        (await b.client.execute(INCIDENTS, {"filter": f}))["incidents"]
        for f in (
            {"text": history.title},
            {"text": history.description},
            {"status": ["IN_PROGRESS"]},
            {"severity": ["SEV1"]},
        )
    ]
    a_by_b_title = (await a.client.execute(INCIDENTS, {"filter": {"text": b_own["title"]}}))[
        "incidents"
    ]

    # then each sees and counts its own incidents only
    assert (ids_of(b_all), b_all["totalCount"]) == ([b_own["id"]], 1)
    assert (ids_of(a_all), a_all["totalCount"]) == ([a_second["id"], history.id], 2)
    nothing = {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False},
    }
    assert b_filtered == [nothing] * 4
    assert a_by_b_title == nothing


async def test_a_list_cursor_from_another_tenant_is_only_a_position_in_the_callers_list(tenants):
    # given B's incidents declared before and after two of A's
    a, b = tenants
    b_older = await declare(b.client, title=f"beta older {marker()}")
    await declare(a.client, title=f"alpha first {marker()}")
    await declare(a.client, title=f"alpha second {marker()}")
    b_newer = await declare(b.client, title=f"beta newer {marker()}")
    a_ids = set(ids_of((await a.client.execute(INCIDENTS))["incidents"]))
    b_ids = {b_older["id"], b_newer["id"]}

    orders = [
        {"field": field, "direction": direction}
        for field in ("CREATED_AT", "UPDATED_AT", "PRIORITY", "SEVERITY", "NUMBER")
        for direction in ("ASC", "DESC")
    ]
    for order in orders:
        # when B pages its list from each of A's cursors, in every ordering
        a_page = (await a.client.execute(INCIDENTS, {"orderBy": order}))["incidents"]
        for edge in a_page["edges"]:
            page = (await b.client.execute(INCIDENTS, {"orderBy": order, "after": edge["cursor"]}))[
                "incidents"
            ]

            # then the page holds B's incidents only, and B's count
            assert set(ids_of(page)) <= b_ids, (order, page)
            assert not set(ids_of(page)) & a_ids
            assert page["totalCount"] == 2

    # and a cursor of A's is the same position as B's own cursor for the same place
    newest_a = (await a.client.execute(INCIDENTS, {"first": 1}))["incidents"]["edges"][0]
    after_a = (await b.client.execute(INCIDENTS, {"after": newest_a["cursor"]}))["incidents"]
    own = (await b.client.execute(INCIDENTS, {"first": 1}))["incidents"]["edges"][0]
    after_own = (await b.client.execute(INCIDENTS, {"after": own["cursor"]}))["incidents"]
    assert ids_of(after_a) == ids_of(after_own) == [b_older["id"]]
    by_number = {"field": "NUMBER", "direction": "ASC"}
    a_number_1 = (await a.client.execute(INCIDENTS, {"orderBy": by_number, "first": 1}))[
        "incidents"
    ]["edges"][0]["cursor"]
    after_a_number_1 = (
        await b.client.execute(INCIDENTS, {"orderBy": by_number, "after": a_number_1})
    )["incidents"]
    assert ids_of(after_a_number_1) == [b_newer["id"]]


async def test_timeline_cursors_from_another_tenant_page_only_the_callers_events(server, tenants):
    # given A's incident with five events, and B's incident with five of its own
    a, b = tenants
    history = await incident_with_history(a.client, "alpha")
    b_incident = await declare(b.client, title=f"beta own {marker()}")
    for i in range(4):
        await add_note(b.client, b_incident["id"], f"beta note {i}")
    b_events = (await read_incident(b.client, b_incident["id"]))["timeline"]["edges"]
    a_cursors = [e["cursor"] for e in history.events]
    a_event_ids = {e["node"]["id"] for e in history.events}

    # when B pages its own incident's timeline with A's cursors, both ways
    after_a = (await b.client.execute(TIMELINE, {"id": b_incident["id"], "after": a_cursors[1]}))[
        "incident"
    ]["timeline"]
    before_a = (await b.client.execute(TIMELINE, {"id": b_incident["id"], "before": a_cursors[3]}))[
        "incident"
    ]["timeline"]
    # and resumes its own incident's live timeline from one of A's cursors
    sub = await subscriber(server, token=b.token)
    await sub.subscribe(TIMELINE_EVENT_ADDED, {"id": b_incident["id"], "after": a_cursors[2]})
    replayed = [(await sub.next_data())["timelineEventAdded"] for _ in range(2)]
    await sub.close()

    # then each holds B's events at those positions, never one of A's
    assert after_a["edges"] == b_events[2:] and after_a["totalCount"] == 5
    assert before_a["edges"] == b_events[:3]
    assert [e["id"] for e in replayed] == [e["node"]["id"] for e in b_events[3:]]
    seen = [e["node"] for e in after_a["edges"] + before_a["edges"]] + replayed
    assert {e["incidentId"] for e in seen} == {b_incident["id"]}
    assert not {e["id"] for e in seen} & a_event_ids


async def test_the_same_query_from_two_tenants_gets_each_its_own_answer_even_when_cached(
    tenants,
):
    # given one incident in each tenant
    a, b = tenants
    own = {
        a.id: (await declare(a.client, title=f"alpha own {marker()}"))["id"],
        b.id: (await declare(b.client, title=f"beta own {marker()}"))["id"],
    }

    # when both send the very same query body, turn about, until answers come from the cache
    answers: dict[str, list[tuple[str | None, list[str]]]] = {a.id: [], b.id: []}

    def cached(seen: list[tuple[str | None, list[str]]]) -> bool:
        return [status for status, _ in seen[-2:]] == ["hit", "hit"]

    for _ in range(50):
        for tenant in (a, b):
            response = await tenant.client.post(INCIDENTS)
            incidents = response.json()["data"]["incidents"]
            answers[tenant.id].append((response.headers.get("x-cache"), ids_of(incidents)))
        if all(cached(seen) for seen in answers.values()):
            break

    # then each tenant always gets its own incident, from the cache too
    for tenant_id, seen in answers.items():
        assert [ids for _, ids in seen] == [[own[tenant_id]]] * len(seen)
        assert cached(seen), seen


# --- commands -------------------------------------------------------------------------------


def commands(version: int) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(mutation, field, name of the id input, input): each would succeed, or be refused for
    a reason that proves the incident exists, if the incident were the caller's."""
    return [
        (UPDATE, "updateIncident", "id", {"title": "taken over"}),
        (UPDATE, "updateIncident", "id", {"title": "taken over", "version": version}),
        (UPDATE, "updateIncident", "id", {"title": "taken over", "version": version + 7}),
        (TRANSITION, "transitionIncident", "id", {"to": "PENDING"}),
        (TRANSITION, "transitionIncident", "id", {"to": "CLOSED"}),
        (ASSIGN, "assignIncident", "id", {"assignee": "mallory"}),
        (ASSIGN, "assignIncident", "id", {"assignee": "mallory", "version": version + 7}),
        (ADD_NOTE, "addNote", "incidentId", {"body": "hello from another tenant"}),
    ]


async def test_commands_on_another_tenants_incident_are_not_found_and_change_nothing(tenants):
    # given A's incident with a history, as A sees it
    a, b = tenants
    history = await incident_with_history(a.client, "alpha")
    before = await state_of(a.client, history.id)
    version = before["incident"]["version"]

    # when B runs every command on it, by global id and by bare UUID, and on a missing id
    outcomes = []
    for mutation, field, id_name, values in commands(version):
        for probe, control in ((history.id, missing_id()), (bare(history.id), bare(missing_id()))):
            seen = await b.client.execute(mutation, {"input": {id_name: probe, **values}})
            absent = await b.client.execute(mutation, {"input": {id_name: control, **values}})
            outcomes.append((field, values, probe, control, seen[field], absent[field]))

    # then each is refused as NOT_FOUND, exactly as for an id that names nothing
    for field, values, probe, control, seen, absent in outcomes:
        assert [e["code"] for e in seen["errors"]] == ["NOT_FOUND"], (field, values, seen)
        assert seen.get("incident") is None and seen.get("event") is None
        assert redact(seen, probe) == redact(absent, control), (field, values)

    # and nothing in A changed: fields, version, timeline and audit trail
    assert await state_of(a.client, history.id) == before


async def test_commands_on_the_other_tenants_incident_fail_both_ways(tenants):
    # given an incident in B
    a, b = tenants
    b_incident = await declare(b.client, title=f"beta own {marker()}")
    before = await state_of(b.client, b_incident["id"])

    # when A notes, assigns and transitions it
    noted = (
        await a.client.execute(
            ADD_NOTE, {"input": {"incidentId": b_incident["id"], "body": "from A"}}
        )
    )["addNote"]
    assigned = (
        await a.client.execute(ASSIGN, {"input": {"id": b_incident["id"], "assignee": "eve"}})
    )["assignIncident"]
    moved = await transition(a.client, b_incident["id"], "IN_PROGRESS")

    # then each is NOT_FOUND and B's incident is as it was
    for payload in (noted, assigned, moved):
        assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"], payload
    assert await state_of(b.client, b_incident["id"]) == before


async def test_idempotency_keys_are_the_tenants_own(tenants):
    # given A's incident, declared and noted with idempotency keys
    a, b = tenants
    history = await incident_with_history(a.client, "alpha")
    before = await state_of(a.client, history.id)

    # when B declares and notes with the same keys
    b_title = f"beta own {marker()}"
    b_incident = await declare(b.client, title=b_title, eventId=history.declare_key)
    note = await add_note(b.client, b_incident["id"], "beta note", eventId=history.note_key)

    # then B gets an incident and a note of its own, not A's and not a conflict with A's
    assert b_incident["id"] != history.id and b_incident["title"] == b_title
    assert (note["incidentId"], note["seq"]) == (b_incident["id"], 2)
    assert note["id"] not in {e["node"]["id"] for e in history.events}
    assert await state_of(a.client, history.id) == before


# --- subscriptions --------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscribing_to_another_tenants_incident_is_not_found(server, tenants, protocol):
    # given A's incident with a history, and B's own incident
    a, b = tenants
    history = await incident_with_history(a.client, "alpha")
    b_incident = await declare(b.client, title=f"beta own {marker()}")
    missing = missing_id()
    a_cursor = history.events[1]["cursor"]
    sub = await subscriber(server, protocol=protocol, token=b.token)

    # when B subscribes to A's incident and its timeline, and to ones that do not exist
    probes = [
        (INCIDENT_UPDATED, {"id": history.id}, {"id": missing}),
        (INCIDENT_UPDATED, {"id": bare(history.id)}, {"id": bare(missing)}),
        (TIMELINE_EVENT_ADDED, {"id": history.id}, {"id": missing}),
        (
            TIMELINE_EVENT_ADDED,
            {"id": history.id, "after": a_cursor},
            {"id": missing, "after": a_cursor},
        ),
        (
            TIMELINE_EVENT_ADDED,
            {"id": bare(history.id), "after": a_cursor},
            {"id": bare(missing), "after": a_cursor},
        ),
    ]
    answers = [
        (
            probe,
            control,
            await first_answer(sub, query, probe),
            await first_answer(sub, query, control),
        )
        for query, probe, control in probes
    ]

    # then each is NOT_FOUND, exactly as for an incident that does not exist
    for probe, control, seen, absent in answers:
        assert error_codes(seen) == ["NOT_FOUND"], (probe, seen)
        assert redact(seen, probe["id"]) == redact(absent, control["id"])

    # and when A changes its incident while B watches an incident of its own
    a_sub = await subscriber(server, protocol=protocol, token=a.token)
    await subscribe_and_wait(a_sub, server, INCIDENT_UPDATED, {"id": history.id})
    sentinel = await subscribe_and_wait(sub, server, INCIDENT_UPDATED, {"id": b_incident["id"]})
    await add_note(a.client, history.id, "alpha, later")
    assert (await transition(a.client, history.id, "PENDING"))["errors"] == []
    for _ in range(2):  # A hears its own changes: they were published
        assert (await a_sub.next_data())["incidentUpdated"]["id"] == history.id
    assert (await transition(b.client, b_incident["id"], "IN_PROGRESS"))["errors"] == []

    # then the next thing B's socket carries is B's own change, nothing of A's
    message = await answer_to(sub, sentinel)
    assert message["payload"]["data"]["incidentUpdated"]["id"] == b_incident["id"]
    await sub.close()
    await a_sub.close()


async def test_the_tenant_wide_feed_carries_only_the_callers_changes(server, tenants):
    # given both tenants watching their feeds, B also filtered on a word in A's titles
    a, b = tenants
    word = marker()
    a_feed = await subscriber(server, token=a.token)
    await subscribe_and_wait(a_feed, server, INCIDENTS_CHANGED, {})
    b_feed = await subscriber(server, token=b.token)
    await subscribe_and_wait(b_feed, server, INCIDENTS_CHANGED, {})
    b_filtered = await subscriber(server, token=b.token)
    await subscribe_and_wait(b_filtered, server, INCIDENTS_CHANGED, {"filter": {"text": word}})

    # when A declares, notes, acknowledges and assigns an incident, and hears each change
    a_incident = await declare(a.client, title=f"alpha {word}")
    await add_note(a.client, a_incident["id"], "alpha note")
    assert (await transition(a.client, a_incident["id"], "IN_PROGRESS"))["errors"] == []
    await assign(a.client, a_incident["id"], "alpha-oncall")
    heard = [(await a_feed.next_data())["incidentsChanged"]["id"] for _ in range(4)]
    assert heard == [a_incident["id"]] * 4
    # and then B declares one of its own
    b_incident = await declare(b.client, title=f"beta {word}")

    # then B's feeds carry B's incident first, and nothing of A's
    assert (await b_feed.next_data())["incidentsChanged"]["id"] == b_incident["id"]
    assert (await b_filtered.next_data())["incidentsChanged"]["id"] == b_incident["id"]

    # and the other way round: after B's change, A's feed carries A's next change, not B's
    a_next = await declare(a.client, title=f"alpha next {word}")
    assert (await a_feed.next_data())["incidentsChanged"]["id"] == a_next["id"]
    for sub in (a_feed, b_feed, b_filtered):
        await sub.close()


def test_broker_channels_are_named_per_tenant():
    # given one incident id, as two tenants might both name it
    incident_id = str(uuid.uuid4())

    # when / then each tenant's channels are its own
    assert channels.incident("alpha", incident_id) != channels.incident("beta", incident_id)
    assert channels.incidents("alpha") != channels.incidents("beta")
    assert channels.incident("alpha", incident_id) != channels.incidents("beta")


# --- tenant administration ------------------------------------------------------------------


async def test_policy_tokens_and_audit_log_show_only_the_callers_tenant(tenants):
    # given B's policy, then A's incident, a token of A's and a change to A's policy
    a, b = tenants
    b_policy_before = await b.client.execute(TENANT_POLICY)
    history = await incident_with_history(a.client, "alpha")
    bot = f"alpha bot {marker()}"
    created = await a.client.execute(CREATE_TOKEN, {"input": {"name": bot, "role": "VIEWER"}})
    a_bot = created["createApiToken"]["token"]
    sla = {"priority": "P5", "responseMinutes": 4321, "resolveMinutes": 8765}
    changed = await a.client.execute(UPDATE_POLICY, {"input": {"sla": [sla]}})
    assert changed["updateTenantPolicy"]["errors"] == []
    b_incident = await declare(b.client, title=f"beta own {marker()}")
    a_token_ids = [
        e["node"]["id"] for e in (await a.client.execute(API_TOKENS))["apiTokens"]["edges"]
    ]

    # when B's admin reads its policy, tokens and audit log, and looks for A's things in it
    b_policy = await b.client.execute(TENANT_POLICY)
    b_tokens = [e["node"] for e in (await b.client.execute(API_TOKENS))["apiTokens"]["edges"]]
    b_audit = await all_audit(b.client)
    b_audit_of_a = [await all_audit(b.client, target=v) for v in (history.id, bare(history.id))]
    b_audit_of_a += [
        await all_audit(b.client, actor=a.admin),
        await all_audit(b.client, target=a.id),
    ]
    missing_token = f"tok_{uuid.uuid4().hex}"
    revoked = await b.client.execute(REVOKE_TOKEN, {"input": {"id": a_bot["id"]}})
    revoked_missing = await b.client.execute(REVOKE_TOKEN, {"input": {"id": missing_token}})

    # then B's policy is untouched by A's change, which A sees
    assert b_policy == b_policy_before
    assert sla in (await a.client.execute(TENANT_POLICY))["tenantPolicy"]["sla"]
    # and B lists only its own token, and cannot revoke A's
    assert [t["name"] for t in b_tokens] == [b.admin]
    assert [e["code"] for e in revoked["revokeApiToken"]["errors"]] == ["NOT_FOUND"]
    assert redact(revoked, a_bot["id"]) == redact(revoked_missing, missing_token)
    a_tokens = [e["node"] for e in (await a.client.execute(API_TOKENS))["apiTokens"]["edges"]]
    assert [(t["name"], t["revokedAt"]) for t in a_tokens] == [(a.admin, None), (bot, None)]
    # and B's audit log holds B's records, with nothing of A's in them
    assert ("incident.declared", bare(b_incident["id"])) in [
        (r["action"], r["target"]) for r in b_audit
    ]
    text = json.dumps(b_audit)
    a_ids = [*forms(history.id), *(f for t in a_token_ids for f in forms(t))]
    for secret in [a.id, a.admin, bot, history.title, history.description, *a_ids]:
        assert secret not in text, secret
    assert b_audit_of_a == [[], [], [], []]

    # and the other way round, A's log holds nothing of B's
    a_text = json.dumps(await all_audit(a.client))
    for secret in [b.id, b.admin, b_incident["title"], *forms(b_incident["id"])]:
        assert secret not in a_text


def counter_in(cursor: str) -> int | None:
    """The number a cursor ends with once base64-decoded (`audit:1234`); None if none."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    match = re.search(r"(\d+)$", text)
    return int(match.group(1)) if match else None


async def newest_audit_cursor(client: GraphQLClient) -> str:
    edges = (await client.execute(AUDIT_LOG, {"first": 1}))["auditLog"]["edges"]
    return edges[0]["cursor"]  # type: ignore[no-any-return]


async def test_audit_cursors_do_not_count_another_tenants_records(tenants):
    # given two of B's audit records written one after the other
    a, b = tenants
    await declare(b.client, title=f"beta first {marker()}")
    quiet = [await newest_audit_cursor(b.client)]
    await declare(b.client, title=f"beta second {marker()}")
    quiet.append(await newest_audit_cursor(b.client))

    # when A writes records (an incident and its changes) between two more of B's
    await incident_with_history(a.client, "alpha")
    await declare(b.client, title=f"beta third {marker()}")
    busy = [quiet[1], await newest_audit_cursor(b.client)]

    # then what B reads out of its cursors moves the same with or without A's writes:
    # a global counter would tell B how much another tenant did, and when
    def step(pair: list[str]) -> int | None:
        first, second = (counter_in(c) for c in pair)
        return None if first is None or second is None else second - first

    assert step(busy) == step(quiet), (
        f"B's audit cursors {busy} step by {step(busy)} across A's writes, "
        f"by {step(quiet)} without them"
    )

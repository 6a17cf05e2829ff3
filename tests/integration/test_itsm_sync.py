"""Linked tickets against real servers and fake ServiceNow and Jira on loopback sockets."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.jira import FakeJira
from tests.fakes.servicenow import FakeServiceNow
from tests.support import (
    Backend,
    GraphQLClient,
    Server,
    create_pg_database,
    declare,
    drop_pg_database,
    eventually,
    fresh_backend,
    subscribe_and_wait,
    subscriber,
    transition,
)

WEBHOOK_SECRET = "webhook-secret-0123456789"

CONFIGURE = """
mutation Configure($input: ConfigureItsmConnectionInput!) {
  configureItsmConnection(input: $input) {
    connection { provider baseUrl username hasSecret hasWebhookSecret
                 fields { field externalField sourceOfTruth conflictPolicy } }
    errors { field code message }
  }
}
"""

TICKET_FIELDS = """
  id provider externalKey number url syncState lastSyncedAt lastError attempts
  conflicts { field internalValue externalValue detectedAt }
"""

CREATE_TICKET = f"""
mutation Create($input: CreateTicketInput!) {{
  createTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }} errors {{ field code message }} }}
}}
"""

LINK_TICKET = f"""
mutation Link($input: LinkTicketInput!) {{
  linkTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }} errors {{ field code message }} }}
}}
"""

SYNC_TICKET = f"""
mutation Sync($input: TicketInput!) {{
  syncTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }} errors {{ field code message }} }}
}}
"""

UNLINK_TICKET = f"""
mutation Unlink($input: TicketInput!) {{
  unlinkTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }} errors {{ field code message }} }}
}}
"""

RESOLVE_CONFLICT = f"""
mutation Resolve($input: ResolveTicketConflictInput!) {{
  resolveTicketConflict(input: $input) {{
    ticket {{ {TICKET_FIELDS} }} errors {{ field code message }}
  }}
}}
"""

INCIDENT = f"""
query Incident($id: ID!) {{
  incident(id: $id) {{
    id title description status urgency impact version
    connectedTickets {{ {TICKET_FIELDS} }}
    timeline(first: 200) {{ edges {{ node {{ type actor data }} }} }}
  }}
}}
"""

UPDATE = """
mutation Update($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { id title version } errors { code message } }
}
"""

FOLLOW = """
subscription Follow($id: ID!) { timelineEventAdded(incidentId: $id) { seq type actor data } }
"""

ADD_NOTE = """
mutation Note($input: AddNoteInput!) {
  addNote(input: $input) { event { id seq } errors { code message } }
}
"""


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)],
)
def sync_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, log_dir: Path
) -> Iterator[Server]:
    """A server of its own (fresh database) with fast retries, so tests need not wait."""
    with fresh_backend(request.param, tmp_path_factory.mktemp("itsm")) as backend:
        server = Server(
            backend,
            extra_env={
                "INCIDENTGRAPH_ITSM_MAX_ATTEMPTS": "6",
                "INCIDENTGRAPH_ITSM_RETRY_BASE_SECONDS": "0.3",
                "INCIDENTGRAPH_ITSM_RETRY_MAX_SECONDS": "1",
                "INCIDENTGRAPH_ITSM_POLL_SECONDS": "0.1",
                "INCIDENTGRAPH_ITSM_HTTP_TIMEOUT_SECONDS": "1",
                "INCIDENTGRAPH_ITSM_RECONCILE_SECONDS": "0",
            },
        ).start(log_dir)
        yield server
        server.stop()


@pytest.fixture(scope="module")
def servicenow() -> Iterator[FakeServiceNow]:
    with FakeServiceNow() as fake:
        yield fake


@pytest.fixture(scope="module")
def jira() -> Iterator[FakeJira]:
    with FakeJira() as fake:
        yield fake


@pytest.fixture
async def api(
    sync_server: Server, servicenow: FakeServiceNow, jira: FakeJira
) -> AsyncIterator[GraphQLClient]:
    servicenow.clear_faults()
    servicenow.up()
    jira.clear_faults()
    client = sync_server.client()
    await configure(
        client, "SERVICENOW", servicenow.url, username="integration", secret="s3cret-pw"
    )
    await configure(
        client,
        "JIRA",
        jira.url,
        username="bot@example.com",
        secret="jira-api-token-xyz",
        projectKey="OPS",
    )
    yield client
    await client.aclose()


# --- helpers --------------------------------------------------------------------------------


async def configure(client: GraphQLClient, provider: str, url: str, **extra: Any) -> dict[str, Any]:
    values = {"provider": provider, "baseUrl": url, "webhookSecret": WEBHOOK_SECRET, **extra}
    data = await client.execute(CONFIGURE, {"input": values})
    payload = data["configureItsmConnection"]
    assert payload["errors"] == [], payload
    return payload["connection"]  # type: ignore[no-any-return]


async def set_policy(client: GraphQLClient, provider: str, url: str, **rule: Any) -> None:
    credentials: dict[str, Any] = {} if provider == "SERVICENOW" else {"projectKey": "OPS"}
    await configure(client, provider, url, fields=[rule], **credentials)


async def incident_of(client: GraphQLClient, incident_id: str) -> dict[str, Any]:
    return (await client.execute(INCIDENT, {"id": incident_id}))["incident"]  # type: ignore[no-any-return]


async def ticket_of(client: GraphQLClient, incident_id: str) -> dict[str, Any]:
    tickets = (await incident_of(client, incident_id))["connectedTickets"]
    assert len(tickets) == 1, tickets
    return tickets[0]  # type: ignore[no-any-return]


async def ticket_in(
    client: GraphQLClient, incident_id: str, state: str, timeout: float = 15
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        ticket = await ticket_of(client, incident_id)
        return ticket if ticket["syncState"] == state else None

    return await eventually(check, timeout=timeout, what=f"ticket {state}")  # type: ignore[no-any-return]


async def create_ticket(client: GraphQLClient, incident_id: str, provider: str) -> dict[str, Any]:
    data = await client.execute(
        CREATE_TICKET, {"input": {"incidentId": incident_id, "provider": provider}}
    )
    assert data["createTicket"]["errors"] == [], data
    return data["createTicket"]["ticket"]  # type: ignore[no-any-return]


async def synced_incident(
    client: GraphQLClient, provider: str, **overrides: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    incident = await declare(client, title=f"Payments slow {uuid.uuid4().hex[:6]}", **overrides)
    await create_ticket(client, incident["id"], provider)
    return incident, await ticket_in(client, incident["id"], "IN_SYNC")


def signed(
    body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: float | None = None
) -> dict[str, str]:
    stamp = str(int(time.time() if timestamp is None else timestamp))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "X-Incidentgraph-Timestamp": stamp,
        "X-Incidentgraph-Signature": f"sha256={digest}",
        "Content-Type": "application/json",
    }


async def post_webhook(
    server: Server,
    provider: str,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> httpx.Response:
    raw = body if body is not None else json.dumps(payload).encode()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        return await http.post(
            f"/webhooks/itsm/{provider}?tenant=default",
            content=raw,
            headers=signed(raw) if headers is None else headers,
        )


def types(incident: dict[str, Any]) -> list[str]:
    return [e["node"]["type"] for e in incident["timeline"]["edges"]]


async def add_note(
    client: GraphQLClient, incident_id: str, body: str, classification: str = "INTERNAL"
) -> None:
    data = await client.execute(
        ADD_NOTE,
        {"input": {"incidentId": incident_id, "body": body, "classification": classification}},
    )
    assert data["addNote"]["errors"] == [], data


async def notes_of(client: GraphQLClient, incident_id: str) -> list[tuple[str | None, str]]:
    """(actor, body) of the incident's notes, oldest first."""
    return [
        (e["node"]["actor"], e["node"]["data"]["body"])
        for e in (await incident_of(client, incident_id))["timeline"]["edges"]
        if e["node"]["type"] == "com.incidents.note_added.v1"
    ]


def posted(texts: list[str], body: str) -> int:
    """How many of a ticket's notes are our note `body` (with its marker)."""
    return sum(1 for t in texts if t.startswith(body) and "[incidentgraph note " in t)


# --- happy paths ----------------------------------------------------------------------------


async def test_servicenow_ticket_follows_the_incident_both_ways(
    api: GraphQLClient, sync_server: Server, servicenow: FakeServiceNow
) -> None:
    # given an incident with a ServiceNow ticket created from it
    incident, ticket = await synced_incident(api, "SERVICENOW", urgency="HIGH", impact="MEDIUM")
    record = servicenow.ticket(ticket["externalKey"])
    assert record["short_description"] == incident["title"]
    assert (record["urgency"], record["impact"], record["state"]) == ("1", "2", "1")
    assert ticket["number"].startswith("INC") and ticket["url"]

    # when the incident changes, the ticket follows
    await api.execute(UPDATE, {"input": {"id": incident["id"], "title": "Payments down"}})
    await transition(api, incident["id"], "IN_PROGRESS")

    async def pushed() -> bool:
        record = servicenow.ticket(ticket["externalKey"])
        return record["short_description"] == "Payments down" and record["state"] == "2"

    await eventually(pushed, what="the ticket updated")
    await ticket_in(api, incident["id"], "IN_SYNC")

    # and when a person changes the ticket, the incident follows
    servicenow.edit(ticket["externalKey"], short_description="Payments down in EU", state="3")
    response = await post_webhook(
        sync_server, "servicenow", servicenow.webhook_payload(ticket["externalKey"])
    )
    assert response.status_code == 200, response.text
    after = await incident_of(api, incident["id"])
    assert after["title"] == "Payments down in EU"
    assert after["status"] == "PENDING"
    seen = types(after)
    assert "com.incidents.ticket.linked.v1" in seen
    assert "com.incidents.ticket.synced.v1" in seen
    assert "com.incidents.provider.servicenow.ingested.v1" in seen
    # nothing was echoed back: the ticket holds what the person wrote
    assert servicenow.ticket(ticket["externalKey"])["state"] == "3"
    assert (await ticket_of(api, incident["id"]))["syncState"] == "IN_SYNC"


async def test_jira_issue_follows_the_incident_both_ways(
    api: GraphQLClient, sync_server: Server, jira: FakeJira
) -> None:
    # given an incident with a Jira issue created from it
    incident, ticket = await synced_incident(api, "JIRA", urgency="LOW")
    issue = jira.issue(ticket["externalKey"])
    assert issue["fields"]["summary"] == incident["title"]
    assert issue["fields"]["priority"]["name"] == "Low"

    # when the incident moves on, the issue moves along Jira's workflow
    await transition(api, incident["id"], "IN_PROGRESS")
    await transition(api, incident["id"], "RESOLVED", resolutionSummary="Rolled back")

    async def moved() -> bool:
        return bool(jira.issue(ticket["externalKey"])["fields"]["status"]["name"] == "Resolved")

    await eventually(moved, what="the issue resolved")
    await ticket_in(api, incident["id"], "IN_SYNC")

    # and a person reopening the issue in Jira reopens the incident
    jira.edit(ticket["externalKey"], status="In Progress", summary="Reopened: still failing")
    response = await post_webhook(sync_server, "jira", jira.webhook_payload(ticket["externalKey"]))
    assert response.status_code == 200, response.text
    after = await incident_of(api, incident["id"])
    assert after["status"] == "IN_PROGRESS"
    assert after["title"] == "Reopened: still failing"
    assert "com.incidents.provider.jira.ingested.v1" in types(after)


async def test_linking_an_existing_ticket_and_unlinking_it(
    api: GraphQLClient, servicenow: FakeServiceNow
) -> None:
    # given a ticket someone opened in ServiceNow
    _, other = await synced_incident(api, "SERVICENOW")
    incident = await declare(api, title="Linked later")

    # when it is linked to a second incident... it is refused: one incident per ticket
    data = await api.execute(
        LINK_TICKET,
        {
            "input": {
                "incidentId": incident["id"],
                "provider": "SERVICENOW",
                "externalKey": other["externalKey"],
            }
        },
    )
    assert data["linkTicket"]["errors"][0]["code"] == "CONFLICT"

    # and a fresh ticket links, takes the incident's values, and unlinks
    fresh = await declare(api, title="Another")
    await create_ticket(api, fresh["id"], "SERVICENOW")
    ticket = await ticket_in(api, fresh["id"], "IN_SYNC")
    data = await api.execute(UNLINK_TICKET, {"input": {"id": ticket["id"]}})
    assert data["unlinkTicket"]["errors"] == []
    after = await incident_of(api, fresh["id"])
    assert after["connectedTickets"] == []
    assert "com.incidents.ticket.unlinked.v1" in types(after)


async def test_linking_to_an_unknown_incident_names_the_incident_id_field(
    api: GraphQLClient, servicenow: FakeServiceNow
) -> None:
    # given incident ids that name no incident: a well-formed one and a malformed one
    unknown = [f"inc_{uuid.uuid4().hex}", "not-an-incident"]
    records_before = len(servicenow.records)

    # when a ticket is linked to, or created from, each
    errors = []
    for incident_id in unknown:
        linked = await api.execute(
            LINK_TICKET,
            {
                "input": {
                    "incidentId": incident_id,
                    "provider": "SERVICENOW",
                    "externalKey": uuid.uuid4().hex,
                }
            },
        )
        created = await api.execute(
            CREATE_TICKET, {"input": {"incidentId": incident_id, "provider": "SERVICENOW"}}
        )
        errors += [linked["linkTicket"], created["createTicket"]]

    # then each is NOT_FOUND on the input's incidentId field, and nothing is made
    assert [(p["ticket"], [(e["field"], e["code"]) for e in p["errors"]]) for p in errors] == [
        (None, [("incidentId", "NOT_FOUND")])
    ] * 4
    await asyncio.sleep(0.5)
    assert len(servicenow.records) == records_before


# --- failures and retries -------------------------------------------------------------------


async def test_errors_timeouts_rate_limits_and_refusals_are_retried_without_duplicates(
    api: GraphQLClient, servicenow: FakeServiceNow
) -> None:
    # given ServiceNow failing in every way it can, one after another
    servicenow.fail_next(1, status=500)
    servicenow.rate_limit_next(1, retry_after="1")
    servicenow.delay_next(1, seconds=1.5, method="POST")
    incident = await declare(api, title=f"Flaky {uuid.uuid4().hex[:6]}")

    # when a ticket is created from the incident
    await create_ticket(api, incident["id"], "SERVICENOW")
    ticket = await ticket_in(api, incident["id"], "IN_SYNC", timeout=30)

    # then exactly one ticket exists for it, however often the create was tried
    servicenow.wait_idle()
    made = [r for r in servicenow.records.values() if r["short_description"] == incident["title"]]
    assert len(made) == 1
    assert made[0]["sys_id"] == ticket["externalKey"]
    assert ticket["lastError"] is None

    # and a refused connection is retried too
    servicenow.down()
    await api.execute(UPDATE, {"input": {"id": incident["id"], "title": "Back soon"}})
    await eventually(lambda: _has_error(api, incident["id"]), what="an error recorded while down")
    servicenow.up()

    async def pushed() -> bool:
        return servicenow.ticket(ticket["externalKey"])["short_description"] == "Back soon"

    await eventually(pushed, timeout=20, what="the change delivered after the outage")
    await ticket_in(api, incident["id"], "IN_SYNC")


async def _has_error(api: GraphQLClient, incident_id: str) -> bool:
    ticket = await ticket_of(api, incident_id)
    return ticket["lastError"] is not None or ticket["syncState"] == "ERROR"


async def test_a_change_that_keeps_failing_is_dead_lettered_then_retried_by_hand(
    api: GraphQLClient, servicenow: FakeServiceNow
) -> None:
    # given a synced ticket and ServiceNow answering 500 to every update
    incident, ticket = await synced_incident(api, "SERVICENOW")
    servicenow.fail_next(100, status=500, method="PATCH")

    # when the incident changes
    await api.execute(UPDATE, {"input": {"id": incident["id"], "title": "Never arrives"}})

    # then after the configured attempts the ticket is in ERROR, with the error and an event
    failed = await ticket_in(api, incident["id"], "ERROR")
    assert failed["lastError"] and "500" in failed["lastError"]
    assert failed["attempts"] == 6
    assert "com.incidents.ticket.sync_failed.v1" in types(await incident_of(api, incident["id"]))

    # and once ServiceNow is well again, syncTicket delivers it
    servicenow.clear_faults()
    await api.execute(SYNC_TICKET, {"input": {"id": ticket["id"]}})
    await ticket_in(api, incident["id"], "IN_SYNC")
    assert servicenow.ticket(ticket["externalKey"])["short_description"] == "Never arrives"


# --- webhooks -------------------------------------------------------------------------------


async def test_webhooks_without_a_valid_fresh_signature_are_refused(
    api: GraphQLClient, sync_server: Server, servicenow: FakeServiceNow
) -> None:
    # given a synced ticket that a person renamed
    incident, ticket = await synced_incident(api, "SERVICENOW")
    servicenow.edit(ticket["externalKey"], short_description="Forged")
    body = json.dumps(servicenow.webhook_payload(ticket["externalKey"])).encode()

    # when the change arrives unsigned, wrongly signed, signed long ago or for another tenant
    missing = await post_webhook(
        sync_server, "servicenow", None, body=body, headers={"Content-Type": "application/json"}
    )
    wrong = await post_webhook(
        sync_server, "servicenow", None, body=body, headers=signed(body, secret="x" * 20)
    )
    stale = await post_webhook(
        sync_server,
        "servicenow",
        None,
        body=body,
        headers=signed(body, timestamp=time.time() - 600),
    )

    # then each is refused and the incident is unchanged
    assert [r.status_code for r in (missing, wrong, stale)] == [401, 401, 401]
    assert "stale" in stale.json()["error"]
    assert (await incident_of(api, incident["id"]))["title"] == incident["title"]


def jira_signed(body: bytes, *, delivery: str, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """The headers Jira Cloud itself sends with a webhook registered with a secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature": f"sha256={digest}",
        "X-Atlassian-Webhook-Identifier": delivery,
        "Content-Type": "application/json",
    }


async def test_jira_signs_its_webhooks_itself_and_each_delivery_counts_once(
    api: GraphQLClient, sync_server: Server, jira: FakeJira
) -> None:
    # given a synced Jira issue a person renamed, and Jira's webhook for it
    incident, ticket = await synced_incident(api, "JIRA")
    key = ticket["externalKey"]
    jira.edit(key, summary="Renamed in Jira")
    payload = jira.webhook_payload(key)
    body = json.dumps(payload).encode()
    delivery = str(uuid.uuid4())
    forged = json.dumps({**payload, "user": {"displayName": "Mallory"}}).encode()
    captured = json.dumps({**payload, "timestamp": int((time.time() - 600) * 1000)}).encode()

    async def send(raw: bytes, headers: dict[str, str]) -> httpx.Response:
        return await post_webhook(sync_server, "jira", None, body=raw, headers=headers)

    # when it comes unsigned, signed with another secret, altered after signing, or signed
    # but ten minutes old
    refused = [
        await send(body, {"Content-Type": "application/json"}),
        await send(body, jira_signed(body, delivery=delivery, secret="y" * 24)),
        await send(forged, jira_signed(body, delivery=delivery)),
        await send(captured, jira_signed(captured, delivery=str(uuid.uuid4()))),
    ]

    # then each is refused, and the incident is unchanged
    assert [r.status_code for r in refused] == [401, 401, 401, 401]
    assert "stale" in refused[-1].json()["error"]
    assert (await incident_of(api, incident["id"]))["title"] == incident["title"]

    # when Jira delivers it signed its own way, and then delivers it again
    replies = [await send(body, jira_signed(body, delivery=delivery)) for _ in range(2)]

    # then it is applied once: the second delivery changes nothing
    assert [r.json()["status"] for r in replies] == ["applied", "duplicate"]
    after = await incident_of(api, incident["id"])
    assert after["title"] == "Renamed in Jira"
    assert types(after).count("com.incidents.provider.jira.ingested.v1") == 1
    assert types(after).count("com.incidents.updated.v1") == 1


async def test_duplicate_and_out_of_order_webhooks_change_nothing(
    api: GraphQLClient, sync_server: Server, servicenow: FakeServiceNow
) -> None:
    # given two successive edits of a ticket, and the webhook of each
    incident, ticket = await synced_incident(api, "SERVICENOW")
    key = ticket["externalKey"]
    servicenow.edit(key, short_description="First edit")
    first = servicenow.webhook_payload(key)
    clock = servicenow.clock
    servicenow.clock = lambda: clock() + timedelta(seconds=5)
    try:
        servicenow.edit(key, short_description="Second edit")
        second = servicenow.webhook_payload(key)
    finally:
        servicenow.clock = clock

    # when the second arrives twice, then the first one late
    replies = [
        await post_webhook(sync_server, "servicenow", second),
        await post_webhook(sync_server, "servicenow", second),
        await post_webhook(sync_server, "servicenow", first),
    ]

    # then the second is applied once, the duplicate and the late one change nothing
    assert [r.json()["status"] for r in replies] == ["applied", "duplicate", "stale"]
    after = await incident_of(api, incident["id"])
    assert after["title"] == "Second edit"
    updates = [
        e for e in after["timeline"]["edges"] if e["node"]["type"] == "com.incidents.updated.v1"
    ]
    assert len(updates) == 1


async def test_two_servicenow_edits_in_one_second_are_both_applied_in_order(
    api: GraphQLClient, sync_server: Server, servicenow: FakeServiceNow
) -> None:
    # given two edits of a ticket within one second: the same sys_updated_on, and only
    # sys_mod_count telling them apart
    incident, ticket = await synced_incident(api, "SERVICENOW")
    key = ticket["externalKey"]
    clock = servicenow.clock
    second = clock() + timedelta(seconds=3)
    servicenow.clock = lambda: second
    try:
        servicenow.edit(key, short_description="First in the second")
        first_edit = servicenow.webhook_payload(key)
        servicenow.edit(key, short_description="Second in the second")
        second_edit = servicenow.webhook_payload(key)
    finally:
        servicenow.clock = clock
    assert first_edit["sys_updated_on"] == second_edit["sys_updated_on"]

    # when both arrive in order, and then the first again as a new delivery (a replay)
    # (encoded anew: a delivery is known by its body, whatever the delivery header says)
    replay = json.dumps(first_edit, indent=1).encode()
    replies = [
        await post_webhook(sync_server, "servicenow", first_edit),
        await post_webhook(sync_server, "servicenow", second_edit),
        await post_webhook(
            sync_server,
            "servicenow",
            None,
            body=replay,
            headers={**signed(replay), "X-Incidentgraph-Delivery": uuid.uuid4().hex},
        ),
    ]

    # then both edits are applied, in order, and the replayed older one changes nothing
    assert [r.json()["status"] for r in replies] == ["applied", "applied", "stale"]
    after = await incident_of(api, incident["id"])
    assert after["title"] == "Second in the second"
    titles = [
        e["node"]["data"]["changes"]["title"]["to"]
        for e in after["timeline"]["edges"]
        if e["node"]["type"] == "com.incidents.updated.v1"
    ]
    assert titles == ["First in the second", "Second in the second"]
    assert servicenow.ticket(key)["short_description"] == "Second in the second"


async def test_a_quiet_servicenow_edit_in_the_second_of_our_own_write_is_drift(
    api: GraphQLClient, servicenow: FakeServiceNow
) -> None:
    # given a ticket created from an incident, and renamed by a person within the same
    # second as our write (no webhook)
    clock = servicenow.clock
    second = clock()
    servicenow.clock = lambda: second
    try:
        incident, ticket = await synced_incident(api, "SERVICENOW")
        servicenow.edit(ticket["externalKey"], short_description="Renamed in that second")

        # when a sync is forced
        data = await api.execute(SYNC_TICKET, {"input": {"id": ticket["id"]}})
        assert data["syncTicket"]["errors"] == []

        # then the change is found by its sys_mod_count: applied, and shown as drift
        await ticket_in(api, incident["id"], "DRIFTED")
    finally:
        servicenow.clock = clock
    assert (await incident_of(api, incident["id"]))["title"] == "Renamed in that second"


async def test_a_transition_our_lifecycle_forbids_becomes_a_conflict(
    api: GraphQLClient, sync_server: Server, servicenow: FakeServiceNow
) -> None:
    # given an OPEN incident's ticket that a person closed in ServiceNow
    incident, ticket = await synced_incident(api, "SERVICENOW")
    servicenow.edit(ticket["externalKey"], state="7", close_code="Solved", close_notes="done")

    # when the change arrives
    response = await post_webhook(
        sync_server, "servicenow", servicenow.webhook_payload(ticket["externalKey"])
    )

    # then the incident is untouched and the ticket holds a conflict on status
    assert response.json()["conflicts"] == ["status"]
    after = await incident_of(api, incident["id"])
    assert after["status"] == "OPEN"
    conflicted = after["connectedTickets"][0]
    assert conflicted["syncState"] == "CONFLICT"
    assert conflicted["conflicts"][0]["field"] == "status"
    assert conflicted["conflicts"][0]["externalValue"] == "7"
    assert "com.incidents.ticket.conflict.v1" in types(after)

    # and other fields still sync while status waits
    await api.execute(UPDATE, {"input": {"id": incident["id"], "title": "Still syncing"}})

    async def titled() -> bool:
        return servicenow.ticket(ticket["externalKey"])["short_description"] == "Still syncing"

    await eventually(titled, what="the title delivered despite the status conflict")
    assert servicenow.ticket(ticket["externalKey"])["state"] == "7"

    # and choosing our side puts our status back on the ticket
    data = await api.execute(
        RESOLVE_CONFLICT, {"input": {"id": ticket["id"], "field": "STATUS", "choose": "INTERNAL"}}
    )
    assert data["resolveTicketConflict"]["errors"] == []
    await ticket_in(api, incident["id"], "IN_SYNC")
    assert servicenow.ticket(ticket["externalKey"])["state"] == "1"


# --- the same field changed on both sides ---------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "title_after"),
    [
        ("INTERNAL_WINS", "ours"),
        ("EXTERNAL_WINS", "theirs"),
        ("MOST_RECENT_ALLOWED", "ours"),
        ("STATE_MACHINE", "ours"),
    ],
)
async def test_both_sides_edit_the_title_at_once(
    api: GraphQLClient, servicenow: FakeServiceNow, policy: str, title_after: str
) -> None:
    # given the title's conflict policy, and a synced ticket
    await set_policy(api, "SERVICENOW", servicenow.url, field="TITLE", conflictPolicy=policy)
    incident, ticket = await synced_incident(api, "SERVICENOW")

    # when a person renames the ticket (its webhook not yet arrived) and we rename the incident
    servicenow.edit(ticket["externalKey"], short_description="theirs")
    await api.execute(UPDATE, {"input": {"id": incident["id"], "title": "ours"}})

    # then both sides end with the winner's title
    async def settled() -> bool:
        record = servicenow.ticket(ticket["externalKey"])
        mine = (await incident_of(api, incident["id"]))["title"]
        return record["short_description"] == mine == title_after

    await eventually(settled, what=f"{policy}: both sides at {title_after!r}")
    await set_policy(api, "SERVICENOW", servicenow.url, field="TITLE")


async def test_manual_policy_waits_for_a_person_and_blocks_only_that_field(
    api: GraphQLClient, servicenow: FakeServiceNow
) -> None:
    # given a manual title policy and a synced ticket
    await set_policy(api, "SERVICENOW", servicenow.url, field="TITLE", conflictPolicy="MANUAL")
    try:
        incident, ticket = await synced_incident(api, "SERVICENOW")

        # when both sides rename it at once
        servicenow.edit(ticket["externalKey"], short_description="theirs")
        await api.execute(UPDATE, {"input": {"id": incident["id"], "title": "ours"}})

        # then the conflict waits, each side keeping its own title
        conflicted = await ticket_in(api, incident["id"], "CONFLICT")
        assert conflicted["conflicts"][0]["field"] == "title"
        assert conflicted["conflicts"][0]["internalValue"] == "ours"
        assert conflicted["conflicts"][0]["externalValue"] == "theirs"
        assert servicenow.ticket(ticket["externalKey"])["short_description"] == "theirs"

        # and other fields still flow
        await transition(api, incident["id"], "IN_PROGRESS")

        async def moved() -> bool:
            return servicenow.ticket(ticket["externalKey"])["state"] == "2"

        await eventually(moved, what="status delivered despite the title conflict")

        # when a person picks the ticket's title
        data = await api.execute(
            RESOLVE_CONFLICT,
            {"input": {"id": ticket["id"], "field": "TITLE", "choose": "EXTERNAL"}},
        )
        assert data["resolveTicketConflict"]["errors"] == []

        # then the incident takes it and the ticket is in sync again
        await ticket_in(api, incident["id"], "IN_SYNC")
        assert (await incident_of(api, incident["id"]))["title"] == "theirs"
    finally:
        await set_policy(api, "SERVICENOW", servicenow.url, field="TITLE")


async def test_sync_ticket_finds_drift_nobody_announced(api: GraphQLClient, jira: FakeJira) -> None:
    # given a synced Jira issue changed by a person whose webhook never came
    incident, ticket = await synced_incident(api, "JIRA")
    jira.edit(ticket["externalKey"], summary="Changed quietly")

    # when a sync is forced
    data = await api.execute(SYNC_TICKET, {"input": {"id": ticket["id"]}})
    assert data["syncTicket"]["errors"] == []

    # then the change is found, applied, and the ticket shows the drift
    drifted = await ticket_in(api, incident["id"], "DRIFTED")
    assert drifted["lastSyncedAt"]
    after = await incident_of(api, incident["id"])
    assert after["title"] == "Changed quietly"
    assert "com.incidents.ticket.sync_requested.v1" in types(after)


# --- notes both ways ------------------------------------------------------------------------


async def test_notes_become_servicenow_work_notes_and_work_notes_become_notes(
    api: GraphQLClient, sync_server: Server, servicenow: FakeServiceNow
) -> None:
    # given a synced ticket, and ServiceNow slow to answer the first work note it is sent
    incident, ticket = await synced_incident(api, "SERVICENOW")
    key = ticket["externalKey"]
    servicenow.delay_next(1, seconds=1.5, method="PATCH")

    # when notes of every classification are added to the incident
    await add_note(api, incident["id"], "Rolled back the release")
    await add_note(api, incident["id"], "Customer ACME's card data seen", "CONFIDENTIAL")
    await add_note(api, incident["id"], "Restricted detail", "RESTRICTED")
    await add_note(api, incident["id"], "We are investigating", "PUBLIC")

    # then the INTERNAL and PUBLIC ones become work notes, once each despite the retry
    async def delivered() -> bool:
        return posted(servicenow.work_notes(key), "We are investigating") == 1

    await eventually(delivered, timeout=20, what="the notes posted as work notes")
    await ticket_in(api, incident["id"], "IN_SYNC")
    servicenow.wait_idle()
    notes = servicenow.work_notes(key)
    assert posted(notes, "Rolled back the release") == 1
    assert len(notes) == 2, notes
    assert not any("ACME" in n or "Restricted" in n for n in notes)

    # when a person adds a work note and the webhook arrives twice
    servicenow.edit(key, work_notes="Vendor confirms the fix")
    payload = servicenow.webhook_payload(key)
    replies = [await post_webhook(sync_server, "servicenow", payload) for _ in range(2)]
    assert [r.json()["status"] for r in replies] == ["applied", "duplicate"]

    # then it becomes one note on the incident, by ServiceNow
    async def imported() -> list[tuple[str | None, str]]:
        found = [n for n in await notes_of(api, incident["id"]) if "Vendor" in n[1]]
        return found

    assert await eventually(imported, what="the work note imported") == [
        ("servicenow", "Vendor confirms the fix")
    ]

    # and a forced sync imports nothing twice, and our own work notes never come back
    await api.execute(SYNC_TICKET, {"input": {"id": ticket["id"]}})
    await ticket_in(api, incident["id"], "IN_SYNC")
    bodies = [body for _, body in await notes_of(api, incident["id"])]
    assert bodies.count("Vendor confirms the fix") == 1
    assert bodies.count("Rolled back the release") == 1
    assert len(servicenow.work_notes(key)) == 3


async def test_notes_become_jira_comments_and_comments_become_notes(
    api: GraphQLClient, sync_server: Server, jira: FakeJira
) -> None:
    # given a synced Jira issue
    incident, ticket = await synced_incident(api, "JIRA")
    key = ticket["externalKey"]

    # when a note is added, and a confidential one
    await add_note(api, incident["id"], "Failover started\nETA 10 minutes")
    await add_note(api, incident["id"], "Root cause: leaked key", "CONFIDENTIAL")

    # then the first becomes a comment on the issue, the confidential one stays home
    async def commented() -> bool:
        return posted(jira.comments(key), "Failover started") == 1

    await eventually(commented, what="the note posted as a comment")
    await ticket_in(api, incident["id"], "IN_SYNC")
    assert len(jira.comments(key)) == 1
    assert not any("leaked" in c for c in jira.comments(key))

    # when a person comments in Jira and the webhook arrives
    jira.edit(key, comment="Vendor ticket opened")
    response = await post_webhook(sync_server, "jira", jira.webhook_payload(key))

    # then the comment is a note on the incident at once, by Jira
    assert response.json()["notes"] == 1, response.text
    assert ("jira", "Vendor ticket opened") in await notes_of(api, incident["id"])

    # and neither a later webhook nor a forced sync imports it, or our comment, again
    jira.edit(key, summary="Renamed in Jira")
    response = await post_webhook(sync_server, "jira", jira.webhook_payload(key))
    assert response.json()["notes"] == 0, response.text
    await api.execute(SYNC_TICKET, {"input": {"id": ticket["id"]}})
    await eventually(
        lambda: _synced_after_request(api, incident["id"]), what="the forced sync done"
    )
    bodies = [body for _, body in await notes_of(api, incident["id"])]
    assert bodies.count("Vendor ticket opened") == 1
    assert sum(1 for b in bodies if b.startswith("Failover started")) == 1
    assert len(jira.comments(key)) == 2


async def _synced_after_request(api: GraphQLClient, incident_id: str) -> bool:
    seen = types(await incident_of(api, incident_id))
    last_request = max(
        i for i, t in enumerate(seen) if t == "com.incidents.ticket.sync_requested.v1"
    )
    return "com.incidents.ticket.synced.v1" in seen[last_request:]


async def test_a_connection_can_export_public_notes_only_and_never_confidential_ones(
    api: GraphQLClient, servicenow: FakeServiceNow
) -> None:
    # given a connection that exports PUBLIC notes only, and a PUBLIC incident (a note is
    # never less classified than its incident)
    await configure(api, "SERVICENOW", servicenow.url, exportNotesUpTo="PUBLIC")
    try:
        incident, ticket = await synced_incident(api, "SERVICENOW", classification="PUBLIC")

        # when an INTERNAL note and then a PUBLIC one are added
        await add_note(api, incident["id"], "Internal chatter")
        await add_note(api, incident["id"], "Status page updated", "PUBLIC")

        # then only the PUBLIC one is posted (notes go out in order: the first was passed over)
        async def delivered() -> bool:
            return posted(servicenow.work_notes(ticket["externalKey"]), "Status page") == 1

        await eventually(delivered, what="the public note posted")
        assert len(servicenow.work_notes(ticket["externalKey"])) == 1

        # and a connection may not be set to export CONFIDENTIAL notes
        data = await api.execute(
            CONFIGURE,
            {
                "input": {
                    "provider": "SERVICENOW",
                    "baseUrl": servicenow.url,
                    "exportNotesUpTo": "CONFIDENTIAL",
                }
            },
        )
        assert data["configureItsmConnection"]["errors"][0]["code"] == "VALIDATION"
    finally:
        await configure(api, "SERVICENOW", servicenow.url, exportNotesUpTo="INTERNAL")


# --- Jira under each conflict policy --------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "title_after"),
    [("INTERNAL_WINS", "ours"), ("EXTERNAL_WINS", "theirs"), ("MOST_RECENT_ALLOWED", "ours")],
)
async def test_both_sides_edit_the_jira_summary_at_once(
    api: GraphQLClient, jira: FakeJira, policy: str, title_after: str
) -> None:
    # given the title's conflict policy, and a synced Jira issue
    await set_policy(api, "JIRA", jira.url, field="TITLE", conflictPolicy=policy)
    try:
        incident, ticket = await synced_incident(api, "JIRA")

        # when a person renames the issue (no webhook yet) and we rename the incident
        jira.edit(ticket["externalKey"], summary="theirs")
        await api.execute(UPDATE, {"input": {"id": incident["id"], "title": "ours"}})

        # then both sides end with the winner's title, and stay in sync
        async def settled() -> bool:
            summary = jira.issue(ticket["externalKey"])["fields"]["summary"]
            mine = (await incident_of(api, incident["id"]))["title"]
            return bool(summary == mine == title_after)

        await eventually(settled, what=f"{policy}: both sides at {title_after!r}")
        await ticket_in(api, incident["id"], "IN_SYNC")
    finally:
        await set_policy(api, "JIRA", jira.url, field="TITLE")


async def test_manual_policy_on_jira_waits_for_a_person(
    api: GraphQLClient, sync_server: Server, jira: FakeJira
) -> None:
    # given a manual title policy and a synced Jira issue
    await set_policy(api, "JIRA", jira.url, field="TITLE", conflictPolicy="MANUAL")
    try:
        incident, ticket = await synced_incident(api, "JIRA")
        key = ticket["externalKey"]

        # when both sides rename it at once, the person's change arriving by webhook
        jira.edit(key, summary="theirs")
        await api.execute(UPDATE, {"input": {"id": incident["id"], "title": "ours"}})
        response = await post_webhook(sync_server, "jira", jira.webhook_payload(key))
        assert response.status_code == 200, response.text

        # then the conflict waits, each side keeping its own title
        conflicted = await ticket_in(api, incident["id"], "CONFLICT")
        assert [
            (c["field"], c["internalValue"], c["externalValue"]) for c in conflicted["conflicts"]
        ] == [("title", "ours", "theirs")]
        assert jira.issue(key)["fields"]["summary"] == "theirs"

        # and status still flows along Jira's workflow
        await transition(api, incident["id"], "IN_PROGRESS")

        async def moved() -> bool:
            return bool(jira.issue(key)["fields"]["status"]["name"] == "In Progress")

        await eventually(moved, what="status delivered despite the title conflict")
        assert jira.issue(key)["fields"]["summary"] == "theirs"

        # when a person keeps our title
        data = await api.execute(
            RESOLVE_CONFLICT,
            {"input": {"id": ticket["id"], "field": "TITLE", "choose": "INTERNAL"}},
        )
        assert data["resolveTicketConflict"]["errors"] == []

        # then the issue takes it and both sides are in sync again
        await ticket_in(api, incident["id"], "IN_SYNC")
        assert jira.issue(key)["fields"]["summary"] == "ours"
        assert (await incident_of(api, incident["id"]))["title"] == "ours"
    finally:
        await set_policy(api, "JIRA", jira.url, field="TITLE")


# --- live -----------------------------------------------------------------------------------


async def test_ticket_events_arrive_live_on_the_timeline_subscription(
    api: GraphQLClient, sync_server: Server, servicenow: FakeServiceNow
) -> None:
    # given someone following an incident's timeline over a WebSocket
    incident = await declare(api, title=f"Live {uuid.uuid4().hex[:6]}")
    sub = await subscriber(sync_server)
    try:
        await subscribe_and_wait(sub, sync_server, FOLLOW, {"id": incident["id"]})

        # when a ticket is created from the incident, and a person closes it in ServiceNow
        await create_ticket(api, incident["id"], "SERVICENOW")
        seen: list[dict[str, Any]] = []

        async def until(kind: str) -> dict[str, Any]:
            while True:
                event = (await sub.next_data(timeout=15))["timelineEventAdded"]
                seen.append(event)
                if event["type"] == kind:
                    return event

        linked = await until("com.incidents.ticket.linked.v1")
        synced = await until("com.incidents.ticket.synced.v1")
        key = synced["data"]["externalKey"]
        servicenow.edit(key, state="7", close_code="Solved", close_notes="done")
        await post_webhook(sync_server, "servicenow", servicenow.webhook_payload(key))
        conflict = await until("com.incidents.ticket.conflict.v1")

        # then each arrived live, in order, without a gap
        assert linked["data"]["provider"] == "servicenow" and linked["data"]["created"] is True
        assert synced["data"]["number"].startswith("INC")
        assert conflict["data"]["field"] == "status"
        seqs = [e["seq"] for e in seen]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    finally:
        await sub.close()


# --- drift found by the periodic reconcile --------------------------------------------------


@pytest.fixture(scope="module")
def reconciling_server(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[Server]:
    """A server of its own that compares every linked ticket with its product every 1.5 s
    and prunes old sync jobs and webhook deliveries twice a second."""
    path = tmp_path_factory.mktemp("itsm-reconcile") / "incidentgraph.db"
    server = Server(
        Backend("embedded", f"sqlite://{path}", "memory://"),
        extra_env={
            "INCIDENTGRAPH_ITSM_POLL_SECONDS": "0.1",
            "INCIDENTGRAPH_ITSM_HTTP_TIMEOUT_SECONDS": "1",
            "INCIDENTGRAPH_ITSM_RECONCILE_SECONDS": "1.5",
            "INCIDENTGRAPH_ITSM_PRUNE_SECONDS": "0.5",
            "INCIDENTGRAPH_ITSM_JOB_RETENTION_SECONDS": "3600",
        },
    ).start(log_dir)
    yield server
    server.stop()


async def test_the_periodic_reconcile_finds_drift_without_being_asked(
    reconciling_server: Server, servicenow: FakeServiceNow
) -> None:
    # given a synced ticket on a server that reconciles on its own
    servicenow.clear_faults()
    servicenow.up()
    client = reconciling_server.client()
    try:
        await configure(
            client, "SERVICENOW", servicenow.url, username="integration", secret="s3cret-pw"
        )
        incident, ticket = await synced_incident(client, "SERVICENOW")

        # when a person changes the ticket (a later second: ServiceNow stamps to the second)
        # and no webhook ever comes
        clock = servicenow.clock
        servicenow.clock = lambda: clock() + timedelta(seconds=2)
        try:
            servicenow.edit(ticket["externalKey"], short_description="Renamed quietly")
        finally:
            servicenow.clock = clock

        # then the next reconcile finds it: applied, and the ticket marked DRIFTED
        drifted = await ticket_in(client, incident["id"], "DRIFTED")
        assert drifted["lastError"] is None
        after = await incident_of(client, incident["id"])
        assert after["title"] == "Renamed quietly"
        assert "com.incidents.ticket.sync_requested.v1" not in types(after)
        drift = [
            e["node"]["data"]["drift"]
            for e in after["timeline"]["edges"]
            if e["node"]["type"] == "com.incidents.ticket.synced.v1"
        ]
        assert ["title"] in drift
    finally:
        await client.aclose()


LONG_AGO = "2020-01-01 00:00:00+00:00"


def database(server: Server) -> sqlite3.Connection:
    return sqlite3.connect(server.backend.database_url.removeprefix("sqlite://"), timeout=10)


async def test_old_finished_jobs_and_deliveries_are_pruned_but_unfinished_jobs_never(
    reconciling_server: Server, servicenow: FakeServiceNow
) -> None:
    # given a synced ticket, two webhook deliveries, and rows made old by hand: a finished
    # job, an unfinished one (not yet due) and one delivery
    servicenow.clear_faults()
    servicenow.up()
    client = reconciling_server.client()
    try:
        await configure(
            client, "SERVICENOW", servicenow.url, username="integration", secret="s3cret-pw"
        )
        _, ticket = await synced_incident(client, "SERVICENOW")
        for sys_id in ("a" * 32, "b" * 32):
            payload = {"sys_id": sys_id, "sys_updated_on": "2026-11-23 10:00:00"}
            response = await post_webhook(reconciling_server, "servicenow", payload)
            assert response.json()["status"] == "ignored", response.text
        ticket_id = str(uuid.UUID(ticket["id"].removeprefix("tkt_")))
        with database(reconciling_server) as db:
            old_done = db.execute(
                "SELECT min(id) FROM itsm_sync_job WHERE ticket_id = ? AND done_at IS NOT NULL",
                (ticket_id,),
            ).fetchone()[0]
            db.execute(
                "UPDATE itsm_sync_job SET created_at = ?, done_at = ? WHERE id = ?",
                (LONG_AGO, LONG_AGO, old_done),
            )
            waiting = db.execute(
                "INSERT INTO itsm_sync_job (kind, fields_changed, created_at, next_attempt_at,"
                " done_at, tenant_id, ticket_id) VALUES ('PUSH', '[]', ?, ?, NULL, 'default', ?)",
                (LONG_AGO, "2999-01-01 00:00:00+00:00", ticket_id),
            ).lastrowid
            old_delivery = db.execute("SELECT min(id) FROM itsm_inbound_delivery").fetchone()[0]
            db.execute(
                "UPDATE itsm_inbound_delivery SET received_at = ? WHERE id = ?",
                (LONG_AGO, old_delivery),
            )

        # when the worker's next prune runs
        def remaining() -> tuple[set[int], int]:
            with database(reconciling_server) as db:
                jobs = {r[0] for r in db.execute("SELECT id FROM itsm_sync_job")}
                deliveries = db.execute("SELECT count(*) FROM itsm_inbound_delivery").fetchone()
            return jobs, deliveries[0]

        async def pruned() -> bool:
            # one prune deletes the jobs, then the deliveries: wait for the whole of it
            jobs, deliveries = await asyncio.to_thread(remaining)
            return old_done not in jobs and deliveries < 2

        await eventually(pruned, what="the old finished job and delivery pruned")

        # then the old rows are gone, the unfinished job and the recent rows are kept
        jobs, deliveries = await asyncio.to_thread(remaining)
        assert waiting in jobs
        assert deliveries == 1
        assert len(jobs) > 1
    finally:
        await client.aclose()


# --- two server processes on one database ---------------------------------------------------


@pytest.fixture(scope="module")
def two_servers(log_dir: Path) -> Iterator[tuple[Server, Server]]:
    """Two server processes on one PostgreSQL database (and Redis), each with its worker."""
    from tests.support import REDIS_URL, require_real_services

    require_real_services()
    pg_url = create_pg_database()
    backend = Backend("postgres", pg_url, REDIS_URL)
    env = {
        "INCIDENTGRAPH_ITSM_RETRY_BASE_SECONDS": "0.3",
        "INCIDENTGRAPH_ITSM_RETRY_MAX_SECONDS": "1",
        "INCIDENTGRAPH_ITSM_POLL_SECONDS": "0.1",
        "INCIDENTGRAPH_ITSM_HTTP_TIMEOUT_SECONDS": "2",
        "INCIDENTGRAPH_ITSM_RECONCILE_SECONDS": "0",
    }
    servers: list[Server] = []
    try:
        for _ in range(2):
            servers.append(Server(backend, extra_env=env).start(log_dir))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()
        drop_pg_database(pg_url)


@pytest.mark.integration
async def test_two_processes_syncing_the_same_tickets_post_and_create_nothing_twice(
    two_servers: tuple[Server, Server], servicenow: FakeServiceNow
) -> None:
    # given two server processes sharing one database, and a ServiceNow slow enough that
    # their syncs overlap
    clients = [server.client() for server in two_servers]
    servicenow.clear_faults()
    servicenow.up()
    try:
        await configure(
            clients[0], "SERVICENOW", servicenow.url, username="integration", secret="s3cret-pw"
        )
        servicenow.delay_next(100_000, seconds=0.1)
        incidents = [
            await declare(clients[i % 2], title=f"Twice? {i} {uuid.uuid4().hex[:6]}")
            for i in range(3)
        ]

        # when tickets are created and, at once, notes and title changes pour in through both
        # processes, each waking its own worker
        async def churn(i: int, incident_id: str) -> tuple[str, list[str]]:
            bodies: list[str] = []
            title = ""
            await create_ticket(clients[i % 2], incident_id, "SERVICENOW")
            for n in range(6):
                # through the other process than the last change: its worker wakes while
                # the first one is still talking to ServiceNow about this ticket
                client = clients[(i + n + 1) % 2]
                bodies.append(f"Note {n} on incident {i} {uuid.uuid4().hex[:6]}")
                await add_note(client, incident_id, bodies[-1])
                await asyncio.sleep(0.15)
                if n % 2:
                    title = f"Twice? {i} take {n}"
                    await client.execute(UPDATE, {"input": {"id": incident_id, "title": title}})
            return title, bodies

        made = await asyncio.gather(*(churn(i, inc["id"]) for i, inc in enumerate(incidents)))

        # then, once everything is delivered...
        async def settled() -> bool:
            for incident, (title, bodies) in zip(incidents, made, strict=True):
                ticket = await ticket_of(clients[0], incident["id"])
                if ticket["syncState"] != "IN_SYNC" or ticket["externalKey"] is None:
                    return False
                record = servicenow.ticket(ticket["externalKey"])
                notes = servicenow.work_notes(ticket["externalKey"])
                if record["short_description"] != title:
                    return False
                if any(posted(notes, body) == 0 for body in bodies):
                    return False
            return True

        await eventually(settled, timeout=90, what="every change and note delivered")
        servicenow.clear_faults()
        await asyncio.sleep(1.5)  # room for a late second post, if one were coming
        servicenow.wait_idle()

        # ...each incident has exactly one ticket, and each note is on it exactly once
        for incident, (_, bodies) in zip(incidents, made, strict=True):
            ticket = await ticket_of(clients[0], incident["id"])
            ticket_id = str(uuid.UUID(ticket["id"].removeprefix("tkt_")))
            with servicenow.lock:
                records = [
                    r for r in servicenow.records.values() if r["correlation_id"] == ticket_id
                ]
            assert [r["sys_id"] for r in records] == [ticket["externalKey"]]
            notes = servicenow.work_notes(ticket["externalKey"])
            assert [posted(notes, body) for body in bodies] == [1] * len(bodies), notes
            assert len(notes) == len(bodies)
    finally:
        servicenow.clear_faults()
        for client in clients:
            await client.aclose()

"""Linked tickets held to incidentgraph's rules: what a ticket may do to an incident, what may
leave for a ticket, and which ticket keys may reach a provider's URL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.models import Classification, ItsmProvider
from app.services.access.classification import exportable
from app.services.itsm import keys
from app.services.itsm.connector import ProviderError
from app.services.itsm.jira import JiraConnector
from app.services.itsm.servicenow import ServiceNowConnector
from tests.fakes.jira import FakeJira
from tests.fakes.servicenow import FakeServiceNow
from tests.support import (
    GraphQLClient,
    Server,
    create_token,
    declare,
    eventually,
    fresh_backend,
    refused_transition,
    transition,
)

WEBHOOK_SECRET = "webhook-secret-0123456789"
SN_PASSWORD = "s3cret-pw"
JIRA_TOKEN = "jira-api-token-xyz"

CONFIGURE = """
mutation Configure($input: ConfigureItsmConnectionInput!) {
  configureItsmConnection(input: $input) { errors { field code message } }
}
"""

TICKET_FIELDS = """
  id provider externalKey number syncState lastSyncedAt lastError
  conflicts { field internalValue externalValue }
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

INCIDENT = f"""
query Incident($id: ID!) {{
  incident(id: $id) {{
    id title status priority classification
    connectedTickets {{ {TICKET_FIELDS} }}
    timeline(first: 200) {{ edges {{ node {{ type actor data }} }} }}
  }}
}}
"""

UPDATE = """
mutation Update($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { id version } errors { field code message } }
}
"""

ADD_NOTE = """
mutation Note($input: AddNoteInput!) {
  addNote(input: $input) { event { id } errors { code message } }
}
"""

CLOSED = "com.incidents.closed.v1"
CONFLICT = "com.incidents.ticket.conflict.v1"
SYS_ID = "0123456789abcdef0123456789abcdef"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)],
)
def itsm_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, log_dir: Path
) -> Iterator[Server]:
    with fresh_backend(request.param, tmp_path_factory.mktemp("itsm-security")) as backend:
        server = Server(
            backend,
            extra_env={
                "INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS": "true",
                "INCIDENTGRAPH_ITSM_MAX_ATTEMPTS": "3",
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
def tokens(itsm_server: Server) -> dict[str, str]:
    return {
        role: create_token(itsm_server, role=role, name=f"{role.lower()} person")
        for role in ("RESPONDER", "INCIDENT_MANAGER", "VIEWER")
    }


@pytest.fixture(scope="module")
def servicenow() -> Iterator[FakeServiceNow]:
    with FakeServiceNow(password=SN_PASSWORD) as fake:
        yield fake


@pytest.fixture(scope="module")
def jira() -> Iterator[FakeJira]:
    with FakeJira(email="bot@example.com", api_token=JIRA_TOKEN) as fake:
        yield fake


@pytest.fixture
async def admin(
    itsm_server: Server, servicenow: FakeServiceNow, jira: FakeJira
) -> AsyncIterator[GraphQLClient]:
    client = itsm_server.client()
    await configure(
        client, "SERVICENOW", servicenow.url, username="integration", secret=SN_PASSWORD
    )
    await configure(
        client, "JIRA", jira.url, username="bot@example.com", secret=JIRA_TOKEN, projectKey="OPS"
    )
    yield client
    await client.aclose()


@pytest.fixture
async def responder(itsm_server: Server, tokens: dict[str, str]) -> AsyncIterator[GraphQLClient]:
    client = itsm_server.client(token=tokens["RESPONDER"])
    yield client
    await client.aclose()


# --- helpers --------------------------------------------------------------------------------


async def configure(client: GraphQLClient, provider: str, url: str, **extra: Any) -> None:
    values = {"provider": provider, "baseUrl": url, "webhookSecret": WEBHOOK_SECRET, **extra}
    data = await client.execute(CONFIGURE, {"input": values})
    assert data["configureItsmConnection"]["errors"] == [], data


async def incident_of(client: GraphQLClient, incident_id: str) -> dict[str, Any]:
    return (await client.execute(INCIDENT, {"id": incident_id}))["incident"]  # type: ignore[no-any-return]


async def ticket_of(client: GraphQLClient, incident_id: str) -> dict[str, Any]:
    tickets = (await incident_of(client, incident_id))["connectedTickets"]
    assert len(tickets) == 1, tickets
    return tickets[0]  # type: ignore[no-any-return]


async def ticket_in(client: GraphQLClient, incident_id: str, state: str) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def check() -> dict[str, Any] | None:
        seen[:] = [await ticket_of(client, incident_id)]
        return seen[0] if seen[0]["syncState"] == state else None

    try:
        return await eventually(check, timeout=20, what=f"ticket {state}")  # type: ignore[no-any-return]
    except AssertionError as exc:
        raise AssertionError(f"ticket not {state}: {seen}") from exc


async def synced_incident(
    client: GraphQLClient, provider: str, **overrides: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    incident = await declare(client, title=f"Payments slow {uuid.uuid4().hex[:6]}", **overrides)
    data = await client.execute(
        CREATE_TICKET, {"input": {"incidentId": incident["id"], "provider": provider}}
    )
    assert data["createTicket"]["errors"] == [], data
    return incident, await ticket_in(client, incident["id"], "IN_SYNC")


async def synced_again(client: GraphQLClient, incident_id: str) -> dict[str, Any]:
    """Ask for a sync now and wait until it has run (the ticket's lastSyncedAt moved on)."""
    ticket = await ticket_of(client, incident_id)
    data = await client.execute(SYNC_TICKET, {"input": {"id": ticket["id"]}})
    assert data["syncTicket"]["errors"] == [], data

    async def done() -> dict[str, Any] | None:
        now = await ticket_of(client, incident_id)
        moved = now["lastSyncedAt"] != ticket["lastSyncedAt"]
        return now if moved and now["syncState"] in ("IN_SYNC", "CONFLICT") else None

    return await eventually(done, timeout=20, what="a sync")  # type: ignore[no-any-return]


def signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(
        WEBHOOK_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return {
        "X-Incidentgraph-Timestamp": stamp,
        "X-Incidentgraph-Signature": f"sha256={digest}",
        "Content-Type": "application/json",
    }


async def post_webhook(server: Server, provider: str, payload: Any) -> httpx.Response:
    raw = json.dumps(payload).encode()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        return await http.post(
            f"/webhooks/itsm/{provider}?tenant=default", content=raw, headers=signed(raw)
        )


def types(incident: dict[str, Any]) -> list[str]:
    return [e["node"]["type"] for e in incident["timeline"]["edges"]]


async def resolved_with_ticket(
    admin: GraphQLClient,
    responder: GraphQLClient,
    provider: str,
    products: tuple[FakeServiceNow, FakeJira],
    **severity: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An incident a responder declared and resolved, its ticket resolved and in sync."""
    incident = await declare(responder, title=f"Checkout down {uuid.uuid4().hex[:6]}", **severity)
    data = await admin.execute(
        CREATE_TICKET, {"input": {"incidentId": incident["id"], "provider": provider}}
    )
    assert data["createTicket"]["errors"] == [], data
    key = (await ticket_in(admin, incident["id"], "IN_SYNC"))["externalKey"]
    for status, extra in (("IN_PROGRESS", {}), ("RESOLVED", {"resolutionSummary": "Rolled back"})):
        moved = await transition(responder, incident["id"], status, **extra)
        assert moved["errors"] == [], moved
    servicenow, jira = products

    async def resolved_there() -> bool:
        if provider == "SERVICENOW":
            return servicenow.ticket(key)["state"] == "6"
        return bool(jira.issue(key)["fields"]["status"]["name"] == "Resolved")

    await eventually(resolved_there, what="the ticket resolved")
    return incident, await ticket_in(admin, incident["id"], "IN_SYNC")


# --- 1. a ticket may do to an incident what the people behind it may ----------------------

P1 = {"severity": "SEV1", "impact": "HIGH", "urgency": "HIGH"}
P2 = {"severity": "SEV2", "impact": "HIGH", "urgency": "MEDIUM"}
P4 = {"severity": "SEV4", "impact": "LOW", "urgency": "MEDIUM"}


@pytest.mark.parametrize(("priority", "severity"), [("P1", P1), ("P2", P2)])
async def test_closing_a_high_priority_incident_in_servicenow_becomes_a_conflict(
    admin: GraphQLClient,
    responder: GraphQLClient,
    itsm_server: Server,
    servicenow: FakeServiceNow,
    jira: FakeJira,
    priority: str,
    severity: dict[str, str],
) -> None:
    # given a resolved P1 (or P2) incident, which a responder may not close here
    incident, ticket = await resolved_with_ticket(
        admin, responder, "SERVICENOW", (servicenow, jira), **severity
    )
    assert (await incident_of(admin, incident["id"]))["priority"] == priority
    refused = await refused_transition(responder, incident["id"], "CLOSED")
    assert [e["code"] for e in refused] == ["FORBIDDEN"]

    # when the responder closes its ticket in ServiceNow instead, and the change arrives
    servicenow.edit(ticket["externalKey"], by="responder", state="7")
    response = await post_webhook(
        itsm_server, "servicenow", servicenow.webhook_payload(ticket["externalKey"])
    )

    # then the incident stays RESOLVED, and the ticket holds a conflict on status
    assert response.status_code == 200, response.text
    assert response.json()["conflicts"] == ["status"]
    after = await incident_of(admin, incident["id"])
    assert after["status"] == "RESOLVED"
    conflicted = after["connectedTickets"][0]
    assert conflicted["syncState"] == "CONFLICT"
    assert [(c["field"], c["externalValue"]) for c in conflicted["conflicts"]] == [("status", "7")]
    assert CONFLICT in types(after)
    assert CLOSED not in types(after)


@pytest.mark.parametrize(("provider", "closed"), [("SERVICENOW", "7"), ("JIRA", "Closed")])
async def test_a_p1_closed_in_the_ticket_and_pulled_by_a_sync_becomes_a_conflict(
    admin: GraphQLClient,
    responder: GraphQLClient,
    servicenow: FakeServiceNow,
    jira: FakeJira,
    provider: str,
    closed: str,
) -> None:
    # given a resolved P1 incident whose ticket a responder closed in the product
    incident, ticket = await resolved_with_ticket(
        admin, responder, provider, (servicenow, jira), **P1
    )
    if provider == "SERVICENOW":
        servicenow.edit(ticket["externalKey"], by="responder", state=closed)
    else:
        jira.edit(ticket["externalKey"], by="Responder", status=closed)

    # when the responder asks for a sync, which reads the ticket
    synced = await synced_again(responder, incident["id"])

    # then the close is a conflict, not a CLOSED incident
    assert synced["syncState"] == "CONFLICT"
    assert [(c["field"], c["externalValue"]) for c in synced["conflicts"]] == [("status", closed)]
    after = await incident_of(admin, incident["id"])
    assert after["status"] == "RESOLVED"
    assert CONFLICT in types(after) and CLOSED not in types(after)


async def test_a_low_priority_incident_closed_in_the_ticket_closes(
    admin: GraphQLClient,
    responder: GraphQLClient,
    itsm_server: Server,
    servicenow: FakeServiceNow,
    jira: FakeJira,
) -> None:
    # given a resolved P4 incident, which any responder may close
    incident, ticket = await resolved_with_ticket(
        admin, responder, "SERVICENOW", (servicenow, jira), **P4
    )

    # when its ticket is closed in ServiceNow
    servicenow.edit(ticket["externalKey"], by="responder", state="7")
    response = await post_webhook(
        itsm_server, "servicenow", servicenow.webhook_payload(ticket["externalKey"])
    )

    # then the incident follows
    assert response.status_code == 200, response.text
    assert response.json()["pulled"] == ["status"]
    after = await incident_of(admin, incident["id"])
    assert after["status"] == "CLOSED"
    closed = [e["node"] for e in after["timeline"]["edges"] if e["node"]["type"] == CLOSED]
    assert [e["actor"] for e in closed] == ["servicenow"]


# --- 2. what leaves for a ticket is classified as its incident is -------------------------


@pytest.mark.parametrize("provider", ["SERVICENOW", "JIRA"])
async def test_nothing_of_a_confidential_incident_leaves_for_its_ticket(
    admin: GraphQLClient, servicenow: FakeServiceNow, jira: FakeJira, provider: str
) -> None:
    # given an INTERNAL incident with a ticket, then raised to CONFIDENTIAL
    incident, ticket = await synced_incident(admin, provider)
    key = ticket["externalKey"]
    data = await admin.execute(
        UPDATE, {"input": {"id": incident["id"], "classification": "CONFIDENTIAL"}}
    )
    assert data["updateIncident"]["errors"] == [], data

    # when notes labelled INTERNAL and PUBLIC are added, the title and description change,
    # and the ticket is synced
    for level in ("INTERNAL", "PUBLIC"):
        note = await admin.execute(
            ADD_NOTE,
            {
                "input": {
                    "incidentId": incident["id"],
                    "body": f"Card numbers in the {level} log",
                    "classification": level,
                }
            },
        )
        assert note["addNote"]["errors"] == [], note
    secret_title, secret_text = "Card data exposed", "Dump at s3://payments-prod/leak"
    data = await admin.execute(
        UPDATE,
        {"input": {"id": incident["id"], "title": secret_title, "description": secret_text}},
    )
    assert data["updateIncident"]["errors"] == [], data
    await asyncio.sleep(1)
    await synced_again(admin, incident["id"])

    # then none of it reached the ticket
    if provider == "SERVICENOW":
        on_ticket = json.dumps([servicenow.ticket(key), servicenow.work_notes(key)])
    else:
        on_ticket = json.dumps([jira.issue(key), jira.comments(key)])
    for text in ("Card numbers", secret_title, secret_text):
        assert text not in on_ticket
    # and the incident keeps what was written
    after = await incident_of(admin, incident["id"])
    assert (after["title"], after["classification"]) == (secret_title, "CONFIDENTIAL")


@pytest.mark.parametrize("provider", ["SERVICENOW", "JIRA"])
async def test_a_ticket_created_for_a_restricted_incident_carries_no_title(
    admin: GraphQLClient, servicenow: FakeServiceNow, jira: FakeJira, provider: str
) -> None:
    # given a RESTRICTED incident
    title = f"Breach of the HR share {uuid.uuid4().hex[:6]}"
    incident = await declare(
        admin, title=title, description="Exfiltrated payroll", classification="RESTRICTED"
    )

    # when a ticket is created for it
    data = await admin.execute(
        CREATE_TICKET, {"input": {"incidentId": incident["id"], "provider": provider}}
    )
    assert data["createTicket"]["errors"] == [], data
    ticket = await ticket_in(admin, incident["id"], "IN_SYNC")

    # then the ticket names the incident only by its number
    key = ticket["externalKey"]
    if provider == "SERVICENOW":
        record = servicenow.ticket(key)
        shown = (record["short_description"], record["description"])
    else:
        fields = jira.issue(key)["fields"]
        shown = (fields["summary"], json.dumps(fields["description"]))
    assert f"INC-{incident['number']}" in shown[0]
    assert title not in json.dumps(shown) and "payroll" not in json.dumps(shown)


_C = Classification


@pytest.mark.parametrize(
    ("limit", "note", "incident", "leaves"),
    [
        (_C.INTERNAL, _C.INTERNAL, _C.INTERNAL, True),
        (_C.INTERNAL, _C.PUBLIC, _C.INTERNAL, True),
        (_C.PUBLIC, _C.PUBLIC, _C.INTERNAL, False),
        (_C.PUBLIC, _C.PUBLIC, _C.PUBLIC, True),
        (_C.PUBLIC, _C.INTERNAL, _C.INTERNAL, False),
        (_C.INTERNAL, _C.INTERNAL, _C.CONFIDENTIAL, False),
        (_C.INTERNAL, _C.PUBLIC, _C.CONFIDENTIAL, False),
        (_C.INTERNAL, _C.INTERNAL, _C.RESTRICTED, False),
        (_C.PUBLIC, _C.PUBLIC, _C.RESTRICTED, False),
        (_C.INTERNAL, _C.CONFIDENTIAL, _C.INTERNAL, False),
        (None, _C.PUBLIC, _C.PUBLIC, False),
    ],
)
def test_a_note_leaves_by_its_effective_classification_and_never_above_internal(
    limit: Classification | None, note: Classification, incident: Classification, leaves: bool
) -> None:
    assert exportable(limit, note, incident=incident) is leaves


# --- 3. only the providers' key shapes reach a URL ---------------------------------------

BAD_KEYS = [
    ("SERVICENOW", f"../problem/{SYS_ID}"),
    ("SERVICENOW", f"{SYS_ID}/../../problem/{SYS_ID}"),
    ("SERVICENOW", "..%2Fproblem%2F" + SYS_ID),
    ("SERVICENOW", "INC0010001^active=true"),
    ("SERVICENOW", "x" * 32),
    ("SERVICENOW", SYS_ID + "?sysparm_fields=password"),
    ("JIRA", "OPS-1/../../myself"),
    ("JIRA", "../api/3/myself"),
    ("JIRA", "ops-1"),
    ("JIRA", "OPS-1?expand=changelog"),
    ("JIRA", "OPS-"),
]


def test_key_shapes() -> None:
    sn, jira = ItsmProvider.SERVICENOW, ItsmProvider.JIRA
    for key in (SYS_ID, SYS_ID.upper(), "INC0010001"):
        assert keys.valid_key(sn, key), key
    for key in ("OPS-1", "OPS_2-42", "A1-100"):
        assert keys.valid_key(jira, key), key
    for provider, key in [*BAD_KEYS, (sn, "OPS-1"), (jira, SYS_ID), (sn, ""), (jira, "")]:
        assert not keys.valid_key(ItsmProvider(provider.lower()), key), (provider, key)


@pytest.mark.parametrize(("provider", "key"), BAD_KEYS)
async def test_link_ticket_refuses_a_key_of_another_shape_and_writes_nothing(
    admin: GraphQLClient,
    servicenow: FakeServiceNow,
    jira: FakeJira,
    provider: str,
    key: str,
) -> None:
    # given an incident and a quiet product
    incident = await declare(admin, title=f"Linked {uuid.uuid4().hex[:6]}")
    fake = servicenow if provider == "SERVICENOW" else jira
    fake.reset_calls()

    # when a ticket key that is not one the product hands out is linked
    data = await admin.execute(
        LINK_TICKET,
        {"input": {"incidentId": incident["id"], "provider": provider, "externalKey": key}},
    )

    # then VALIDATION on externalKey, no ticket, no event, and no request to the product
    payload = data["linkTicket"]
    assert payload["ticket"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("externalKey", "VALIDATION")]
    after = await incident_of(admin, incident["id"])
    assert after["connectedTickets"] == []
    assert types(after) == ["com.incidents.declared.v1"]
    await asyncio.sleep(0.5)
    assert fake.calls == []


async def test_link_ticket_takes_a_sys_id_an_incident_number_and_a_jira_key(
    admin: GraphQLClient, servicenow: FakeServiceNow, jira: FakeJira
) -> None:
    # given tickets people opened in each product
    _, by_id = await synced_incident(admin, "SERVICENOW")
    _, by_number = await synced_incident(admin, "SERVICENOW")
    _, issue = await synced_incident(admin, "JIRA")
    keys = [
        ("SERVICENOW", by_id["externalKey"], by_id),
        ("SERVICENOW", by_number["number"], by_number),
        ("JIRA", issue["externalKey"], issue),
    ]
    for provider, key, existing in keys:
        # when one is unlinked and linked again to another incident, by what people paste
        unlinked = await admin.execute(
            "mutation($id: ID!) { unlinkTicket(input: {id: $id}) { errors { code } } }",
            {"id": existing["id"]},
        )
        assert unlinked["unlinkTicket"]["errors"] == []
        incident = await declare(admin, title=f"Relinked {uuid.uuid4().hex[:6]}")
        data = await admin.execute(
            LINK_TICKET,
            {"input": {"incidentId": incident["id"], "provider": provider, "externalKey": key}},
        )

        # then it links and syncs
        assert data["linkTicket"]["errors"] == [], data
        synced = await ticket_in(admin, incident["id"], "IN_SYNC")
        assert synced["externalKey"] == existing["externalKey"]


async def test_a_webhook_naming_a_key_of_another_shape_is_refused(itsm_server: Server) -> None:
    # given deliveries whose ticket key would be a path elsewhere
    deliveries = [
        (
            "servicenow",
            {
                "sys_id": f"../problem/{SYS_ID}",
                "number": "INC0010001",
                "sys_updated_on": "2026-01-01 10:00:00",
            },
        ),
        (
            "jira",
            {
                "webhookEvent": "jira:issue_updated",
                "timestamp": int(time.time() * 1000),
                "issue": {
                    "key": "OPS-1/../../myself",
                    "fields": {"updated": "2026-01-01T10:00:00.000+0000"},
                },
            },
        ),
    ]
    for provider, payload in deliveries:
        # when each arrives, correctly signed
        response = await post_webhook(itsm_server, provider, payload)

        # then it is refused as malformed
        assert response.status_code == 400, response.text
        assert "key" in response.text or "sys_id" in response.text


# --- connectors: defence in depth ---------------------------------------------------------


@pytest.fixture
def lone_servicenow() -> Iterator[FakeServiceNow]:
    with FakeServiceNow(password=SN_PASSWORD) as fake:
        yield fake


@pytest.fixture
def lone_jira() -> Iterator[FakeJira]:
    with FakeJira(email="bot@example.com", api_token=JIRA_TOKEN) as fake:
        yield fake


async def test_connectors_send_no_request_for_a_key_of_another_shape(
    lone_servicenow: FakeServiceNow, lone_jira: FakeJira
) -> None:
    # given connectors to both products
    sn = ServiceNowConnector(lone_servicenow.url, "integration", SN_PASSWORD, timeout=2)
    jc = JiraConnector(lone_jira.url, "bot@example.com", JIRA_TOKEN, "OPS", timeout=2)
    try:
        # when each is asked to read, write or comment on a key that is a path
        calls = [
            sn.fetch(f"../problem/{SYS_ID}"),
            sn.update(f"../problem/{SYS_ID}", {"state": "2"}),
            sn.add_comment(f"{SYS_ID}/../x", "hello"),
            jc.fetch("OPS-1/../../myself"),
            jc.update("../OPS-1", {"summary": "x"}),
            jc.add_comment("OPS-1?x=1", "hello"),
        ]
        for call in calls:
            with pytest.raises(ProviderError) as caught:
                await call

            # then it is refused before any request, and never retried
            assert caught.value.retryable is False
    finally:
        await sn.aclose()
        await jc.aclose()
    assert lone_servicenow.calls == [] and lone_jira.calls == []


async def test_connectors_refuse_a_ticket_key_of_another_shape_in_an_answer(
    lone_servicenow: FakeServiceNow, lone_jira: FakeJira
) -> None:
    # given products whose answers name a record by a path
    lone_servicenow.records["../sys_user/x"] = {
        "sys_id": "../sys_user/x",
        "number": "INC0019999",
        "sys_updated_on": "2026-01-01 10:00:00",
        "sys_mod_count": "0",
    }
    sn = ServiceNowConnector(lone_servicenow.url, "integration", SN_PASSWORD, timeout=2)
    jc = JiraConnector(lone_jira.url, "bot@example.com", JIRA_TOKEN, "OPS", timeout=2)
    created = await jc.create({"summary": "Disk full"}, idempotency_key="k1")
    with lone_jira.lock:
        issue = lone_jira.issues.pop(created.key)
        issue["key"] = "OPS-1/../../myself"
        lone_jira.issues[issue["key"]] = issue
    try:
        # when the connectors read them
        with pytest.raises(ProviderError) as sn_caught:
            await sn.fetch("INC0019999")
        with pytest.raises(ProviderError) as jira_caught:
            await jc.create({"summary": "Disk full"}, idempotency_key="k1")
    finally:
        await sn.aclose()
        await jc.aclose()

    # then the answers are refused, and the bad key went into no further request
    assert not sn_caught.value.retryable and not jira_caught.value.retryable
    assert not any(
        "sys_user" in c.path or "sys_user" in str(c.query) for c in lone_servicenow.calls
    )
    assert not any("myself" in c.path for c in lone_jira.calls)

"""Alert intake under attack: one tenant's alerts cannot stop another's, a row the processor
cannot store is quarantined for its tenant's admins, and an alert's text is as classified as
its incident."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.models import Alert, AlertIntake, AlertQuarantine, Lease
from app.services.access import tenants as tenant_service
from app.services.alerts import processor as processor_module
from app.services.alerts.processor import LEASE_NAME, AlertProcessor
from tests.support import (
    GraphQLClient,
    Server,
    connected,
    create_pg_database,
    create_tenant,
    create_token,
    drop_pg_database,
    eventually,
    old_tenant,
    postgres_available,
)

ALERTS = """
query Alerts($filter: AlertFilter, $first: Int, $after: String) {
  alerts(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { node { source fingerprint title description alertname labels annotations url
                   service severity count redactedFields incident { id title } } }
  }
}
"""
INCIDENT_ALERTS = """
query IncidentAlerts($id: ID!) {
  incident(id: $id) {
    title description redactedFields
    alerts { totalCount edges { node { title description alertname labels annotations url
                                       service redactedFields } } }
  }
}
"""
UPDATE = """
mutation($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { id classification } errors { code field } }
}
"""
QUARANTINE = """
query Quarantine($first: Int, $after: String) {
  alertQuarantine(first: $first, after: $after) {
    totalCount
    edges { cursor node { id source fingerprint error payload receivedAt quarantinedAt } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""
RETRY = """
mutation Retry($ids: [ID!]!) {
  retryQuarantinedAlerts(input: {ids: $ids}) { count errors { code field message } }
}
"""
DISCARD = """
mutation Discard($ids: [ID!]!) {
  discardQuarantinedAlerts(input: {ids: $ids}) { count errors { code field message } }
}
"""


@pytest.fixture(scope="module")
def tenants(server: Server) -> Iterator[dict[str, dict[str, str]]]:
    """Two tenants of these tests' own, each with an INGEST, ADMIN, RESPONDER and VIEWER token."""
    made: dict[str, dict[str, str]] = {}
    for name in ("first", "second"):
        tenant_id = create_tenant(server, tenant_id=f"sec-{uuid.uuid4().hex[:8]}", name=name)
        made[name] = {
            "id": tenant_id,
            **{
                role: create_token(server, role=role, name=f"{name} {role}", tenant=tenant_id)
                for role in ("INGEST", "ADMIN", "RESPONDER", "VIEWER")
            },
        }
    yield made


@pytest.fixture
async def clients(server: Server) -> AsyncIterator[Any]:
    opened: list[GraphQLClient] = []

    def make(token: str) -> GraphQLClient:
        client = server.client(token=token)
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


async def fire(server: Server, token: str, alerts: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post(
            "/webhooks/alerts/generic", json=alerts, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 202, response.text


async def alerts_of(client: GraphQLClient, **filter: Any) -> list[dict[str, Any]]:
    data = await client.execute(ALERTS, {"filter": filter, "first": 500})
    return [e["node"] for e in data["alerts"]["edges"]]


def metric(server: Server, name: str) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


# --- one tenant's alerts cannot stop another's ----------------------------------------------


async def test_alerts_whose_old_keys_collide_stop_no_tenant_and_are_two_alerts(
    server, tenants, clients
):
    # given a tenant whose INGEST token sends two alerts that joined into one key
    # ("tenant|a|b|c") before keys were encoded
    first, second = tenants["first"], tenants["second"]
    service = f"collide-{uuid.uuid4().hex[:6]}"
    await fire(
        server, first["INGEST"], [{"source": "a|b", "id": "c", "title": "One", "service": service}]
    )
    await fire(
        server, first["INGEST"], [{"source": "a", "id": "b|c", "title": "Two", "service": service}]
    )

    # when another tenant's monitoring sends a normal alert
    other = f"disk-{uuid.uuid4().hex[:6]}"
    await fire(
        server, second["INGEST"], [{"source": "prometheus", "title": "Disk full", "service": other}]
    )

    # then that alert is stored and linked to a declared incident within seconds
    admin = clients(second["ADMIN"])

    async def linked() -> Any:
        found = await alerts_of(admin, service=[other])
        return found if found and found[0]["incident"] is not None else None

    [alert] = await eventually(linked, timeout=10, what="the other tenant's alert linked")
    assert alert["title"] == "Disk full"

    # and the first tenant's two alerts are two alerts, neither lost
    mine = await alerts_of(clients(first["ADMIN"]), service=[service])
    assert sorted((a["source"], a["fingerprint"]) for a in mine) == [("a", "b|c"), ("a|b", "c")]


# --- a row the processor cannot store is quarantined ----------------------------------------


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[tuple[str, str]]:
    """Connected to the module's database, with no intake left over; yields two new tenants."""
    async with connected(database_url):
        await AlertIntake.all().delete()
        await Lease.filter(name=LEASE_NAME).delete()
        made = []
        for _ in range(2):
            tenant = f"q-{uuid.uuid4().hex[:10]}"
            await tenant_service.create_tenant(tenant_id=tenant, name=tenant)
            made.append(tenant)
        yield made[0], made[1]


def normalised(fingerprint: str, **overrides: Any) -> dict[str, Any]:
    """An alert as the intake stores it (services/alerts/payloads.py)."""
    now = datetime.now(UTC).isoformat()
    return {
        "source": "prometheus",
        "fingerprint": fingerprint,
        "status": "FIRING",
        "alertname": "HighLatency",
        "service": "checkout",
        "severity": "critical",
        "title": "HighLatency is high",
        "description": "p99 above 2 s",
        "labels": {"alertname": "HighLatency", "service": "checkout"},
        "annotations": {},
        "url": None,
        "startsAt": now,
        "endsAt": None,
        "groupKey": None,
        "receivedAt": now,
        **overrides,
    }


async def intake(tenant: str, *payloads: dict[str, Any]) -> None:
    # One at a time, so that the rows keep this order (their ids).
    for payload in payloads:
        await AlertIntake.create(tenant_id=tenant, payload=payload, received_at=datetime.now(UTC))


async def test_rows_the_processor_cannot_store_are_quarantined_and_the_rest_proceed(db):
    # given, among good alerts of two tenants, two rows of the first tenant that no intake of
    # this version writes: one the processor cannot read, one the database refuses to store
    first, second = db
    await intake(
        first,
        normalised("good-1"),
        normalised("unreadable", status="EXPLODED"),
        normalised("unstorable", description={"not": "text"}),
        normalised("good-2"),
    )
    await intake(second, normalised("other-1"), normalised("other-2"))

    # when the processor works through the intake
    worker = AlertProcessor(Settings(alert_coalesce_seconds=0.0), use_row_locks=False)
    while await worker.store_batch():
        pass

    # then every good alert is stored, the intake is empty
    stored = await Alert.filter(tenant_id__in=[first, second]).values_list("fingerprint", flat=True)
    assert sorted(stored) == ["good-1", "good-2", "other-1", "other-2"]
    assert await AlertIntake.all().count() == 0
    # and the two bad rows are quarantined for their tenant, each with its error
    held = await AlertQuarantine.filter(tenant_id=first).order_by("id")
    assert [row.payload["fingerprint"] for row in held] == ["unreadable", "unstorable"]
    assert "status" in held[0].error
    assert held[1].error
    assert not await AlertQuarantine.filter(tenant_id=second).exists()
    assert worker.quarantined == 2


async def test_a_database_that_is_away_quarantines_nothing(db, monkeypatch):
    # given good rows in the intake, and a processor whose database refuses connections
    first, _ = db
    await intake(first, normalised("kept-1"), normalised("kept-2"))
    worker = AlertProcessor(Settings(alert_coalesce_seconds=0.0), use_row_locks=False)

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("the database is unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(processor_module, "in_transaction", unreachable)
        # when it tries a batch
        with pytest.raises(ConnectionRefusedError):
            await worker.store_batch()

    # then it quarantined nothing: the rows wait for the database, and go through after
    assert worker.quarantined == 0
    assert await AlertIntake.filter(tenant_id=first).count() == 2
    while await worker.store_batch():
        pass
    assert await Alert.filter(tenant_id=first).count() == 2
    assert not await AlertQuarantine.filter(tenant_id=first).exists()


# --- stored keys are migrated ---------------------------------------------------------------


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)])
async def old_database(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """A database migrated only up to the version before alert keys were encoded."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.api import migrate

    from app.database import tortoise_config

    if request.param == "embedded":
        url = f"sqlite://{tmp_path / 'old.db'}"
    else:
        if not postgres_available():
            pytest.skip("PostgreSQL not reachable on 127.0.0.1")
        url = create_pg_database()

    async with TortoiseContext():
        await migrate(
            config=tortoise_config(Settings(database_url=url)), target="models.0011_alert_indexes"
        )
    try:
        yield url
    finally:
        if request.param == "postgres":
            drop_pg_database(url)


async def test_alerts_firing_before_the_upgrade_keep_deduplicating(old_database):
    # given an alert firing when its key was "tenant|source|fingerprint", with a "|" inside
    from app.database import migrate

    tenant = "legacy"
    now = datetime.now(UTC)
    async with connected(old_database):
        # the tenant row alone: the tenant service of today writes tables of later versions
        await old_tenant(tenant)
        await Alert.create(
            id=uuid.uuid4(),
            tenant_id=tenant,
            source="a|b",
            fingerprint="c",
            active_key=f"{tenant}|a|b|c",
            status="FIRING",
            title="Before the upgrade",
            starts_at=now,
            first_received_at=now,
            last_received_at=now,
            created_at=now,
            updated_at=now,
        )

    # when the database is upgraded
    await migrate(Settings(database_url=old_database))

    # then a repeat of that alert counts on it, and the alert its old key collided with is new
    async with connected(old_database):
        await Lease.filter(name=LEASE_NAME).delete()
        await intake(
            tenant,
            normalised("c", source="a|b", startsAt=None),
            normalised("b|c", source="a", startsAt=None),
        )
        worker = AlertProcessor(Settings(alert_coalesce_seconds=0.0), use_row_locks=False)
        while await worker.store_batch():
            pass
        rows = await Alert.filter(tenant_id=tenant).order_by("source")
        assert [(r.source, r.fingerprint, r.count) for r in rows] == [
            ("a", "b|c", 1),
            ("a|b", "c", 2),
        ]
        assert worker.quarantined == 0


# --- the quarantine, for the tenant's admins ------------------------------------------------


async def test_admins_list_their_tenants_quarantined_alerts_page_by_page(server, tenants, clients):
    # given three rows of the first tenant that the processor cannot read
    first, second = tenants["first"], tenants["second"]
    before = metric(server, "incidentgraph_alerts_quarantined_total")
    async with connected(server.backend.database_url):
        await intake(
            first["id"],
            *(normalised(f"bad-{n}", status="EXPLODED") for n in range(3)),
        )
    admin = clients(first["ADMIN"])

    # when its admin lists the quarantine, two at a time
    async def three() -> Any:
        data = await admin.execute(QUARANTINE, {"first": 2})
        return data if data["alertQuarantine"]["totalCount"] >= 3 else None

    page = (await eventually(three, timeout=15, what="three quarantined rows"))["alertQuarantine"]
    rest = (await admin.execute(QUARANTINE, {"first": 2, "after": page["pageInfo"]["endCursor"]}))[
        "alertQuarantine"
    ]

    # then the rows come newest first, with the error that stopped each
    nodes = [e["node"] for e in page["edges"] + rest["edges"]]
    assert [n["fingerprint"] for n in nodes] == ["bad-2", "bad-1", "bad-0"]
    assert page["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
    assert all("status" in n["error"] and n["source"] == "prometheus" for n in nodes)
    assert nodes[0]["payload"]["status"] == "EXPLODED"
    # and the metric counted them
    assert metric(server, "incidentgraph_alerts_quarantined_total") >= before + 3
    # and the server logged one line for each, with no traceback
    lines = server.log().splitlines()
    said = [n for n, line in enumerate(lines) if f"of tenant {first['id']} quarantined" in line]
    assert len(said) == 3
    assert all(not lines[n + 1 : n + 2] or "Traceback" not in lines[n + 1] for n in said)

    # while another tenant's admin sees none of them, and a responder may not look
    other = (await clients(second["ADMIN"]).execute(QUARANTINE))["alertQuarantine"]
    assert all(e["node"]["fingerprint"] not in {"bad-0", "bad-1", "bad-2"} for e in other["edges"])
    denied = await clients(first["RESPONDER"]).raw(QUARANTINE)
    assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    bad = await admin.raw(QUARANTINE, {"first": -1})
    assert [e["extensions"]["code"] for e in bad["errors"]] == ["VALIDATION"]


async def test_admins_retry_quarantined_alerts_into_the_intake_or_discard_them(
    server, tenants, clients
):
    # given two alerts of the first tenant that a processor could not store at the time
    # (a disk that was full), and that store now
    first, second = tenants["first"], tenants["second"]
    service = f"retry-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    async with connected(server.backend.database_url):
        for name in ("again", "gone"):
            await AlertQuarantine.create(
                tenant_id=first["id"],
                payload=normalised(f"{service}-{name}", service=service),
                received_at=now,
                quarantined_at=now,
                error="OperationalError: disk full",
            )
    admin = clients(first["ADMIN"])

    async def held() -> dict[str, str]:
        data = await admin.execute(QUARANTINE, {"first": 500})
        nodes = [e["node"] for e in data["alertQuarantine"]["edges"]]
        return {n["fingerprint"]: n["id"] for n in nodes if n["fingerprint"].startswith(service)}

    ids = await held()
    again, gone = ids[f"{service}-again"], ids[f"{service}-gone"]

    # when another tenant's admin, a responder, an unknown id among known ones, or no id
    # at all asks for them
    stranger = await clients(second["ADMIN"]).execute(RETRY, {"ids": [again]})
    mixed = await admin.execute(DISCARD, {"ids": [again, gone, "aqr_999999999"]})
    malformed = await admin.execute(RETRY, {"ids": [again, "alr_x"]})
    empty = await admin.execute(RETRY, {"ids": []})
    denied = await clients(first["RESPONDER"]).raw(DISCARD, {"ids": [gone]})

    # then each is refused with its code, and both rows are still there
    def codes(data: dict[str, Any], name: str) -> list[tuple[str, str]]:
        return [(e["code"], e["field"]) for e in data[name]["errors"]]

    assert codes(stranger, "retryQuarantinedAlerts") == [("NOT_FOUND", "ids")]
    assert codes(mixed, "discardQuarantinedAlerts") == [("NOT_FOUND", "ids")]
    assert codes(malformed, "retryQuarantinedAlerts") == [("NOT_FOUND", "ids")]
    assert codes(empty, "retryQuarantinedAlerts") == [("VALIDATION", "ids")]
    assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    assert await held() == ids

    # when its admin retries one and discards the other
    retried = await admin.execute(RETRY, {"ids": [again, again]})
    discarded = await admin.execute(DISCARD, {"ids": [gone]})

    # then the retried one leaves the quarantine and is processed into an alert, the
    # discarded one is gone for good, and neither can be taken twice
    assert retried["retryQuarantinedAlerts"] == {"count": 1, "errors": []}
    assert discarded["discardQuarantinedAlerts"] == {"count": 1, "errors": []}
    assert await held() == {}

    async def stored() -> list[dict[str, Any]] | None:
        return await alerts_of(admin, service=[service]) or None

    alerts = await eventually(stored, timeout=15, what="the retried alert stored")
    assert [a["fingerprint"] for a in alerts] == [f"{service}-again"]
    twice = await admin.execute(RETRY, {"ids": [again]})
    assert codes(twice, "retryQuarantinedAlerts") == [("NOT_FOUND", "ids")]
    async with connected(server.backend.database_url):
        assert not await AlertIntake.filter(tenant_id=first["id"]).exists()


# --- an alert's text is as classified as its incident ---------------------------------------


async def test_alerts_of_a_confidential_incident_hide_their_text_below_its_clearance(
    server, tenants, clients
):
    # given an alert that declared an incident, then classified CONFIDENTIAL
    first = tenants["first"]
    word = f"zebra{uuid.uuid4().hex[:6]}"
    service = f"conf-{uuid.uuid4().hex[:6]}"
    await fire(
        server,
        first["INGEST"],
        [
            {
                "source": "prometheus",
                "title": f"Payroll {word} export leaked",
                "description": f"{word}: salaries sent to the wrong bucket",
                "service": service,
                "labels": {"bucket": f"{word}-prod"},
                "annotations": {"runbook": f"call {word}"},
                "url": f"http://grafana.example/{word}",
            }
        ],
    )
    admin = clients(first["ADMIN"])

    async def linked() -> Any:
        found = await alerts_of(admin, service=[service])
        return found[0]["incident"] if found and found[0]["incident"] else None

    incident = await eventually(linked, timeout=15, what="the alert's incident")
    changed = await admin.execute(
        UPDATE, {"input": {"id": incident["id"], "classification": "CONFIDENTIAL"}}
    )
    assert changed["updateIncident"]["errors"] == []

    # when a viewer (cleared INTERNAL) reads the incident's alerts, lists and searches them
    viewer = clients(first["VIEWER"])
    seen = (await viewer.execute(INCIDENT_ALERTS, {"id": incident["id"]}))["incident"]
    listed = await alerts_of(viewer, service=[service])
    searched = await viewer.execute(ALERTS, {"filter": {"text": word}})

    # then the text is redacted as the incident's is, and the search finds nothing
    assert seen["title"] == "[REDACTED]"
    [alert] = [e["node"] for e in seen["alerts"]["edges"]]
    [same] = listed
    for shown in (alert, same):
        assert word not in str(shown), shown
        assert shown["title"] == "[REDACTED]"
        assert shown["description"] == "[REDACTED]"
        assert shown["service"] == service
        assert set(shown["redactedFields"]) >= {"title", "description", "labels", "annotations"}
    assert searched["alerts"]["totalCount"] == 0
    assert searched["alerts"]["edges"] == []

    # while a responder (cleared CONFIDENTIAL) reads and finds it
    responder = clients(first["RESPONDER"])
    [full] = await alerts_of(responder, text=word)
    assert full["title"] == f"Payroll {word} export leaked"
    assert full["labels"] == {"bucket": f"{word}-prod"}
    assert full["redactedFields"] == []

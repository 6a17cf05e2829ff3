"""Alerts over GraphQL: lists and cursors, linking by hand, visibility, correlation rules."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support import (
    GraphQLClient,
    Server,
    create_tenant,
    create_token,
    declare,
    eventually,
    transition,
)

ALERT_FIELDS = """
  id source fingerprint status alertname service severity title description labels
  annotations url startsAt endsAt firstReceivedAt lastReceivedAt count incident { id }
"""

ALERTS = f"""
query Alerts($filter: AlertFilter, $first: Int, $after: String) {{
  alerts(filter: $filter, first: $first, after: $after) {{
    totalCount
    edges {{ cursor node {{ {ALERT_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}
"""

INCIDENT_ALERTS = """
query IncidentAlerts($id: ID!, $first: Int, $after: String) {
  incident(id: $id) {
    alerts(first: $first, after: $after) {
      totalCount
      edges { cursor node { id title incident { id } } }
      pageInfo { hasNextPage endCursor }
    }
    timeline(first: 500) { edges { node { type data } } }
  }
}
"""

LIST_WITH_ALERTS = """
query Lists($text: String!) {
  incidents(filter: {text: $text}) { edges { node { id alerts(first: 10) { totalCount } } } }
}
"""

NODE = "query Node($id: ID!) { node(id: $id) { id ... on Alert { title incident { id } } } }"

LINK = f"""
mutation Link($input: LinkAlertInput!) {{
  linkAlert(input: $input) {{
    alert {{ {ALERT_FIELDS} }} incident {{ id }} errors {{ field code message }}
  }}
}}
"""

UNLINK = f"""
mutation Unlink($input: UnlinkAlertInput!) {{
  unlinkAlert(input: $input) {{
    alert {{ {ALERT_FIELDS} }} incident {{ id }} errors {{ field code message }}
  }}
}}
"""

RULE_FIELDS = """
  id name position enabled matchers groupBy windowSeconds autoDeclare minAlerts severity
  impact urgency titleTemplate isDefault createdAt updatedAt
"""
RULES = f"{{ correlationRules {{ {RULE_FIELDS} }} defaultCorrelationRule {{ {RULE_FIELDS} }} }}"
CREATE_RULE = f"""
mutation Create($input: CreateCorrelationRuleInput!) {{
  createCorrelationRule(input: $input) {{
    rule {{ {RULE_FIELDS} }} errors {{ field code message }}
  }}
}}
"""
UPDATE_RULE = f"""
mutation Update($input: UpdateCorrelationRuleInput!) {{
  updateCorrelationRule(input: $input) {{
    rule {{ {RULE_FIELDS} }} errors {{ field code message }}
  }}
}}
"""
DELETE_RULE = f"""
mutation Delete($input: DeleteCorrelationRuleInput!) {{
  deleteCorrelationRule(input: $input) {{
    rule {{ {RULE_FIELDS} }} errors {{ field code message }}
  }}
}}
"""
AUDIT = """
query Audit($action: String!) {
  auditLog(filter: {action: $action}) { edges { node { action target actor changes } } }
}
"""

READS = """
query Reads($target: String!, $action: String!) {
  auditLog(filter: {target: $target, action: $action}) { edges { node { changes } } }
}
"""

LINKED = "com.incidents.alerts.linked.v1"
UNLINKED = "com.incidents.alerts.unlinked.v1"


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    """A tenant of these tests' own: its rules and alerts touch no other test."""
    tenant_id = create_tenant(server, tenant_id=f"alerts-{uuid.uuid4().hex[:8]}", name="Alerts")
    roles = ("ADMIN", "INCIDENT_MANAGER", "RESPONDER", "VIEWER", "STAKEHOLDER", "INGEST")
    yield {
        "id": tenant_id,
        **{
            role: create_token(server, role=role, name=f"alerts {role.lower()}", tenant=tenant_id)
            for role in roles
        },
    }


@pytest.fixture(scope="module")
def manual_source() -> str:
    return f"manual-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def no_auto_declare(api, manual_source) -> AsyncIterator[None]:
    """Alerts of `manual_source` are grouped but declare nothing: they wait to be linked."""
    admin = api("ADMIN")
    rules = (await admin.execute(RULES))["correlationRules"]
    if not any(r["name"] == manual_source for r in rules):
        created = await admin.execute(
            CREATE_RULE,
            {
                "input": {
                    "name": manual_source,
                    "matchers": {"source": manual_source},
                    "groupBy": ["alertname"],
                    "windowSeconds": 3600,
                    "autoDeclare": False,
                    "position": 1,
                }
            },
        )
        assert created["createCorrelationRule"]["errors"] == [], created
    yield


async def fire(server: Server, token: str, alerts: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post(
            "/webhooks/alerts/generic", json=alerts, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 202, response.text


async def stored(
    server: Server, tenant: dict[str, str], client: GraphQLClient, alerts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Post alerts to the intake and wait until all are stored; returns them newest first."""
    await fire(server, tenant["INGEST"], alerts)
    return await wait_for(client, alerts[0]["service"], len(alerts))


async def wait_for(client: GraphQLClient, service: str, count: int) -> list[dict[str, Any]]:
    """The service's alerts, newest first, once there are `count` of them."""

    async def check() -> Any:
        data = await client.execute(ALERTS, {"filter": {"service": [service]}, "first": 500})
        edges = data["alerts"]["edges"]
        return [e["node"] for e in edges] if len(edges) >= count else None

    return await eventually(check, what=f"{count} alerts of {service} stored")  # type: ignore[no-any-return]


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def errors(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


# --- reading --------------------------------------------------------------------------------


async def test_alerts_are_listed_newest_first_filtered_and_paged(
    server, tenant, api, manual_source, no_auto_declare
):
    # given five alerts of one service, one of them resolved
    admin = api("ADMIN")
    service = f"pay-{uuid.uuid4().hex[:6]}"
    for n in range(5):
        await fire(
            server,
            tenant["INGEST"],
            [
                {
                    "source": manual_source,
                    "id": f"{service}-{n}",
                    "title": f"Payment latency {n}",
                    "service": service,
                    "severity": "warning",
                    "labels": {"region": "eu"},
                }
            ],
        )
    everything = await wait_for(admin, service, 5)
    await fire(
        server,
        tenant["INGEST"],
        [
            {
                "source": manual_source,
                "id": f"{service}-0",
                "title": "Payment latency 0",
                "service": service,
                "status": "resolved",
            }
        ],
    )

    async def resolved() -> Any:
        data = await admin.execute(
            ALERTS, {"filter": {"service": [service], "status": ["RESOLVED"]}}
        )
        return data["alerts"]["edges"]

    [only] = await eventually(resolved, what="the alert resolved")
    assert only["node"]["fingerprint"] == f"{service}-0" and only["node"]["endsAt"]

    # then the list is newest first and every alert carries what was sent
    assert [a["title"] for a in everything] == [f"Payment latency {n}" for n in (4, 3, 2, 1, 0)]
    first = everything[0]
    assert first["id"].startswith("alr_")
    assert (first["source"], first["service"], first["severity"]) == (
        manual_source,
        service,
        "warning",
    )
    assert first["labels"]["region"] == "eu" and first["status"] == "FIRING"
    assert first["count"] == 1 and first["incident"] is None

    # when paged two at a time
    seen, after, pages = [], None, 0
    while True:
        data = await admin.execute(
            ALERTS, {"filter": {"service": [service]}, "first": 2, "after": after}
        )
        page = data["alerts"]
        assert page["totalCount"] == 5
        seen += [e["node"]["id"] for e in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        after = page["pageInfo"]["endCursor"]

    # then every alert comes once, in order
    firing = [a["id"] for a in everything if a["fingerprint"] != f"{service}-0"]
    assert pages == 3 and len(seen) == 5 and set(seen) == {a["id"] for a in everything}
    assert [i for i in seen if i in firing] == firing

    # and the filters narrow it
    async def count(**filter: Any) -> int:
        data = await admin.execute(ALERTS, {"filter": {"service": [service], **filter}})
        return data["alerts"]["totalCount"]  # type: ignore[no-any-return]

    assert await count(status=["FIRING"]) == 4
    assert await count(text="LATENCY 3") == 1
    assert await count(linked=True) == 0
    assert await count(linked=False) == 5
    assert await count(source=["nobody"]) == 0


async def test_bad_list_arguments_are_refused(api):
    viewer = api("VIEWER")
    for variables, field in [
        ({"first": -1}, "first"),
        ({"first": 501}, "first"),
        ({"after": "not-a-cursor"}, "after"),
        ({"filter": {"text": "x" * 300}}, "filter.text"),
        ({"filter": {"source": ["bad\u0000"]}}, "filter.source"),
    ]:
        body = await viewer.raw(ALERTS, variables)
        assert codes(body) == ["VALIDATION"], (variables, body)
        assert body["errors"][0]["extensions"]["field"] == field
    unknown = await viewer.execute(ALERTS, {"filter": {"incidentId": "inc_nope"}})
    assert unknown["alerts"]["totalCount"] == 0


async def test_only_roles_that_read_incidents_read_alerts(api):
    for role in ("STAKEHOLDER", "INGEST"):
        assert codes(await api(role).raw(ALERTS)) == ["FORBIDDEN"]
    assert codes(await api("VIEWER").raw(ALERTS)) == []


# --- linking --------------------------------------------------------------------------------


async def test_linking_and_unlinking_an_alert_by_hand(
    server, tenant, api, manual_source, no_auto_declare
):
    # given an unlinked alert and an incident
    responder = api("RESPONDER")
    service = f"dns-{uuid.uuid4().hex[:6]}"
    [alert] = await stored(
        server,
        tenant,
        responder,
        [{"source": manual_source, "id": service, "title": "NXDOMAIN spike", "service": service}],
    )
    assert alert["incident"] is None
    incident = await declare(responder, title=f"DNS failures {service}")

    # when a responder links it
    linked = (
        await responder.execute(
            LINK, {"input": {"alertId": alert["id"], "incidentId": incident["id"]}}
        )
    )["linkAlert"]

    # then the alert points at the incident, which lists it and says so on its timeline
    assert linked["errors"] == []
    assert linked["alert"]["incident"] == {"id": incident["id"]}
    assert linked["incident"] == {"id": incident["id"]}
    data = (await responder.execute(INCIDENT_ALERTS, {"id": incident["id"]}))["incident"]
    assert data["alerts"]["totalCount"] == 1
    assert data["alerts"]["edges"][0]["node"]["id"] == alert["id"]
    event = data["timeline"]["edges"][-1]["node"]
    assert event["type"] == LINKED
    assert event["data"]["count"] == 1 and event["data"]["alerts"][0]["title"] == "NXDOMAIN spike"
    node = (await responder.execute(NODE, {"id": alert["id"]}))["node"]
    assert node == {
        "id": alert["id"],
        "title": "NXDOMAIN spike",
        "incident": {"id": incident["id"]},
    }

    # and the alert's group follows: the next alert of that group links by itself
    await fire(
        server,
        tenant["INGEST"],
        [
            {
                "source": manual_source,
                "id": f"{service}-2",
                "title": "NXDOMAIN spike",
                "service": service,
            }
        ],
    )
    [later] = [a for a in await wait_for(responder, service, 2) if a["fingerprint"] != service]

    async def followed() -> Any:
        found = (await responder.execute(NODE, {"id": later["id"]}))["node"]
        return found["incident"] == {"id": incident["id"]}

    await eventually(followed, what="the group's next alert linked")

    # when it is unlinked
    unlinked = (await responder.execute(UNLINK, {"input": {"alertId": alert["id"]}}))["unlinkAlert"]

    # then it is no longer the incident's, and the timeline says so
    assert unlinked["errors"] == []
    assert unlinked["alert"]["incident"] is None
    assert unlinked["incident"] == {"id": incident["id"]}
    data = (await responder.execute(INCIDENT_ALERTS, {"id": incident["id"]}))["incident"]
    assert alert["id"] not in [e["node"]["id"] for e in data["alerts"]["edges"]]
    unlinked_events = [
        e["node"] for e in data["timeline"]["edges"] if e["node"]["type"] == UNLINKED
    ]
    assert [e["data"]["alert"]["id"] for e in unlinked_events] == [
        str(uuid.UUID(hex=alert["id"][len("alr_") :]))
    ]


async def test_linking_an_alert_of_an_undeclared_group_brings_the_whole_group(
    server, tenant, api, manual_source, no_auto_declare
):
    # given three alerts of one group whose rule declares nothing
    responder = api("RESPONDER")
    service = f"lb-{uuid.uuid4().hex[:6]}"
    alerts = await stored(
        server,
        tenant,
        responder,
        [
            {
                "source": manual_source,
                "id": f"{service}-{n}",
                "title": f"Backend {n} down",
                "service": service,
                "alertname": f"BackendDown-{service}",
            }
            for n in range(3)
        ],
    )
    incident = await declare(responder, title=f"Load balancer {service}")

    # when a responder links one of them
    linked = await responder.execute(
        LINK, {"input": {"alertId": alerts[1]["id"], "incidentId": incident["id"]}}
    )
    assert linked["linkAlert"]["errors"] == []

    # then all three are the incident's
    async def all_linked() -> Any:
        data = (await responder.execute(INCIDENT_ALERTS, {"id": incident["id"]}))["incident"]
        return data if data["alerts"]["totalCount"] == 3 else None

    data = await eventually(all_linked, what="the group's other alerts linked")
    assert {e["node"]["id"] for e in data["alerts"]["edges"]} == {a["id"] for a in alerts}

    # and the timeline announces the one linked by hand, then the other two in one event
    async def announced() -> Any:
        data = (await responder.execute(INCIDENT_ALERTS, {"id": incident["id"]}))["incident"]
        events = [e["node"] for e in data["timeline"]["edges"] if e["node"]["type"] == LINKED]
        return events if sum(e["data"]["count"] for e in events) == 3 else None

    events = await eventually(announced, what="the other two alerts announced")
    assert [e["data"]["count"] for e in events] == [1, 2]
    others = {a["title"] for a in alerts if a["id"] != alerts[1]["id"]}
    assert {a["title"] for a in events[1]["data"]["alerts"]} == others


async def test_linking_waits_for_a_processor_batch_instead_of_deadlocking_it(
    server, tenant, api, manual_source, no_auto_declare
):
    """The alert processor locks its lease, then an alert's group, then the alert; linking
    the alert by hand meanwhile must queue behind it, not take the alert first."""
    if server.backend.name != "postgres":
        pytest.skip("row locks: PostgreSQL only (SQLite has one writer at a time)")
    import asyncpg

    # given an alert of a group waiting to be linked
    responder = api("RESPONDER")
    service = f"kv-{uuid.uuid4().hex[:6]}"
    [alert] = await stored(
        server,
        tenant,
        responder,
        [{"source": manual_source, "id": service, "title": "Key evictions", "service": service}],
    )
    incident = await declare(responder, title=f"Cache trouble {service}")
    alert_id = uuid.UUID(hex=alert["id"][len("alr_") :])
    incident_id = uuid.UUID(hex=incident["id"][len("inc_") :])
    batch = await asyncpg.connect(server.backend.database_url)
    probe = await asyncpg.connect(server.backend.database_url)
    try:
        # and a processor batch under way: the lease, then the alert's group, locked
        transaction = batch.transaction()
        await transaction.start()
        await batch.execute(
            "UPDATE lease SET expires_at = expires_at WHERE name = 'alerts-processor'"
        )
        await batch.fetchval(
            "SELECT g.id FROM alert_group g JOIN alert a ON a.group_id = g.id "
            "WHERE a.id = $1 FOR UPDATE OF g",
            alert_id,
        )

        # when a responder links the alert meanwhile
        link = asyncio.ensure_future(
            responder.execute(
                LINK, {"input": {"alertId": alert["id"], "incidentId": incident["id"]}}
            )
        )

        async def writing() -> bool:
            try:
                await probe.execute(
                    "SELECT 1 FROM incident WHERE id = $1 FOR UPDATE NOWAIT", incident_id
                )
            except asyncpg.LockNotAvailableError:
                return True
            return False

        await eventually(writing, what="the link's transaction under way")
        await asyncio.sleep(0.5)
        # and the batch goes on to count a repeat of the alert, then commits
        await batch.execute("UPDATE alert SET count = count + 1 WHERE id = $1", alert_id)
        await transaction.commit()

        # then both went through, one after the other
        linked = (await asyncio.wait_for(link, 30))["linkAlert"]
        assert linked["errors"] == []
        assert linked["alert"]["incident"] == {"id": incident["id"]}
        assert linked["alert"]["count"] == 2
    finally:
        await batch.close()
        await probe.close()


async def test_bad_links_are_refused_and_write_nothing(
    server, tenant, api, manual_source, no_auto_declare
):
    responder = api("RESPONDER")
    service = f"mq-{uuid.uuid4().hex[:6]}"
    [alert] = await stored(
        server,
        tenant,
        responder,
        [{"source": manual_source, "id": service, "title": "Queue depth", "service": service}],
    )
    incident = await declare(responder, title=f"Queue backlog {service}")
    other = await declare(responder, title=f"Other {service}")
    cancelled = await declare(responder, title=f"Cancelled {service}")
    await transition(responder, cancelled["id"], "CANCELLED")
    foreign = await declare(server.client(), title="Another tenant's incident")

    async def link(alert_id: str, incident_id: str) -> list[tuple[str | None, str]]:
        data = await responder.execute(
            LINK, {"input": {"alertId": alert_id, "incidentId": incident_id}}
        )
        return errors(data["linkAlert"])

    assert await link("alr_" + uuid.uuid4().hex, incident["id"]) == [("alertId", "NOT_FOUND")]
    assert await link("garbage", incident["id"]) == [("alertId", "NOT_FOUND")]
    assert await link(alert["id"], "inc_" + uuid.uuid4().hex) == [("incidentId", "NOT_FOUND")]
    assert await link(alert["id"], "garbage") == [("incidentId", "NOT_FOUND")]
    assert await link(alert["id"], foreign["id"]) == [("incidentId", "NOT_FOUND")]
    assert await link(alert["id"], cancelled["id"]) == [("incidentId", "INVALID_TRANSITION")]
    unlinked = await responder.execute(UNLINK, {"input": {"alertId": alert["id"]}})
    assert errors(unlinked["unlinkAlert"]) == [("alertId", "CONFLICT")]

    # an alert already linked is not moved behind anyone's back
    assert await link(alert["id"], incident["id"]) == []
    assert await link(alert["id"], incident["id"]) == [("alertId", "CONFLICT")]
    assert await link(alert["id"], other["id"]) == [("alertId", "CONFLICT")]
    data = (await responder.execute(INCIDENT_ALERTS, {"id": other["id"]}))["incident"]
    assert data["alerts"]["totalCount"] == 0 and len(data["timeline"]["edges"]) == 1

    # a viewer reads but may not link
    body = await api("VIEWER").raw(
        LINK, {"input": {"alertId": alert["id"], "incidentId": other["id"]}}
    )
    assert codes(body) == ["FORBIDDEN"]


async def test_another_tenants_alert_is_unknown(
    server, tenant, api, manual_source, no_auto_declare
):
    # given an alert of this tenant
    admin = api("ADMIN")
    service = f"iso-{uuid.uuid4().hex[:6]}"
    [alert] = await stored(
        server,
        tenant,
        admin,
        [{"source": manual_source, "id": service, "title": "Isolated", "service": service}],
    )

    # when the default tenant's admin asks for it
    outsider = server.client()
    try:
        node = await outsider.execute(NODE, {"id": alert["id"]})
        listed = await outsider.execute(ALERTS, {"filter": {"service": [service]}})
        incident = await declare(outsider, title="Outsider's incident")
        link = await outsider.execute(
            LINK, {"input": {"alertId": alert["id"], "incidentId": incident["id"]}}
        )
    finally:
        await outsider.aclose()

    # then it does not exist for them
    assert node["node"] is None
    assert listed["alerts"]["totalCount"] == 0
    assert errors(link["linkAlert"]) == [("alertId", "NOT_FOUND")]


async def test_alerts_of_a_restricted_incident_are_hidden_like_unknown_ones(
    server, tenant, api, manual_source, no_auto_declare
):
    # given an alert linked to a RESTRICTED incident
    admin = api("ADMIN")
    service = f"sec-{uuid.uuid4().hex[:6]}"
    [alert] = await stored(
        server,
        tenant,
        admin,
        [{"source": manual_source, "id": service, "title": "Odd logins", "service": service}],
    )
    secret = await declare(admin, title="Intrusion", classification="RESTRICTED")
    assert (
        await admin.execute(LINK, {"input": {"alertId": alert["id"], "incidentId": secret["id"]}})
    )["linkAlert"]["errors"] == []

    # when a responder (cleared CONFIDENTIAL) looks for it
    responder = api("RESPONDER")
    node = await responder.execute(NODE, {"id": alert["id"]})
    listed = await responder.execute(ALERTS, {"filter": {"service": [service]}})
    unlink = await responder.execute(UNLINK, {"input": {"alertId": alert["id"]}})

    # then it is not there, exactly like an unknown id
    assert node["node"] is None
    assert listed["alerts"]["totalCount"] == 0 and listed["alerts"]["edges"] == []
    assert errors(unlink["unlinkAlert"]) == [("alertId", "NOT_FOUND")]
    # while the admin sees it and its incident
    seen = await admin.execute(ALERTS, {"filter": {"service": [service]}})
    assert seen["alerts"]["edges"][0]["node"]["incident"] == {"id": secret["id"]}


async def test_reading_alerts_of_restricted_incidents_audits_each_incident_once(
    server, tenant, api, manual_source, no_auto_declare
):
    # given two RESTRICTED incidents with two alerts each
    admin = api("ADMIN")
    service = f"vault-{uuid.uuid4().hex[:6]}"
    alerts = await stored(
        server,
        tenant,
        admin,
        [
            {
                "source": manual_source,
                "id": f"{service}-{n}",
                "title": f"Seal {n}",
                "service": service,
                "alertname": f"Seal{n}",
            }
            for n in range(4)
        ],
    )
    secrets = [
        await declare(admin, title=f"Vault {service} {n}", classification="RESTRICTED")
        for n in range(2)
    ]
    for n, alert in enumerate(alerts):
        linked = await admin.execute(
            LINK, {"input": {"alertId": alert["id"], "incidentId": secrets[n % 2]["id"]}}
        )
        assert linked["linkAlert"]["errors"] == []

    async def reads(incident_id: str) -> int:
        audit = await admin.execute(READS, {"target": incident_id, "action": "incident.read"})
        return [e["node"]["changes"]["via"] for e in audit["auditLog"]["edges"]].count("alert")

    before = [await reads(s["id"]) for s in secrets]

    # when another admin (who has not read them yet) lists the four alerts with their incidents
    reader = server.client(
        token=create_token(server, role="ADMIN", name=f"lister {service}", tenant=tenant["id"])
    )
    try:
        listed = await reader.execute(ALERTS, {"filter": {"service": [service]}})
    finally:
        await reader.aclose()
    assert sorted(e["node"]["incident"]["id"] for e in listed["alerts"]["edges"]) == sorted(
        [s["id"] for s in secrets] * 2
    )

    # then the audit log holds one read of each incident for that list
    assert [await reads(s["id"]) for s in secrets] == [n + 1 for n in before]


async def test_incident_alerts_pages_and_many_incidents_in_one_list(
    server, tenant, api, manual_source, no_auto_declare
):
    # given two incidents with three linked alerts each
    admin = api("ADMIN")
    service = f"cdn-{uuid.uuid4().hex[:6]}"
    alerts = await stored(
        server,
        tenant,
        admin,
        [
            {
                "source": manual_source,
                "id": f"{service}-{n}",
                "title": f"Edge {n}",
                "service": service,
                "alertname": f"Edge{n}",
            }
            for n in range(6)
        ],
    )
    incidents = [await declare(admin, title=f"CDN {service} {n}") for n in range(2)]
    for n, alert in enumerate(alerts):
        linked = await admin.execute(
            LINK, {"input": {"alertId": alert["id"], "incidentId": incidents[n % 2]["id"]}}
        )
        assert linked["linkAlert"]["errors"] == []

    # when both are listed with their alerts
    listed = await admin.execute(LIST_WITH_ALERTS, {"text": f"CDN {service}"})

    # then each has its own three
    assert sorted(e["node"]["alerts"]["totalCount"] for e in listed["incidents"]["edges"]) == [3, 3]

    # and one incident's alerts page with cursors, newest first
    mine = [a["id"] for n, a in enumerate(alerts) if n % 2 == 0]
    seen, after = [], None
    while True:
        data = await admin.execute(
            INCIDENT_ALERTS, {"id": incidents[0]["id"], "first": 2, "after": after}
        )
        page = data["incident"]["alerts"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == mine
    bad = await admin.raw(INCIDENT_ALERTS, {"id": incidents[0]["id"], "after": "nope"})
    assert codes(bad) == ["VALIDATION"]


async def test_an_incident_with_many_alerts_pages_them_in_order(
    server, tenant, api, manual_source, no_auto_declare
):
    # given an incident with 300 alerts (one group, linked by linking one of them)
    admin = api("ADMIN")
    service = f"disk-{uuid.uuid4().hex[:6]}"
    await fire(
        server,
        tenant["INGEST"],
        [
            {
                "source": manual_source,
                "id": f"{service}-{n}",
                "title": f"Disk {n} full",
                "service": service,
                "alertname": f"DiskFull-{service}",
            }
            for n in range(300)
        ],
    )
    everything = await wait_for(admin, service, 300)
    incident = await declare(admin, title=f"Disks {service}")
    linked = await admin.execute(
        LINK, {"input": {"alertId": everything[0]["id"], "incidentId": incident["id"]}}
    )
    assert linked["linkAlert"]["errors"] == []

    async def all_linked() -> Any:
        data = await admin.execute(ALERTS, {"filter": {"incidentId": incident["id"]}, "first": 500})
        edges = data["alerts"]["edges"]
        return [e["node"]["id"] for e in edges] if len(edges) == 300 else None

    expected = await eventually(all_linked, what="the 300 alerts linked")

    # when its alerts are read five at a time
    pages, after = [], None
    while True:
        data = await admin.execute(
            INCIDENT_ALERTS, {"id": incident["id"], "first": 5, "after": after}
        )
        page = data["incident"]["alerts"]
        assert page["totalCount"] == 300
        pages.append([e["node"]["id"] for e in page["edges"]])
        if not page["pageInfo"]["hasNextPage"]:
            break
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        after = page["pageInfo"]["endCursor"]

    # then there are 60 full pages, which together list every alert once, newest first
    assert [len(p) for p in pages] == [5] * 60
    assert [i for p in pages for i in p] == expected


# --- correlation rules ----------------------------------------------------------------------


async def test_admins_create_change_move_and_delete_correlation_rules(server, api):
    # given a tenant of its own, with no rules: the default applies
    tenant_id = create_tenant(server, tenant_id=f"rules-{uuid.uuid4().hex[:8]}", name="Rules")
    admin = server.client(
        token=create_token(server, role="ADMIN", name="rules admin", tenant=tenant_id)
    )
    try:
        empty = await admin.execute(RULES)
        assert empty["correlationRules"] == []
        default = empty["defaultCorrelationRule"]
        assert default["isDefault"] and default["enabled"]
        assert default["groupBy"] == ["service", "alertname"] and default["windowSeconds"] == 3600

        # when two rules are created, the second at the top
        async def create(**values: Any) -> dict[str, Any]:
            data = await admin.execute(CREATE_RULE, {"input": values})
            return data["createCorrelationRule"]  # type: ignore[no-any-return]

        db = await create(
            name="Databases",
            matchers={"service": ["postgres", "mysql"]},
            groupBy=["service"],
            windowSeconds=1800,
            severity="SEV2",
            impact="HIGH",
            urgency="HIGH",
            titleTemplate="{service} database trouble",
        )
        assert db["errors"] == []
        noisy = await create(
            name="Noisy checks",
            matchers={"alertname": "Heartbeat"},
            groupBy=["alertname"],
            windowSeconds=600,
            autoDeclare=False,
            position=1,
        )
        assert noisy["errors"] == []

        # then they are listed by position and the default no longer applies
        listed = await admin.execute(RULES)
        assert [(r["name"], r["position"]) for r in listed["correlationRules"]] == [
            ("Noisy checks", 1),
            ("Databases", 2),
        ]
        assert listed["defaultCorrelationRule"]["enabled"] is False
        rule = listed["correlationRules"][1]
        assert rule["id"].startswith("crl_") and rule["severity"] == "SEV2"
        assert rule["matchers"] == {"service": ["postgres", "mysql"]}

        # when one is changed in part and moved
        updated = await admin.execute(
            UPDATE_RULE,
            {"input": {"id": rule["id"], "minAlerts": 3, "severity": None, "position": 1}},
        )

        # then only those fields changed
        changed = updated["updateCorrelationRule"]
        assert changed["errors"] == []
        assert changed["rule"]["minAlerts"] == 3 and changed["rule"]["severity"] is None
        assert changed["rule"]["windowSeconds"] == 1800 and changed["rule"]["name"] == "Databases"
        listed = await admin.execute(RULES)
        assert [r["name"] for r in listed["correlationRules"]] == ["Databases", "Noisy checks"]

        # when one is deleted, the rest close up
        deleted = await admin.execute(DELETE_RULE, {"input": {"id": rule["id"]}})
        assert deleted["deleteCorrelationRule"]["errors"] == []
        listed = await admin.execute(RULES)
        assert [(r["name"], r["position"]) for r in listed["correlationRules"]] == [
            ("Noisy checks", 1)
        ]

        # and every change is in the audit log
        for action in (
            "correlation.rule_created",
            "correlation.rule_updated",
            "correlation.rule_deleted",
        ):
            audit = await admin.execute(AUDIT, {"action": action})
            assert audit["auditLog"]["edges"], action
        update_audit = await admin.execute(AUDIT, {"action": "correlation.rule_updated"})
        assert update_audit["auditLog"]["edges"][0]["node"]["changes"]["minAlerts"] == {
            "from": 1,
            "to": 3,
        }
    finally:
        await admin.aclose()


async def test_bad_correlation_rules_are_refused_and_nothing_is_written(api, no_auto_declare):
    admin = api("ADMIN")
    before = (await admin.execute(RULES))["correlationRules"]
    assert before
    base = {"name": "Bad", "groupBy": ["service"], "windowSeconds": 60}
    cases = [
        ({"name": "  "}, "name"),
        ({"groupBy": []}, "groupBy"),
        ({"groupBy": ["service", "service"]}, "groupBy"),
        ({"windowSeconds": 0}, "windowSeconds"),
        ({"windowSeconds": 10**7}, "windowSeconds"),
        ({"minAlerts": 0}, "minAlerts"),
        ({"matchers": ["service"]}, "matchers"),
        ({"matchers": {"service": 5}}, "matchers"),
        ({"matchers": {"service": []}}, "matchers"),
        ({"titleTemplate": "{nope} broke"}, "titleTemplate"),
        ({"position": 0}, "position"),
        ({"position": 10_000}, "position"),
    ]
    for change, field in cases:
        data = await admin.execute(CREATE_RULE, {"input": {**base, **change}})
        payload = data["createCorrelationRule"]
        assert payload["rule"] is None and errors(payload) == [(field, "VALIDATION")], (
            change,
            payload,
        )
    assert (await admin.execute(RULES))["correlationRules"] == before

    # updates: a null where a value is needed, a bad value, a place that does not exist
    rule = before[0]
    for change, field in [
        ({"name": None}, "name"),
        ({"groupBy": None}, "groupBy"),
        ({"windowSeconds": -5}, "windowSeconds"),
        ({"impact": None}, "impact"),
        ({"position": 99}, "position"),
    ]:
        data = await admin.execute(UPDATE_RULE, {"input": {"id": rule["id"], **change}})
        assert errors(data["updateCorrelationRule"]) == [(field, "VALIDATION")], change
    assert (await admin.execute(RULES))["correlationRules"] == before
    for query in (UPDATE_RULE, DELETE_RULE):
        data = await admin.execute(query, {"input": {"id": "crl_" + uuid.uuid4().hex}})
        assert errors(next(iter(data.values()))) == [("id", "NOT_FOUND")]
        data = await admin.execute(query, {"input": {"id": "default"}})
        assert errors(next(iter(data.values()))) == [("id", "NOT_FOUND")]


async def test_only_admins_read_and_edit_correlation_rules(server, api):
    manager = api("INCIDENT_MANAGER")
    assert codes(await manager.raw(RULES)) == ["FORBIDDEN"]
    body = await manager.raw(
        CREATE_RULE, {"input": {"name": "x", "groupBy": ["a"], "windowSeconds": 60}}
    )
    assert codes(body) == ["FORBIDDEN"]

    # and another tenant's rule is unknown
    admin = api("ADMIN")
    created = await admin.execute(
        CREATE_RULE,
        {"input": {"name": "Mine", "groupBy": ["a"], "windowSeconds": 60, "enabled": False}},
    )
    rule = created["createCorrelationRule"]["rule"]
    outsider = server.client()
    try:
        data = await outsider.execute(DELETE_RULE, {"input": {"id": rule["id"]}})
    finally:
        await outsider.aclose()
    assert errors(data["deleteCorrelationRule"]) == [("id", "NOT_FOUND")]
    mine = await admin.execute(DELETE_RULE, {"input": {"id": rule["id"]}})
    assert mine["deleteCorrelationRule"]["errors"] == []

"""Access that must not grow: nobody issues a token above their own role or clearance, the
audit log shows an admin only what its clearance reaches, and a read shared by several live
subscribers is recorded for each of them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.models import AuditRecord, Classification, Role
from app.services.access.audit import shown
from app.services.access.classification import ROLE_CLEARANCE
from app.services.access.permissions import may_issue
from app.services.access.tokens import Issuer, issuable_clearance
from tests.support import (
    GraphQLClient,
    Server,
    answered_errors,
    create_tenant,
    create_token,
    declare,
    eventually,
    subscribe_and_wait,
    subscriber,
    transition,
)

REDACTED = "[REDACTED]"

CREATE_TOKEN = """
mutation Create($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    token { id name role clearance }
    secret
    errors { field code message }
  }
}
"""
TOKENS = """
query($after: String) {
  apiTokens(first: 500, after: $after) {
    edges { node { id name role clearance } } pageInfo { hasNextPage endCursor }
  }
}
"""
INCIDENT = "query($id: ID!) { incident(id: $id) { id title classification } }"
INCIDENTS = "query($text: String!) { incidents(filter: {text: $text}) { totalCount } }"
AUDIT = """
query($filter: AuditFilter, $after: String) {
  auditLog(filter: $filter, first: 500, after: $after) {
    edges { node { actor action target changes redacted } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MERGE = """
mutation($input: MergeIncidentsInput!) { mergeIncidents(input: $input) { errors { code } } }
"""
WATCH_MERGE = """
subscription($id: ID!) { incidentUpdated(id: $id) { id status mergedInto { id title } } }
"""


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:8]}"


def key(global_id: str) -> str:
    return str(uuid.UUID(global_id.removeprefix("inc_")))


@pytest.fixture
async def token_for(client: GraphQLClient, server: Server) -> AsyncIterator[Any]:
    """`await token_for("ADMIN", clearance="PUBLIC")`: a client with a fresh token, issued by
    the fully cleared bootstrap admin; `.name` is the token's name (the audit log's actor)."""
    opened: list[GraphQLClient] = []

    async def make(role: str, clearance: str | None = None) -> GraphQLClient:
        name = unique(f"{role.lower()} {clearance or 'default'}")
        data = await client.execute(
            CREATE_TOKEN, {"input": {"name": name, "role": role, "clearance": clearance}}
        )
        assert data["createApiToken"]["errors"] == [], data
        made = server.client(token=data["createApiToken"]["secret"])
        made.name = name  # type: ignore[attr-defined]
        opened.append(made)
        return made

    yield make
    for made in opened:
        await made.aclose()


async def tokens(client: GraphQLClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await client.execute(TOKENS, {"after": after}))["apiTokens"]
        found += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def audit(client: GraphQLClient, **filter: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await client.execute(AUDIT, {"filter": filter, "after": after}))["auditLog"]
        records += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return records
        after = page["pageInfo"]["endCursor"]


# --- issuing tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "clearance"), [("ADMIN", "RESTRICTED"), ("VIEWER", "CONFIDENTIAL")]
)
async def test_nobody_issues_a_token_cleared_above_their_own(client, token_for, role, clearance):
    # given an admin cleared only for PUBLIC data
    low_admin = await token_for("ADMIN", clearance="PUBLIC")
    name = unique("escalation")
    before = await tokens(client)

    # when it asks for a token cleared above its own
    asked = {"input": {"name": name, "role": role, "clearance": clearance}}
    refused = await answered_errors(low_admin, CREATE_TOKEN, asked, "createApiToken")

    # then it is refused on the clearance, and no token exists or was recorded
    assert refused == [("clearance", "FORBIDDEN")]
    assert await tokens(client) == before
    created = await audit(client, action="token.created")
    assert not [r for r in created if r["changes"]["name"] == name]


async def test_a_token_issued_without_a_clearance_gets_no_more_than_its_issuers(
    server, client, token_for
):
    # given a restricted incident, and an admin cleared only for PUBLIC data
    secret_title = unique("Insider exfiltration")
    restricted = await declare(client, title=secret_title, classification="RESTRICTED")
    low_admin = await token_for("ADMIN", clearance="PUBLIC")

    # when it issues an ADMIN token without naming a clearance (the role's is RESTRICTED)
    data = await low_admin.execute(
        CREATE_TOKEN, {"input": {"name": unique("minted"), "role": "ADMIN"}}
    )

    # then the new token is cleared PUBLIC, like its issuer
    payload = data["createApiToken"]
    assert payload["errors"] == []
    assert (payload["token"]["role"], payload["token"]["clearance"]) == ("ADMIN", "PUBLIC")
    listed = {t["id"]: t for t in await tokens(client)}
    assert listed[payload["token"]["id"]]["clearance"] == "PUBLIC"
    # and it does not reach the restricted incident
    minted = server.client(token=payload["secret"])
    try:
        assert (await minted.execute(INCIDENT, {"id": restricted["id"]}))["incident"] is None
        assert (await minted.execute(INCIDENTS, {"text": secret_title}))["incidents"][
            "totalCount"
        ] == 0
    finally:
        await minted.aclose()


@pytest.mark.parametrize(
    ("role", "clearance", "expected"),
    [
        ("RESPONDER", None, "CONFIDENTIAL"),  # the role's default, within the issuer's
        ("VIEWER", None, "INTERNAL"),  # the role's default, below the issuer's
        ("ADMIN", None, "CONFIDENTIAL"),  # capped at the issuer's
        ("INCIDENT_MANAGER", "CONFIDENTIAL", "CONFIDENTIAL"),  # exactly the issuer's
        ("INGEST", "PUBLIC", "PUBLIC"),
    ],
)
async def test_an_admin_issues_tokens_up_to_its_own_clearance(token_for, role, clearance, expected):
    # given an admin cleared for CONFIDENTIAL data
    admin = await token_for("ADMIN", clearance="CONFIDENTIAL")

    # when it issues a token at or below its own clearance
    data = await admin.execute(
        CREATE_TOKEN, {"input": {"name": unique("team"), "role": role, "clearance": clearance}}
    )

    # then the token is issued with the clearance asked for, or the capped default
    payload = data["createApiToken"]
    assert payload["errors"] == []
    assert (payload["token"]["role"], payload["token"]["clearance"]) == (role, expected)


def test_the_issuing_rules():
    # a role may be issued only by a role that may do all it may; posting alerts is the
    # machines' own, issued by whoever manages tokens
    assert all(may_issue(Role.ADMIN, role) for role in Role)
    assert not may_issue(Role.INCIDENT_MANAGER, Role.ADMIN)
    assert may_issue(Role.INCIDENT_MANAGER, Role.RESPONDER)
    assert not may_issue(Role.VIEWER, Role.RESPONDER)
    assert not may_issue(Role.STAKEHOLDER, Role.VIEWER)
    assert not may_issue(Role.VIEWER, Role.INGEST)
    # a clearance asked for is granted up to the issuer's; none asked for is the role's,
    # capped at the issuer's
    low = Issuer(role=Role.ADMIN, clearance=Classification.INTERNAL)
    assert issuable_clearance(low, Role.ADMIN, None) is Classification.INTERNAL
    assert issuable_clearance(low, Role.STAKEHOLDER, None) is Classification.PUBLIC
    assert issuable_clearance(low, Role.VIEWER, Classification.PUBLIC) is Classification.PUBLIC
    assert issuable_clearance(low, Role.VIEWER, Classification.CONFIDENTIAL) is None
    full = Issuer(role=Role.ADMIN, clearance=Classification.RESTRICTED)
    for role in Role:
        assert issuable_clearance(full, role, None) is ROLE_CLEARANCE[role]


# --- the audit log, as far as the reader's clearance reaches -------------------------------


async def test_the_audit_log_hides_restricted_incidents_from_a_less_cleared_admin(
    client, token_for
):
    # given a restricted incident that was changed and read
    restricted = await declare(
        client,
        title=unique("Payroll breach"),
        description="keys on pastebin",
        classification="RESTRICTED",
    )
    await transition(client, restricted["id"], "IN_PROGRESS")
    assert (await client.execute(INCIDENT, {"id": restricted["id"]}))["incident"] is not None
    target = key(restricted["id"])
    low_admin = await token_for("ADMIN", clearance="CONFIDENTIAL")

    # when an admin cleared below RESTRICTED reads the audit log, by target and in full
    by_target = await audit(low_admin, target=restricted["id"])
    reads = await audit(low_admin, action="incident.read")
    everything = await audit(low_admin)

    # then the incident is not in it, exactly like an incident that does not exist
    assert by_target == []
    assert [r for r in reads + everything if r["target"] == target] == []
    assert "Payroll breach" not in str(everything)
    # while a fully cleared admin sees its whole trail
    full = await audit(client, target=restricted["id"])
    assert {"incident.declared", "incident.state_change", "incident.read"} <= {
        r["action"] for r in full
    }
    declared = next(r for r in full if r["action"] == "incident.declared")
    assert declared["changes"]["fields"]["title"]["to"] == restricted["title"]
    assert declared["redacted"] is False


async def test_the_audit_log_redacts_incident_fields_above_the_readers_clearance(client, token_for):
    # given a CONFIDENTIAL incident, resolved with a root cause (a CONFIDENTIAL field)
    incident = await declare(
        client,
        title=unique("Partner API leak"),
        description="tokens in logs",
        classification="CONFIDENTIAL",
    )
    await transition(client, incident["id"], "IN_PROGRESS")
    await transition(
        client, incident["id"], "RESOLVED", resolutionSummary="rotated", rootCause="debug logging"
    )
    confidential_admin = await token_for("ADMIN", clearance="CONFIDENTIAL")
    internal_admin = await token_for("ADMIN", clearance="INTERNAL")

    # when admins cleared CONFIDENTIAL and INTERNAL read the incident's trail
    cleared = await audit(confidential_admin, target=incident["id"])
    lower = await audit(internal_admin, target=incident["id"])

    # then the cleared admin reads every value
    declared, started, resolved = reversed(cleared)
    assert declared["changes"]["fields"]["title"]["to"] == incident["title"]
    assert declared["changes"]["fields"]["description"]["to"] == "tokens in logs"
    assert resolved["changes"]["fields"]["root_cause"]["to"] == "debug logging"
    assert not any(r["redacted"] for r in cleared)
    # and the lower one reads the same trail with every value above INTERNAL on this
    # incident redacted, as the incident itself reads for it; what is PUBLIC stays
    assert [r["action"] for r in lower] == [r["action"] for r in cleared]
    declared, started, resolved = reversed(lower)
    fields = declared["changes"]["fields"]
    assert fields["title"]["to"] == REDACTED and fields["description"]["to"] == REDACTED
    assert fields["status"]["to"] == "OPEN" and fields["classification"]["to"] == "CONFIDENTIAL"
    fields = resolved["changes"]["fields"]
    assert fields["root_cause"]["to"] == REDACTED
    assert fields["resolution_summary"]["to"] == REDACTED
    assert fields["status"] == {"from": "IN_PROGRESS", "to": "RESOLVED"}
    assert (declared["redacted"], started["redacted"], resolved["redacted"]) == (True, False, True)
    assert started == next(r for r in reversed(cleared) if r["action"] == started["action"])
    assert "debug logging" not in str(lower) and "tokens in logs" not in str(lower)


async def test_the_audit_log_does_not_name_a_restricted_merge_target(client, token_for):
    # given an INTERNAL incident merged into a RESTRICTED one
    source = await declare(client, title=unique("Odd logins"))
    target = await declare(client, title=unique("Account takeover"), classification="RESTRICTED")
    merged = await client.execute(
        MERGE, {"input": {"sourceId": source["id"], "targetId": target["id"]}}
    )
    assert merged["mergeIncidents"]["errors"] == []
    low_admin = await token_for("ADMIN", clearance="INTERNAL")

    # when an admin not cleared RESTRICTED reads the source's trail
    trail = await audit(low_admin, target=source["id"])

    # then it sees the merge, but not which incident it went into
    merge = next(r for r in trail if r["action"] == "incident.merged")
    assert merge["changes"]["fields"]["merged_into_id"]["to"] is None
    assert merge["redacted"] is True
    assert key(target["id"]) not in str(trail)
    full = await audit(client, target=source["id"])
    merge = next(r for r in full if r["action"] == "incident.merged")
    assert merge["changes"]["fields"]["merged_into_id"]["to"] == key(target["id"])


# --- reads shared by several live subscribers ----------------------------------------------


async def test_a_restricted_read_shared_by_subscribers_is_audited_for_each(
    server, client, token_for
):
    # given two people, cleared alike, watching one incident with the same subscription
    source = await declare(client, title=unique("Badge reader offline"))
    target = await declare(client, title=unique("Physical intrusion"), classification="RESTRICTED")
    people = [await token_for("ADMIN"), await token_for("ADMIN")]
    subs = [await subscriber(server, token=person.token) for person in people]
    try:
        for sub in subs:
            await subscribe_and_wait(sub, server, WATCH_MERGE, {"id": source["id"]})

        # when the incident is merged into a restricted one, which the push reads
        merged = await client.execute(
            MERGE, {"input": {"sourceId": source["id"], "targetId": target["id"]}}
        )
        assert merged["mergeIncidents"]["errors"] == []
        pushes = [(await sub.next_data())["incidentUpdated"] for sub in subs]

        # then both received the restricted incident
        assert [p["mergedInto"] for p in pushes] == [
            {"id": target["id"], "title": target["title"]}
        ] * 2

        # and the audit log holds a read of it by each of them, recorded before the push
        reads = await audit(client, action="incident.read", target=target["id"])
        readers = {r["actor"] for r in reads if r["changes"] == {"via": "mergedInto"}}
        assert readers == {person.name for person in people}  # type: ignore[attr-defined]
    finally:
        for sub in subs:
            await sub.close()


WATCH_ALERTS = """
subscription($id: ID!) {
  incidentUpdated(id: $id) { id status alerts(first: 10) { edges { node { incident { id } } } } }
}
"""
ALERT_IDS = """
query($service: [String!]) { alerts(filter: {service: $service}) { edges { node { id } } } }
"""
LINK = """
mutation($input: LinkAlertInput!) { linkAlert(input: $input) { errors { code message } } }
"""
HOLD_ALERTS = """
mutation($input: CreateCorrelationRuleInput!) {
  createCorrelationRule(input: $input) { errors { code message } }
}
"""


async def test_an_alerts_restricted_incident_read_by_subscribers_is_audited_for_each(server):
    # given a restricted incident of a tenant of its own, with an alert linked to it
    tenant = create_tenant(server, tenant_id=f"access-{uuid.uuid4().hex[:8]}", name="Access")
    admin = server.client(token=create_token(server, role="ADMIN", name="sec", tenant=tenant))
    ingest = create_token(server, role="INGEST", name="monitor", tenant=tenant)
    people = [
        server.client(token=create_token(server, role="ADMIN", name=name, tenant=tenant))
        for name in ("ana", "bo")
    ]
    subs = []
    try:
        # (alerts of this source wait to be linked: no incident is declared for them)
        rule = {"name": "held", "matchers": {"source": "ids"}, "groupBy": ["alertname"]}
        rule |= {"windowSeconds": 60, "autoDeclare": False}
        held = await admin.execute(HOLD_ALERTS, {"input": {**rule, "position": 1}})
        assert held["createCorrelationRule"]["errors"] == []
        incident = await declare(admin, title="Exfiltration", classification="RESTRICTED")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            posted = await http.post(
                "/webhooks/alerts/generic",
                json={"source": "ids", "id": "dns-1", "title": "DNS tunnel", "service": "dns"},
                headers={"Authorization": f"Bearer {ingest}"},
            )
        assert posted.status_code == 202, posted.text

        async def alert_ids() -> list[str]:
            edges = (await admin.execute(ALERT_IDS, {"service": ["dns"]}))["alerts"]["edges"]
            return [e["node"]["id"] for e in edges]

        [alert] = await eventually(alert_ids, what="the alert stored")
        linked = await admin.execute(
            LINK, {"input": {"alertId": alert, "incidentId": incident["id"]}}
        )
        assert linked["linkAlert"]["errors"] == []
        # and two people, cleared alike, watching it and its alerts' incidents
        subs = [await subscriber(server, token=person.token) for person in people]
        for sub in subs:
            await subscribe_and_wait(sub, server, WATCH_ALERTS, {"id": incident["id"]})

        # when it changes and both receive the push, which reads it through the alert
        await transition(admin, incident["id"], "IN_PROGRESS")
        pushes = [(await sub.next_data())["incidentUpdated"] for sub in subs]
        assert [p["alerts"]["edges"] for p in pushes] == [
            [{"node": {"incident": {"id": incident["id"]}}}]
        ] * 2

        # then the read through the alert is recorded for each of them
        reads = await audit(admin, action="incident.read", target=incident["id"])
        assert {r["actor"] for r in reads if r["changes"] == {"via": "alert"}} == {"ana", "bo"}
    finally:
        for sub in subs:
            await sub.close()
        for made in (admin, *people):
            await made.aclose()


def test_an_audit_record_is_redacted_as_its_incident_reads():
    # given the record of a CONFIDENTIAL incident merged into a RESTRICTED one
    source, target = str(uuid.uuid4()), str(uuid.uuid4())
    fields = {
        "title": {"from": "Odd logins", "to": "Odd logins (merged)"},
        "root_cause": {"from": None, "to": "shared password"},
        "status": {"from": "OPEN", "to": "CANCELLED"},
        "merged_into_id": {"from": None, "to": target},
    }
    row = AuditRecord(
        time=datetime.now(UTC),
        actor="ana",
        action="incident.merged",
        target=source,
        changes={"fields": fields, "events": [{"seq": 3, "type": "t"}]},
    )
    levels = {source: Classification.CONFIDENTIAL, target: Classification.RESTRICTED}

    # when readers of each clearance see it
    def seen(clearance: Classification) -> Any:
        return shown(row, clearance=clearance, incidents=levels)

    # then each reads what the incident's own fields would show it
    assert seen(Classification.RESTRICTED).changes == row.changes
    assert not seen(Classification.RESTRICTED).redacted
    confidential = seen(Classification.CONFIDENTIAL)
    assert confidential.changes["fields"] == {
        **fields,
        "merged_into_id": {"from": None, "to": None},
    }
    assert confidential.redacted
    internal = seen(Classification.INTERNAL).changes
    assert internal["fields"]["title"] == {"from": REDACTED, "to": REDACTED}
    assert internal["fields"]["root_cause"] == {"from": None, "to": REDACTED}
    assert internal["fields"]["status"] == fields["status"]
    assert internal["events"] == row.changes["events"]
    # and an incident it does not know of is taken as RESTRICTED
    unknown = shown(row, clearance=Classification.CONFIDENTIAL, incidents={})
    assert unknown.changes["fields"]["title"]["to"] == REDACTED

"""`incidentgraph demo` tells a story on first open: weeks of history whose metrics mean
something, SLA breaches, public updates on the boards, alerts on incidents; and loading it
again changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.servicenow import FakeServiceNow
from tests.integration.test_itsm_sync import configure, ticket_in
from tests.support import GraphQLClient, Server, cli, create_tenant, create_token

METRICS = """
query Metrics($from: DateTime!, $to: DateTime!) {
  incidentMetrics(from: $from, to: $to) {
    total mttaSeconds mttrSeconds slaResponseCompliance slaResolveCompliance
  }
}
"""
BOARD = """
query Board($persona: Persona!) {
  statusBoard(persona: $persona) {
    ... on CommunicationsBoard { overdue { overdueSeconds lastPublicUpdateAt publicSummary } }
    ... on CustomerBoard { services { service updates { time body } } }
  }
}
"""
INCIDENTS = """
query Incidents($filter: IncidentFilter) {
  incidents(filter: $filter, first: 100, orderBy: {field: CREATED_AT, direction: ASC}) {
    totalCount
    edges { node { createdAt status alerts(first: 1) { totalCount } } }
  }
}
"""
BREACHED = """
query { response: incidents(filter: {slaResponseBreached: true}) { totalCount }
        resolve: incidents(filter: {slaResolveBreached: true}) { totalCount } }
"""


def _demo(server: Server, tenant: str) -> str:
    result = cli(server, "demo", "--tenant", tenant)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def _state(admin: GraphQLClient) -> dict[str, Any]:
    """What a user sees on first open: the month's metrics, the incidents, the boards."""
    now = datetime.now(UTC)
    period = {"from": (now - timedelta(days=30)).isoformat(), "to": now.isoformat()}
    return {
        "metrics": (await admin.execute(METRICS, period))["incidentMetrics"],
        "incidents": (await admin.execute(INCIDENTS))["incidents"],
        "breached": await admin.execute(BREACHED),
        "comms": (await admin.execute(BOARD, {"persona": "COMMUNICATIONS"}))["statusBoard"],
        "customer": (await admin.execute(BOARD, {"persona": "CUSTOMER"}))["statusBoard"],
    }


async def test_the_demo_tells_weeks_of_history_on_first_open(server):
    # given a fresh tenant with the demo loaded
    tenant = create_tenant(server, tenant_id=f"demo-{uuid.uuid4().hex[:8]}", name="Demo")
    said = _demo(server, tenant)
    assert "loaded 10 demo incidents and 32 resolved over the past four weeks" in said
    assert "no ITSM connection" in said
    admin = server.client(create_token(server, role="ADMIN", name="admin", tenant=tenant))
    try:
        # when a user opens it
        state = await _state(admin)

        # then the month's MTTA and MTTR are minutes and hours, not the 0 s of "all now"
        metrics = state["metrics"]
        assert metrics["total"] == 42
        assert metrics["mttaSeconds"] > 60 and metrics["mttrSeconds"] > 10 * 60
        # and some SLA clocks were breached, acknowledgements and resolutions both
        assert metrics["slaResponseCompliance"] < 1 and metrics["slaResolveCompliance"] < 1
        assert state["breached"]["response"]["totalCount"] >= 1
        assert state["breached"]["resolve"]["totalCount"] >= 1

        # and the history spans weeks, most of it resolved and closed
        edges = [e["node"] for e in state["incidents"]["edges"]]
        oldest = datetime.fromisoformat(edges[0]["createdAt"])
        assert oldest <= datetime.now(UTC) - timedelta(days=21)
        assert sum(n["status"] in ("RESOLVED", "CLOSED") for n in edges) >= 25

        # and incidents have alerts linked
        assert sum(n["alerts"]["totalCount"] > 0 for n in edges) >= 10

        # and public updates are overdue on the communications board
        overdue = state["comms"]["overdue"]
        assert overdue and all(item["overdueSeconds"] > 0 for item in overdue)
        assert any(item["publicSummary"] for item in overdue)

        # and customers see what they were told
        told = [u for s in state["customer"]["services"] for u in s["updates"]]
        assert told and all(u["body"] for u in told)

        # when the demo is loaded again
        again = _demo(server, tenant)

        # then it says so, and nothing a user sees has changed
        assert "has the demo already: nothing changed" in again
        after = await _state(admin)
        assert after["metrics"]["total"] == metrics["total"]
        assert after["incidents"] == state["incidents"]
        assert after["breached"] == state["breached"]
        assert len(after["comms"]["overdue"]) == len(overdue)
        assert after["customer"] == state["customer"]
    finally:
        await admin.aclose()


MAJOR = """
{ incidents(filter: {text: "Checkout API"}, first: 5) { edges { node { id title isMajor } } } }
"""


async def test_with_an_itsm_connection_the_major_incident_gets_a_ticket_there(server):
    # given a tenant with a ServiceNow connection (a fake ServiceNow on this machine)
    tenant = create_tenant(server, tenant_id=f"demo-{uuid.uuid4().hex[:8]}", name="Tickets")
    admin = server.client(create_token(server, role="ADMIN", name="admin", tenant=tenant))
    try:
        with FakeServiceNow() as servicenow:
            await configure(
                admin, "SERVICENOW", servicenow.url, username="integration", secret="s3cret-pw"
            )
            # when the demo loads
            said = _demo(server, tenant)

            # then it says the major incident is linked to a new ticket, which the server
            # then makes in ServiceNow
            assert "the major incident is linked to a new servicenow ticket" in said
            edges = (await admin.execute(MAJOR))["incidents"]["edges"]
            (major,) = [e["node"] for e in edges if e["node"]["isMajor"]]
            ticket = await ticket_in(admin, major["id"], "IN_SYNC", timeout=30)
            assert ticket["provider"] == "SERVICENOW" and ticket["number"]
            numbers = [r.get("number") for r in servicenow.records.values()]
            assert numbers == [ticket["number"]]
    finally:
        await admin.aclose()

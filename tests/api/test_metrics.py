"""Incident metrics over real servers: what a dashboard asks for a period, grouped, and the
refusals of a period that makes no sense. (The arithmetic itself is checked against
hand-computed figures in tests/integration/test_metrics_sql.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import Server, create_tenant, create_token, declare, transition

METRICS = """
query($from: DateTime!, $to: DateTime!, $filter: IncidentFilter, $groupBy: [MetricsGroupBy!]) {
  incidentMetrics(from: $from, to: $to, filter: $filter, groupBy: $groupBy) {
    from to total mttaSeconds mttrSeconds mttrP50Seconds slaResponseCompliance escalationRate
    reopenRate reviewCompletion actionItemsOverdue
    byStatus { key count } byPriority { key count } byDay { key count }
    groups { priority day figures { total mttrSeconds } } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"met-{uuid.uuid4().hex[:8]}", name="Metrics")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="met admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="met r", tenant=tenant_id),
        "STAKEHOLDER": create_token(server, role="STAKEHOLDER", name="met s", tenant=tenant_id),
    }


def period(days: float = 1) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(days=days)).isoformat(),
        "to": (now + timedelta(minutes=5)).isoformat(),
    }


async def test_todays_incidents_are_counted_measured_and_grouped(api):
    responder = api("RESPONDER")
    fast = await declare(
        responder, title="Fast one", severity="SEV1", impact="HIGH", urgency="HIGH"
    )
    await transition(responder, fast["id"], "IN_PROGRESS")
    await transition(responder, fast["id"], "RESOLVED", resolutionSummary="fixed")
    reopened = await declare(responder, title="Came back", severity="SEV3")
    for status in ("IN_PROGRESS", "RESOLVED", "IN_PROGRESS", "RESOLVED"):
        moved = await transition(responder, reopened["id"], status, resolutionSummary="done")
        assert moved["errors"] == [], moved
    slow = await declare(responder, title="Open one", severity="SEV4", impact="LOW", urgency="LOW")
    drill = await api("ADMIN").execute(
        "mutation($i: DeclareIncidentInput!) { declareIncident(input: $i) { errors { code } } }",
        {
            "i": {
                "title": "A drill",
                "severity": "SEV1",
                "impact": "HIGH",
                "urgency": "HIGH",
                "isDrill": True,
                "drillScenario": "region lost",
            }
        },
    )

    data = await api("ADMIN").execute(METRICS, {**period(), "groupBy": ["PRIORITY", "DAY"]})

    m = data["incidentMetrics"]
    assert drill["declareIncident"]["errors"] == []
    assert m["total"] == 3, "the drill does not count"
    assert {c["key"]: c["count"] for c in m["byStatus"]} == {"RESOLVED": 2, "OPEN": 1}
    assert sum(c["count"] for c in m["byPriority"]) == 3
    assert {fast["priority"], slow["priority"]} <= {c["key"] for c in m["byPriority"]}
    assert m["reopenRate"] == 0.5  # of the two ever resolved, one came back
    assert m["mttaSeconds"] is not None and m["mttrSeconds"] >= m["mttaSeconds"]
    assert m["mttrP50Seconds"] is not None
    today = datetime.now(UTC).date().isoformat()
    assert [c["key"] for c in m["byDay"]] == [today]
    assert sum(g["figures"]["total"] for g in m["groups"]) == 3
    assert {g["day"] for g in m["groups"]} == {today}
    assert all(g["priority"] for g in m["groups"])


async def test_a_filter_narrows_the_incidents_measured(api):
    data = await api("ADMIN").execute(METRICS, {**period(), "filter": {"status": ["RESOLVED"]}})
    assert [c["key"] for c in data["incidentMetrics"]["byStatus"]] == ["RESOLVED"]


async def test_a_period_that_makes_no_sense_is_refused(api):
    admin = api("ADMIN")
    now = datetime.now(UTC)
    backwards = await admin.raw(
        METRICS, {"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()}
    )
    too_long = await admin.raw(
        METRICS, {"from": (now - timedelta(days=1200)).isoformat(), "to": now.isoformat()}
    )
    stakeholder = await api("STAKEHOLDER").raw(METRICS, period())

    assert backwards["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert too_long["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert stakeholder["errors"][0]["extensions"]["code"] == "FORBIDDEN"


TREND = """
query($period: TrendPeriod!) { statusBoard(persona: EXECUTIVE) { ... on ExecutiveBoard {
  trend(period: $period) { period current { from to total byStatus { key count } }
    previous { from to total } } } } }
"""


async def test_the_executive_board_shows_the_period_beside_the_one_before(api):
    # given an incident declared today (and none in this tenant before this month)
    await declare(api("RESPONDER"), title="Trend one")
    data = await api("ADMIN").execute(TREND, {"period": "MONTH"})

    trend = data["statusBoard"]["trend"]
    current, previous = trend["current"], trend["previous"]
    assert trend["period"] == "MONTH"
    assert current["total"] >= 1 and previous["total"] == 0
    span = datetime.fromisoformat(current["to"]) - datetime.fromisoformat(current["from"])
    assert span == timedelta(days=30)
    assert previous["to"] == current["from"]

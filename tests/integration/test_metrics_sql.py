"""Incident metrics against hand-computed figures, on PostgreSQL and SQLite: incidents,
timeline events, problems, changes, reviews and action items written with known times,
then every measure checked against the arithmetic done by hand below."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.models import (
    ActionItem,
    ActionItemStatus,
    Change,
    ChangeLink,
    ChangeRelation,
    ChangeStatus,
    Classification,
    Impact,
    Incident,
    IncidentCategory,
    IncidentStatus,
    PostIncidentReview,
    Priority,
    Problem,
    ProblemIncident,
    ReviewStatus,
    Role,
    Severity,
    TimelineEvent,
    Urgency,
)
from app.services.access.caller import Caller
from app.services.access.tenants import create_tenant
from app.services.incidents.metrics import GroupBy, incident_metrics
from app.services.incidents.search import IncidentFilter
from tests.support import connected

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
FAR = datetime(2099, 1, 1, tzinfo=UTC)
M = timedelta(minutes=1)


async def incident(tenant: str, number: int, at: datetime, **fields: Any) -> Incident:
    priority = fields.pop("priority", Priority.P3)
    return await Incident.create(
        id=uuid.uuid4(),
        tenant_id=tenant,
        number=number,
        title=f"incident {number}",
        severity=fields.pop("severity", Severity.SEV3),
        impact=Impact.MEDIUM,
        urgency=Urgency.MEDIUM,
        priority=priority,
        derived_priority=priority,
        status=fields.pop("status", IncidentStatus.OPEN),
        created_at=at,
        updated_at=at,
        **fields,
    )


async def event(row: Incident, seq: int, at: datetime, frm: str, to: str) -> None:
    await TimelineEvent.create(
        id=uuid.uuid4(),
        tenant_id=row.tenant_id,
        incident_id=row.id,
        seq=seq,
        type="com.incidents.state_change.v1",
        source="test",
        event_id=uuid.uuid4().hex,
        time=at,
        data={"from": frm, "to": to},
    )


async def seed(tenant: str) -> dict[str, Incident]:
    a_at = datetime(2026, 3, 2, 10, tzinfo=UTC)  # a Monday
    b_at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    c_at = datetime(2026, 3, 10, 9, tzinfo=UTC)  # a Tuesday
    d_at = datetime(2026, 3, 10, 15, tzinfo=UTC)
    e_at = datetime(2026, 3, 20, 8, tzinfo=UTC)  # a Friday
    rows = {
        "A": await incident(
            tenant,
            1,
            a_at,
            severity=Severity.SEV1,
            priority=Priority.P1,
            status=IncidentStatus.RESOLVED,
            acknowledged_at=a_at + 5 * M,
            resolved_at=a_at + 60 * M,
            sla_response_due=a_at + 15 * M,
            sla_resolve_due=a_at + 240 * M,
            escalation_level=1,
        ),
        "B": await incident(
            tenant,
            2,
            b_at,
            severity=Severity.SEV2,
            priority=Priority.P2,
            status=IncidentStatus.CLOSED,
            acknowledged_at=b_at + 30 * M,
            resolved_at=b_at + 300 * M,
            closed_at=b_at + 400 * M,
            sla_response_due=b_at + 15 * M,
            sla_resolve_due=b_at + 240 * M,
        ),
        "C": await incident(
            tenant,
            3,
            c_at,
            reopen_count=1,
            severity=Severity.SEV2,
            priority=Priority.P2,
            status=IncidentStatus.RESOLVED,
            acknowledged_at=c_at + 10 * M,
            resolved_at=c_at + 120 * M,
            sla_response_due=c_at + 15 * M,
            sla_resolve_due=c_at + 480 * M,
        ),
        "D": await incident(
            tenant, 4, d_at, sla_response_due=d_at + 30 * M, sla_resolve_due=d_at + 1440 * M
        ),
        "E": await incident(
            tenant,
            5,
            e_at,
            status=IncidentStatus.IN_PROGRESS,
            acknowledged_at=e_at + 20 * M,
            sla_response_due=e_at + 60 * M,
            sla_resolve_due=FAR,
        ),
    }
    # never counted: a drill, an incident of April, and (below RESTRICTED) a restricted one
    await incident(tenant, 6, a_at, is_drill=True, escalation_level=3)
    await incident(tenant, 7, END + M)
    await incident(tenant, 8, a_at, classification=Classification.RESTRICTED)
    a, b, c = rows["A"], rows["B"], rows["C"]
    await event(a, 1, a.resolved_at, "IN_PROGRESS", "RESOLVED")
    await event(b, 1, b.resolved_at, "IN_PROGRESS", "RESOLVED")
    await event(b, 2, b.closed_at, "RESOLVED", "CLOSED")
    await event(c, 1, c_at + 60 * M, "IN_PROGRESS", "RESOLVED")
    await event(c, 2, c_at + 70 * M, "RESOLVED", "IN_PROGRESS")  # reopened
    await event(c, 3, c.resolved_at, "IN_PROGRESS", "RESOLVED")
    known = await Problem.create(
        id=uuid.uuid4(),
        tenant_id=tenant,
        number=1,
        title="pool",
        known_error=True,
        created_at=a_at,
        updated_at=a_at,
    )
    unknown = await Problem.create(
        id=uuid.uuid4(),
        tenant_id=tenant,
        number=2,
        title="dns",
        created_at=a_at,
        updated_at=a_at,
    )
    for problem, row in ((known, a), (known, b), (unknown, c)):
        await ProblemIncident.create(
            tenant_id=tenant, problem=problem, incident_id=row.id, linked_at=a_at
        )
    for number, outcome, finished in (
        (1, ChangeStatus.IMPLEMENTED, a_at),
        (2, ChangeStatus.FAILED, b_at),
        (3, ChangeStatus.ROLLED_BACK, c_at),
        (4, ChangeStatus.IMPLEMENTED, END + M),
        (5, ChangeStatus.IMPLEMENTED, c_at),  # but it caused incident C
    ):
        change = await Change.create(
            id=uuid.uuid4(),
            tenant_id=tenant,
            number=number,
            title=f"change {number}",
            type="NORMAL",
            risk="LOW",
            status=outcome,
            outcome=outcome,
            finished_at=finished,
            created_at=a_at,
            updated_at=a_at,
        )
        if number == 5:
            await ChangeLink.create(
                tenant_id=tenant,
                change=change,
                incident_id=c.id,
                relation=ChangeRelation.CAUSED_BY,
                linked_at=c_at,
            )
    await PostIncidentReview.create(
        id=uuid.uuid4(),
        tenant_id=tenant,
        incident_id=a.id,
        status=ReviewStatus.PUBLISHED,
        created_at=a_at,
        updated_at=a_at,
    )
    await PostIncidentReview.create(
        id=uuid.uuid4(),
        tenant_id=tenant,
        incident_id=b.id,
        status=ReviewStatus.DRAFT,
        created_at=b_at,
        updated_at=b_at,
    )
    for status, due in (
        (ActionItemStatus.OPEN, END),
        (ActionItemStatus.DONE, END),
        (ActionItemStatus.IN_PROGRESS, FAR),
    ):
        await ActionItem.create(
            id=uuid.uuid4(),
            tenant_id=tenant,
            incident_id=a.id,
            title="fix",
            status=status,
            due_at=due,
            created_at=a_at,
            updated_at=a_at,
        )
    return rows


@pytest.fixture
async def tenant(database_url: str) -> Any:
    async with connected(database_url):
        tenant_id = f"m-{uuid.uuid4().hex[:10]}"
        await create_tenant(tenant_id=tenant_id, name=tenant_id)
        await seed(tenant_id)
        yield tenant_id


def caller(tenant: str) -> Caller:
    return Caller(tenant, "analyst", Role.VIEWER, Classification.INTERNAL)


async def test_the_periods_figures_match_the_hand_computed_ones(tenant):
    metrics = await incident_metrics(caller=caller(tenant), start=START, end=END)

    f = metrics.figures
    assert f.total == 5
    assert f.mtta_seconds == pytest.approx((300 + 1800 + 600 + 1200) / 4, abs=1e-3)
    assert f.mttr_seconds == pytest.approx((3600 + 18000 + 7200) / 3, abs=1e-3)
    assert f.mttr_p50_seconds == pytest.approx(7200, abs=1e-3)
    assert f.mttr_p90_seconds == pytest.approx(18000, abs=1e-3)
    assert f.sla_response_compliance == pytest.approx(3 / 5)  # A, C, E met; B, D breached
    assert f.sla_resolve_compliance == pytest.approx(2 / 4)  # E still within its time
    assert f.escalation_rate == pytest.approx(1 / 5)
    assert metrics.by_status == {"RESOLVED": 2, "CLOSED": 1, "OPEN": 1, "IN_PROGRESS": 1}
    assert metrics.by_severity == {"SEV1": 1, "SEV2": 2, "SEV3": 2}
    assert metrics.by_priority == {"P1": 1, "P2": 2, "P3": 2}
    assert metrics.by_day == {"2026-03-02": 2, "2026-03-10": 2, "2026-03-20": 1}
    assert metrics.reopen_rate == pytest.approx(1 / 3)
    assert metrics.known_error_reuse_rate == pytest.approx(2 / 5)
    assert metrics.change_success_rate == pytest.approx(1 / 4)  # 1 of 1, 2, 3, 5 (5 caused C)
    assert metrics.review_completion == pytest.approx(1 / 3)
    assert metrics.action_items_overdue == 1


async def test_groups_by_priority_and_week_hold_each_groups_own_figures(tenant):
    metrics = await incident_metrics(
        caller=caller(tenant), start=START, end=END, group_by=[GroupBy.PRIORITY, GroupBy.WEEK]
    )

    groups = {(g.key["priority"], g.key["week"]): g.figures for g in metrics.groups}
    assert list(groups) == [
        ("P1", "2026-03-02"),
        ("P2", "2026-03-02"),
        ("P2", "2026-03-09"),
        ("P3", "2026-03-09"),
        ("P3", "2026-03-16"),
    ]
    a = groups["P1", "2026-03-02"]
    assert (a.total, a.mtta_seconds, a.mttr_p50_seconds, a.escalation_rate) == (
        1,
        pytest.approx(300),
        pytest.approx(3600),
        1.0,
    )
    b = groups["P2", "2026-03-02"]
    assert (b.sla_response_compliance, b.sla_resolve_compliance) == (0.0, 0.0)
    d = groups["P3", "2026-03-09"]
    assert (d.mtta_seconds, d.mttr_seconds, d.mttr_p90_seconds) == (None, None, None)
    e = groups["P3", "2026-03-16"]
    assert (e.sla_response_compliance, e.sla_resolve_compliance) == (1.0, None)


async def test_the_filter_and_clearance_choose_the_incidents(tenant):
    high = await incident_metrics(
        caller=caller(tenant),
        start=START,
        end=END,
        filter=IncidentFilter(priority=frozenset({Priority.P1, Priority.P2})),
    )
    cleared = await incident_metrics(
        caller=Caller(tenant, "chief", Role.ADMIN, Classification.RESTRICTED),
        start=START,
        end=END,
    )

    assert high.figures.total == 3 and high.by_priority == {"P1": 1, "P2": 2}
    assert cleared.figures.total == 6  # the RESTRICTED incident too; never the drill


async def test_groups_by_service_category_and_team(tenant):
    # given A and B on checkout and in the SOFTWARE category, C assigned to a team
    team = uuid.uuid4()
    rows = {i.number: i for i in await Incident.filter(tenant_id=tenant, number__in=[1, 2, 3])}
    await Incident.filter(id__in=[rows[1].id, rows[2].id]).update(
        service="checkout", category=IncidentCategory.SOFTWARE
    )
    await Incident.filter(id=rows[3].id).update(assigned_team_id=team)

    metrics = await incident_metrics(
        caller=caller(tenant),
        start=START,
        end=END,
        group_by=[GroupBy.SERVICE, GroupBy.CATEGORY, GroupBy.TEAM],
    )

    totals = {
        (g.key["service"], g.key["category"], g.key["team"]): g.figures.total
        for g in metrics.groups
    }
    assert totals == {
        ("checkout", "SOFTWARE", None): 2,
        (None, None, str(team)): 1,
        (None, None, None): 2,
    }

"""SLA compliance on the executive board: each clock counts once, on the day it stopped or
fell due, met or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.models import Classification, Impact, IncidentStatus, Priority, Severity, Urgency
from app.services.boards.status_board import compliance_of
from app.services.incidents.snapshot import IncidentSnapshot

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
TODAY = NOW.replace(hour=0)
H = timedelta(hours=1)


def incident(
    *,
    created: datetime,
    response_due: datetime,
    resolve_due: datetime,
    acknowledged: datetime | None = None,
    resolved: datetime | None = None,
) -> IncidentSnapshot:
    return IncidentSnapshot(
        id="i",
        tenant_id="t",
        number=1,
        title="Checkout down",
        description=None,
        service=None,
        severity=Severity.SEV2,
        impact=Impact.HIGH,
        urgency=Urgency.HIGH,
        priority=Priority.P2,
        status=IncidentStatus.RESOLVED if resolved else IncidentStatus.IN_PROGRESS,
        is_major=False,
        assignee=None,
        declared_by=None,
        resolution_summary=None,
        root_cause=None,
        created_at=created,
        updated_at=created,
        acknowledged_at=acknowledged,
        resolved_at=resolved,
        closed_at=None,
        cancelled_at=None,
        sla_response_due=response_due,
        sla_resolve_due=resolve_due,
        sla_paused_since=None,
        version=1,
        last_seq=1,
        classification=Classification.INTERNAL,
    )


def test_no_clock_stopped_or_due_means_no_figure_rather_than_full_marks():
    running = incident(created=NOW - H, response_due=NOW + H, resolve_due=NOW + 4 * H)

    figures = compliance_of([running], now=NOW, today=TODAY)

    assert (figures.today, figures.seven_days) == (None, None)
    assert (figures.measured_today, figures.measured_seven_days) == (0, 0)


def test_clocks_count_on_the_day_they_stopped_or_fell_due():
    # given: acknowledged in time today, resolved late today
    late = incident(
        created=NOW - 10 * H,
        response_due=NOW - 9 * H,
        resolve_due=NOW - 5 * H,
        acknowledged=NOW - 9.5 * H,
        resolved=NOW - 2 * H,
    )
    # and one whose response clock ran out unmet three days ago and is still running
    ignored = incident(created=NOW - 80 * H, response_due=NOW - 72 * H, resolve_due=NOW + 1000 * H)
    # and one that met both clocks ten days ago: outside the window
    old = incident(
        created=NOW - 240 * H,
        response_due=NOW - 239 * H,
        resolve_due=NOW - 230 * H,
        acknowledged=NOW - 239.5 * H,
        resolved=NOW - 235 * H,
    )

    figures = compliance_of([late, ignored, old], now=NOW, today=TODAY)

    # then today: 1 of 2 met; the week adds the breached response clock: 1 of 3
    assert (figures.measured_today, figures.today) == (2, 0.5)
    assert figures.measured_seven_days == 3
    assert figures.seven_days == 1 / 3

"""Where an incident's SLA marks fall: 80% and 100% of each running clock, paused with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.services.incidents.sla_marks import Clock, Kind, due, marks, next_at

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@dataclass
class Row:
    created_at: datetime = T0
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    cancelled_at: datetime | None = None
    sla_response_due: datetime | None = T0 + 15 * MIN
    sla_resolve_due: datetime | None = T0 + 240 * MIN
    sla_paused_since: datetime | None = None
    sla_paused_seconds: float = 0.0
    sla_fired: int = 0


def test_each_clock_warns_at_80_percent_and_breaches_at_its_deadline():
    found = [(m.clock, m.kind, m.at) for m in marks(Row())]
    assert found == [
        (Clock.RESPONSE, Kind.WARNING, T0 + 12 * MIN),
        (Clock.RESPONSE, Kind.BREACH, T0 + 15 * MIN),
        (Clock.RESOLVE, Kind.WARNING, T0 + 192 * MIN),
        (Clock.RESOLVE, Kind.BREACH, T0 + 240 * MIN),
    ]
    assert next_at(Row()) == T0 + 12 * MIN


def test_what_has_fallen_is_due_once_and_written_marks_are_not_again():
    row = Row()
    assert [m.kind for m in due(row, T0 + 15 * MIN)] == [Kind.WARNING, Kind.BREACH]
    for mark in due(row, T0 + 15 * MIN):
        row.sla_fired |= mark.bit
    assert due(row, T0 + 15 * MIN) == []
    assert next_at(row) == T0 + 192 * MIN


def test_an_acknowledged_incident_has_only_its_resolve_clock_and_a_resolved_one_none():
    acknowledged = Row(acknowledged_at=T0 + MIN)
    assert {m.clock for m in marks(acknowledged)} == {Clock.RESOLVE}
    assert marks(Row(acknowledged_at=T0, resolved_at=T0 + MIN)) == []
    assert marks(Row(cancelled_at=T0 + MIN)) == []


def test_a_paused_clock_has_no_next_mark_and_finished_pauses_move_the_marks():
    assert next_at(Row(sla_paused_since=T0 + 5 * MIN)) is None
    # ten minutes paused: the deadline already includes them, the target does not
    resumed = Row(
        acknowledged_at=T0 + MIN,
        sla_resolve_due=T0 + 250 * MIN,
        sla_paused_seconds=600.0,
    )
    [warning, breach] = marks(resumed)
    assert (warning.at, breach.at) == (T0 + 202 * MIN, T0 + 250 * MIN)

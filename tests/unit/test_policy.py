"""The priority matrix, severity floors, SLA deadlines and their pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import ValidationFailed
from app.models import Impact, Priority, Severity, Urgency
from app.services.incidents.policy import DEFAULT_POLICY, TenantPolicy
from app.services.incidents.sla import breached, deadlines, effective_due

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("impact", "urgency", "expected"),
    [
        (Impact.HIGH, Urgency.HIGH, Priority.P1),
        (Impact.HIGH, Urgency.MEDIUM, Priority.P2),
        (Impact.HIGH, Urgency.LOW, Priority.P3),
        (Impact.MEDIUM, Urgency.HIGH, Priority.P2),
        (Impact.MEDIUM, Urgency.MEDIUM, Priority.P3),
        (Impact.MEDIUM, Urgency.LOW, Priority.P4),
        (Impact.LOW, Urgency.HIGH, Priority.P3),
        (Impact.LOW, Urgency.MEDIUM, Priority.P4),
        (Impact.LOW, Urgency.LOW, Priority.P5),
    ],
)
def test_the_default_matrix_is_itil(impact: Impact, urgency: Urgency, expected: Priority) -> None:
    assert (
        DEFAULT_POLICY.priority(severity=Severity.SEV4, impact=impact, urgency=urgency) == expected
    )


def test_severity_raises_priority_to_its_floor_but_never_lowers_it() -> None:
    # a SEV1 with low impact and urgency is still a P1
    assert (
        DEFAULT_POLICY.priority(severity=Severity.SEV1, impact=Impact.LOW, urgency=Urgency.LOW)
        == Priority.P1
    )
    # a SEV3 floor (P3) does not lower a matrix P1
    assert (
        DEFAULT_POLICY.priority(severity=Severity.SEV3, impact=Impact.HIGH, urgency=Urgency.HIGH)
        == Priority.P1
    )


def test_a_tenant_overrides_one_cell_and_keeps_the_rest() -> None:
    policy = TenantPolicy.from_json({"matrix": {"LOW": {"LOW": "P4"}}, "severityFloor": {}})
    assert (
        policy.priority(severity=Severity.SEV1, impact=Impact.LOW, urgency=Urgency.LOW)
        == Priority.P4
    )
    assert (
        policy.priority(severity=Severity.SEV1, impact=Impact.HIGH, urgency=Urgency.HIGH)
        == Priority.P1
    )
    assert TenantPolicy.from_json(policy.to_json()) == policy


@pytest.mark.parametrize(
    "raw",
    [
        {"matrix": {"HUGE": {"LOW": "P1"}}},
        {"matrix": {"LOW": {"LOW": "P9"}}},
        {"sla": {"P1": {"responseMinutes": 0, "resolveMinutes": 10}}},
        {"sla": {"P1": {"responseMinutes": 5}}},
        {"updateCadence": {"P1": -1}},
        {"updateCadence": {"P1": 10**9}},
    ],
)
def test_a_bad_policy_is_a_validation_error(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        TenantPolicy.from_json(raw)


def test_deadlines_count_finished_pauses_and_stop_pausing_response_once_acknowledged() -> None:
    # given a P1 (15 min response, 4 h resolve) that spent 10 minutes PENDING
    response, resolve = deadlines(
        policy=DEFAULT_POLICY,
        priority=Priority.P1,
        created_at=T0,
        paused_seconds=600,
        acknowledged=False,
    )
    assert response == T0 + timedelta(minutes=25)
    assert resolve == T0 + timedelta(hours=4, minutes=10)
    # once acknowledged, the response clock has stopped: later pauses do not move it
    response, _ = deadlines(
        policy=DEFAULT_POLICY,
        priority=Priority.P1,
        created_at=T0,
        paused_seconds=600,
        acknowledged=True,
    )
    assert response == T0 + timedelta(minutes=15)


def test_a_running_pause_pushes_the_effective_deadline() -> None:
    due = T0 + timedelta(hours=1)
    paused = T0 + timedelta(minutes=30)
    assert effective_due(due, paused, T0 + timedelta(minutes=50)) == due + timedelta(minutes=20)
    assert effective_due(due, None, T0 + timedelta(hours=5)) == due
    assert effective_due(None, paused, T0) is None


def test_breach_is_judged_when_the_clock_stopped_or_paused() -> None:
    due = T0 + timedelta(hours=1)
    late = T0 + timedelta(hours=2)
    assert breached(due, stopped_at=late, paused_since=None, now=T0) is True
    assert breached(due, stopped_at=T0, paused_since=None, now=late) is False
    assert breached(due, stopped_at=None, paused_since=T0, now=late) is False
    assert breached(due, stopped_at=None, paused_since=None, now=late) is True
    assert breached(None, stopped_at=None, paused_since=None, now=late) is False

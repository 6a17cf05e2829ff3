"""Changes' pure rules: transitions by type, approval, the 24-hour deadline, links, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.models import ChangeRelation as R
from app.models import ChangeStatus as S
from app.models import ChangeType as T
from app.services.changes.lifecycle import (
    allowed_targets,
    approval_overdue,
    initial_status,
    may_be_approved,
    may_link,
    windows_overlap,
)

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def test_only_an_emergency_change_goes_ahead_before_approval():
    assert allowed_targets(T.NORMAL, S.REQUESTED) == [S.CANCELLED]
    assert allowed_targets(T.EMERGENCY, S.REQUESTED) == [S.SCHEDULED, S.IN_PROGRESS, S.CANCELLED]
    assert allowed_targets(T.NORMAL, S.IN_PROGRESS) == [S.IMPLEMENTED, S.FAILED, S.ROLLED_BACK]
    assert allowed_targets(T.NORMAL, S.CLOSED) == []
    assert initial_status(T.STANDARD) is S.APPROVED
    assert initial_status(T.NORMAL) is S.REQUESTED


def test_approval_is_while_requested_or_afterwards_for_an_emergency():
    assert may_be_approved(T.NORMAL, S.REQUESTED, approved=False)
    assert not may_be_approved(T.NORMAL, S.SCHEDULED, approved=False)
    assert may_be_approved(T.EMERGENCY, S.IMPLEMENTED, approved=False)
    assert not may_be_approved(T.EMERGENCY, S.CANCELLED, approved=False)
    assert not may_be_approved(T.NORMAL, S.REQUESTED, approved=True)


def test_an_unapproved_emergency_is_overdue_a_day_after_work_began():
    began = NOW - timedelta(hours=25)
    assert approval_overdue(T.EMERGENCY, False, began, NOW)
    assert not approval_overdue(T.EMERGENCY, False, NOW - timedelta(hours=23), NOW)
    assert not approval_overdue(T.EMERGENCY, True, began, NOW)
    assert not approval_overdue(T.NORMAL, False, began, NOW)
    assert not approval_overdue(T.EMERGENCY, False, None, NOW)


def test_a_change_fixes_only_once_approved_but_may_always_have_caused():
    assert not may_link(R.FIXES, T.NORMAL, approved=False)
    assert may_link(R.FIXES, T.NORMAL, approved=True)
    assert may_link(R.FIXES, T.EMERGENCY, approved=False)
    assert may_link(R.CAUSED_BY, T.NORMAL, approved=False)


def test_windows_overlap_only_when_both_are_planned_and_share_time():
    a = (NOW, NOW + timedelta(hours=2))
    assert windows_overlap(a, (NOW + timedelta(hours=1), NOW + timedelta(hours=3)))
    assert not windows_overlap(a, (NOW + timedelta(hours=2), NOW + timedelta(hours=3)))
    assert not windows_overlap(a, (None, None))

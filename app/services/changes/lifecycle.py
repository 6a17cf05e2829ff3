"""The change lifecycle and its rules, without the database.

REQUESTED -> APPROVED/REJECTED (approveChange, rejectChange) -> SCHEDULED -> IN_PROGRESS ->
IMPLEMENTED/FAILED/ROLLED_BACK -> CLOSED; CANCELLED from any open state before work began.
A STANDARD change is pre-approved (it starts APPROVED). An EMERGENCY change may be
scheduled and carried out before approval, and must be approved within 24 hours of work
beginning, or it shows as overdue.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.models import ChangeRelation, ChangeType
from app.models import ChangeStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.REQUESTED: frozenset({S.CANCELLED}),
    S.APPROVED: frozenset({S.SCHEDULED, S.IN_PROGRESS, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.IN_PROGRESS, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.IMPLEMENTED, S.FAILED, S.ROLLED_BACK}),
    S.IMPLEMENTED: frozenset({S.CLOSED}),
    S.FAILED: frozenset({S.ROLLED_BACK, S.CLOSED}),
    S.ROLLED_BACK: frozenset({S.CLOSED}),
    S.REJECTED: frozenset(),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}
# An EMERGENCY change goes ahead without waiting for approval.
_EMERGENCY_EARLY = frozenset({S.SCHEDULED, S.IN_PROGRESS})
OPEN = frozenset({S.REQUESTED, S.APPROVED, S.SCHEDULED, S.IN_PROGRESS})
FINISHED = frozenset({S.IMPLEMENTED, S.FAILED, S.ROLLED_BACK})
APPROVAL_DEADLINE = timedelta(hours=24)


def allowed_targets(kind: ChangeType, current: S) -> list[S]:
    """What transitionChange accepts (approval and rejection have their own commands)."""
    targets = set(TRANSITIONS[current])
    if kind is ChangeType.EMERGENCY and current is S.REQUESTED:
        targets |= _EMERGENCY_EARLY
    return sorted(targets, key=list(S).index)


def initial_status(kind: ChangeType) -> S:
    return S.APPROVED if kind is ChangeType.STANDARD else S.REQUESTED


def may_be_approved(kind: ChangeType, current: S, approved: bool) -> bool:
    """Approval while REQUESTED; an EMERGENCY change also afterwards (retrospectively)."""
    if approved:
        return False
    if current is S.REQUESTED:
        return True
    return kind is ChangeType.EMERGENCY and current not in (S.REJECTED, S.CANCELLED)


def approval_overdue(
    kind: ChangeType, approved: bool, started_at: datetime | None, now: datetime
) -> bool:
    """An EMERGENCY change still unapproved 24 hours after work on it began."""
    return (
        kind is ChangeType.EMERGENCY
        and not approved
        and started_at is not None
        and now > started_at + APPROVAL_DEADLINE
    )


def may_link(relation: ChangeRelation, kind: ChangeType, approved: bool) -> bool:
    """A change FIXES something only once approved (STANDARD is, EMERGENCY may go first);
    anything may have been CAUSED_BY a change."""
    if relation is ChangeRelation.CAUSED_BY:
        return True
    return approved or kind in (ChangeType.STANDARD, ChangeType.EMERGENCY)


Window = tuple[datetime | None, datetime | None]


def windows_overlap(a: Window, b: Window) -> bool:
    """Two planned windows share time (one without both ends shares none)."""
    (a_start, a_end), (b_start, b_end) = a, b
    if a_start is None or a_end is None or b_start is None or b_end is None:
        return False
    return a_start < b_end and b_start < a_end

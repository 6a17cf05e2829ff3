"""The problem lifecycle: the state table, and when a resolved problem may close.

NEW -> UNDER_INVESTIGATION -> KNOWN_ERROR -> RESOLVED -> CLOSED. A known error may go back
under investigation; a resolved problem reopens (UNDER_INVESTIGATION) when it recurs, and
closes only after a stability window with no new incident linked to it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.models import ProblemStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.NEW: frozenset({S.UNDER_INVESTIGATION}),
    S.UNDER_INVESTIGATION: frozenset({S.KNOWN_ERROR, S.RESOLVED}),
    S.KNOWN_ERROR: frozenset({S.UNDER_INVESTIGATION, S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.UNDER_INVESTIGATION}),
    S.CLOSED: frozenset(),
}
ACTIVE = frozenset({S.NEW, S.UNDER_INVESTIGATION, S.KNOWN_ERROR})
# Where recordWorkaround may be used (it moves the problem to KNOWN_ERROR).
WORKAROUND_FROM = frozenset({S.NEW, S.UNDER_INVESTIGATION, S.KNOWN_ERROR})


def can_transition(current: S, target: S) -> bool:
    return target in TRANSITIONS[current]


def allowed_targets(current: S) -> list[S]:
    return sorted(TRANSITIONS[current], key=list(S).index)


def closable_at(
    resolved_at: datetime, last_incident_at: datetime | None, window: timedelta
) -> datetime:
    """When a resolved problem may close: a stability window after it was resolved, or
    after the last incident linked to it, whichever is later."""
    since = max(resolved_at, last_incident_at) if last_incident_at else resolved_at
    return since + window

"""The ITIL lifecycle: the state table and what each move implies.

The README documents it under "Move it through the lifecycle".
"""

from __future__ import annotations

from app.models import IncidentStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.OPEN: frozenset({S.IN_PROGRESS, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.PENDING, S.ESCALATED, S.MITIGATED, S.RESOLVED}),
    S.PENDING: frozenset({S.IN_PROGRESS}),
    S.ESCALATED: frozenset({S.IN_PROGRESS, S.MITIGATED, S.RESOLVED}),
    S.MITIGATED: frozenset({S.IN_PROGRESS, S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.IN_PROGRESS}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}

TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# Over, as far as responders are concerned: nobody needs to act on it any more.
ENDED = frozenset({S.RESOLVED, S.CLOSED, S.CANCELLED})
# Still waiting for someone: on the boards, in a user's assigned incidents.
ACTIVE_STATUSES = [s for s in S if s not in ENDED]


def can_transition(current: S, target: S) -> bool:
    return target in TRANSITIONS[current]


def allowed_targets(current: S) -> list[S]:
    return sorted(TRANSITIONS[current], key=list(S).index)

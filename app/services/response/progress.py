"""Pure rules of the response: an incident's progress from its tasks, and when a task may
be done."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from app.models import IncidentStatus, TaskStatus

# What a task without an estimate weighs, in hours.
DEFAULT_ESTIMATE_HOURS = 1.0
# A dependency no longer holds a task back once it is one of these.
SETTLED = frozenset({TaskStatus.DONE, TaskStatus.SKIPPED})
_FINISHED_INCIDENT = frozenset({IncidentStatus.RESOLVED, IncidentStatus.CLOSED})


def progress(
    incident_status: IncidentStatus, tasks: Iterable[tuple[TaskStatus, float | None]]
) -> int:
    """0-100: the estimated hours of the DONE tasks over those of every task that is not
    SKIPPED (a task without an estimate counts DEFAULT_ESTIMATE_HOURS), rounded down so 100
    means all done; 100 once the incident is RESOLVED or CLOSED, 0 with nothing to do. It
    never moves the incident: finishing every task resolves nothing."""
    if incident_status in _FINISHED_INCIDENT:
        return 100
    total = done = 0.0
    for status, estimate in tasks:
        if status is TaskStatus.SKIPPED:
            continue
        hours = DEFAULT_ESTIMATE_HOURS if estimate is None else estimate
        total += hours
        if status is TaskStatus.DONE:
            done += hours
    if total <= 0:
        return 0
    return min(100, math.floor(100 * done / total + 1e-9))


def blocking(depends_on: Iterable[str], statuses: Mapping[str, TaskStatus]) -> list[str]:
    """The dependencies (task ids) that keep a task from being DONE: those not settled."""
    return [d for d in depends_on if statuses.get(d) not in SETTLED]

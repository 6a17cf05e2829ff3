"""SLA clocks as events: the warning at 80% of a clock and the breach at 100%, each once per
clock per incident.

An incident has two clocks: RESPONSE runs until it is acknowledged, RESOLVE until it is
resolved; cancelling stops both, PENDING pauses them (the response clock only before the
acknowledgement). A clock's marks fall at fractions of its target, which is its stored
deadline less its start and its finished pauses; a paused clock has no next mark (its marks
move with the pause, and are placed again when it resumes). Which marks were written is a
bit each in `sla_fired`; `sla_next_at` is the earliest mark still to write, indexed, so a
scheduler finds what is due without scanning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

WARNING_FRACTION = 0.8
SLA_WARNING = "com.incidents.sla.warning.v1"
SLA_BREACHED = "com.incidents.sla.breached.v1"


class Clock(StrEnum):
    RESPONSE = "RESPONSE"
    RESOLVE = "RESOLVE"


class Kind(StrEnum):
    WARNING = "WARNING"
    BREACH = "BREACH"


_BITS = {
    (Clock.RESPONSE, Kind.WARNING): 1,
    (Clock.RESPONSE, Kind.BREACH): 2,
    (Clock.RESOLVE, Kind.WARNING): 4,
    (Clock.RESOLVE, Kind.BREACH): 8,
}
_FRACTIONS = {Kind.WARNING: WARNING_FRACTION, Kind.BREACH: 1.0}


class Clocks(Protocol):
    """What the marks are computed from: an incident's row."""

    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    cancelled_at: datetime | None
    sla_response_due: datetime | None
    sla_resolve_due: datetime | None
    sla_paused_since: datetime | None
    sla_paused_seconds: float
    sla_fired: int


@dataclass(frozen=True, slots=True)
class Mark:
    clock: Clock
    kind: Kind
    at: datetime  # when it falls
    due: datetime  # the clock's deadline

    @property
    def bit(self) -> int:
        return _BITS[(self.clock, self.kind)]

    @property
    def event_type(self) -> str:
        return SLA_WARNING if self.kind is Kind.WARNING else SLA_BREACHED

    def data(self, now: datetime) -> dict[str, Any]:
        return {
            "clock": self.clock.value,
            "dueAt": self.due.isoformat(),
            "markAt": self.at.isoformat(),
            # Late when every server was down as it fell: written at the next start.
            "lateSeconds": round(max((now - self.at).total_seconds(), 0.0), 3),
        }


def marks(row: Clocks) -> list[Mark]:
    """The marks still to write of the clocks running now, earliest first."""
    if row.cancelled_at is not None or row.sla_paused_since is not None:
        return []
    found: list[Mark] = []
    paused = timedelta(seconds=row.sla_paused_seconds)
    clocks = (
        (Clock.RESPONSE, row.sla_response_due, row.acknowledged_at is None),
        (Clock.RESOLVE, row.sla_resolve_due, row.resolved_at is None),
    )
    for clock, due, running in clocks:
        if due is None or not running:
            continue
        target = due - row.created_at - paused
        if target <= timedelta(0):
            continue
        for kind, fraction in _FRACTIONS.items():
            if row.sla_fired & _BITS[(clock, kind)]:
                continue
            found.append(Mark(clock, kind, due - (1 - fraction) * target, due))
    return sorted(found, key=lambda m: (m.at, m.clock, m.kind))


def due(row: Clocks, now: datetime) -> list[Mark]:
    """The marks that have fallen by `now` and are still to write."""
    return [m for m in marks(row) if m.at <= now]


def next_at(row: Clocks) -> datetime | None:
    """When the next mark falls (None: no clock is running with a mark left)."""
    found = marks(row)
    return found[0].at if found else None

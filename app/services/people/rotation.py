"""Who is on call at an instant: the arithmetic of rotations, without the database.

A layer hands the pager from one participant to the next every `shift` (days and hours),
at the wall-clock time `handoff` in its time zone, counting from `start` (a local date).
Handoffs follow the wall clock across daylight-saving changes: a daily 09:00 handoff stays
at 09:00 local time, so the shift across the change lasts 23 or 25 hours. A handoff that
falls in the hour a spring change skips happens when the clock reads it after the change
(fold 0, as zoneinfo resolves it).

A rotation stacks layers: a later layer, where it has begun, takes precedence over earlier
ones. An override puts someone else on call for a period and wins over every layer; of two
overlapping overrides, the later-created one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_SHIFT = timedelta(days=366)
MIN_SHIFT = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Layer:
    participants: tuple[str, ...]
    shift: timedelta
    handoff: time
    time_zone: str
    start: date

    def handoff_at(self, k: int) -> datetime:
        """The k-th handoff (0: the layer's first), as an aware UTC instant."""
        local = datetime.combine(self.start, self.handoff) + k * self.shift
        return local.replace(tzinfo=ZoneInfo(self.time_zone)).astimezone(UTC)

    def turn_at(self, at: datetime) -> int | None:
        """Which shift `at` falls in (0, 1, ...), or None before the layer's first handoff."""
        zone = ZoneInfo(self.time_zone)
        first = datetime.combine(self.start, self.handoff)
        elapsed = at.astimezone(zone).replace(tzinfo=None) - first
        k = elapsed // self.shift
        # The wall clock repeats an hour in autumn and skips one in spring: settle the
        # estimate against the real instants of the neighbouring handoffs.
        while k > 0 and self.handoff_at(k) > at:
            k -= 1
        while self.handoff_at(k + 1) <= at:
            k += 1
        if k < 0 or self.handoff_at(k) > at:
            return None
        return k

    def on_call(self, at: datetime) -> Shift | None:
        k = self.turn_at(at)
        if k is None or not self.participants:
            return None
        user = self.participants[k % len(self.participants)]
        return Shift(user, self.handoff_at(k), self.handoff_at(k + 1), override=False)


@dataclass(frozen=True, slots=True)
class Override:
    user: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class Shift:
    user: str
    since: datetime
    until: datetime
    override: bool


def on_call(layers: Sequence[Layer], overrides: Sequence[Override], at: datetime) -> Shift | None:
    """Who holds the rotation at `at`: the latest-created override covering it, else the
    highest layer that has begun. `overrides` in creation order."""
    for override in reversed(overrides):
        if override.starts_at <= at < override.ends_at:
            return Shift(override.user, override.starts_at, override.ends_at, override=True)
    for layer in reversed(layers):
        shift = layer.on_call(at)
        if shift is not None:
            # An override that begins during the shift ends it early.
            until = min(
                [shift.until] + [o.starts_at for o in overrides if at < o.starts_at < shift.until]
            )
            return Shift(shift.user, shift.since, until, override=False)
    return None

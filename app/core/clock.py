"""The one clock: every timestamp the service writes or compares is aware and in UTC.

`as_of` sets the clock back for the current task only, so that a past can be replayed
through the ordinary commands with every time they stamp consistent: the demo's weeks of
history use it; the server never does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_as_of: ContextVar[datetime | None] = ContextVar("clock_as_of", default=None)


def utcnow() -> datetime:
    return _as_of.get() or datetime.now(UTC)


@contextmanager
def as_of(moment: datetime) -> Iterator[None]:
    """Within the block, in this task (and tasks it starts), the clock reads `moment`."""
    if moment.tzinfo is None:
        raise ValueError("as_of needs an aware time")
    token = _as_of.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        _as_of.reset(token)

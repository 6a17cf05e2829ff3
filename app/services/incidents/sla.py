"""SLA clocks: deadlines from the tenant's targets, paused while PENDING.

Stored deadlines include every finished pause; a pause still running pushes the
effective deadline forward by its length so far.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.models import Priority
from app.services.incidents.policy import TenantPolicy


def deadlines(
    *,
    policy: TenantPolicy,
    priority: Priority,
    created_at: datetime,
    paused_seconds: float,
    acknowledged: bool,
) -> tuple[datetime, datetime]:
    """(response due, resolve due) for a priority, counting finished pauses."""
    target = policy.sla[priority]
    paused = timedelta(seconds=paused_seconds)
    response_due = created_at + target.response + (timedelta(0) if acknowledged else paused)
    return response_due, created_at + target.resolve + paused


def effective_due(
    due: datetime | None, paused_since: datetime | None, now: datetime
) -> datetime | None:
    if due is None or paused_since is None:
        return due
    return due + max(now - paused_since, timedelta(0))


def breached(
    due: datetime | None, stopped_at: datetime | None, paused_since: datetime | None, now: datetime
) -> bool:
    """Whether a clock ran past its deadline: at the moment it stopped, or by now."""
    if due is None:
        return False
    if stopped_at is not None:
        return stopped_at > due
    if paused_since is not None:
        return paused_since > due
    return now > due

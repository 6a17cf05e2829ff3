"""Pure rules of post-incident reviews: which incidents need one, and by when."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.models import Priority, ReviewStatus

# Working days after the resolution a required review is due by.
BUSINESS_DAYS = 5
_REQUIRED_PRIORITIES = frozenset({Priority.P1, Priority.P2})


def review_required(priority: Priority, is_major: bool) -> bool:
    """P1 and P2 incidents, and major ones, must have a published review."""
    return priority in _REQUIRED_PRIORITIES or is_major


def review_due(resolved_at: datetime) -> datetime:
    """BUSINESS_DAYS working days (Monday to Friday) after the resolution, at the same time
    of day; a resolution at the weekend counts from the Monday after."""
    due = resolved_at
    left = BUSINESS_DAYS
    while left:
        due += timedelta(days=1)
        if due.weekday() < 5:
            left -= 1
    return due


def review_overdue(
    *,
    priority: Priority,
    is_major: bool,
    resolved_at: datetime | None,
    status: ReviewStatus | None,
    now: datetime,
) -> bool:
    """A required review not published by its due time."""
    if resolved_at is None or not review_required(priority, is_major):
        return False
    return status is not ReviewStatus.PUBLISHED and now > review_due(resolved_at)

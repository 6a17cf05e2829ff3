"""Stakeholder update cadence as a schedule: when an active incident's next public update
falls due, by the tenant's cadence for its priority.

The next update is due a cadence after the last PUBLIC note (or the declaration). When it
falls due unannounced, the SLA scheduler writes `com.incidents.comms.update_due.v1` once;
`update_due_noted` remembers which due time was announced, and a new PUBLIC note (or a
priority with another cadence) sets the next. `update_due_at` is the next due time still to
announce, indexed, so finding what is due does not scan. Drills are never due.
"""

from __future__ import annotations

from datetime import datetime

from app.models import Incident
from app.services.incidents.lifecycle import ACTIVE_STATUSES
from app.services.incidents.policy import TenantPolicy

UPDATE_DUE = "com.incidents.comms.update_due.v1"


def due_at(row: Incident, policy: TenantPolicy) -> datetime | None:
    """When the next stakeholder update is due (None: no cadence, or not active)."""
    cadence = policy.cadence(row.priority)
    if cadence is None or row.status not in ACTIVE_STATUSES or row.is_drill:
        return None
    return (row.last_public_update_at or row.created_at) + cadence


def next_to_announce(row: Incident, policy: TenantPolicy) -> datetime | None:
    """The due time still to announce: none once it was."""
    due = due_at(row, policy)
    return None if due is None or due == row.update_due_noted else due

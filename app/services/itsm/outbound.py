"""The incident side of ticket sync: enqueue a sync job in the transaction of the change.

`enqueue_for_change` is called by every incident command inside its transaction with the
incident before and after and the events it appends. When a synced field changed, or a note
the ticket's connection may export was added, and the incident has linked tickets, it
writes one PUSH job per ticket; the worker (worker.py) delivers them after commit. A change
applied *from* a ticket (a webhook or a pull) is not echoed back to that ticket.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from datetime import datetime

from app.core.signal import Signal
from app.models import Classification, ItsmConnection, LinkedTicket, SyncJob, SyncJobKind, SyncState
from app.services.access.classification import exportable
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import EventType, NewEvent
from app.services.writer import Change

SYNCED_FIELDS = ("title", "description", "urgency", "impact", "status")

_applying_from: ContextVar[str | None] = ContextVar("itsm_applying_from", default=None)
# Rung after a commit that queued sync jobs; this process's worker listens (else it polls).
jobs_queued: Signal[None] = Signal("itsm.jobs_queued")


@contextlib.contextmanager
def applying_from(ticket_id: str) -> Iterator[None]:
    """Incident changes made in this block come from this ticket: not pushed back to it."""
    token = _applying_from.set(ticket_id)
    try:
        yield
    finally:
        _applying_from.reset(token)


async def on_incident_change(change: Change) -> Callable[[], None] | None:
    """The writer's hook: queue the sync jobs an incident change calls for, in its
    transaction, and wake this process's worker once it commits."""
    if change.before is None or change.after.is_drill:
        return None  # a drill never leaves for a ticket
    queued = await enqueue_for_change(
        change.before, change.after, now=change.now, events=change.new_events
    )
    return _ring if queued else None


def _ring() -> None:
    jobs_queued.send(None)


async def enqueue_for_change(
    before: IncidentSnapshot,
    after: IncidentSnapshot,
    *,
    now: datetime,
    events: Sequence[NewEvent] = (),
) -> bool:
    """Call inside the command's transaction; True when jobs were written."""
    changed = [f for f in SYNCED_FIELDS if getattr(before, f) != getattr(after, f)]
    notes = [e.classification for e in events if e.type == EventType.NOTE_ADDED]
    if not changed and not notes:
        return False
    tickets = await LinkedTicket.filter(tenant_id=after.tenant_id, incident_id=after.id)
    if not tickets:
        return False
    limits: dict[object, Classification | None] = {}
    if notes:
        rows = await ItsmConnection.filter(tenant_id=after.tenant_id).values_list(
            "provider", "export_notes_up_to"
        )
        limits = {provider: limit for provider, limit in rows}
    origin = _applying_from.get()
    stamp = now.isoformat()
    jobs: list[SyncJob] = []
    for ticket in tickets:
        if str(ticket.id) == origin:
            continue
        limit = limits.get(ticket.provider)
        has_notes = any(exportable(limit, level, incident=after.classification) for level in notes)
        if not changed and not has_notes:
            continue
        changed_at = {**ticket.changed_at, **dict.fromkeys(changed, stamp)}
        state = ticket.sync_state
        if state in (SyncState.IN_SYNC, SyncState.DRIFTED, SyncState.ERROR):
            state = SyncState.PENDING
        await LinkedTicket.filter(id=ticket.id).update(changed_at=changed_at, sync_state=state)
        jobs.append(
            SyncJob(
                tenant_id=after.tenant_id,
                ticket_id=ticket.id,
                kind=SyncJobKind.PUSH,
                fields_changed=changed + (["notes"] if has_notes else []),
                created_at=now,
                next_attempt_at=now,
            )
        )
    if jobs:
        await SyncJob.bulk_create(jobs)
    return bool(jobs)

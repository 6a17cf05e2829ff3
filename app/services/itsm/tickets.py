"""Linked tickets: the views of them, link, create, unlink, request a sync, resolve a conflict.

Each command records its event on the incident's timeline through the incident commands,
and queues the sync job the worker delivers (`enqueue_job`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError

from app.core.clock import utcnow
from app.core.ids import uuid_key
from app.errors import Conflict, NotFound, ValidationFailed
from app.models import (
    Classification,
    ItsmProvider,
    LinkedTicket,
    SyncJob,
    SyncJobKind,
    SyncState,
)
from app.services.access.caller import Caller
from app.services.access.classification import incident_visible
from app.services.incidents import commands as incidents
from app.services.incidents.snapshot import IncidentSnapshot, get_incident
from app.services.incidents.timeline import EventType, NewEvent
from app.services.itsm import keys, outbound
from app.services.itsm.connection import get_connection


class Side(StrEnum):
    INTERNAL = "INTERNAL"
    EXTERNAL = "EXTERNAL"


@dataclass(frozen=True, slots=True)
class TicketConflict:
    field: str
    internal_value: str | None
    external_value: str | None
    detected_at: datetime


@dataclass(frozen=True, slots=True)
class TicketView:
    id: str
    incident_id: str
    provider: ItsmProvider
    external_key: str | None
    number: str | None
    url: str | None
    sync_state: SyncState
    last_synced_at: datetime | None
    last_error: str | None
    attempts: int
    conflicts: list[TicketConflict]
    created_at: datetime

    @classmethod
    def of(cls, row: LinkedTicket) -> TicketView:
        return cls(
            id=str(row.id),
            incident_id=str(row.incident_id),
            provider=row.provider,
            external_key=row.external_key,
            number=row.number,
            url=row.url,
            sync_state=row.sync_state,
            last_synced_at=row.last_synced_at,
            last_error=row.last_error,
            attempts=row.attempts,
            conflicts=[
                TicketConflict(
                    field=name,
                    internal_value=c.get("internal"),
                    external_value=c.get("external"),
                    detected_at=datetime.fromisoformat(c["detectedAt"]),
                )
                for name, c in sorted(row.conflicts.items())
            ],
            created_at=row.created_at,
        )


def ticket_data(row: LinkedTicket, **extra: Any) -> dict[str, Any]:
    return {
        "ticketId": str(row.id),
        "provider": row.provider.value,
        "externalKey": row.external_key,
        "number": row.number,
        **extra,
    }


async def tickets_of(*, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, list[TicketView]]:
    found: dict[str, list[TicketView]] = {k: [] for k in incident_ids}
    if not incident_ids:
        return found
    rows = await LinkedTicket.filter(tenant_id=tenant_id, incident_id__in=list(incident_ids))
    for row in sorted(rows, key=lambda r: (r.created_at, str(r.id))):
        found.setdefault(str(row.incident_id), []).append(TicketView.of(row))
    return found


async def get_ticket(*, tenant_id: str, ticket_id: str, clearance: Classification) -> LinkedTicket:
    key = uuid_key(ticket_id, noun="linked ticket")
    row = await LinkedTicket.get_or_none(tenant_id=tenant_id, id=key)
    if row is None:
        raise NotFound(f"no linked ticket with id {ticket_id!r}", field="id")
    incident = await get_incident(tenant_id=tenant_id, incident_id=str(row.incident_id))
    if not incident_visible(clearance, incident.classification):
        raise NotFound(f"no linked ticket with id {ticket_id!r}", field="id")
    return row


async def link_ticket(
    *,
    caller: Caller,
    incident_id: str,
    provider: ItsmProvider,
    external_key: str | None,
) -> TicketView:
    """Link an existing ticket (`external_key`) or, with None, create one in the provider."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    await get_connection(tenant_id=tenant_id, provider=provider)
    if external_key is not None:
        external_key = external_key.strip()
        if not keys.valid_key(provider, external_key):
            raise ValidationFailed(
                f"externalKey must be {keys.describe(provider)}", field="externalKey"
            )
        if await LinkedTicket.exists(
            tenant_id=tenant_id, provider=provider, external_key=external_key
        ):
            raise Conflict(
                f"{provider.value} ticket {external_key} is already linked", field="externalKey"
            )
    snapshot = await get_incident(tenant_id=tenant_id, incident_id=incident_id)
    if not incident_visible(clearance, snapshot.classification):
        raise NotFound(f"no incident with id {incident_id!r}", field="incidentId")
    if snapshot.is_drill:
        raise ValidationFailed(
            "a drill is a rehearsal: it is never synced to a ticket", field="incidentId"
        )
    now = utcnow()
    row = LinkedTicket(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        incident_id=uuid.UUID(snapshot.id),
        provider=provider,
        external_key=external_key,
        number=external_key if provider is ItsmProvider.JIRA else None,
        sync_state=SyncState.PENDING,
        base={},
        changed_at={},
        conflicts={},
        created_at=now,
    )

    async def also(after: IncidentSnapshot) -> None:
        # Notes written before the link stay in incidentgraph; later ones go to the ticket.
        row.note_seq = after.last_seq
        await row.save()
        await write_job(row, SyncJobKind.CREATE if external_key is None else SyncJobKind.RECONCILE)

    event = NewEvent(
        type=EventType.TICKET_LINKED,
        data=ticket_data(row, created=external_key is None),
    )
    try:
        await incidents.append_events(
            caller=caller,
            incident_id=snapshot.id,
            events=[event],
            also=also,
        )
    except IntegrityError:
        raise Conflict(
            f"{provider.value} ticket {external_key} is already linked", field="externalKey"
        ) from None
    outbound.jobs_queued.send(None)
    return TicketView.of(row)


async def unlink_ticket(*, caller: Caller, ticket_id: str) -> TicketView:
    tenant_id, clearance = caller.tenant_id, caller.clearance
    row = await get_ticket(tenant_id=tenant_id, ticket_id=ticket_id, clearance=clearance)
    view = TicketView.of(row)

    async def also(_: IncidentSnapshot) -> None:
        await SyncJob.filter(ticket_id=row.id).delete()
        await LinkedTicket.filter(id=row.id).delete()

    await incidents.append_events(
        caller=caller,
        incident_id=str(row.incident_id),
        events=[NewEvent(type=EventType.TICKET_UNLINKED, data=ticket_data(row))],
        also=also,
    )
    return view


async def request_sync(*, caller: Caller, ticket_id: str) -> TicketView:
    """Compare both sides now (and retry a dead-lettered ticket)."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    row = await get_ticket(tenant_id=tenant_id, ticket_id=ticket_id, clearance=clearance)

    async def also(_: IncidentSnapshot) -> None:
        if row.sync_state in (SyncState.IN_SYNC, SyncState.ERROR, SyncState.DRIFTED):
            row.sync_state = SyncState.PENDING
        row.attempts = 0
        await LinkedTicket.filter(id=row.id).update(sync_state=row.sync_state, attempts=0)
        kind = SyncJobKind.CREATE if row.external_key is None else SyncJobKind.RECONCILE
        await write_job(row, kind)

    await incidents.append_events(
        caller=caller,
        incident_id=str(row.incident_id),
        events=[NewEvent(type=EventType.TICKET_SYNC_REQUESTED, data=ticket_data(row))],
        also=also,
    )
    outbound.jobs_queued.send(None)
    return TicketView.of(row)


async def resolve_conflict(
    *,
    caller: Caller,
    ticket_id: str,
    field_name: str,
    choose: Side,
) -> TicketView:
    """Settle an open conflict: INTERNAL pushes the incident's value to the ticket, EXTERNAL
    applies the ticket's (through the lifecycle) on the next sync, which starts now."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    row = await get_ticket(tenant_id=tenant_id, ticket_id=ticket_id, clearance=clearance)
    conflict = row.conflicts.get(field_name)
    if conflict is None:
        raise NotFound(f"no open conflict on {field_name!r}", field="field")

    async def also(_: IncidentSnapshot) -> None:
        fresh = await LinkedTicket.get(id=row.id)
        current = fresh.conflicts.get(field_name)
        if current is None:
            raise Conflict(f"the conflict on {field_name!r} was resolved meanwhile", field="field")
        conflicts = {k: v for k, v in fresh.conflicts.items() if k != field_name}
        base = dict(fresh.base)
        # Make the chosen side the only one that differs from the base.
        base[field_name] = (
            current.get("external") if choose is Side.INTERNAL else current.get("internalExternal")
        )
        fresh.conflicts, fresh.base = conflicts, base
        fresh.sync_state = SyncState.CONFLICT if conflicts else SyncState.PENDING
        await fresh.save(update_fields=["conflicts", "base", "sync_state"])
        row.conflicts, row.sync_state = conflicts, fresh.sync_state
        await write_job(fresh, SyncJobKind.RECONCILE)

    await incidents.append_events(
        caller=caller,
        incident_id=str(row.incident_id),
        events=[
            NewEvent(
                type=EventType.TICKET_CONFLICT,
                data=ticket_data(row, field=field_name, resolved=choose.value),
            )
        ],
        also=also,
    )
    outbound.jobs_queued.send(None)
    return TicketView.of(row)


async def enqueue_job(row: LinkedTicket, kind: SyncJobKind) -> None:
    """A job for the worker (a webhook that announced what only a fetch can read)."""
    await write_job(row, kind)
    outbound.jobs_queued.send(None)


async def write_job(row: LinkedTicket, kind: SyncJobKind, fields: Sequence[str] = ()) -> None:
    """A job for the worker, written in the caller's transaction; the caller wakes the worker."""
    now = utcnow()
    await SyncJob.create(
        tenant_id=row.tenant_id,
        ticket_id=row.id,
        kind=kind,
        fields_changed=list(fields),
        created_at=now,
        next_attempt_at=now,
    )

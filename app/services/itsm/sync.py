"""Applying a sync: what the 3-way merge decided (three_way.py) is written to the ticket row and
pulled into the incident.

Pulls are applied as incident commands, so they are audited, published and on the timeline,
and they meet the same rules as people do: whoever changed the ticket is unknown, so a pull
is held to the strictest (`Authority.EXTERNAL`: closing a P1 or P2 incident is refused, a
conflict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.clock import utcnow
from app.errors import DomainError
from app.models import (
    Impact,
    IncidentStatus,
    ItsmConnection,
    LinkedTicket,
    SyncJob,
    SyncJobKind,
    SyncState,
    Urgency,
)
from app.services.access.caller import Caller
from app.services.incidents import commands as incidents
from app.services.incidents import lifecycle
from app.services.incidents.snapshot import IncidentSnapshot, get_incident
from app.services.incidents.timeline import EventType, NewEvent
from app.services.itsm import outbound
from app.services.itsm.connector import RemoteTicket
from app.services.itsm.mapping import (
    SyncedField,
    internal_values,
    normalise,
    rules_for,
)
from app.services.itsm.three_way import (
    Fallback,
    Plan,
    against_seen,
    internal_external,
    remote_values,
)
from app.services.itsm.tickets import ticket_data, write_job


@dataclass
class Outcome:
    pushed: list[str] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    push_needed: dict[str, str | None] = field(default_factory=dict)


_SYNC_COLUMNS = (
    "base",
    "conflicts",
    "external_key",
    "number",
    "url",
    "external_updated_at",
    "external_version",
    "last_synced_at",
    "last_error",
    "attempts",
    "sync_state",
)


async def apply_remote(
    *,
    connection: ItsmConnection,
    ticket: LinkedTicket,
    remote: RemoteTicket,
    pushed: Mapping[str, str | None],
    plan: Plan,
    actor: str,
    extra_events: Sequence[NewEvent] = (),
    polled: bool = False,
    push_later: Mapping[str, str | None] | None = None,
    job_ids: Sequence[int] = (),
) -> Outcome:
    """Apply a plan's pulls to the incident, then record the new base, conflicts and state
    on the ticket together with the timeline events, in one transaction."""
    rules = rules_for(connection.provider, connection.mapping)
    outcome = Outcome(pushed=sorted(pushed), drift=list(plan.drift) if polled else [])
    outcome.push_needed.update(push_later or {})
    conflicts_new: dict[str, str | None] = dict(plan.conflicts)
    pulled_values: dict[str, str | None] = {}
    for name, (value, fallback) in plan.pull.items():
        synced = SyncedField(name)
        internal = rules[synced].to_internal(value)
        problem = None
        if internal is None and value is not None:
            problem = f"{value!r} maps to no incident value"
        else:
            problem = await _pull(ticket, synced, internal, remote)
        if problem is None:
            pulled_values[name] = value
            outcome.pulled.append(name)
        elif fallback is Fallback.PUSH:
            outcome.push_needed[name] = None
        else:
            conflicts_new[name] = value
    snapshot = await get_incident(tenant_id=ticket.tenant_id, incident_id=str(ticket.incident_id))
    mine = internal_external(rules, snapshot)
    for name in outcome.push_needed:
        outcome.push_needed[name] = mine[name]
    theirs = remote_values(rules, remote.fields)
    now = utcnow()
    events: list[NewEvent] = list(extra_events)
    for name, value in conflicts_new.items():
        events.append(
            NewEvent(
                type=EventType.TICKET_CONFLICT,
                data=ticket_data(
                    ticket,
                    field=name,
                    internalValue=internal_values(snapshot, rules).get(name),
                    externalValue=value,
                    policy=rules[SyncedField(name)].policy.value,
                ),
            )
        )
    outcome.conflicts = sorted(conflicts_new)

    async def also(_: IncidentSnapshot) -> None:
        fresh = await LinkedTicket.get_or_none(id=ticket.id)
        if fresh is None:  # unlinked meanwhile
            return
        base = dict(fresh.base)
        for name, value in {**plan.agreed, **pulled_values}.items():
            base[name] = value
        for name in pushed:
            base[name] = theirs.get(name, pushed[name])
        conflicts = dict(fresh.conflicts)
        internal_text = internal_values(snapshot, rules)
        for name, value in conflicts_new.items():
            conflicts[name] = {
                "internal": internal_text.get(name),
                "internalExternal": mine.get(name),
                "external": value,
                "detectedAt": now.isoformat(),
            }
        if against_seen(fresh, version=remote.version, updated_at=remote.updated_at) > 0:
            fresh.external_updated_at = remote.updated_at
            if remote.version is not None:
                fresh.external_version = remote.version
        fresh.base = base
        fresh.conflicts = conflicts
        fresh.external_key = remote.key
        fresh.number = remote.number or fresh.number
        fresh.url = remote.url or fresh.url
        fresh.last_synced_at = now
        fresh.last_error = None
        fresh.attempts = 0
        if job_ids:
            await SyncJob.filter(id__in=list(job_ids)).update(done_at=now)
        queued = await SyncJob.filter(ticket_id=fresh.id, done_at=None).exists()
        if conflicts:
            fresh.sync_state = SyncState.CONFLICT
        elif outcome.push_needed or queued:
            fresh.sync_state = SyncState.PENDING
        elif outcome.drift:
            fresh.sync_state = SyncState.DRIFTED
        else:
            fresh.sync_state = SyncState.IN_SYNC
        # Only what this sync decides: note_seq and changed_at move concurrently (the
        # worker's note posts, incident changes) and must not be written back stale.
        await fresh.save(update_fields=_SYNC_COLUMNS)
        if outcome.push_needed:
            await write_job(fresh, SyncJobKind.PUSH, sorted(outcome.push_needed))
        ticket.sync_state = fresh.sync_state

    events.append(
        NewEvent(
            type=EventType.TICKET_SYNCED,
            data=ticket_data(
                ticket,
                externalKey=remote.key,
                number=remote.number,
                pushed=outcome.pushed,
                pulled=outcome.pulled,
                conflicts=outcome.conflicts,
                drift=outcome.drift,
            ),
        )
    )
    await incidents.append_events(
        caller=Caller.external(ticket.tenant_id, actor=actor),
        incident_id=str(ticket.incident_id),
        events=events,
        also=also,
    )
    return outcome


async def _pull(
    ticket: LinkedTicket, synced: SyncedField, value: str | None, remote: RemoteTicket
) -> str | None:
    """Apply one ticket value to the incident; the reason it cannot be, or None."""
    tenant_id, incident_id = ticket.tenant_id, str(ticket.incident_id)
    actor = ticket.provider.value
    try:
        with outbound.applying_from(str(ticket.id)):
            if synced is SyncedField.STATUS:
                target = IncidentStatus(value or "")
                current = (await get_incident(tenant_id=tenant_id, incident_id=incident_id)).status
                if current == target:
                    return None
                if not lifecycle.can_transition(current, target):
                    return f"{current.value} -> {target.value} is not allowed"
                summary = None
                if target is IncidentStatus.RESOLVED:
                    summary = normalise(remote.fields.get("close_notes")) or (
                        f"Resolved in {ticket.provider.value} {remote.number or remote.key}."
                    )
                await incidents.transition_incident(
                    # Held to what the strictest rule asks of whoever edited the ticket.
                    caller=Caller.external(tenant_id, actor=actor),
                    incident_id=incident_id,
                    to=target,
                    reason=f"changed in {ticket.provider.value} {remote.number or remote.key}",
                    resolution_summary=summary,
                )
                return None
            changes: dict[str, Any] = {}
            if synced is SyncedField.URGENCY:
                changes["urgency"] = Urgency(value or "")
            elif synced is SyncedField.IMPACT:
                changes["impact"] = Impact(value or "")
            elif synced is SyncedField.TITLE:
                if not value:
                    return "an empty title"
                changes["title"] = value
            else:
                changes["description"] = value
            await incidents.update_incident(
                caller=Caller.external(tenant_id, actor=actor),
                incident_id=incident_id,
                changes=changes,
            )
    except (DomainError, ValueError) as exc:
        return getattr(exc, "message", None) or str(exc)
    return None


async def record_failure(*, ticket: LinkedTicket, message: str, dead: bool, attempts: int) -> None:
    """After a failed delivery: the error on the ticket; when dead-lettered, ERROR and a
    timeline event."""
    if not dead:
        state = SyncState.CONFLICT if ticket.conflicts else SyncState.PENDING
        await LinkedTicket.filter(id=ticket.id).update(
            last_error=message, attempts=attempts, sync_state=state
        )
        return

    async def also(_: IncidentSnapshot) -> None:
        await LinkedTicket.filter(id=ticket.id).update(
            last_error=message, attempts=attempts, sync_state=SyncState.ERROR
        )

    await incidents.append_events(
        caller=Caller.system(ticket.tenant_id, actor="system"),
        incident_id=str(ticket.incident_id),
        events=[
            NewEvent(
                type=EventType.TICKET_SYNC_FAILED,
                data=ticket_data(ticket, error=message, attempts=attempts),
            )
        ],
        also=also,
    )

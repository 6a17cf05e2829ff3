"""Linked tickets: link, create, unlink, sync, resolve conflicts, and the 3-way merge.

Every sync compares three values per mapped field, in the provider's terms: the *base* (what
both sides last agreed on), the incident's current value and the ticket's. Only the incident
changed: push. Only the ticket changed: pull (through the lifecycle: a forbidden move opens a
conflict). Both changed, differently: the field's conflict policy decides (mapping.py). A
field with an open conflict is left alone until `resolve_conflict`. Pulls are applied as
commands of services/incidents/commands.py, so they are audited, published and on the timeline, and
they meet the same rules as people do: whoever changed the ticket is unknown, so a pull is held
to the strictest (`Authority.EXTERNAL`: closing a P1 or P2 incident is refused, a conflict).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError

from app.core.clock import utcnow
from app.core.ids import uuid_key
from app.errors import Conflict, DomainError, NotFound, ValidationFailed
from app.models import (
    Classification,
    Impact,
    IncidentStatus,
    ItsmConnection,
    ItsmProvider,
    LinkedTicket,
    SyncJob,
    SyncJobKind,
    SyncState,
    Urgency,
)
from app.services.access.caller import Caller
from app.services.access.classification import field_readable, incident_visible
from app.services.incidents import commands as incidents
from app.services.incidents import lifecycle
from app.services.incidents.snapshot import IncidentSnapshot, get_incident
from app.services.incidents.timeline import EventType, NewEvent
from app.services.itsm import keys, outbound
from app.services.itsm.connection import get_connection
from app.services.itsm.connector import RemoteTicket
from app.services.itsm.mapping import (
    ConflictPolicy,
    FieldRule,
    SourceOfTruth,
    SyncedField,
    internal_values,
    normalise,
    rules_for,
)


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


def _ticket_data(row: LinkedTicket, **extra: Any) -> dict[str, Any]:
    return {
        "ticketId": str(row.id),
        "provider": row.provider.value,
        "externalKey": row.external_key,
        "number": row.number,
        **extra,
    }


# --- reads ----------------------------------------------------------------------------------


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


# --- commands -------------------------------------------------------------------------------


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
        await _job(row, SyncJobKind.CREATE if external_key is None else SyncJobKind.RECONCILE)

    event = NewEvent(
        type=EventType.TICKET_LINKED,
        data=_ticket_data(row, created=external_key is None),
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
        events=[NewEvent(type=EventType.TICKET_UNLINKED, data=_ticket_data(row))],
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
        await _job(row, kind)

    await incidents.append_events(
        caller=caller,
        incident_id=str(row.incident_id),
        events=[NewEvent(type=EventType.TICKET_SYNC_REQUESTED, data=_ticket_data(row))],
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
        await _job(fresh, SyncJobKind.RECONCILE)

    await incidents.append_events(
        caller=caller,
        incident_id=str(row.incident_id),
        events=[
            NewEvent(
                type=EventType.TICKET_CONFLICT,
                data=_ticket_data(row, field=field_name, resolved=choose.value),
            )
        ],
        also=also,
    )
    outbound.jobs_queued.send(None)
    return TicketView.of(row)


async def enqueue_job(row: LinkedTicket, kind: SyncJobKind) -> None:
    """A job for the worker (a webhook that announced what only a fetch can read)."""
    await _job(row, kind)
    outbound.jobs_queued.send(None)


async def _job(row: LinkedTicket, kind: SyncJobKind, fields: Sequence[str] = ()) -> None:
    now = utcnow()
    await SyncJob.create(
        tenant_id=row.tenant_id,
        ticket_id=row.id,
        kind=kind,
        fields_changed=list(fields),
        created_at=now,
        next_attempt_at=now,
    )


# --- ticket versions ------------------------------------------------------------------------


def seen_version(ticket: LinkedTicket) -> int | None:
    """The newest ticket version seen (RemoteTicket.version), if the provider counts them."""
    return ticket.external_version


def against_seen(ticket: LinkedTicket, *, version: int | None, updated_at: datetime) -> int:
    """A ticket version against the newest seen: -1 older, 0 the same, 1 newer (or the first).
    By the revision counter when both have one (ServiceNow stamps updates to the second, so
    two in one second share a time), else by update time."""
    seen = seen_version(ticket)
    if version is not None and seen is not None:
        return (version > seen) - (version < seen)
    if ticket.external_updated_at is None:
        return 1
    return (updated_at > ticket.external_updated_at) - (updated_at < ticket.external_updated_at)


# --- the 3-way merge ------------------------------------------------------------------------


class _Fallback(StrEnum):
    PUSH = "push"
    CONFLICT = "conflict"


@dataclass
class Plan:
    push: dict[str, str | None] = field(default_factory=dict)  # field -> provider value
    pull: dict[str, tuple[str | None, _Fallback]] = field(default_factory=dict)
    conflicts: dict[str, str | None] = field(default_factory=dict)  # field -> provider value
    agreed: dict[str, str | None] = field(default_factory=dict)
    drift: list[str] = field(default_factory=list)


_MISSING: Any = object()


def decide(
    *,
    rules: Mapping[SyncedField, FieldRule],
    base: Mapping[str, Any],
    internal: Mapping[str, str | None],
    remote: Mapping[str, str | None],
    open_conflicts: Mapping[str, Any],
    changed_at: Mapping[str, str],
    remote_updated_at: datetime | None,
) -> Plan:
    """What to do per field. `internal` is in the provider's terms (`to_external`); `remote`
    holds the fields the ticket reported (a webhook may report some only)."""
    plan = Plan()
    for synced, rule in rules.items():
        name = synced.value
        if name in open_conflicts:
            continue
        mine = internal[name]
        theirs = remote.get(name, _MISSING)
        was = base.get(name, _MISSING)
        if theirs is _MISSING:
            if rule.source is not SourceOfTruth.EXTERNAL and was is not _MISSING and mine != was:
                plan.push[name] = mine
            continue
        if mine == theirs:
            plan.agreed[name] = theirs
            continue
        if rule.source is SourceOfTruth.INTERNAL:
            if was is not _MISSING and theirs != was:
                plan.drift.append(name)
            plan.push[name] = mine
            continue
        if rule.source is SourceOfTruth.EXTERNAL:
            plan.pull[name] = (theirs, _Fallback.CONFLICT)
            continue
        mine_changed = was is _MISSING or mine != was
        theirs_changed = was is not _MISSING and theirs != was
        if mine_changed and not theirs_changed:
            plan.push[name] = mine
        elif theirs_changed and not mine_changed:
            plan.drift.append(name)
            plan.pull[name] = (theirs, _Fallback.CONFLICT)
        else:
            _by_policy(plan, name, synced, rule, mine, theirs, changed_at, remote_updated_at)
    return plan


def _by_policy(
    plan: Plan,
    name: str,
    synced: SyncedField,
    rule: FieldRule,
    mine: str | None,
    theirs: str | None,
    changed_at: Mapping[str, str],
    remote_updated_at: datetime | None,
) -> None:
    policy = rule.policy
    if policy is ConflictPolicy.STATE_MACHINE and synced is not SyncedField.STATUS:
        policy = ConflictPolicy.MOST_RECENT_ALLOWED
    if policy is ConflictPolicy.INTERNAL_WINS:
        plan.push[name] = mine
    elif policy is ConflictPolicy.EXTERNAL_WINS:
        plan.pull[name] = (theirs, _Fallback.CONFLICT)
    elif policy is ConflictPolicy.MANUAL:
        plan.conflicts[name] = theirs
    elif policy is ConflictPolicy.STATE_MACHINE:
        plan.pull[name] = (theirs, _Fallback.CONFLICT)
    else:
        stamp = changed_at.get(name)
        ours = datetime.fromisoformat(stamp) if stamp else None
        if remote_updated_at is not None and (ours is None or remote_updated_at > ours):
            plan.pull[name] = (theirs, _Fallback.PUSH)
        else:
            plan.push[name] = mine


# What leaves for a ticket is what a reader cleared INTERNAL could read: a ticket's readers are
# the provider's users, whom incidentgraph's classification does not know.
EXPORT_CLEARANCE = Classification.INTERNAL


def exportable_rules(
    rules: Mapping[SyncedField, FieldRule], snapshot: IncidentSnapshot
) -> dict[SyncedField, FieldRule]:
    """The fields of this incident that cross to its tickets. A field as classified as the
    higher of its own classification and its incident's: the title and description of a
    CONFIDENTIAL or RESTRICTED incident are neither pushed nor pulled while it is so;
    status, urgency and impact (PUBLIC) still are."""
    return {
        synced: rule
        for synced, rule in rules.items()
        if field_readable(EXPORT_CLEARANCE, snapshot.classification, synced.value)
    }


def withheld_title(snapshot: IncidentSnapshot) -> str:
    """A ticket's title when the incident's may not leave (a product may require one)."""
    return f"INC-{snapshot.number}: details withheld ({snapshot.classification.value})"


def remote_values(
    rules: Mapping[SyncedField, FieldRule], fields: Mapping[str, Any]
) -> dict[str, str | None]:
    return {
        synced.value: normalise(fields[rule.external])
        for synced, rule in rules.items()
        if rule.external in fields
    }


def internal_external(
    rules: Mapping[SyncedField, FieldRule], snapshot: IncidentSnapshot
) -> dict[str, str | None]:
    values = internal_values(snapshot, rules)
    return {s.value: rule.to_external(values[s.value]) for s, rule in rules.items()}


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
        elif fallback is _Fallback.PUSH:
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
                data=_ticket_data(
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
            await _job(fresh, SyncJobKind.PUSH, sorted(outcome.push_needed))
        ticket.sync_state = fresh.sync_state

    events.append(
        NewEvent(
            type=EventType.TICKET_SYNCED,
            data=_ticket_data(
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
                data=_ticket_data(ticket, error=message, attempts=attempts),
            )
        ],
        also=also,
    )

"""Incident commands and queries. Each command is one transaction: projection, events, outbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from app.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from app.models import (
    Impact,
    Incident,
    IncidentStatus,
    NoteKind,
    Priority,
    Severity,
    Tenant,
    Urgency,
)
from app.pubsub import outbox
from app.services import lifecycle, sla
from app.services.policy import TenantPolicy
from app.services.tenant import get_policy
from app.services.timeline import EventRecord, EventType, NewEvent, build_rows, find_by_event_id

TITLE_MAX = 255
TEXT_MAX_BYTES = 64 * 1024
NAME_MAX = 255
MENTIONS_MAX = 50
_RACE_RETRIES = 20


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class IncidentSnapshot:
    """The incident as API readers and subscribers see it; travels inside broker messages."""

    id: str
    tenant_id: str
    number: int
    title: str
    description: str | None
    service: str | None
    severity: Severity
    impact: Impact
    urgency: Urgency
    priority: Priority
    status: IncidentStatus
    is_major: bool
    assignee: str | None
    declared_by: str | None
    resolution_summary: str | None
    root_cause: str | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    sla_response_due: datetime | None
    sla_resolve_due: datetime | None
    sla_paused_since: datetime | None
    version: int
    last_seq: int

    def response_due(self, now: datetime) -> datetime | None:
        paused = self.sla_paused_since if self.acknowledged_at is None else None
        return sla.effective_due(self.sla_response_due, paused, now)

    def resolve_due(self, now: datetime) -> datetime | None:
        return sla.effective_due(self.sla_resolve_due, self.sla_paused_since, now)

    def response_breached(self, now: datetime) -> bool:
        stopped = self.acknowledged_at or self.cancelled_at
        return sla.breached(self.sla_response_due, stopped, self.sla_paused_since, now)

    def resolve_breached(self, now: datetime) -> bool:
        stopped = self.resolved_at or self.cancelled_at
        return sla.breached(self.sla_resolve_due, stopped, self.sla_paused_since, now)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> IncidentSnapshot:
        values = dict(raw)
        for name in _DATETIME_FIELDS:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        for name, enum in _ENUM_FIELDS.items():
            values[name] = enum(values[name])
        return cls(**values)

    @classmethod
    def from_model(cls, row: Incident) -> IncidentSnapshot:
        return cls(
            id=str(row.id),
            tenant_id=row.tenant_id,
            **{name: getattr(row, name) for name in _MODEL_FIELDS},
        )


_DATETIME_FIELDS = tuple(f.name for f in fields(IncidentSnapshot) if "datetime" in str(f.type))
_ENUM_FIELDS: dict[str, Any] = {
    "severity": Severity,
    "impact": Impact,
    "urgency": Urgency,
    "priority": Priority,
    "status": IncidentStatus,
}
_MODEL_FIELDS = tuple(f.name for f in fields(IncidentSnapshot) if f.name not in ("id", "tenant_id"))


@dataclass(frozen=True, slots=True)
class CommandResult:
    incident: IncidentSnapshot
    events: list[EventRecord]


# --- validation ---------------------------------------------------------------------------


def storable(value: str, *, field: str) -> str:
    """Refuse text a database cannot store: NUL (PostgreSQL) and lone surrogates (any)."""
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", field=field)
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise ValidationFailed(f"{field} must be valid Unicode text", field=field) from exc
    return value


def _title(value: str) -> str:
    title = storable(value, field="title").strip()
    if not title:
        raise ValidationFailed("title must not be empty", field="title")
    if len(title) > TITLE_MAX:
        raise ValidationFailed(f"title must be at most {TITLE_MAX} characters", field="title")
    return title


def _text(value: str | None, *, field: str, required: bool = False) -> str | None:
    if value is not None:
        storable(value, field=field)
    if value is None or not value.strip():
        if required:
            raise ValidationFailed(f"{field} must not be empty", field=field)
        return None
    if len(value.encode()) > TEXT_MAX_BYTES:
        raise ValidationFailed(f"{field} must be at most 64 KiB", field=field)
    return value


def _name(value: str | None, *, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    name = storable(value, field=field).strip()
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"{field} must be at most {NAME_MAX} characters", field=field)
    return name


def parse_incident_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as exc:
        raise NotFound(f"no incident with id {value!r}", field="id") from exc


# --- reading --------------------------------------------------------------------------------


async def get_incident(*, tenant_id: str, incident_id: str) -> IncidentSnapshot:
    row = await Incident.get_or_none(tenant_id=tenant_id, id=parse_incident_id(incident_id))
    if row is None:
        raise NotFound(f"no incident with id {incident_id!r}", field="id")
    return IncidentSnapshot.from_model(row)


async def get_incidents(
    *, tenant_id: str, incident_ids: Sequence[str]
) -> dict[str, IncidentSnapshot]:
    ids: list[uuid.UUID] = []
    for value in incident_ids:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    if not ids:
        return {}
    rows = await Incident.filter(tenant_id=tenant_id, id__in=ids)
    return {str(row.id): IncidentSnapshot.from_model(row) for row in rows}


# --- commands -------------------------------------------------------------------------------


async def declare_incident(
    *,
    tenant_id: str,
    actor: str | None,
    title: str,
    severity: Severity,
    impact: Impact,
    urgency: Urgency,
    description: str | None = None,
    service: str | None = None,
    assignee: str | None = None,
    event_id: str | None = None,
) -> CommandResult:
    title = _title(title)
    description = _text(description, field="description")
    service = _name(service, field="service")
    assignee = _name(assignee, field="assignee")
    event_id = _name(event_id, field="eventId")
    if event_id is not None:
        existing = await _replayed(tenant_id=tenant_id, event_id=event_id)
        if existing is not None:
            return existing
    policy = await get_policy(tenant_id=tenant_id)
    now = utcnow()
    priority = policy.priority(severity=severity, impact=impact, urgency=urgency)
    response_due, resolve_due = sla.deadlines(
        policy=policy, priority=priority, created_at=now, paused_seconds=0.0, acknowledged=False
    )
    try:
        async with in_transaction():
            await Tenant.filter(id=tenant_id).update(incident_counter=F("incident_counter") + 1)
            counter = await Tenant.filter(id=tenant_id).values_list("incident_counter", flat=True)
            row = await Incident.create(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                number=counter[0],
                title=title,
                description=description,
                service=service,
                severity=severity,
                impact=impact,
                urgency=urgency,
                priority=priority,
                status=IncidentStatus.OPEN,
                assignee=assignee,
                declared_by=actor,
                created_at=now,
                updated_at=now,
                sla_response_due=response_due,
                sla_resolve_due=resolve_due,
                last_seq=1,
            )
            snapshot = IncidentSnapshot.from_model(row)
            declared = NewEvent(
                type=EventType.DECLARED,
                data={
                    "number": snapshot.number,
                    "title": title,
                    "description": description,
                    "service": service,
                    "severity": severity.value,
                    "impact": impact.value,
                    "urgency": urgency.value,
                    "priority": priority.value,
                    "status": IncidentStatus.OPEN.value,
                    "assignee": assignee,
                },
                **({"event_id": event_id} if event_id else {}),
            )
            events = await _append(snapshot, [declared], actor=actor, now=now, first_seq=1)
            message = await _enqueue(snapshot, events)
    except IntegrityError:
        if event_id is not None:
            existing = await _replayed(tenant_id=tenant_id, event_id=event_id)
            if existing is not None:
                return existing
        raise
    outbox.committed(message)
    return CommandResult(snapshot, events)


async def update_incident(
    *,
    tenant_id: str,
    actor: str | None,
    incident_id: str,
    version: int | None = None,
    changes: Mapping[str, Any],
) -> CommandResult:
    clean = _clean_changes(changes)

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        _require_not_terminal(row)
        diff: dict[str, dict[str, Any]] = {}
        for name, value in clean.items():
            old = getattr(row, name)
            if old != value:
                diff[name] = {"from": _plain(old), "to": _plain(value)}
                setattr(row, name, value)
        if not diff:
            return []
        priority = policy.priority(severity=row.severity, impact=row.impact, urgency=row.urgency)
        if priority != row.priority:
            diff["priority"] = {"from": row.priority.value, "to": priority.value}
            row.priority = priority
            _reset_deadlines(row, policy)
        return [NewEvent(type=EventType.UPDATED, data={"changes": diff})]

    return await _apply(
        tenant_id=tenant_id, incident_id=incident_id, actor=actor, version=version, decide=decide
    )


async def transition_incident(
    *,
    tenant_id: str,
    actor: str | None,
    incident_id: str,
    to: IncidentStatus,
    version: int | None = None,
    reason: str | None = None,
    resolution_summary: str | None = None,
    root_cause: str | None = None,
) -> CommandResult:
    reason = _text(reason, field="reason")
    resolution_summary = _text(resolution_summary, field="resolutionSummary")
    root_cause = _text(root_cause, field="rootCause")

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        current = row.status
        if not lifecycle.can_transition(current, to):
            allowed = ", ".join(s.value for s in lifecycle.allowed_targets(current)) or "none"
            raise InvalidTransition(
                f"cannot move an incident from {current.value} to {to.value} (allowed: {allowed})",
                field="to",
            )
        if to is IncidentStatus.RESOLVED and resolution_summary is None:
            raise ValidationFailed(
                "resolving an incident needs a resolution summary", field="resolutionSummary"
            )
        row.status = to
        events = [
            NewEvent(
                type=EventType.STATE_CHANGE,
                data={"from": current.value, "to": to.value, "reason": reason},
            )
        ]
        if current is IncidentStatus.OPEN and row.acknowledged_at is None:
            row.acknowledged_at = now
        if current is IncidentStatus.PENDING and row.sla_paused_since is not None:
            row.sla_paused_seconds += (now - row.sla_paused_since).total_seconds()
            row.sla_paused_since = None
            _reset_deadlines(row, policy)
        if to is IncidentStatus.PENDING:
            row.sla_paused_since = now
        elif to is IncidentStatus.ESCALATED:
            row.is_major = True
        elif to is IncidentStatus.RESOLVED:
            row.resolved_at = now
            row.resolution_summary = resolution_summary
            row.root_cause = root_cause or row.root_cause
            events.append(
                NewEvent(
                    type=EventType.RESOLVED,
                    data={"resolutionSummary": resolution_summary, "rootCause": row.root_cause},
                )
            )
        elif to is IncidentStatus.CLOSED:
            row.closed_at = now
            events.append(NewEvent(type=EventType.CLOSED, data={"reason": reason}))
        elif to is IncidentStatus.CANCELLED:
            row.cancelled_at = now
        elif current is IncidentStatus.RESOLVED:  # reopened
            row.resolved_at = None
        return events

    return await _apply(
        tenant_id=tenant_id, incident_id=incident_id, actor=actor, version=version, decide=decide
    )


async def assign_incident(
    *,
    tenant_id: str,
    actor: str | None,
    incident_id: str,
    assignee: str | None,
    version: int | None = None,
) -> CommandResult:
    assignee = _name(assignee, field="assignee")

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        _require_not_terminal(row)
        if row.assignee == assignee:
            return []
        previous, row.assignee = row.assignee, assignee
        return [NewEvent(type=EventType.ASSIGNED, data={"from": previous, "to": assignee})]

    return await _apply(
        tenant_id=tenant_id, incident_id=incident_id, actor=actor, version=version, decide=decide
    )


async def add_note(
    *,
    tenant_id: str,
    actor: str | None,
    incident_id: str,
    body: str,
    kind: NoteKind = NoteKind.GENERAL,
    mentions: Sequence[str] = (),
    event_id: str | None = None,
) -> CommandResult:
    text = _text(body, field="body", required=True)
    if len(mentions) > MENTIONS_MAX:
        raise ValidationFailed(f"at most {MENTIONS_MAX} mentions", field="mentions")
    names = [n for n in (_name(m, field="mentions") for m in mentions) if n]
    event_id = _name(event_id, field="eventId")
    if event_id is not None:
        existing = await _replayed(tenant_id=tenant_id, event_id=event_id)
        if existing is not None:
            if existing.incident.id != str(parse_incident_id(incident_id)):
                raise Conflict("eventId was already used on another incident", field="eventId")
            return existing

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        note = NewEvent(
            type=EventType.NOTE_ADDED,
            data={"body": text, "kind": kind.value, "mentions": names},
            **({"event_id": event_id} if event_id else {}),
        )
        return [note]

    return await _apply(
        tenant_id=tenant_id,
        incident_id=incident_id,
        actor=actor,
        version=None,
        decide=decide,
        bumps_version=False,
    )


# --- the command machinery ------------------------------------------------------------------

_Decide = Callable[[Incident, TenantPolicy, datetime], list[NewEvent]]


async def _apply(
    *,
    tenant_id: str,
    incident_id: str,
    actor: str | None,
    version: int | None,
    decide: _Decide,
    bumps_version: bool = True,
) -> CommandResult:
    """Load, decide, write projection + events + outbox atomically; retry lost races.

    The projection row is updated only where its last_seq is still the one decided on, so two
    writers can never hand out the same seq; the loser re-reads and decides again, unless the
    caller pinned a version, in which case a stale version is a CONFLICT.
    """
    key = parse_incident_id(incident_id)
    policy = await get_policy(tenant_id=tenant_id)
    for _ in range(_RACE_RETRIES):
        row = await Incident.get_or_none(tenant_id=tenant_id, id=key)
        if row is None:
            raise NotFound(f"no incident with id {incident_id!r}", field="id")
        if version is not None and row.version != version:
            raise Conflict(
                f"incident is at version {row.version}, not {version}; reload and retry",
                field="version",
            )
        now = utcnow()
        seen_seq = row.last_seq
        new_events = decide(row, policy, now)
        if not new_events:
            return CommandResult(IncidentSnapshot.from_model(row), [])
        row.updated_at = now
        row.last_seq = seen_seq + len(new_events)
        if bumps_version:
            row.version += 1
        try:
            async with in_transaction():
                updated = await Incident.filter(id=key, last_seq=seen_seq).update(
                    **{name: getattr(row, name) for name in _WRITABLE}
                )
                if not updated:
                    raise _LostRace
                snapshot = IncidentSnapshot.from_model(row)
                events = await _append(
                    snapshot, new_events, actor=actor, now=now, first_seq=seen_seq + 1
                )
                message = await _enqueue(snapshot, events)
        except _LostRace:
            continue
        except IntegrityError as exc:
            replay = [e for e in new_events if e.source and e.event_id]
            if replay and await find_by_event_id(
                tenant_id=tenant_id, source=replay[0].source, event_id=replay[0].event_id
            ):
                existing = await _replayed(tenant_id=tenant_id, event_id=replay[0].event_id)
                if existing is not None:
                    return existing
            raise Conflict("the incident changed while this was written; retry") from exc
        outbox.committed(message)
        return CommandResult(snapshot, events)
    raise Conflict("the incident is changing too fast; retry", field="id")


class _LostRace(Exception):
    pass


_WRITABLE = tuple(
    name for name in _MODEL_FIELDS if name not in ("number", "created_at", "declared_by")
) + ("sla_paused_seconds",)


async def _append(
    snapshot: IncidentSnapshot,
    new_events: Sequence[NewEvent],
    *,
    actor: str | None,
    now: datetime,
    first_seq: int,
) -> list[EventRecord]:
    from app.models import TimelineEvent

    rows = build_rows(
        tenant_id=snapshot.tenant_id,
        incident_id=uuid.UUID(snapshot.id),
        first_seq=first_seq,
        events=new_events,
        actor=actor,
        now=now,
    )
    await TimelineEvent.bulk_create(rows)
    return [EventRecord.from_model(r) for r in rows]


async def _enqueue(snapshot: IncidentSnapshot, events: Sequence[EventRecord]) -> outbox.Pending:
    return await outbox.enqueue(
        tenant_id=snapshot.tenant_id,
        incident_id=snapshot.id,
        body={"incident": snapshot.to_json(), "events": [e.to_json() for e in events]},
    )


async def _replayed(*, tenant_id: str, event_id: str) -> CommandResult | None:
    from app.services.timeline import API_SOURCE

    record = await find_by_event_id(tenant_id=tenant_id, source=API_SOURCE, event_id=event_id)
    if record is None:
        return None
    incident = await get_incident(tenant_id=tenant_id, incident_id=record.incident_id)
    return CommandResult(incident, [record])


def _clean_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "title":
            clean[name] = _title(value)
        elif name == "description":
            clean[name] = _text(value, field="description")
        elif name == "service":
            clean[name] = _name(value, field="service")
        elif name in ("severity", "impact", "urgency"):
            clean[name] = _ENUM_FIELDS[name](value)
        elif name == "is_major":
            clean[name] = bool(value)
        else:
            raise ValidationFailed(f"{name} cannot be changed with updateIncident", field=name)
    return clean


def _require_not_terminal(row: Incident) -> None:
    if row.status in lifecycle.TERMINAL:
        raise InvalidTransition(
            f"incident is {row.status.value}; a closed or cancelled incident cannot change",
            field="id",
        )


def _reset_deadlines(row: Incident, policy: TenantPolicy) -> None:
    row.sla_response_due, row.sla_resolve_due = sla.deadlines(
        policy=policy,
        priority=row.priority,
        created_at=row.created_at,
        paused_seconds=row.sla_paused_seconds,
        acknowledged=row.acknowledged_at is not None,
    )


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


__all__ = [
    "CommandResult",
    "IncidentSnapshot",
    "add_note",
    "assign_incident",
    "declare_incident",
    "get_incident",
    "get_incidents",
    "transition_incident",
    "update_incident",
]

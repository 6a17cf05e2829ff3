"""Incident commands. Each is one transaction: projection, timeline events and outbox row."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Final, Literal, TypeAlias

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from app.core.clock import utcnow
from app.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from app.models import (
    Classification,
    DetectionSource,
    Impact,
    Incident,
    IncidentCategory,
    IncidentStatus,
    NoteKind,
    Priority,
    Role,
    Severity,
    Tenant,
    Urgency,
)
from app.services import writer
from app.services.access import quotas
from app.services.access.caller import USER_ACTOR_PREFIX, Authority, Caller, user_actor
from app.services.access.classification import (
    DEFAULT_EVENT_CLASSIFICATION,
    FIELD_CLASSIFICATION,
    reaches,
)
from app.services.access.permissions import Action, allowed
from app.services.access.tenants import get_policy
from app.services.incidents import cadence, lifecycle, sla, sla_marks
from app.services.incidents import validation as validation
from app.services.incidents.attempts import (
    RACE_RETRIES,
    CommandResult,
    apply_decision,
    replayed,
)
from app.services.incidents.policy import TenantPolicy
from app.services.incidents.snapshot import (
    IncidentSnapshot,
    parse_incident_id,
)
from app.services.incidents.timeline import EventType, NewEvent
from app.services.people import teams, users
from app.services.people.users import UserView

# --- commands -------------------------------------------------------------------------------


async def declare_incident(
    *,
    caller: Caller,
    title: str,
    severity: Severity,
    impact: Impact,
    urgency: Urgency,
    description: str | None = None,
    service: str | None = None,
    assignee: str | None = None,
    event_id: str | None = None,
    classification: Classification = Classification.INTERNAL,
    category: IncidentCategory | None = None,
    subcategory: str | None = None,
    detection_source: DetectionSource | None = None,
    drill: tuple[str, str | None] | None = None,
    also: Callable[[IncidentSnapshot], Awaitable[None]] | None = None,
) -> CommandResult:
    """Declare an incident. Nobody may declare an incident classified above their own
    clearance. `also` runs inside the same
    transaction, after the incident and its event are written; what it raises rolls the
    declaration back. A replay of `event_id` returns the incident declared before, without
    running `also`."""
    tenant_id, actor, clearance = caller.tenant_id, caller.actor, caller.clearance
    title = validation.title(title)
    description = validation.text(description, field="description")
    service = validation.name(service, field="service")
    assignee = validation.name(assignee, field="assignee")
    subcategory = validation.subcategory(subcategory)
    scenario = scope = None
    if drill is not None:
        scenario = validation.text(drill[0], field="drillScenario", required=True)
        scope = validation.text(drill[1], field="drillScope")
    event_id = validation.name(event_id, field="eventId")
    _require_clearance(clearance, classification)
    if event_id is not None:
        existing = await replayed(tenant_id=tenant_id, event_id=event_id, clearance=clearance)
        if existing is not None:
            return existing
    policy = await get_policy(tenant_id=tenant_id)
    now = utcnow()
    priority = policy.priority(severity=severity, impact=impact, urgency=urgency)
    response_due, resolve_due = sla.deadlines(
        policy=policy, priority=priority, created_at=now, paused_seconds=0.0, acknowledged=False
    )
    try:
        async with writer.transaction() as commit:
            await Tenant.filter(id=tenant_id).update(incident_counter=F("incident_counter") + 1)
            counter = await Tenant.filter(id=tenant_id).values_list("incident_counter", flat=True)
            # After the tenant's row is locked: two declarations cannot both take the last place.
            await quotas.require_room(tenant_id, "active_incidents")
            row = Incident(
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
                classification=classification,
                category=category,
                subcategory=subcategory,
                detection_source=detection_source,
                is_drill=drill is not None,
                drill_scenario=scenario,
                drill_scope=scope,
                created_at=now,
                updated_at=now,
                sla_response_due=response_due,
                sla_resolve_due=resolve_due,
                last_seq=1,
            )
            row.sla_next_at = sla_marks.next_at(row)
            row.update_due_at = cadence.next_to_announce(row, policy)
            await row.save(force_create=True)
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
                    "classification": classification.value,
                    "category": category.value if category else None,
                    "subcategory": subcategory,
                    "detectionSource": detection_source.value if detection_source else None,
                    "isDrill": drill is not None,
                },
                event_id=event_id or str(uuid.uuid4()),
            )
            events = await commit.record(
                None, snapshot, [declared], actor=actor, now=now, first_seq=1
            )
            if also is not None:
                await also(snapshot)
    except IntegrityError:
        if event_id is not None:
            existing = await replayed(tenant_id=tenant_id, event_id=event_id, clearance=clearance)
            if existing is not None:
                return existing
        raise
    return CommandResult(snapshot, events)


async def update_incident(
    *,
    caller: Caller,
    incident_id: str,
    version: int | None = None,
    changes: Mapping[str, Any],
) -> CommandResult:
    clearance = caller.clearance
    clean = validation.clean_changes({k: v for k, v in changes.items() if k != "commander"})
    if "commander" in changes:
        clean["commander"] = validation.name(changes["commander"], field="commander")
    if "classification" in clean:
        _require_clearance(clearance, clean["classification"])

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
        if row.derived_priority is not None:  # a manual override stands
            if _MATRIX_FIELDS & diff.keys() and policy.clear_override_on_change:
                diff["priorityOverride"] = {"from": row.priority.value, "to": None}
                row.derived_priority = None
                row.priority_override_reason = None
            else:
                if priority != row.derived_priority:
                    diff["derivedPriority"] = {
                        "from": row.derived_priority.value,
                        "to": priority.value,
                    }
                    row.derived_priority = priority
                return [NewEvent(type=EventType.UPDATED, data={"changes": diff})]
        if priority != row.priority:
            diff["priority"] = {"from": row.priority.value, "to": priority.value}
            row.priority = priority
            _reset_deadlines(row, policy)
        return [NewEvent(type=EventType.UPDATED, data={"changes": diff})]

    return await apply_decision(
        caller=caller,
        incident_id=incident_id,
        version=version,
        decide=decide,
    )


# What the priority matrix is fed: changing one re-derives the priority.
_MATRIX_FIELDS = frozenset({"severity", "impact", "urgency"})
JUSTIFICATION_MAX = 2000


async def override_priority(
    *,
    caller: Caller,
    incident_id: str,
    priority: Priority | None,
    justification: str | None,
    version: int | None = None,
) -> CommandResult:
    """Set the incident's priority by hand, with a justification, over the one the matrix
    derives (kept as `derived_priority`); None gives the derived one back. The SLA deadlines
    follow the priority in force."""
    text = validation.text(justification, field="justification", required=priority is not None)
    if text is not None and len(text) > JUSTIFICATION_MAX:
        raise ValidationFailed(
            f"justification must be at most {JUSTIFICATION_MAX} characters",
            field="justification",
        )

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        _require_not_terminal(row)
        derived = policy.priority(severity=row.severity, impact=row.impact, urgency=row.urgency)
        before = row.priority
        if priority is None:
            if row.derived_priority is None:
                raise ValidationFailed("the priority is not overridden", field="priority")
            row.derived_priority = None
            row.priority_override_reason = None
            row.priority = derived
        else:
            if row.derived_priority is not None and (priority, text) == (
                row.priority,
                row.priority_override_reason,
            ):
                return []
            row.derived_priority = derived
            row.priority_override_reason = text
            row.priority = priority
        if row.priority != before:
            _reset_deadlines(row, policy)
        return [
            NewEvent(
                type=EventType.PRIORITY_OVERRIDDEN,
                data={
                    "from": before.value,
                    "to": row.priority.value,
                    "derived": derived.value,
                    "overridden": priority is not None,
                    "justification": text,
                },
            )
        ]

    return await apply_decision(
        caller=caller, incident_id=incident_id, version=version, decide=decide
    )


async def transition_incident(
    *,
    caller: Caller,
    incident_id: str,
    to: IncidentStatus,
    version: int | None = None,
    reason: str | None = None,
    resolution_summary: str | None = None,
    root_cause: str | None = None,
    with_events: Sequence[NewEvent] = (),
) -> CommandResult:
    """Move an incident along the lifecycle. The caller's role (or the Authority a change
    without a person's role comes with) decides who may close a high-priority incident.
    `with_events`: what a package around the incident records with the move (a vendor
    engaged as it goes PENDING), in the same transaction."""
    actor = caller.actor
    reason = validation.text(reason, field="reason")
    resolution_summary = validation.text(resolution_summary, field="resolutionSummary")
    root_cause = validation.text(root_cause, field="rootCause")

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        current = row.status
        if not lifecycle.can_transition(current, to):
            targets = ", ".join(s.value for s in lifecycle.allowed_targets(current)) or "none"
            raise InvalidTransition(
                f"cannot move an incident from {current.value} to {to.value} (allowed: {targets})",
                field="to",
            )
        if to is IncidentStatus.RESOLVED and resolution_summary is None:
            raise ValidationFailed(
                "resolving an incident needs a resolution summary", field="resolutionSummary"
            )
        if to is IncidentStatus.CLOSED:
            _check_closing(row, actor=actor, role=caller.role)
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
                    # It carries the root cause, a CONFIDENTIAL field, when there is one.
                    classification=FIELD_CLASSIFICATION["root_cause"]
                    if row.root_cause
                    else DEFAULT_EVENT_CLASSIFICATION,
                )
            )
        elif to is IncidentStatus.CLOSED:
            row.closed_at = now
            events.append(NewEvent(type=EventType.CLOSED, data={"reason": reason}))
        elif to is IncidentStatus.CANCELLED:
            row.cancelled_at = now
        elif current is IncidentStatus.RESOLVED:  # reopened
            row.resolved_at = None
            row.reopen_count += 1
        return [*events, *with_events]

    return await apply_decision(
        caller=caller,
        incident_id=incident_id,
        version=version,
        decide=decide,
    )


class _Keep(Enum):
    KEEP = "keep"


# An assignment's part left as it is (a field the caller did not send).
KEEP: Final = _Keep.KEEP
Keep: TypeAlias = Literal[_Keep.KEEP]


async def assign_incident(
    *,
    caller: Caller,
    incident_id: str,
    assignee: str | None | Keep = KEEP,
    user_id: str | None | Keep = KEEP,
    team_id: str | None | Keep = KEEP,
    version: int | None = None,
) -> CommandResult:
    """Assign the incident to a user, a team, both, or free text (an integration's name).

    A user makes `assignee` their handle; free text unlinks the user; None unassigns. A team
    is set or cleared on its own. Users must be active and teams exist in the tenant.
    """
    if assignee is KEEP and user_id is KEEP and team_id is KEEP:
        raise ValidationFailed("give userId, teamId or assignee", field="userId")
    if assignee is not KEEP and user_id is not KEEP:
        raise ValidationFailed(
            "give userId or assignee, not both: a user's handle becomes the assignee",
            field="assignee",
        )
    wanted: dict[str, str | None] = {}
    if user_id is not KEEP:
        user = (
            await users.active_user(tenant_id=caller.tenant_id, user_id=user_id)
            if user_id is not None
            else None
        )
        wanted["assigned_user_id"] = user.id if user is not None else None
        wanted["assignee"] = user.handle if user is not None else None
    elif assignee is not KEEP:
        wanted["assigned_user_id"] = None
        wanted["assignee"] = validation.name(assignee, field="assignee")
    if team_id is not KEEP:
        wanted["assigned_team_id"] = (
            await _team(caller.tenant_id, team_id) if team_id is not None else None
        )

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        _require_not_terminal(row)
        before = {name: _str_or_none(getattr(row, name)) for name in wanted}
        if before == wanted:
            return []
        for name, value in wanted.items():
            setattr(row, name, value)
        data: dict[str, Any] = {"from": before.get("assignee", row.assignee), "to": row.assignee}
        for name, key, prefix in (
            ("assigned_user_id", "user", USER_ACTOR_PREFIX),
            ("assigned_team_id", "team", TEAM_ID_PREFIX),
        ):
            if name in wanted and before[name] != wanted[name]:
                data[key] = {
                    "from": _global(prefix, before[name]),
                    "to": _global(prefix, wanted[name]),
                }
        return [NewEvent(type=EventType.ASSIGNED, data=data)]

    return await apply_decision(
        caller=caller,
        incident_id=incident_id,
        version=version,
        decide=decide,
    )


# Global ids as the API shows them, for what an event's data names.
TEAM_ID_PREFIX = "team_"


def _global(prefix: str, key: str | None) -> str | None:
    return None if key is None else prefix + uuid.UUID(key).hex


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


async def _team(tenant_id: str, team_id: str) -> str:
    found = await teams.get_teams(tenant_id=tenant_id, team_ids=[team_id])
    if team_id not in found:
        raise NotFound(f"no team with id {team_id!r}", field="teamId")
    return team_id


async def link_record(
    *,
    caller: Caller,
    incident_id: str,
    record: Mapping[str, str],
    linked: bool,
    also: Callable[[IncidentSnapshot], Awaitable[None]],
) -> CommandResult:
    """Put on the incident's timeline that a record around it (`record`: its kind, id and
    reference) was linked or unlinked; `also` writes the record's side in the same
    transaction. The incident core knows records only as this data. Closed incidents take
    links too: a problem is often found after its incidents are over."""
    return await link_records(
        caller=caller, incident_id=incident_id, links=[(record, linked)], also=also
    )


async def link_records(
    *,
    caller: Caller,
    incident_id: str,
    links: Sequence[tuple[Mapping[str, str], bool]],
    also: Callable[[IncidentSnapshot], Awaitable[None]],
) -> CommandResult:
    """Several links and unlinks at once: an event each, one transaction."""

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        return [
            NewEvent(
                type=EventType.RECORD_LINKED if linked else EventType.RECORD_UNLINKED,
                data=dict(record),
            )
            for record, linked in links
        ]

    return await apply_decision(
        caller=caller,
        incident_id=incident_id,
        version=None,
        decide=decide,
        bumps_version=False,
        also=also,
    )


# An @handle in a note's body: not inside a word or an e-mail address.
_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})")


async def _mentioned(tenant_id: str, given: Sequence[str], body: str) -> list[UserView]:
    """The users a note mentions: every handle in `given` (each must be an active user of
    the tenant, or the note is refused naming the others) and every @handle in the body
    that is one (an @word that is nobody stays text)."""
    if len(given) > validation.MENTIONS_MAX:
        raise ValidationFailed(f"at most {validation.MENTIONS_MAX} mentions", field="mentions")
    named = [n.lstrip("@").lower() for n in given if validation.name(n, field="mentions")]
    in_body = [m.rstrip(".-_").lower() for m in _MENTION.findall(body)]
    found = await users.users_by_handle(
        tenant_id=tenant_id, handles=[*named, *in_body[: validation.MENTIONS_MAX]]
    )
    unknown = [h for h in dict.fromkeys(named) if h not in found or not found[h].active]
    if unknown:
        listed = ", ".join(f"@{h}" for h in unknown)
        raise ValidationFailed(
            f"mentions name no active user of this tenant: {listed}", field="mentions"
        )
    handles = dict.fromkeys([*named, *(h for h in in_body if h in found)])
    return [found[h] for h in handles if found[h].active]


async def add_note(
    *,
    caller: Caller,
    incident_id: str,
    body: str,
    kind: NoteKind = NoteKind.GENERAL,
    mentions: Sequence[str] = (),
    event_id: str | None = None,
    classification: Classification = Classification.INTERNAL,
) -> CommandResult:
    """Add a note; `classification` says who may read it (never above the caller's clearance)."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    text = validation.text(body, field="body", required=True)
    mentioned = await _mentioned(tenant_id, mentions, text or "")
    event_id = validation.name(event_id, field="eventId")
    _require_clearance(clearance, classification)
    if event_id is not None:
        existing = await replayed(tenant_id=tenant_id, event_id=event_id, clearance=clearance)
        if existing is not None:
            if existing.incident.id != str(parse_incident_id(incident_id)):
                raise Conflict("eventId was already used on another incident", field="eventId")
            return existing

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        note = NewEvent(
            type=EventType.NOTE_ADDED,
            data={
                "body": text,
                "kind": kind.value,
                "mentions": [u.handle for u in mentioned],
                "mentionedUsers": [user_actor(u.id) for u in mentioned],
            },
            classification=classification,
            event_id=event_id or str(uuid.uuid4()),
        )
        if classification is Classification.PUBLIC:
            # What stakeholders last heard, kept on the projection for the status boards.
            row.last_public_update_at = now
            row.public_summary = text
        return [note]

    return await apply_decision(
        caller=caller,
        incident_id=incident_id,
        version=None,
        decide=decide,
        bumps_version=False,
    )


# What a package around the incident records: its events, or a function that decides them
# from the incident as it is (awaited after the incident is read, again on every retry, so
# what it reads is what the write is guarded on).
Events: TypeAlias = Sequence[NewEvent] | Callable[[IncidentSnapshot], Awaitable[Sequence[NewEvent]]]


async def append_events(
    *,
    caller: Caller,
    incident_id: str,
    events: Events,
    also: Callable[[IncidentSnapshot], Awaitable[None]] | None = None,
    fields: Mapping[str, Any] | None = None,
    open_only: bool = False,
) -> CommandResult:
    """Record events of a package around the incident (linked tickets' sync, roles, tasks);
    `also` runs inside the same transaction, after the events are written. `fields`: the
    incident's own fields the events change (the commander a role handover names), already
    validated; they bump the incident's version. `open_only`: refused (INVALID_TRANSITION)
    once the incident is CLOSED or CANCELLED.

    Every change to the incident's timeline moves its sequence, and the write is guarded on
    the sequence read: when `events` is a function, what it read about the package's own
    rows still holds when the transaction commits, or the command reads and decides again.
    """
    decided: list[NewEvent] = [] if callable(events) else list(events)

    async def prepare(row: Incident) -> None:
        if callable(events):
            decided[:] = await events(IncidentSnapshot.from_model(row))

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        if open_only:
            _require_not_terminal(row)
        if not decided:
            return []
        for name, value in (fields or {}).items():
            setattr(row, name, value)
        return list(decided)

    return await apply_decision(
        caller=caller,
        incident_id=incident_id,
        version=None,
        decide=decide,
        bumps_version=bool(fields),
        also=also,
        prepare=prepare,
    )


async def write_sla_marks(*, tenant_id: str, incident_id: str) -> CommandResult:
    """Write the SLA warnings and breaches that have fallen and are not written yet (none:
    nothing is written). Several processes may call it for the same incident at once: the
    incident's sequence lets one write each mark, the others read it written."""

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        fallen = sla_marks.due(row, now)
        for mark in fallen:
            row.sla_fired |= mark.bit
        return [NewEvent(type=mark.event_type, data=mark.data(now)) for mark in fallen]

    return await apply_decision(
        caller=Caller.system(tenant_id, actor=SLA_ACTOR),
        incident_id=incident_id,
        version=None,
        decide=decide,
        bumps_version=False,
    )


async def write_update_due(*, tenant_id: str, incident_id: str) -> CommandResult:
    """Announce that the incident's stakeholder update is due, once per due time (nothing
    is written when it is not due, or was announced)."""

    def decide(row: Incident, policy: TenantPolicy, now: datetime) -> list[NewEvent]:
        due = cadence.next_to_announce(row, policy)
        minutes = policy.update_cadence.get(row.priority)
        if due is None or due > now or minutes is None:
            return []
        row.update_due_noted = due
        return [
            NewEvent(
                type=cadence.UPDATE_DUE,
                data={
                    "dueAt": due.isoformat(),
                    "cadenceMinutes": minutes,
                    "lastPublicUpdateAt": row.last_public_update_at.isoformat()
                    if row.last_public_update_at
                    else None,
                },
            )
        ]

    return await apply_decision(
        caller=Caller.system(tenant_id, actor=SLA_ACTOR),
        incident_id=incident_id,
        version=None,
        decide=decide,
        bumps_version=False,
    )


# The actor of the SLA marks on timelines and in the audit log.
SLA_ACTOR = "sla"


def _check_closing(row: Incident, *, actor: str | None, role: Role | Authority) -> None:
    if role is Authority.SYSTEM:
        return
    person = isinstance(role, Role)
    high = row.priority in (Priority.P1, Priority.P2)
    if high and not (isinstance(role, Role) and allowed(role, Action.CLOSE_HIGH_PRIORITY)):
        by = "" if person else "; a change made in a linked ticket carries nobody's role"
        raise Forbidden(
            f"closing a {row.priority.value} incident needs the INCIDENT_MANAGER role{by}",
            field="to",
        )
    if row.priority is Priority.P1 and (
        not person or (actor is not None and row.declared_by == actor)
    ):
        raise Forbidden(
            "whoever declared a P1 incident cannot also close it (segregation of duties)",
            field="to",
        )


def _require_clearance(clearance: Classification, classification: Classification) -> None:
    if not reaches(clearance, classification):
        raise Forbidden(
            f"your clearance ({clearance.value}) does not reach {classification.value}",
            field="classification",
        )


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
    "RACE_RETRIES",
    "CommandResult",
    "add_note",
    "append_events",
    "assign_incident",
    "declare_incident",
    "link_record",
    "link_records",
    "transition_incident",
    "update_incident",
]

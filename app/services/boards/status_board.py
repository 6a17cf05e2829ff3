"""Status boards: one view of the tenant's incidents per persona, built from what it may see.

A board is built with a few queries whatever the number of incidents: the active incidents,
the last seven days' clocks (executive), and the recent or public timeline events
(responder, customer). So are the boards of many single incidents at once
(`build_incident_boards`, for a page of incidents each asked for its board): the same
queries, over all of them. The customer board is always built as PUBLIC: only public fields
and notes whose effective classification is PUBLIC (a PUBLIC note of a PUBLIC incident),
never a RESTRICTED incident, whoever asks.

Each board also says when it will next change with no write at all (`changes_at`): the next
SLA deadline among its incidents, or the next update falling overdue, so a live board can
wake up and push at that instant.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q

from app.core.clock import utcnow
from app.core.ids import is_uuid
from app.models import (
    Classification,
    Incident,
    IncidentRole,
    IncidentStatus,
    Priority,
    TaskStatus,
    TimelineEvent,
)
from app.services.access.caller import Caller
from app.services.access.classification import effective, visible_incident_levels
from app.services.access.tenants import get_policy
from app.services.boards.records import (
    affected_service_names,
    known_workarounds,
    records_summary,
)
from app.services.catalog.graph import HEALTH_RANK, ServiceHealth, health_of
from app.services.comms.review_rules import review_overdue
from app.services.comms.reviews import reviews_of
from app.services.incidents.lifecycle import ACTIVE_STATUSES
from app.services.incidents.policy import TenantPolicy
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import EventRecord, EventType, SeqRange, load_ranges
from app.services.people import users
from app.services.response.progress import progress
from app.services.response.roles import roles_of
from app.services.response.tasks import tasks_of

RECENT_EVENTS = 3
PUBLIC_UPDATES_PER_SERVICE = 5
WINDOW = timedelta(days=7)


class Persona(StrEnum):
    EXECUTIVE = "EXECUTIVE"
    RESPONDER = "RESPONDER"
    COMMUNICATIONS = "COMMUNICATIONS"
    CUSTOMER = "CUSTOMER"


def clearance_for(persona: Persona, clearance: Classification) -> Classification:
    """The clearance a persona's board is built with: CUSTOMER is always PUBLIC."""
    return Classification.PUBLIC if persona is Persona.CUSTOMER else clearance


@dataclass(frozen=True, slots=True)
class BoardIncident:
    """An incident on a board; the API layer redacts its text for the board's clearance."""

    incident: IncidentSnapshot
    recent_events: Sequence[EventRecord] = ()
    # The workaround of a known error among the incident's problems (responder boards).
    workaround: str | None = None
    # The response (responder boards): progress 0-100, tasks by status, who holds which role.
    progress: int = 0
    tasks: Mapping[TaskStatus, int] = field(default_factory=dict)
    roles: Sequence[tuple[IncidentRole, str]] = ()


@dataclass(frozen=True, slots=True)
class SlaCompliance:
    today: float | None
    seven_days: float | None
    measured_today: int
    measured_seven_days: int


@dataclass(frozen=True, slots=True)
class ExecutiveBoard:
    open_by_priority: dict[Priority, int]
    open_by_status: dict[IncidentStatus, int]
    major_incidents: list[BoardIncident]
    sla_compliance: SlaCompliance
    mtta_seconds_7d: float | None
    mttr_seconds_7d: float | None
    # Changes finished in the window that neither failed, were rolled back nor caused an
    # incident, over all finished in it (None when none finished).
    change_success_rate_30d: float | None = None
    changes_finished_30d: int = 0
    # Open problems (not RESOLVED or CLOSED) by the services they concern, most first.
    open_problems_by_service: list[tuple[str, int]] = field(default_factory=list)
    # Required post-incident reviews not published by their due time.
    reviews_overdue: int = 0


@dataclass(frozen=True, slots=True)
class ResponderBoard:
    incidents: list[BoardIncident]


@dataclass(frozen=True, slots=True)
class CommunicationsItem:
    incident: BoardIncident
    cadence_minutes: int  # rounded up to whole minutes
    last_public_update_at: datetime | None
    public_summary: str | None
    overdue_seconds: int


@dataclass(frozen=True, slots=True)
class CommunicationsBoard:
    overdue: list[CommunicationsItem]


@dataclass(frozen=True, slots=True)
class PublicUpdate:
    time: datetime
    body: str


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    service: str
    status: ServiceHealth
    updates: list[PublicUpdate]


@dataclass(frozen=True, slots=True)
class CustomerBoard:
    services: list[ServiceStatus]


Content = ExecutiveBoard | ResponderBoard | CommunicationsBoard | CustomerBoard


@dataclass(frozen=True, slots=True)
class Board:
    persona: Persona
    clearance: Classification
    generated_at: datetime
    content: Content
    # The next instant the board changes with no write (an SLA breach, an update overdue).
    changes_at: datetime | None = None
    # Incidents on it that are RESTRICTED: their reads are audited.
    restricted_ids: Sequence[str] = field(default_factory=tuple)


async def build_board(
    *,
    caller: Caller,
    persona: Persona,
    incident_id: str | None = None,
    now: datetime | None = None,
) -> Board:
    """The persona's board of the tenant, or of one incident when `incident_id` is given."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    if incident_id is not None:
        boards = await build_incident_boards(
            tenant_id=tenant_id,
            persona=persona,
            clearance=clearance,
            incident_ids=[incident_id],
            now=now,
        )
        return boards[incident_id]
    now = now or utcnow()
    clearance = clearance_for(persona, clearance)
    scope = _scope(tenant_id, persona, clearance)
    active = await _active(scope)
    [board] = (await _build(tenant_id, persona, clearance, scope, {None: active}, now)).values()
    return board


async def build_incident_boards(
    *,
    tenant_id: str,
    persona: Persona,
    clearance: Classification,
    incident_ids: Sequence[str],
    now: datetime | None = None,
) -> dict[str, Board]:
    """The persona's board of each incident alone, all built with the queries of one board."""
    now = now or utcnow()
    clearance = clearance_for(persona, clearance)
    keys = {k: uuid.UUID(k) for k in incident_ids if is_uuid(k)}
    scope = _scope(tenant_id, persona, clearance) & Q(id__in=sorted(set(keys.values())))
    found = {uuid.UUID(s.id): s for s in await _active(scope)} if keys else {}
    groups: dict[str | None, list[IncidentSnapshot]] = {
        str(key): [found[key]] if key in found else [] for key in keys.values()
    }
    boards = await _build(tenant_id, persona, clearance, scope, groups, now)
    empty = _empty(persona, clearance, now)
    return {k: boards[str(keys[k])] if k in keys else empty for k in incident_ids}


def _scope(tenant_id: str, persona: Persona, clearance: Classification) -> Q:
    levels = visible_incident_levels(clearance)
    if persona is Persona.CUSTOMER:
        levels = [c for c in levels if c is not Classification.RESTRICTED]
        # Drills are rehearsals: customers never see them.
        return Q(tenant_id=tenant_id, classification__in=levels, is_drill=False)
    return Q(tenant_id=tenant_id, classification__in=levels)


def _empty(persona: Persona, clearance: Classification, now: datetime) -> Board:
    """The board of an incident the caller cannot see (or that is not a valid id)."""
    content: Content
    if persona is Persona.EXECUTIVE:
        content = _executive([], [], now)
    elif persona is Persona.RESPONDER:
        content = ResponderBoard(incidents=[])
    elif persona is Persona.COMMUNICATIONS:
        content = CommunicationsBoard(overdue=[])
    else:
        content = CustomerBoard(services=[])
    return Board(persona=persona, clearance=clearance, generated_at=now, content=content)


async def _build(
    tenant_id: str,
    persona: Persona,
    clearance: Classification,
    scope: Q,
    groups: Mapping[str | None, Sequence[IncidentSnapshot]],
    now: datetime,
) -> dict[str | None, Board]:
    """One board per group of active incidents (the whole tenant's, or one incident's each):
    whatever the number of groups, each kind of data is read once for all of them."""
    everyone = [s for active in groups.values() for s in active]
    contents: dict[str | None, Content] = {}
    changes: dict[str | None, datetime | None] = {
        k: _next_breach(active, now) for k, active in groups.items()
    }
    if persona is Persona.EXECUTIVE:
        week = await _recent_clocks(scope, now - WINDOW)
        week_of: dict[str, list[IncidentSnapshot]] = defaultdict(list)
        for s in week:
            week_of[s.id].append(s)
        records = await records_summary(tenant_id, clearance, now)
        overdue = await _reviews_overdue(tenant_id, scope, now)
        for k, active in groups.items():
            clocks = week if k is None else week_of.get(k, [])
            contents[k] = replace(
                _executive(active, clocks, now), **records, reviews_overdue=overdue
            )
    elif persona is Persona.RESPONDER:
        recent = await _recent_events(tenant_id, everyone)
        workarounds = await known_workarounds(tenant_id, clearance, [s.id for s in everyone])
        responses = await _responses(tenant_id, everyone)
        for k, active in groups.items():
            contents[k] = ResponderBoard(
                incidents=[
                    BoardIncident(s, recent.get(s.id, []), workarounds.get(s.id), *responses[s.id])
                    for s in active
                ]
            )
    elif persona is Persona.COMMUNICATIONS:
        policy = await get_policy(tenant_id=tenant_id)
        for k, active in groups.items():
            contents[k] = _communications(active, policy, now)
            changes[k] = _earliest(changes[k], _next_overdue(active, policy, now))
    else:
        updates = await _public_updates(tenant_id, everyone)
        services = await affected_service_names(tenant_id, [s.id for s in everyone])
        for k, active in groups.items():
            contents[k] = _customer(active, updates, services)
    return {
        k: Board(
            persona=persona,
            clearance=clearance,
            generated_at=now,
            content=contents[k],
            changes_at=changes[k],
            restricted_ids=tuple(
                s.id for s in active if s.classification is Classification.RESTRICTED
            ),
        )
        for k, active in groups.items()
    }


# How far back an unreviewed resolution still counts as an overdue review.
REVIEW_LOOKBACK = timedelta(days=90)


async def _reviews_overdue(tenant_id: str, scope: Q, now: datetime) -> int:
    """Resolved P1, P2 and major incidents (not drills, last 90 days) whose required review
    was not published by its due time: two statements."""
    rows = await Incident.filter(
        scope,
        Q(priority__in=[Priority.P1, Priority.P2]) | Q(is_major=True),
        resolved_at__gte=now - REVIEW_LOOKBACK,
        is_drill=False,
    ).values("id", "priority", "is_major", "resolved_at")
    current = await reviews_of(tenant_id=tenant_id, incident_ids=[str(r["id"]) for r in rows])
    return sum(
        1
        for r in rows
        if review_overdue(
            priority=Priority(r["priority"]),
            is_major=bool(r["is_major"]),
            resolved_at=r["resolved_at"],
            status=current[str(r["id"])].status if str(r["id"]) in current else None,
            now=now,
        )
    )


async def _responses(
    tenant_id: str, incidents: Sequence[IncidentSnapshot]
) -> dict[str, tuple[int, dict[TaskStatus, int], list[tuple[IncidentRole, str]]]]:
    """Each incident's progress, tasks by status and roles (holders by handle): a few
    statements for the whole board."""
    ids = [s.id for s in incidents]
    tasks = await tasks_of(tenant_id=tenant_id, incident_ids=ids)
    roles = await roles_of(tenant_id=tenant_id, incident_ids=ids)
    holders = {r.user_id for held in roles.values() for r in held}
    people = await users.get_users(tenant_id=tenant_id, user_ids=sorted(holders))
    found = {}
    for s in incidents:
        mine = tasks.get(s.id, [])
        held = [r for r in roles.get(s.id, []) if r.user_id in people]
        found[s.id] = (
            progress(s.status, [(t.status, t.estimated_hours) for t in mine]),
            dict(Counter(t.status for t in mine)),
            [(r.role, people[r.user_id].handle) for r in held],
        )
    return found


async def _active(scope: Q) -> list[IncidentSnapshot]:
    """Active incidents, most urgent first, then oldest first."""
    rows = await Incident.filter(scope, status__in=ACTIVE_STATUSES).order_by(
        "priority", "created_at", "number"
    )
    return [IncidentSnapshot.from_model(r) for r in rows]


# --- executive ------------------------------------------------------------------------------


def _executive(
    active: Sequence[IncidentSnapshot], week: Sequence[IncidentSnapshot], now: datetime
) -> ExecutiveBoard:
    by_priority = dict.fromkeys(Priority, 0)
    by_status = dict.fromkeys(ACTIVE_STATUSES, 0)
    week = [s for s in week if not s.is_drill]  # a rehearsal's clocks are no measure
    for s in active:
        by_priority[s.priority] += 1
        by_status[s.status] += 1
    major = [BoardIncident(s) for s in active if s.is_major or s.priority is Priority.P1]
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return ExecutiveBoard(
        open_by_priority=by_priority,
        open_by_status=by_status,
        major_incidents=major,
        sla_compliance=compliance_of(week, now=now, today=midnight),
        mtta_seconds_7d=_mean(
            (s.acknowledged_at - s.created_at).total_seconds()
            for s in week
            if s.acknowledged_at is not None and s.acknowledged_at >= now - WINDOW
        ),
        mttr_seconds_7d=_mean(
            (s.resolved_at - s.created_at).total_seconds()
            for s in week
            if s.resolved_at is not None and s.resolved_at >= now - WINDOW
        ),
    )


async def _recent_clocks(scope: Q, since: datetime) -> list[IncidentSnapshot]:
    """Incidents with a clock that stopped or fell due since `since`: one query."""
    touched = (
        Q(acknowledged_at__gte=since)
        | Q(resolved_at__gte=since)
        | Q(cancelled_at__gte=since)
        | Q(sla_response_due__gte=since)
        | Q(sla_resolve_due__gte=since)
    )
    rows = await Incident.filter(scope).filter(touched)
    return [IncidentSnapshot.from_model(r) for r in rows]


def _outcomes(s: IncidentSnapshot, now: datetime) -> Iterable[tuple[datetime, bool]]:
    """(when, met) for each clock of the incident that stopped or breached by now."""
    clocks = (
        (s.acknowledged_at or s.cancelled_at, s.response_due(now), s.response_breached(now)),
        (s.resolved_at or s.cancelled_at, s.resolve_due(now), s.resolve_breached(now)),
    )
    for stopped, due, breached in clocks:
        if stopped is not None:
            yield stopped, not breached
        elif breached and due is not None:
            yield due, False


def compliance_of(
    incidents: Sequence[IncidentSnapshot], *, now: datetime, today: datetime
) -> SlaCompliance:
    """The share of SLA clocks met, today and over the last 7 days, by when each clock
    stopped (acknowledged, resolved or cancelled) or, running, fell due unmet."""
    week = [o for s in incidents for o in _outcomes(s, now) if o[0] >= now - WINDOW]
    day = [o for o in week if o[0] >= today]
    return SlaCompliance(
        today=_fraction(day),
        seven_days=_fraction(week),
        measured_today=len(day),
        measured_seven_days=len(week),
    )


def _fraction(outcomes: Sequence[tuple[datetime, bool]]) -> float | None:
    return sum(met for _, met in outcomes) / len(outcomes) if outcomes else None


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


# --- responder ------------------------------------------------------------------------------


async def _recent_events(
    tenant_id: str, active: Sequence[IncidentSnapshot]
) -> dict[str, list[EventRecord]]:
    """Each incident's last few timeline events, newest first: one query for all."""
    ranges = {s.id: SeqRange(s.id, max(s.last_seq - RECENT_EVENTS, 0), s.last_seq) for s in active}
    found = await load_ranges(tenant_id=tenant_id, ranges=ranges.values())
    return {k: list(reversed(found[r])) for k, r in ranges.items()}


# --- communications -------------------------------------------------------------------------


def _update_due(s: IncidentSnapshot, policy: TenantPolicy) -> datetime | None:
    cadence = policy.cadence(s.priority)
    if cadence is None:
        return None
    return (s.last_public_update_at or s.created_at) + cadence


def _communications(
    active: Sequence[IncidentSnapshot], policy: TenantPolicy, now: datetime
) -> CommunicationsBoard:
    overdue: list[CommunicationsItem] = []
    for s in active:
        due = _update_due(s, policy)
        minutes = policy.update_cadence.get(s.priority)
        if due is None or minutes is None or due > now:
            continue
        overdue.append(
            CommunicationsItem(
                incident=BoardIncident(s),
                cadence_minutes=math.ceil(minutes),
                last_public_update_at=s.last_public_update_at,
                public_summary=s.public_summary,
                overdue_seconds=int((now - due).total_seconds()),
            )
        )
    overdue.sort(key=lambda item: (-item.overdue_seconds, item.incident.incident.number))
    return CommunicationsBoard(overdue=overdue)


def _next_overdue(
    active: Sequence[IncidentSnapshot], policy: TenantPolicy, now: datetime
) -> datetime | None:
    return _earliest(*(d for d in (_update_due(s, policy) for s in active) if d and d > now))


# --- customer -------------------------------------------------------------------------------


# Each incident's newest public notes, numbered per incident in SQL: however many notes an
# incident has, at most PUBLIC_UPDATES_PER_SERVICE of each are read.
_PUBLIC_NOTES_SQL = (
    "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY incident_id "
    "ORDER BY time DESC, seq DESC) AS rn FROM timeline_event WHERE tenant_id = {p1} "
    "AND incident_id IN {incidents} AND type = {p3} AND classification = {p4}) ranked "
    "WHERE rn <= {p5}"
)


async def _public_updates(
    tenant_id: str, active: Sequence[IncidentSnapshot]
) -> dict[str, list[PublicUpdate]]:
    """The newest public updates of each incident that may show them, newest first.

    Only a PUBLIC note of a PUBLIC incident is public: a note is never less classified than
    its incident, whatever its own label says.
    """
    incidents = sorted(
        {
            s.id
            for s in active
            if s.service
            and effective(Classification.PUBLIC, s.classification) is Classification.PUBLIC
        }
    )
    if not incidents:
        return {}
    conn = TimelineEvent._meta.db
    args: list[Any] = [
        tenant_id,
        None,
        EventType.NOTE_ADDED,
        Classification.PUBLIC.value,
        PUBLIC_UPDATES_PER_SERVICE,
    ]
    if conn.capabilities.dialect == "sqlite":
        marks = {f"p{n}": f"?{n}" for n in range(1, 6)}
        args[1] = json.dumps(incidents)
        in_list = "(SELECT value FROM json_each(?2))"
    else:
        marks = {f"p{n}": f"${n}" for n in range(1, 6)}
        args[1] = [uuid.UUID(i) for i in incidents]
        in_list = "(SELECT unnest($2::uuid[]))"
    sql = _PUBLIC_NOTES_SQL.format(incidents=in_list, **marks)
    ids = [row["id"] for row in await conn.execute_query_dict(sql, args)]
    if not ids:
        return {}
    rows = (
        await TimelineEvent.filter(tenant_id=tenant_id, id__in=ids)
        .order_by("-time", "-seq")
        .values("incident_id", "time", "data")
    )
    updates: dict[str, list[PublicUpdate]] = defaultdict(list)
    for row in rows:
        body = row["data"].get("body") if isinstance(row["data"], dict) else None
        if isinstance(body, str):
            updates[str(row["incident_id"])].append(PublicUpdate(time=row["time"], body=body))
    return updates


def _customer(
    active: Sequence[IncidentSnapshot],
    updates: Mapping[str, Sequence[PublicUpdate]],
    affected: Mapping[str, Sequence[str]],
) -> CustomerBoard:
    """Each service an active incident affects (from the catalog), with its health."""
    by_service: dict[str, list[IncidentSnapshot]] = defaultdict(list)
    for s in active:
        for name in affected.get(s.id) or ([s.service] if s.service else []):
            by_service[name].append(s)
    services = [
        ServiceStatus(
            service=name,
            status=health_of(s.priority for s in incidents),
            updates=sorted(
                (u for s in incidents for u in updates.get(s.id, ())),
                key=lambda u: u.time,
                reverse=True,
            )[:PUBLIC_UPDATES_PER_SERVICE],
        )
        for name, incidents in by_service.items()
    ]
    services.sort(key=lambda st: (-HEALTH_RANK[st.status], st.service))
    return CustomerBoard(services=services)


# --- time -----------------------------------------------------------------------------------


def _next_breach(active: Sequence[IncidentSnapshot], now: datetime) -> datetime | None:
    """The next instant a running SLA clock of an active incident falls due."""
    instants: list[datetime] = []
    for s in active:
        if s.sla_paused_since is not None:
            continue  # a paused clock cannot breach
        if s.acknowledged_at is None and s.sla_response_due and s.sla_response_due > now:
            instants.append(s.sla_response_due)
        if s.sla_resolve_due and s.sla_resolve_due > now:
            instants.append(s.sla_resolve_due)
    return _earliest(*instants)


def _earliest(*instants: datetime | None) -> datetime | None:
    present = [i for i in instants if i is not None]
    return min(present) if present else None

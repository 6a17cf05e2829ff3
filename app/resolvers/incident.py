"""Incident queries, commands and live feeds."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import strawberry
from strawberry import UNSET
from strawberry.types import Info

from app.core import metrics
from app.errors import DomainError, ErrorCode, NotFound
from app.resolvers.live import guarded
from app.resolvers.people import team_key, user_key
from app.schema.authorization import audit_reads, authorize
from app.schema.common import INCIDENT_PREFIX, UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.incident import Incident, IncidentConnection, incident_connection
from app.schema.incident_commands import (
    AssignIncidentInput,
    DeclareIncidentInput,
    IncidentPayload,
    MergeIncidentsInput,
    MergeIncidentsPayload,
    OverridePriorityInput,
    TransitionIncidentInput,
    UpdateIncidentInput,
)
from app.schema.incident_filter import IncidentFilter, IncidentOrder
from app.schema.loaders import Loaders
from app.schema.push import Follower
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.access.tokens import Principal
from app.services.incidents import commands as service
from app.services.incidents import live, merge
from app.services.incidents import search as incident_search
from app.services.incidents.commands import CommandResult
from app.services.incidents.snapshot import IncidentSnapshot, parse_incident_id

_UPDATABLE = (
    "title",
    "description",
    "service",
    "severity",
    "impact",
    "urgency",
    "is_major",
    "commander",
    "classification",
    "category",
    "subcategory",
    "detection_source",
)
# The fields updateIncident clears when given null.
_CLEARABLE = ("description", "service", "commander", "category", "subcategory", "detection_source")


def incident_key(value: str, *, field: str = "id") -> str:
    """The incident UUID inside a global id (a bare UUID is accepted too)."""
    key = from_global_id(INCIDENT_PREFIX, value)
    if key is None:
        try:
            return str(parse_incident_id(value))
        except NotFound:
            raise NotFound(f"no incident with id {value!r}", field=field) from None
    return key


async def run_command(
    principal: Principal, command: Callable[[], Awaitable[CommandResult]]
) -> IncidentPayload:
    try:
        result = await command()
    except DomainError as error:
        return IncidentPayload(incident=None, errors=[UserError.of(error)])
    return IncidentPayload(
        incident=Incident.of(result.incident, clearance=principal.clearance), errors=[]
    )


async def visible_incident(
    info: Info[Context, Any], key: str, *, via: str
) -> IncidentSnapshot | None:
    """The incident, when it exists for the caller; its read audited when restricted."""
    snapshot = await info.context.loaders.incident.load(key)
    if snapshot is not None:
        await audit_reads(info, [snapshot], via=via)
    return snapshot


# --- queries --------------------------------------------------------------------------------


async def incident(info: Info[Context, Any], id: strawberry.ID) -> Incident | None:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        key = incident_key(id)
    except NotFound:
        return None
    snapshot = await visible_incident(info, key, via="incident")
    return Incident.of(snapshot, clearance=principal.clearance) if snapshot else None


async def incidents(
    info: Info[Context, Any],
    filter: IncidentFilter | None = None,
    order_by: IncidentOrder | None = None,
    first: int | None = None,
    after: str | None = None,
) -> IncidentConnection:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        domain_filter = filter.to_domain() if filter else None
        order = (
            incident_search.IncidentOrder(field=order_by.field, direction=order_by.direction)
            if order_by
            else None
        )
    except DomainError as error:
        raise graphql_error(error) from None
    return await incident_connection(
        info, Caller.of(principal), filter=domain_filter, order=order, first=first, after=after
    )


async def declare_incident(
    info: Info[Context, Any], input: DeclareIncidentInput
) -> IncidentPayload:
    principal = authorize(info, Action.RUN_DRILLS if input.is_drill else Action.DECLARE)
    return await run_command(
        principal,
        lambda: service.declare_incident(
            caller=Caller.of(principal),
            title=input.title,
            severity=input.severity,
            impact=input.impact,
            urgency=input.urgency,
            description=input.description,
            service=input.service,
            assignee=input.assignee,
            event_id=input.event_id,
            classification=input.classification,
            category=input.category,
            subcategory=input.subcategory,
            detection_source=input.detection_source,
            drill=(input.drill_scenario or "", input.drill_scope) if input.is_drill else None,
        ),
    )


async def update_incident(info: Info[Context, Any], input: UpdateIncidentInput) -> IncidentPayload:
    principal = authorize(info, Action.UPDATE)
    changes: dict[str, Any] = {}
    for name in _UPDATABLE:
        value = getattr(input, name)
        if value is strawberry.UNSET:
            continue
        if value is None and name not in _CLEARABLE:
            return IncidentPayload(
                incident=None,
                errors=[
                    UserError(
                        field=name, code=ErrorCode.VALIDATION, message=f"{name} cannot be null"
                    )
                ],
            )
        changes[name] = value

    async def command() -> CommandResult:
        return await service.update_incident(
            caller=Caller.of(principal),
            incident_id=incident_key(input.id),
            version=input.version,
            changes=changes,
        )

    return await run_command(principal, command)


async def override_priority(
    info: Info[Context, Any], input: OverridePriorityInput
) -> IncidentPayload:
    principal = authorize(info, Action.OVERRIDE_PRIORITY)
    return await run_command(
        principal,
        lambda: service.override_priority(
            caller=Caller.of(principal),
            incident_id=incident_key(input.id),
            priority=input.priority,
            justification=input.justification,
            version=input.version,
        ),
    )


async def transition_incident(
    info: Info[Context, Any], input: TransitionIncidentInput
) -> IncidentPayload:
    principal = authorize(info, Action.TRANSITION)

    async def command() -> CommandResult:
        return await service.transition_incident(
            caller=Caller.of(principal),
            incident_id=incident_key(input.id),
            to=input.to,
            version=input.version,
            reason=input.reason,
            resolution_summary=input.resolution_summary,
            root_cause=input.root_cause,
        )

    return await run_command(principal, command)


async def assign_incident(info: Info[Context, Any], input: AssignIncidentInput) -> IncidentPayload:
    principal = authorize(info, Action.ASSIGN)

    async def command() -> CommandResult:
        return await service.assign_incident(
            caller=Caller.of(principal),
            incident_id=incident_key(input.id),
            assignee=service.KEEP if input.assignee is UNSET else input.assignee,
            user_id=_assigned(input.user_id, user_key, field="userId"),
            team_id=_assigned(input.team_id, team_key, field="teamId"),
            version=input.version,
        )

    return await run_command(principal, command)


def _assigned(
    value: str | None, key_of: Callable[..., str], *, field: str
) -> str | None | service.Keep:
    if value is UNSET:
        return service.KEEP
    return None if value is None else key_of(value, field=field)


async def merge_incidents(
    info: Info[Context, Any], input: MergeIncidentsInput
) -> MergeIncidentsPayload:
    principal = authorize(info, Action.MERGE_INCIDENTS)
    try:
        result = await merge.merge_incidents(
            caller=Caller.of(principal),
            source_id=_incident_key(input.source_id, field="sourceId"),
            target_id=_incident_key(input.target_id, field="targetId"),
            reason=input.reason,
        )
    except DomainError as error:
        return MergeIncidentsPayload(source=None, target=None, errors=[UserError.of(error)])
    return MergeIncidentsPayload(
        source=Incident.of(result.source, clearance=principal.clearance),
        target=Incident.of(result.target, clearance=principal.clearance),
        errors=[],
    )


def _incident_key(value: str, *, field: str) -> str:
    try:
        return incident_key(value)
    except NotFound:
        raise NotFound(f"no incident with id {value!r}", field=field) from None


# --- live -----------------------------------------------------------------------------------


async def follow(
    info: Info[Context, Any],
    stream: AsyncGenerator[live.Live[IncidentSnapshot], None],
    *,
    via: str,
) -> AsyncGenerator[Incident, None]:
    """Map a live snapshot stream to Incident objects, built once per event and clearance."""
    clearance = info.context.require_principal().clearance

    def build(snapshot: IncidentSnapshot, *, shared: dict[str, Any] | None) -> Incident:
        # Loaders of this event's own, shared by the subscribers of the event.
        loaders = Loaders(snapshot.tenant_id, clearance)
        return Incident.of(snapshot, clearance=clearance, loaders=loaders, shared=shared)

    follower = Follower.of(info)
    async with aclosing(guarded(stream)) as items:
        async for item in items:
            await audit_reads(info, [item.value], via=via)
            if item.shared is not None:
                metrics.delivered(via, item.value.updated_at)
            value = live.shared_object(item, f"incident:{clearance.value}", build)
            if follower is None or not follower.sent(value):
                yield value


async def incident_updated(
    info: Info[Context, Any], id: strawberry.ID
) -> AsyncGenerator[Incident, None]:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        key = incident_key(id)
    except DomainError as error:
        raise graphql_error(error) from None
    stream = live.incident_updates(
        broker=info.context.broker,
        caller=Caller.of(principal),
        incident_id=key,
    )
    async with aclosing(follow(info, stream, via="incidentUpdated")) as items:
        async for item in items:
            yield item


async def incidents_changed(
    info: Info[Context, Any], filter: IncidentFilter | None = None
) -> AsyncGenerator[Incident, None]:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        domain_filter = filter.to_domain() if filter else None
    except DomainError as error:
        raise graphql_error(error) from None
    stream = live.incidents_changed(
        broker=info.context.broker,
        caller=Caller.of(principal),
        filter=domain_filter,
    )
    async with aclosing(follow(info, stream, via="incidentsChanged")) as items:
        async for item in items:
            yield item

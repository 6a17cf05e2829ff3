"""Changes: read by every role that reads incidents; requested and moved by responders;
approved or rejected by incident managers, never by whoever requested them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.types import Info

from app.core.ids import uuid_key
from app.errors import DomainError
from app.resolvers.catalog import service_key
from app.resolvers.incident import incident_key
from app.resolvers.problem import problem_key
from app.schema.authorization import authorize
from app.schema.change import (
    CHANGE_PREFIX,
    ApproveChangeInput,
    Change,
    ChangeConnection,
    ChangeEdge,
    ChangeFilter,
    ChangePayload,
    LinkChangeInput,
    RejectChangeInput,
    RequestChangeInput,
    TransitionChangeInput,
)
from app.schema.common import PageInfo, UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.changes import commands, queries
from app.services.changes.commands import ChangeResult


def change_key(value: str, *, field: str = "id") -> str:
    key = from_global_id(CHANGE_PREFIX, value)
    return key if key is not None else str(uuid_key(value, noun="change", field=field))


async def changes(
    info: Info[Context, Any],
    filter: ChangeFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> ChangeConnection:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        domain = filter.to_domain() if filter is not None else None
        page = await queries.list_changes(
            caller=Caller.of(principal), filter=domain, first=first, after=after
        )
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [ChangeEdge(cursor=c, node=Change.of(v)) for c, v in page.items]
    return ChangeConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        total_count=page.total,
    )


async def _command(
    info: Info[Context, Any],
    action: Action,
    command: Callable[[Caller], Awaitable[ChangeResult]],
    *,
    report_conflicts: bool = False,
) -> ChangePayload:
    caller = Caller.of(authorize(info, action))
    try:
        result = await command(caller)
    except DomainError as error:
        return ChangePayload(change=None, conflicts=[], errors=[UserError.of(error)])
    conflicts = (
        await commands.conflicts_of(caller=caller, change=result.change) if report_conflicts else []
    )
    return ChangePayload(
        change=Change.of(result.change), conflicts=[Change.of(c) for c in conflicts], errors=[]
    )


async def request_change(info: Info[Context, Any], input: RequestChangeInput) -> ChangePayload:
    return await _command(
        info,
        Action.MANAGE_CHANGES,
        lambda caller: commands.request_change(
            caller=caller,
            title=input.title,
            type=input.type,
            risk=input.risk,
            description=input.description,
            planned_start=input.planned_start,
            planned_end=input.planned_end,
            service_ids=[service_key(s, field="serviceIds") for s in input.service_ids],
            classification=input.classification,
        ),
        report_conflicts=True,
    )


async def approve_change(info: Info[Context, Any], input: ApproveChangeInput) -> ChangePayload:
    return await _command(
        info,
        Action.APPROVE_CHANGES,
        lambda caller: commands.approve_change(
            caller=caller,
            change_id=change_key(input.id),
            comment=input.comment,
            version=input.version,
        ),
    )


async def reject_change(info: Info[Context, Any], input: RejectChangeInput) -> ChangePayload:
    return await _command(
        info,
        Action.APPROVE_CHANGES,
        lambda caller: commands.reject_change(
            caller=caller,
            change_id=change_key(input.id),
            reason=input.reason,
            version=input.version,
        ),
    )


async def transition_change(
    info: Info[Context, Any], input: TransitionChangeInput
) -> ChangePayload:
    return await _command(
        info,
        Action.MANAGE_CHANGES,
        lambda caller: commands.transition_change(
            caller=caller, change_id=change_key(input.id), to=input.to, version=input.version
        ),
    )


async def link_change(info: Info[Context, Any], input: LinkChangeInput) -> ChangePayload:
    return await _command(
        info,
        Action.MANAGE_CHANGES,
        lambda caller: commands.link_change(
            caller=caller,
            change_id=change_key(input.change_id, field="changeId"),
            relation=input.relation,
            incident_id=(
                incident_key(input.incident_id, field="incidentId") if input.incident_id else None
            ),
            problem_id=(
                problem_key(input.problem_id, field="problemId") if input.problem_id else None
            ),
        ),
    )

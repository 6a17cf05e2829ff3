"""Problems: read by every role that reads incidents, managed by responders and up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from strawberry.types import Info

from app.core.ids import uuid_key
from app.errors import DomainError, Duplicate
from app.resolvers.catalog import service_key
from app.resolvers.incident import incident_key
from app.schema.authorization import authorize
from app.schema.common import PageInfo, UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.problem import (
    PROBLEM_PREFIX,
    CreateProblemInput,
    CreateProblemPayload,
    Problem,
    ProblemConnection,
    ProblemEdge,
    ProblemFilter,
    ProblemIncidentInput,
    ProblemPayload,
    RecordWorkaroundInput,
    TransitionProblemInput,
)
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.problems import commands, queries
from app.services.problems.commands import ProblemResult


def problem_key(value: str, *, field: str = "id") -> str:
    key = from_global_id(PROBLEM_PREFIX, value)
    return key if key is not None else str(uuid_key(value, noun="problem", field=field))


async def problems(
    info: Info[Context, Any],
    filter: ProblemFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> ProblemConnection:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        domain = filter.to_domain() if filter is not None else None
        page = await queries.list_problems(
            caller=Caller.of(principal), filter=domain, first=first, after=after
        )
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [ProblemEdge(cursor=c, node=Problem.of(v)) for c, v in page.items]
    return ProblemConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        total_count=page.total,
    )


async def _command(
    info: Info[Context, Any], command: Callable[[Caller], Awaitable[ProblemResult]]
) -> ProblemPayload:
    caller = Caller.of(authorize(info, Action.MANAGE_PROBLEMS))
    try:
        result = await command(caller)
    except DomainError as error:
        return ProblemPayload(problem=None, errors=[UserError.of(error)])
    return ProblemPayload(problem=Problem.of(result.problem), errors=[])


async def create_problem(
    info: Info[Context, Any], input: CreateProblemInput
) -> CreateProblemPayload:
    caller = Caller.of(authorize(info, Action.MANAGE_PROBLEMS))
    try:
        result = await commands.create_problem(
            caller=caller,
            title=input.title,
            description=input.description,
            service_ids=[service_key(s, field="serviceIds") for s in input.service_ids],
            incident_ids=[incident_key(i, field="incidentIds") for i in input.incident_ids],
            classification=input.classification,
            force=input.force,
        )
    except Duplicate as duplicate:
        found = await queries.get_problems(
            tenant_id=caller.tenant_id, problem_ids=duplicate.candidates, clearance=caller.clearance
        )
        alike = [Problem.of(found[c]) for c in duplicate.candidates if c in found]
        return CreateProblemPayload(
            problem=None, duplicates=alike, errors=[UserError.of(duplicate)]
        )
    except DomainError as error:
        return CreateProblemPayload(problem=None, duplicates=[], errors=[UserError.of(error)])
    return CreateProblemPayload(problem=Problem.of(result.problem), duplicates=[], errors=[])


async def transition_problem(
    info: Info[Context, Any], input: TransitionProblemInput
) -> ProblemPayload:
    window = timedelta(days=info.context.settings.problem_stability_days)
    return await _command(
        info,
        lambda caller: commands.transition_problem(
            caller=caller,
            problem_id=problem_key(input.id),
            to=input.to,
            stability_window=window,
            root_cause=input.root_cause,
            evidence=input.evidence,
            version=input.version,
        ),
    )


async def record_workaround(
    info: Info[Context, Any], input: RecordWorkaroundInput
) -> ProblemPayload:
    return await _command(
        info,
        lambda caller: commands.record_workaround(
            caller=caller,
            problem_id=problem_key(input.id),
            workaround=input.workaround,
            article_title=input.article_title,
            version=input.version,
        ),
    )


async def link_problem(info: Info[Context, Any], input: ProblemIncidentInput) -> ProblemPayload:
    return await _command(
        info,
        lambda caller: commands.link_incident(
            caller=caller,
            problem_id=problem_key(input.problem_id, field="problemId"),
            incident_id=incident_key(input.incident_id, field="incidentId"),
        ),
    )


async def unlink_problem(info: Info[Context, Any], input: ProblemIncidentInput) -> ProblemPayload:
    return await _command(
        info,
        lambda caller: commands.unlink_incident(
            caller=caller,
            problem_id=problem_key(input.problem_id, field="problemId"),
            incident_id=incident_key(input.incident_id, field="incidentId"),
        ),
    )

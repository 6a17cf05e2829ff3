"""The service catalog: read by every role that reads incidents, managed by ADMIN."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.core.ids import uuid_key
from app.errors import DomainError
from app.resolvers.incident import incident_key, run_command
from app.resolvers.people import team_key
from app.schema.authorization import authorize
from app.schema.catalog import (
    SERVICE_PREFIX,
    CreateServiceInput,
    Service,
    ServiceConnection,
    ServiceEdge,
    ServiceFilter,
    ServicePayload,
    SetAffectedServicesInput,
    UpdateServiceInput,
)
from app.schema.common import PageInfo, UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.incident_commands import IncidentPayload
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.catalog import links as catalog_links
from app.services.catalog import queries as catalog_queries
from app.services.catalog import services as catalog
from app.services.catalog.queries import ServiceView
from app.services.incidents.commands import CommandResult
from app.services.incidents.snapshot import get_incident


def service_key(value: str, *, field: str = "id") -> str:
    key = from_global_id(SERVICE_PREFIX, value)
    return key if key is not None else str(uuid_key(value, noun="service", field=field))


async def services(
    info: Info[Context, Any],
    filter: ServiceFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> ServiceConnection:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        domain = None
        if filter is not None:
            owner = (
                team_key(filter.owner_team_id, field="filter.ownerTeamId")
                if filter.owner_team_id
                else None
            )
            domain = catalog_queries.ServiceFilter(
                text=filter.text, tier=filter.tier, owner_id=owner
            )
        page = await catalog_queries.list_services(
            tenant_id=principal.tenant_id, filter=domain, first=first, after=after
        )
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [ServiceEdge(cursor=c, node=Service.of(v)) for c, v in page.items]
    return ServiceConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        total_count=page.total,
    )


async def _command(
    info: Info[Context, Any], command: Callable[[Caller], Awaitable[ServiceView]]
) -> ServicePayload:
    principal = authorize(info, Action.MANAGE_SERVICES)
    try:
        view = await command(Caller.of(principal))
    except DomainError as error:
        return ServicePayload(service=None, errors=[UserError.of(error)])
    return ServicePayload(service=Service.of(view), errors=[])


def _dependencies(ids: list[strawberry.ID]) -> list[str]:
    return [service_key(i, field="dependsOnIds") for i in ids]


async def create_service(info: Info[Context, Any], input: CreateServiceInput) -> ServicePayload:
    return await _command(
        info,
        lambda caller: catalog.create_service(
            tenant_id=caller.tenant_id,
            actor=caller.actor,
            name=input.name,
            description=input.description,
            tier=input.tier,
            owner_team_id=(
                team_key(input.owner_team_id, field="ownerTeamId") if input.owner_team_id else None
            ),
            depends_on=_dependencies(input.depends_on_ids),
        ),
    )


async def update_service(info: Info[Context, Any], input: UpdateServiceInput) -> ServicePayload:
    def changes() -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in ("name", "description", "tier"):
            if getattr(input, name) is not strawberry.UNSET:
                found[name] = getattr(input, name)
        if input.owner_team_id is not strawberry.UNSET:
            found["owner_team_id"] = (
                team_key(input.owner_team_id, field="ownerTeamId") if input.owner_team_id else None
            )
        if input.depends_on_ids is not strawberry.UNSET:
            found["depends_on"] = _dependencies(input.depends_on_ids or [])
        return found

    return await _command(
        info,
        lambda caller: catalog.update_service(
            tenant_id=caller.tenant_id,
            service_id=service_key(input.id),
            changes=changes(),
            actor=caller.actor,
        ),
    )


async def set_affected_services(
    info: Info[Context, Any], input: SetAffectedServicesInput
) -> IncidentPayload:
    principal = authorize(info, Action.UPDATE)

    async def command() -> CommandResult:
        caller = Caller.of(principal)
        incident_id = incident_key(input.incident_id, field="incidentId")
        await catalog_links.set_affected_services(
            caller=caller,
            incident_id=incident_id,
            service_ids=[service_key(s, field="serviceIds") for s in input.service_ids],
        )
        incident = await get_incident(tenant_id=caller.tenant_id, incident_id=incident_id)
        return CommandResult(incident, [])

    return await run_command(principal, command)

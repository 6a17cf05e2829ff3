"""Linked tickets and ITSM connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.core.ids import parse_uuid
from app.errors import DomainError, NotFound
from app.models import ItsmProvider
from app.resolvers.incident import incident_key
from app.schema.authorization import authorize
from app.schema.common import UserError
from app.schema.context import Context
from app.schema.itsm import (
    TICKET_PREFIX,
    ConfigureItsmConnectionInput,
    CreateTicketInput,
    ExternalTicket,
    ExternalTicketPayload,
    ItsmConnection,
    ItsmConnectionPayload,
    LinkTicketInput,
    ResolveTicketConflictInput,
    TicketInput,
)
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.itsm import connection as connections
from app.services.itsm import tickets


def ticket_key(value: str) -> str:
    raw = value[len(TICKET_PREFIX) :] if value.startswith(TICKET_PREFIX) else value
    key = parse_uuid(raw)
    if key is None:
        raise NotFound(f"no linked ticket with id {value!r}", field="id")
    return str(key)


async def _ticket_command(
    info: Info[Context, Any],
    command: Callable[[Caller], Awaitable[tickets.TicketView]],
    *,
    takes_incident: bool = False,
) -> ExternalTicketPayload:
    """Run a ticket command as the caller (MANAGE_TICKETS); its domain errors in the payload."""
    caller = Caller.of(authorize(info, Action.MANAGE_TICKETS))
    try:
        view = await command(caller)
    except DomainError as error:
        return ExternalTicketPayload(ticket=None, errors=[_error(error, takes_incident)])
    return ExternalTicketPayload(ticket=ExternalTicket.of(view), errors=[])


def _error(error: DomainError, takes_incident: bool) -> UserError:
    # The services call the incident's id "id"; inputs naming an incident call it incidentId.
    if takes_incident and isinstance(error, NotFound) and error.field == "id":
        return UserError(field="incidentId", code=error.code, message=error.message)
    return UserError.of(error)


async def itsm_connections(info: Info[Context, Any]) -> list[ItsmConnection]:
    principal = authorize(info, Action.MANAGE_ITSM)
    views = await connections.list_connections(tenant_id=principal.tenant_id)
    return [ItsmConnection.of(v) for v in views]


async def configure_itsm_connection(
    info: Info[Context, Any], input: ConfigureItsmConnectionInput
) -> ItsmConnectionPayload:
    principal = authorize(info, Action.MANAGE_ITSM)
    optional: dict[str, Any] = {
        name: getattr(input, name)
        for name in ("username", "secret", "webhook_secret", "project_key", "export_notes_up_to")
        if getattr(input, name) is not strawberry.UNSET
    }
    fields = None
    if input.fields is not None:
        fields = {
            rule.field.value: {
                "external": rule.external_field,
                "source": rule.source_of_truth.value if rule.source_of_truth else None,
                "policy": rule.conflict_policy.value if rule.conflict_policy else None,
                "values": {v.internal: v.external for v in rule.values}
                if rule.values is not None
                else None,
                "disabled": rule.disabled,
            }
            for rule in input.fields
        }
    try:
        view = await connections.configure_connection(
            tenant_id=principal.tenant_id,
            provider=input.provider,
            base_url=input.base_url,
            settings=info.context.settings,
            enabled=input.enabled,
            fields=fields,
            **optional,
        )
    except DomainError as error:
        return ItsmConnectionPayload(connection=None, errors=[UserError.of(error)])
    return ItsmConnectionPayload(connection=ItsmConnection.of(view), errors=[])


async def link_ticket(info: Info[Context, Any], input: LinkTicketInput) -> ExternalTicketPayload:
    return await _ticket_command(
        info,
        lambda caller: _link(caller, input.incident_id, input.provider, input.external_key),
        takes_incident=True,
    )


async def create_ticket(
    info: Info[Context, Any], input: CreateTicketInput
) -> ExternalTicketPayload:
    return await _ticket_command(
        info,
        lambda caller: _link(caller, input.incident_id, input.provider, None),
        takes_incident=True,
    )


async def _link(
    caller: Caller, incident_id: strawberry.ID, provider: ItsmProvider, key: str | None
) -> tickets.TicketView:
    return await tickets.link_ticket(
        caller=caller, incident_id=incident_key(incident_id), provider=provider, external_key=key
    )


async def unlink_ticket(info: Info[Context, Any], input: TicketInput) -> ExternalTicketPayload:
    return await _ticket_command(
        info, lambda caller: tickets.unlink_ticket(caller=caller, ticket_id=ticket_key(input.id))
    )


async def sync_ticket(info: Info[Context, Any], input: TicketInput) -> ExternalTicketPayload:
    return await _ticket_command(
        info, lambda caller: tickets.request_sync(caller=caller, ticket_id=ticket_key(input.id))
    )


async def resolve_ticket_conflict(
    info: Info[Context, Any], input: ResolveTicketConflictInput
) -> ExternalTicketPayload:
    return await _ticket_command(
        info,
        lambda caller: tickets.resolve_conflict(
            caller=caller,
            ticket_id=ticket_key(input.id),
            field_name=input.field.value,
            choose=input.choose,
        ),
    )

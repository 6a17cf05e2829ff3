"""Communications: logged by whoever adds notes, read by whoever reads incidents."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from app.errors import DomainError
from app.resolvers.incident import incident_key
from app.schema.authorization import authorize
from app.schema.common import UserError
from app.schema.comms import (
    Communication,
    CommunicationPayload,
    LogCommunicationInput,
)
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.comms import communications as service


async def log_communication(
    info: Info[Context, Any], input: LogCommunicationInput
) -> CommunicationPayload:
    principal = authorize(info, Action.ADD_NOTE)
    try:
        view, result = await service.log_communication(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            channel=input.channel,
            direction=input.direction,
            message=input.message,
            audience=input.audience,
            recipient=input.recipient,
            occurred_at=input.occurred_at,
            classification=input.classification,
        )
    except DomainError as error:
        return CommunicationPayload(communication=None, errors=[UserError.of(error)])
    node = Communication.of(
        view, clearance=principal.clearance, incident=result.incident.classification
    )
    return CommunicationPayload(communication=node, errors=[])


async def communication_by_ref(info: Info[Context, Any], short_ref: str) -> Communication | None:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        view = await service.communication_by_ref(caller=Caller.of(principal), short_ref=short_ref)
    except DomainError as error:
        raise graphql_error(error) from None
    if view is None:
        return None
    snapshot = await info.context.loaders.incident.load(view.incident_id)
    if snapshot is None:
        return None
    return Communication.of(view, clearance=principal.clearance, incident=snapshot.classification)

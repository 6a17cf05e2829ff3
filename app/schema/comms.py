"""GraphQL types of the communications around an incident."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.types import Info

from app import models
from app.errors import DomainError
from app.schema.common import Classification, Node, PageInfo, UserError, to_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.services.access.caller import Caller
from app.services.access.classification import REDACTED, redact_text
from app.services.comms import communications as service
from app.services.comms.communications import GLOBAL_PREFIX, CommunicationView, readable
from app.services.incidents.snapshot import IncidentSnapshot

if TYPE_CHECKING:
    from app.schema.incident import Incident

COMMUNICATION_PREFIX = GLOBAL_PREFIX

CommunicationChannel: TypeAlias = Annotated[models.CommunicationChannel, strawberry.enum()]
CommunicationDirection: TypeAlias = Annotated[models.CommunicationDirection, strawberry.enum()]
Audience: TypeAlias = Annotated[models.Audience, strawberry.enum()]
DeliveryStatus: TypeAlias = Annotated[models.DeliveryStatus, strawberry.enum()]


@strawberry.type(description="A message about an incident, sent or received.")
class Communication(Node):
    id: strawberry.ID
    short_ref: str = strawberry.field(
        description="REF-YYYYMMDD-XXXX, unique in the tenant: what recipients quote back."
    )
    channel: CommunicationChannel
    direction: CommunicationDirection
    audience: Audience | None
    recipient: str | None
    message: str = strawberry.field(description="[REDACTED] above your clearance.")
    status: DeliveryStatus
    classification: Classification
    external_id: str | None
    error: str | None
    sent_at: datetime | None
    created_by: str | None
    created_at: datetime
    redacted: bool = strawberry.field(description="True when the text was redacted for you.")
    view: strawberry.Private[CommunicationView]

    @strawberry.field(description="The incident it is about.")  # type: ignore[untyped-decorator]
    async def incident(
        self, info: Info[Context, Any]
    ) -> Annotated[Incident, strawberry.lazy("app.schema.incident")] | None:
        from app.schema.incident import Incident

        loaders = info.context.loaders
        snapshot = await loaders.incident.load(self.view.incident_id)
        return Incident.of(snapshot, clearance=loaders.clearance) if snapshot else None

    @classmethod
    def of(
        cls,
        view: CommunicationView,
        *,
        clearance: models.Classification,
        incident: models.Classification,
    ) -> Communication:
        shown = readable(clearance, view, incident)
        return cls(
            id=strawberry.ID(to_global_id(COMMUNICATION_PREFIX, view.id)),
            short_ref=view.short_ref,
            channel=view.channel,
            direction=view.direction,
            audience=view.audience,
            recipient=view.recipient if shown else redact_text(view.recipient),
            message=view.message if shown else REDACTED,
            status=view.status,
            classification=view.classification,
            external_id=view.external_id,
            error=view.error if shown else redact_text(view.error),
            sent_at=view.sent_at,
            created_by=view.created_by if shown else redact_text(view.created_by),
            created_at=view.created_at,
            redacted=not shown,
            view=view,
        )


@strawberry.type
class CommunicationEdge:
    cursor: str
    node: Communication


@strawberry.type
class CommunicationConnection:
    edges: list[CommunicationEdge]
    page_info: PageInfo
    total_count: int


async def connection_of(
    info: Info[Context, Any],
    incident: IncidentSnapshot,
    *,
    channel: models.CommunicationChannel | None,
    first: int | None,
    after: str | None,
) -> CommunicationConnection:
    """An incident's communications as the reader may see them."""
    loaders = info.context.loaders
    try:
        page = await service.communications_of(
            caller=Caller.shared(loaders.tenant_id, clearance=loaders.clearance),
            incident_id=incident.id,
            channel=channel,
            first=first,
            after=after,
        )
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [
        CommunicationEdge(
            cursor=c,
            node=Communication.of(v, clearance=loaders.clearance, incident=incident.classification),
        )
        for c, v in page.items
    ]
    return CommunicationConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        total_count=page.total,
    )


@strawberry.input
class LogCommunicationInput:
    incident_id: strawberry.ID
    channel: CommunicationChannel
    direction: CommunicationDirection
    message: str
    audience: Audience | None = None
    recipient: str | None = strawberry.field(
        default=None, description="Who it went to or came from (a name, an address, a number)."
    )
    occurred_at: datetime | None = strawberry.field(
        default=None, description="When it happened (default: now)."
    )
    classification: Classification = strawberry.field(
        default=models.Classification.INTERNAL,
        description="Only PUBLIC content may go to END_USERS; never above your clearance.",
    )


@strawberry.type
class CommunicationPayload:
    communication: Communication | None
    errors: list[UserError]

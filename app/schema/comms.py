"""GraphQL types of the communications around an incident."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.types import Info

from app import models
from app.core.clock import utcnow
from app.errors import DomainError
from app.schema.common import Classification, Node, PageInfo, UserError, to_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.services.access.caller import Caller
from app.services.access.classification import REDACTED, redact_text
from app.services.comms import communications as service
from app.services.comms.communications import GLOBAL_PREFIX, CommunicationView, readable
from app.services.comms.reviews import (
    ACTION_ITEM_PREFIX,
    REVIEW_PREFIX,
    ActionItemView,
    ReviewView,
)
from app.services.incidents.snapshot import IncidentSnapshot

if TYPE_CHECKING:
    from app.schema.incident import Incident
    from app.schema.people import User

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
    subject: str | None = strawberry.field(
        description="The subject it was sent with (e-mail, Slack heading), before its ref."
    )
    attempts: int = strawberry.field(description="Delivery attempts made (outbound only).")
    next_attempt_at: datetime | None = strawberry.field(
        description="When delivery is tried again; null once SENT or FAILED."
    )
    redacted: bool = strawberry.field(description="True when the text was redacted for you.")
    view: strawberry.Private[CommunicationView]

    @strawberry.field(description="The incident it is about.")  # type: ignore[untyped-decorator]
    async def incident(
        self, info: Info[Context, Any]
    ) -> Annotated[Incident, strawberry.lazy("app.schema.incident")] | None:
        from app.schema.incident import Incident

        return await Incident.named(info, self.view.incident_id)

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
            subject=view.subject if shown else redact_text(view.subject),
            attempts=view.attempts,
            next_attempt_at=view.next_attempt_at,
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


ReviewStatus: TypeAlias = Annotated[models.ReviewStatus, strawberry.enum()]
ActionItemStatus: TypeAlias = Annotated[models.ActionItemStatus, strawberry.enum()]


@strawberry.type(description="Something a review says must be done.")
class ActionItem(Node):
    id: strawberry.ID
    title: str
    due_at: datetime | None
    status: ActionItemStatus
    link: str | None = strawberry.field(
        description="The change, problem or article (its id) that carries the work."
    )
    overdue: bool = strawberry.field(description="Open or in progress past its due time.")
    view: strawberry.Private[ActionItemView]
    readable: strawberry.Private[bool]

    @strawberry.field(description="Who owns it (null when nobody, or redacted for you).")  # type: ignore[untyped-decorator]
    async def owner(
        self, info: Info[Context, Any]
    ) -> Annotated[User, strawberry.lazy("app.schema.people")] | None:
        from app.schema.people import User

        return await User.named(info, self.view.owner_id, readable=self.readable)

    @classmethod
    def of(cls, view: ActionItemView, *, readable: bool, now: datetime) -> ActionItem:
        return cls(
            id=strawberry.ID(to_global_id(ACTION_ITEM_PREFIX, view.id)),
            title=view.title if readable else REDACTED,
            due_at=view.due_at,
            status=view.status,
            link=view.link,
            overdue=view.overdue(now),
            view=view,
            readable=readable,
        )


@strawberry.type(description="What was learnt from an incident; published, it never changes.")
class PostIncidentReview(Node):
    id: strawberry.ID
    version: int = strawberry.field(description="Editing a published review makes the next.")
    status: ReviewStatus
    summary: str | None
    impact: str | None = strawberry.field(description="The impact on customers.")
    timeline_excerpt: list[str] = strawberry.field(
        description="The incident's story, generated from its timeline when the review "
        "started (editable)."
    )
    contributing_factors: list[str]
    went_well: list[str]
    went_badly: list[str]
    residual_risk: str | None
    training_needs: str | None
    published_at: datetime | None
    redacted: bool = strawberry.field(description="True when its text was redacted for you.")
    view: strawberry.Private[ReviewView]
    readable: strawberry.Private[bool]

    @strawberry.field(description="Its action items, oldest first.")  # type: ignore[untyped-decorator]
    async def action_items(self, info: Info[Context, Any]) -> list[ActionItem]:
        items = await info.context.loaders.incident_action_items.load(self.view.incident_id)
        now = utcnow()
        return [ActionItem.of(i, readable=self.readable, now=now) for i in items]

    @classmethod
    def of(cls, view: ReviewView, *, readable: bool) -> PostIncidentReview:
        def text(value: str | None) -> str | None:
            return value if readable else redact_text(value)

        def lines(values: tuple[str, ...]) -> list[str]:
            return list(values) if readable else [REDACTED for _ in values]

        return cls(
            id=strawberry.ID(to_global_id(REVIEW_PREFIX, view.id)),
            version=view.version,
            status=view.status,
            summary=text(view.summary),
            impact=text(view.customer_impact),
            timeline_excerpt=lines(view.timeline_excerpt),
            contributing_factors=lines(view.contributing_factors),
            went_well=lines(view.went_well),
            went_badly=lines(view.went_badly),
            residual_risk=text(view.residual_risk),
            training_needs=text(view.training_needs),
            published_at=view.published_at,
            redacted=not readable,
            view=view,
            readable=readable,
        )


@strawberry.input
class ReviewIncidentInput:
    incident_id: strawberry.ID


@strawberry.input(description="Fields left out stay as they are.")
class UpdateReviewInput:
    incident_id: strawberry.ID
    status: ReviewStatus | None = strawberry.field(
        default=None, description="DRAFT or IN_REVIEW; publish with publishReview."
    )
    summary: str | None = strawberry.UNSET
    impact: str | None = strawberry.UNSET
    timeline_excerpt: list[str] | None = strawberry.UNSET
    contributing_factors: list[str] | None = strawberry.UNSET
    went_well: list[str] | None = strawberry.UNSET
    went_badly: list[str] | None = strawberry.UNSET
    residual_risk: str | None = strawberry.UNSET
    training_needs: str | None = strawberry.UNSET


@strawberry.input
class AddActionItemInput:
    incident_id: strawberry.ID
    title: str
    owner_id: strawberry.ID | None = None
    due_at: datetime | None = None
    link: str | None = None


@strawberry.input(description="Fields left out stay as they are.")
class UpdateActionItemInput:
    id: strawberry.ID
    title: str | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    due_at: datetime | None = strawberry.UNSET
    status: ActionItemStatus | None = strawberry.UNSET
    link: str | None = strawberry.UNSET


@strawberry.type
class ReviewPayload:
    review: PostIncidentReview | None
    errors: list[UserError]


@strawberry.type
class ActionItemPayload:
    action_item: ActionItem | None
    errors: list[UserError]

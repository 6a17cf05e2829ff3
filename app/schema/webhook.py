"""GraphQL types of outbound webhooks: endpoints, their deliveries and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeAlias

import strawberry

from app import models
from app.schema.common import Classification, PageInfo, UserError, to_global_id
from app.services.feed.queries import encode_cursor
from app.services.webhooks.endpoints import EndpointView

ENDPOINT_PREFIX = "whe_"
DELIVERY_PREFIX = "whd_"

WebhookDeliveryStatus: TypeAlias = Annotated[
    models.WebhookDeliveryStatus,
    strawberry.enum(
        description="PENDING (waiting for its next attempt), DELIVERED (a 2xx came back), "
        "FAILED (dead-lettered: its last attempt failed; `redeliverWebhook` sends it again)."
    ),
]


@strawberry.input(description="Where to push the tenant's events, and which ones.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="http:// or https://; never a private address.")
    event_types: list[str] = strawberry.field(
        default_factory=list,
        description="Event types or `prefix*` patterns (as the feed's filter); empty: all.",
    )
    description: str | None = None
    clearance: Classification = strawberry.field(
        default=Classification.INTERNAL,
        description="What the receiver may read: events of incidents above it are not sent, "
        "and text above it is [REDACTED]. At most your own clearance.",
    )


@strawberry.input
class UpdateWebhookEndpointInput:
    id: strawberry.ID
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    enabled: bool | None = strawberry.field(
        default=None,
        description="false pauses it (its events wait in the feed); true takes up again where "
        "it stopped, and clears a disabling after failures.",
    )


@strawberry.input
class WebhookEndpointIdInput:
    id: strawberry.ID


@strawberry.input(description="Deliver again every event after a feed cursor.")
class ReplayWebhookEndpointInput:
    id: strawberry.ID
    after: str = strawberry.field(description="A feed cursor; `0` replays from the start.")


@strawberry.input
class RedeliverWebhookInput:
    id: strawberry.ID = strawberry.field(description="The delivery's id.")


@strawberry.type(description="A receiver of the tenant's events (Standard Webhooks).")
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    description: str | None
    event_types: list[str]
    clearance: Classification
    enabled: bool
    disabled_reason: str | None = strawberry.field(
        description="Why it was disabled after failures, until it is enabled again."
    )
    cursor: str = strawberry.field(
        description="The last feed position turned into deliveries for it."
    )
    failure_streak: int = strawberry.field(
        description="Deliveries dead-lettered in a row (reset by a delivery that succeeds)."
    )
    previous_secret_until: datetime | None = strawberry.field(
        description="After a rotation: until when the previous secret signs too."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: EndpointView) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(to_global_id(ENDPOINT_PREFIX, view.id)),
            url=view.url,
            description=view.description,
            event_types=view.event_types,
            clearance=view.clearance,
            enabled=view.enabled,
            disabled_reason=view.disabled_reason,
            cursor=encode_cursor(view.position),
            failure_streak=view.failure_streak,
            previous_secret_until=view.previous_secret_until,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="The signing secret (`whsec_...`), shown here once: when the endpoint is "
        "made and when its secret is rotated."
    )
    errors: list[UserError]


@strawberry.type(description="One try of a delivery.")
class WebhookAttempt:
    at: datetime
    status_code: int | None = strawberry.field(description="Null when no answer came.")
    duration_ms: int
    error: str | None


@strawberry.type(description="One event for one endpoint, attempted until delivered or dead.")
class WebhookDelivery:
    id: strawberry.ID
    endpoint_id: strawberry.ID
    event_id: str = strawberry.field(description="The event's id, sent as `webhook-id`.")
    type: str
    cursor: str = strawberry.field(description="The event's position in the feed.")
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_duration_ms: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[WebhookAttempt] = strawberry.field(description="Oldest first.")

    @classmethod
    def of(
        cls, row: models.WebhookDelivery, attempts: list[models.WebhookAttempt]
    ) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(to_global_id(DELIVERY_PREFIX, str(row.id))),
            endpoint_id=strawberry.ID(to_global_id(ENDPOINT_PREFIX, str(row.endpoint_id))),
            event_id=row.event_id,
            type=row.type,
            cursor=encode_cursor(int(row.position)),
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_status_code=row.last_status_code,
            last_duration_ms=row.last_duration_ms,
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            attempt_log=[
                WebhookAttempt(
                    at=a.at, status_code=a.status_code, duration_ms=a.duration_ms, error=a.error
                )
                for a in attempts
            ],
        )


@strawberry.type
class WebhookDeliveryEdge:
    cursor: str
    node: WebhookDelivery


@strawberry.type(description="Deliveries, newest first.")
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge]
    page_info: PageInfo


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None
    errors: list[UserError]

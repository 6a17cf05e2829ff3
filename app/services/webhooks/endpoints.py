"""A tenant's webhook endpoints: where its events are pushed, which ones, as whom.

An endpoint starts at the head of the tenant's feed (events from its creation on), or where
`replay` puts it. Its `whsec_` secret is shown once, when made or rotated; stored sealed.
After a rotation the previous secret signs beside the new one for
`INCIDENTGRAPH_WEBHOOK_SECRET_OVERLAP_SECONDS`. URLs are http(s), and may not reach
loopback, link-local or private addresses unless the installation allows private networks
(checked here and again at each attempt).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app.config import Settings
from app.core.clock import utcnow
from app.core.ids import parse_uuid
from app.core.pagination import decode_key_cursor, encode_key_cursor
from app.core.text import storable
from app.errors import NotFound, ValidationFailed
from app.models import (
    Classification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from app.services.access import audit, quotas, secret_box
from app.services.access.caller import Caller
from app.services.access.classification import reaches
from app.services.comms.destinations import new_webhook_secret
from app.services.feed.queries import decode_cursor, head
from app.services.feed.types import feed_filter
from app.services.itsm import egress

URL_MAX = 2048
DESCRIPTION_MAX = 500
ENDPOINTS_MAX = 100


@dataclass(frozen=True, slots=True)
class EndpointView:
    id: str
    url: str
    description: str | None
    event_types: list[str]
    clearance: Classification
    enabled: bool
    disabled_reason: str | None
    position: int
    failure_streak: int
    previous_secret_until: datetime | None
    created_at: datetime
    updated_at: datetime
    # Shown once: when the endpoint is made and when its secret is rotated.
    secret: str | None = None

    @classmethod
    def of(cls, row: WebhookEndpoint, *, secret: str | None = None) -> EndpointView:
        until = row.previous_secret_until
        return cls(
            id=str(row.id),
            url=row.url,
            description=row.description,
            event_types=list(row.event_types),
            clearance=row.clearance,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            position=int(row.position),
            failure_streak=row.failure_streak,
            previous_secret_until=until if until is not None and until > utcnow() else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            secret=secret,
        )


async def _checked_url(url: str, settings: Settings) -> str:
    text = storable(url, field="url").strip()
    parts = urlsplit(text)
    if len(text) > URL_MAX or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(
            f"url must be an http:// or https:// URL of at most {URL_MAX} characters",
            field="url",
        )
    if parts.username or parts.password:
        raise ValidationFailed("url may not carry credentials", field="url")
    try:
        await egress.check_url(text, allow_private=settings.allow_private_networks)
    except egress.Refused as refused:
        raise ValidationFailed(
            f"url may not be called: {refused} (loopback, link-local and private addresses "
            "need INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS)",
            field="url",
        ) from None
    return text


def _types(types: Sequence[str] | None) -> list[str]:
    if not types:
        return []
    try:
        return list(feed_filter(types=types, field=None).types)
    except ValidationFailed as error:
        raise ValidationFailed(error.message, field="eventTypes") from None


def _description(description: str | None) -> str | None:
    if description is None:
        return None
    text = storable(description, field="description").strip()
    if len(text) > DESCRIPTION_MAX:
        raise ValidationFailed(
            f"description must be at most {DESCRIPTION_MAX} characters", field="description"
        )
    return text or None


async def _load(caller: Caller, endpoint_id: str, *, field: str = "id") -> WebhookEndpoint:
    key = parse_uuid(endpoint_id)
    row = await WebhookEndpoint.get_or_none(tenant_id=caller.tenant_id, id=key) if key else None
    # An endpoint receiving more than the caller may read does not exist for them: they could
    # point it elsewhere and replay what it receives.
    if row is None or not reaches(caller.clearance, row.clearance):
        raise NotFound(f"no webhook endpoint with id {endpoint_id!r}", field=field)
    return row


async def list_endpoints(*, caller: Caller) -> list[EndpointView]:
    rows = await WebhookEndpoint.filter(tenant_id=caller.tenant_id).order_by("created_at", "id")
    return [EndpointView.of(r) for r in rows if reaches(caller.clearance, r.clearance)]


async def get_endpoint(*, caller: Caller, endpoint_id: str) -> EndpointView:
    return EndpointView.of(await _load(caller, endpoint_id))


async def create_endpoint(
    *,
    caller: Caller,
    settings: Settings,
    url: str,
    event_types: Sequence[str] | None,
    description: str | None = None,
    clearance: Classification = Classification.INTERNAL,
) -> EndpointView:
    checked = await _checked_url(url, settings)
    types = _types(event_types)
    text = _description(description)
    if not reaches(caller.clearance, clearance):
        raise ValidationFailed(
            f"your clearance ({caller.clearance.value}) does not reach {clearance.value}",
            field="clearance",
        )
    if await WebhookEndpoint.filter(tenant_id=caller.tenant_id).count() >= ENDPOINTS_MAX:
        raise ValidationFailed(
            f"a tenant may have at most {ENDPOINTS_MAX} webhook endpoints", field="url"
        )
    await quotas.require_room(caller.tenant_id, "webhook_endpoints")
    secret = new_webhook_secret()
    box = secret_box.load(settings)
    now = utcnow()
    async with in_transaction():
        row = await WebhookEndpoint.create(
            id=uuid.uuid4(),
            tenant_id=caller.tenant_id,
            url=checked,
            description=text,
            event_types=types,
            clearance=clearance,
            secret=box.seal(secret),
            position=await head(caller.tenant_id),
            created_at=now,
            updated_at=now,
        )
        await audit.record(
            tenant_id=caller.tenant_id,
            action="webhook.endpoint_created",
            target=str(row.id),
            changes={"url": checked, "eventTypes": types, "clearance": clearance.value},
        )
    return EndpointView.of(row, secret=secret)


async def update_endpoint(
    *,
    caller: Caller,
    settings: Settings,
    endpoint_id: str,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> EndpointView:
    row = await _load(caller, endpoint_id)
    changes: dict[str, object] = {}
    if url is not None:
        changes["url"] = await _checked_url(url, settings)
    if event_types is not None:
        changes["event_types"] = _types(event_types)
    if description is not None:
        changes["description"] = _description(description)
    if enabled is not None:
        changes["enabled"] = enabled
        if enabled:
            changes["disabled_reason"] = None
            changes["failure_streak"] = 0
    if not changes:
        return EndpointView.of(row)
    async with in_transaction():
        await WebhookEndpoint.filter(id=row.id).update(updated_at=utcnow(), **changes)
        await audit.record(
            tenant_id=caller.tenant_id,
            action="webhook.endpoint_updated",
            target=str(row.id),
            changes={k: v for k, v in changes.items() if k != "failure_streak"},
        )
    return EndpointView.of(await WebhookEndpoint.get(id=row.id))


async def rotate_secret(*, caller: Caller, settings: Settings, endpoint_id: str) -> EndpointView:
    """A new secret, shown once; the previous one signs too for the overlap."""
    row = await _load(caller, endpoint_id)
    secret = new_webhook_secret()
    box = secret_box.load(settings)
    until = utcnow() + timedelta(seconds=settings.webhook_secret_overlap_seconds)
    async with in_transaction():
        await WebhookEndpoint.filter(id=row.id).update(
            secret=box.seal(secret),
            previous_secret=row.secret,
            previous_secret_until=until,
            updated_at=utcnow(),
        )
        await audit.record(
            tenant_id=caller.tenant_id,
            action="webhook.secret_rotated",
            target=str(row.id),
            changes={"previousSecretUntil": until.isoformat()},
        )
    return EndpointView.of(await WebhookEndpoint.get(id=row.id), secret=secret)


async def delete_endpoint(*, caller: Caller, endpoint_id: str) -> EndpointView:
    row = await _load(caller, endpoint_id)
    async with in_transaction():
        await WebhookEndpoint.filter(id=row.id).delete()
        await audit.record(
            tenant_id=caller.tenant_id,
            action="webhook.endpoint_deleted",
            target=str(row.id),
            changes={"url": row.url},
        )
    return EndpointView.of(row)


async def replay(*, caller: Caller, endpoint_id: str, after: str) -> EndpointView:
    """Deliver again every event after the cursor `after` (new deliveries, the same
    `webhook-id`s, so receivers can tell repeats apart)."""
    row = await _load(caller, endpoint_id)
    position = decode_cursor(after, field="after")
    newest = await head(caller.tenant_id)
    if position > newest:
        raise ValidationFailed(
            f"after is past the newest event of the feed ({newest})", field="after"
        )
    async with in_transaction():
        await WebhookEndpoint.filter(id=row.id).update(position=position, updated_at=utcnow())
        await audit.record(
            tenant_id=caller.tenant_id,
            action="webhook.replayed",
            target=str(row.id),
            changes={"from": row.position, "to": position},
        )
    return EndpointView.of(await WebhookEndpoint.get(id=row.id))


async def redeliver(*, caller: Caller, delivery_id: str) -> WebhookDelivery:
    """Attempt a delivery again now, whatever became of it (dead-lettered, or delivered and
    wanted again), with a fresh run of attempts."""
    key = parse_uuid(delivery_id)
    row = await WebhookDelivery.get_or_none(tenant_id=caller.tenant_id, id=key) if key else None
    endpoint = await WebhookEndpoint.get_or_none(id=row.endpoint_id) if row else None
    if row is None or endpoint is None or not reaches(caller.clearance, endpoint.clearance):
        raise NotFound(f"no webhook delivery with id {delivery_id!r}", field="id")
    async with in_transaction():
        await WebhookDelivery.filter(id=row.id).update(
            status=WebhookDeliveryStatus.PENDING, attempts=0, next_attempt_at=utcnow()
        )
        await audit.record(
            tenant_id=caller.tenant_id,
            action="webhook.redelivered",
            target=str(row.id),
            changes={"endpoint": str(row.endpoint_id), "status": row.status.value},
        )
    return await WebhookDelivery.get(id=row.id)


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    rows: list[WebhookDelivery]
    attempts: dict[str, list[WebhookAttempt]]
    cursors: list[str]
    has_next: bool


def _delivery_cursor(row: WebhookDelivery) -> str:
    return encode_key_cursor("webhook-delivery", f"{row.created_at.isoformat()}|{row.id}")


async def deliveries(
    *,
    caller: Caller,
    endpoint_id: str,
    status: WebhookDeliveryStatus | None,
    first: int,
    after: str | None,
) -> DeliveryPage:
    """An endpoint's deliveries, newest first, with their attempts (three statements)."""
    endpoint = await _load(caller, endpoint_id, field="endpointId")
    query = WebhookDelivery.filter(endpoint_id=endpoint.id)
    if status is not None:
        query = query.filter(status=status)
    if after is not None:
        at, _, key = decode_key_cursor("webhook-delivery", after).partition("|")
        try:
            when, marker = datetime.fromisoformat(at), uuid.UUID(key)
        except ValueError:
            raise ValidationFailed("malformed cursor in after", field="after") from None
        query = query.filter(Q(created_at__lt=when) | Q(created_at=when, id__lt=marker))
    rows = await query.order_by("-created_at", "-id").limit(first + 1)
    page = rows[:first]
    attempts: dict[str, list[WebhookAttempt]] = {str(r.id): [] for r in page}
    if page:
        for attempt in await WebhookAttempt.filter(delivery_id__in=[r.id for r in page]).order_by(
            "at", "id"
        ):
            attempts[str(attempt.delivery_id)].append(attempt)
    return DeliveryPage(page, attempts, [_delivery_cursor(r) for r in page], len(rows) > first)

"""Outbound webhook endpoints and their deliveries (ADMIN)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.core.pagination import page_size
from app.errors import DomainError, NotFound
from app.schema.authorization import authorize
from app.schema.common import PageInfo, UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.webhook import (
    DELIVERY_PREFIX,
    ENDPOINT_PREFIX,
    CreateWebhookEndpointInput,
    RedeliverWebhookInput,
    ReplayWebhookEndpointInput,
    UpdateWebhookEndpointInput,
    WebhookDelivery,
    WebhookDeliveryConnection,
    WebhookDeliveryEdge,
    WebhookDeliveryPayload,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEndpointIdInput,
    WebhookEndpointPayload,
)
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.webhooks import endpoints
from app.services.webhooks.endpoints import EndpointView


def _key(value: str, prefix: str, *, field: str, noun: str) -> str:
    key = from_global_id(prefix, value)
    if key is None:
        raise NotFound(f"no {noun} with id {value!r}", field=field)
    return key


def endpoint_key(value: str, *, field: str = "id") -> str:
    return _key(value, ENDPOINT_PREFIX, field=field, noun="webhook endpoint")


def _caller(info: Info[Context, Any]) -> Caller:
    return Caller.of(authorize(info, Action.MANAGE_WEBHOOKS))


def _payload(view: EndpointView) -> WebhookEndpointPayload:
    return WebhookEndpointPayload(endpoint=WebhookEndpoint.of(view), secret=view.secret, errors=[])


def _refused(error: DomainError) -> WebhookEndpointPayload:
    return WebhookEndpointPayload(endpoint=None, secret=None, errors=[UserError.of(error)])


async def webhook_endpoints(info: Info[Context, Any]) -> list[WebhookEndpoint]:
    views = await endpoints.list_endpoints(caller=_caller(info))
    return [WebhookEndpoint.of(v) for v in views]


async def webhook_deliveries(
    info: Info[Context, Any],
    endpoint_id: strawberry.ID,
    status: WebhookDeliveryStatus | None = None,
    first: int | None = None,
    after: str | None = None,
) -> WebhookDeliveryConnection:
    caller = _caller(info)
    try:
        page = await endpoints.deliveries(
            caller=caller,
            endpoint_id=endpoint_key(endpoint_id, field="endpointId"),
            status=status,
            first=page_size(first),
            after=after,
        )
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [
        WebhookDeliveryEdge(cursor=cursor, node=WebhookDelivery.of(row, page.attempts[str(row.id)]))
        for row, cursor in zip(page.rows, page.cursors, strict=True)
    ]
    info_ = PageInfo.of(page.cursors, has_next=page.has_next, has_previous=after is not None)
    return WebhookDeliveryConnection(edges=edges, page_info=info_)


async def create_webhook_endpoint(
    info: Info[Context, Any], input: CreateWebhookEndpointInput
) -> WebhookEndpointPayload:
    caller = _caller(info)
    try:
        view = await endpoints.create_endpoint(
            caller=caller,
            settings=info.context.settings,
            url=input.url,
            event_types=input.event_types,
            description=input.description,
            clearance=input.clearance,
        )
    except DomainError as error:
        return _refused(error)
    return _payload(view)


async def update_webhook_endpoint(
    info: Info[Context, Any], input: UpdateWebhookEndpointInput
) -> WebhookEndpointPayload:
    caller = _caller(info)
    try:
        view = await endpoints.update_endpoint(
            caller=caller,
            settings=info.context.settings,
            endpoint_id=endpoint_key(input.id),
            url=input.url,
            event_types=input.event_types,
            description=input.description,
            enabled=input.enabled,
        )
    except DomainError as error:
        return _refused(error)
    return _payload(view)


async def rotate_webhook_secret(
    info: Info[Context, Any], input: WebhookEndpointIdInput
) -> WebhookEndpointPayload:
    caller = _caller(info)
    try:
        view = await endpoints.rotate_secret(
            caller=caller, settings=info.context.settings, endpoint_id=endpoint_key(input.id)
        )
    except DomainError as error:
        return _refused(error)
    return _payload(view)


async def delete_webhook_endpoint(
    info: Info[Context, Any], input: WebhookEndpointIdInput
) -> WebhookEndpointPayload:
    caller = _caller(info)
    try:
        view = await endpoints.delete_endpoint(caller=caller, endpoint_id=endpoint_key(input.id))
    except DomainError as error:
        return _refused(error)
    return _payload(view)


async def replay_webhook_endpoint(
    info: Info[Context, Any], input: ReplayWebhookEndpointInput
) -> WebhookEndpointPayload:
    caller = _caller(info)
    try:
        view = await endpoints.replay(
            caller=caller, endpoint_id=endpoint_key(input.id), after=input.after
        )
    except DomainError as error:
        return _refused(error)
    return _payload(view)


async def redeliver_webhook(
    info: Info[Context, Any], input: RedeliverWebhookInput
) -> WebhookDeliveryPayload:
    caller = _caller(info)
    try:
        key = _key(input.id, DELIVERY_PREFIX, field="id", noun="webhook delivery")
        row = await endpoints.redeliver(caller=caller, delivery_id=key)
    except DomainError as error:
        return WebhookDeliveryPayload(delivery=None, errors=[UserError.of(error)])
    return WebhookDeliveryPayload(delivery=WebhookDelivery.of(row, []), errors=[])

"""The tenant's event feed: `events` (pages from a cursor) and `eventAdded` (replay, then
live)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from strawberry.types import Info

from app.core.pagination import page_size
from app.errors import DomainError
from app.models import Classification
from app.resolvers.live import guarded
from app.schema.authorization import authorize
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.feed import EventFilter, FeedEvent, FeedEventConnection
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.feed import live
from app.services.feed.queries import FeedItem, decode_cursor, events_after
from app.services.feed.types import FeedFilter
from app.services.incidents.live import shared_object


def _restricted(items: list[FeedItem]) -> list[str]:
    return [i.record_id for i in items if i.classification is Classification.RESTRICTED]


async def events(
    info: Info[Context, Any],
    after: str | None = None,
    first: int | None = None,
    filter: EventFilter | None = None,
) -> FeedEventConnection:
    principal = authorize(info, Action.READ_INCIDENTS)
    caller = Caller.of(principal)
    try:
        size = page_size(first)
        position = decode_cursor(after) if after is not None else 0
        wanted = filter.to_service() if filter is not None else FeedFilter()
        page = await events_after(caller=caller, after=position, limit=size, filter=wanted)
    except DomainError as error:
        raise graphql_error(error) from None
    await audit.record_reads(
        tenant_id=caller.tenant_id, targets=_restricted(page.items), via="events"
    )
    return FeedEventConnection.of(page, clearance=caller.clearance, after=position)


async def event_added(
    info: Info[Context, Any], after: str | None = None, filter: EventFilter | None = None
) -> AsyncGenerator[FeedEvent, None]:
    principal = authorize(info, Action.READ_INCIDENTS)
    caller = Caller.of(principal)
    clearance = caller.clearance
    try:
        position = decode_cursor(after) if after is not None else None
        wanted = filter.to_service() if filter is not None else FeedFilter()
    except DomainError as error:
        raise graphql_error(error) from None
    stream = live.follow(broker=info.context.broker, caller=caller, after=position, filter=wanted)

    def build(item: FeedItem, *, shared: dict[str, Any] | None) -> FeedEvent:
        return FeedEvent.of(item, clearance=clearance, shared=shared)

    async with aclosing(guarded(stream)) as items:
        async for item in items:
            await audit.record_reads(
                tenant_id=caller.tenant_id, targets=_restricted([item.value]), via="eventAdded"
            )
            yield shared_object(item, f"feed-event:{clearance.value}", build)

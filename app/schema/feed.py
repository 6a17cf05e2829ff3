"""The tenant's event feed: CloudEvents at their places in commit order, pages of them and
the filter a reader follows them with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.models import Classification as _Classification
from app.schema.common import COMBINATOR_FIELDS, PageInfo
from app.services import filtering
from app.services.feed.envelope import envelope
from app.services.feed.queries import FeedItem, FeedPage, encode_cursor
from app.services.feed.types import FeedFilter, feed_filter


@strawberry.input(
    description="Which events of the feed to follow; all of them by default. `and`, `or` and "
    "`not` combine whole filters (at most 5 levels deep and 50 filters in all)."
)
class EventFilter:
    types: list[str] | None = strawberry.field(
        default=None,
        description="Event types (`com.incidents.declared.v1`), or prefixes ending in `*` "
        "(`com.incidents.problem.*`). An unknown type is a VALIDATION error.",
    )
    subjects: list[str] | None = strawberry.field(
        default=None,
        description="CloudEvents subjects: `incidents/<id>`, `problems/<id>`, `changes/<id>`, "
        "`articles/<id>`, `services/<id>`.",
    )
    since: datetime | None = strawberry.field(
        default=None, description="Only events that happened at or after this instant."
    )

    and_: list[EventFilter] | None = strawberry.field(
        default=None, name="and", description=COMBINATOR_FIELDS["and"]
    )
    or_: list[EventFilter] | None = strawberry.field(
        default=None, name="or", description=COMBINATOR_FIELDS["or"]
    )
    not_: EventFilter | None = strawberry.field(
        default=None, name="not", description=COMBINATOR_FIELDS["not"]
    )

    def to_service(self, *, checked: bool = False) -> FeedFilter:
        if not checked:
            filtering.check_shape(self)
        return feed_filter(
            types=self.types,
            subjects=self.subjects,
            since=self.since,
            and_=[f.to_service(checked=True) for f in self.and_ or ()],
            or_=[f.to_service(checked=True) for f in self.or_ or ()],
            not_=self.not_.to_service(checked=True) if self.not_ is not None else None,
        )


@strawberry.type(
    description="One event of the tenant's feed (incidents, problems, changes, articles, "
    "services, and what happens on them: tasks, communications, tickets, alerts...): a "
    "CloudEvents v1.0 envelope at its place in commit order."
)
class FeedEvent:
    cursor: str = strawberry.field(
        description="This event's position in the feed, usable as `after` to resume after it."
    )
    id: strawberry.ID = strawberry.field(description="The CloudEvents id.")
    type: str
    source: str
    subject: str = strawberry.field(
        description="What the event is about: `incidents/<id>`, `problems/<id>`..."
    )
    time: datetime
    actor: str | None
    data: JSON
    redacted: bool = strawberry.field(
        description="True when `actor` or `data` were redacted for you."
    )
    cloud_event: JSON = strawberry.field(description="The whole CloudEvents v1.0 envelope.")
    shared: strawberry.Private[dict[str, Any] | None] = None

    @classmethod
    def of(
        cls, item: FeedItem, *, clearance: _Classification, shared: dict[str, Any] | None = None
    ) -> FeedEvent:
        """The event as a caller with `clearance` may see it: an incident's as its timeline
        shows it, a record's as the record's timeline does."""
        event = item.event
        seen = envelope(item, clearance)
        cursor = encode_cursor(item.position)
        return cls(
            cursor=cursor,
            id=strawberry.ID(event.event_id),
            type=event.type,
            source=event.source,
            subject=item.subject,
            time=event.time,
            actor=seen.actor,
            data=JSON(seen.body["data"]),
            redacted=seen.redacted,
            cloud_event=JSON(seen.body),
            shared=shared,
        )


@strawberry.type
class FeedEventEdge:
    cursor: str
    node: FeedEvent


@strawberry.type(
    description="A page of the feed. `pageInfo.endCursor` is where to go on from, even when "
    "the page is empty or ends before events left out for you."
)
class FeedEventConnection:
    edges: list[FeedEventEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, page: FeedPage, *, clearance: _Classification, after: int) -> FeedEventConnection:
        nodes = [FeedEvent.of(item, clearance=clearance) for item in page.items]
        info = PageInfo.of(
            [encode_cursor(page.last)], has_next=page.has_more, has_previous=after > 0
        )
        if nodes:
            info.start_cursor = nodes[0].cursor
        return cls(edges=[FeedEventEdge(cursor=n.cursor, node=n) for n in nodes], page_info=info)

"""Timeline types: CloudEvents on an incident, pages of them, and the addNote command."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.errors import ValidationFailed
from app.models import Classification as _Classification
from app.models import NoteKind as _NoteKind
from app.schema.common import (
    EVENT_PREFIX,
    INCIDENT_PREFIX,
    Classification,
    Node,
    PageInfo,
    UserError,
    to_global_id,
)
from app.schema.context import Context
from app.services.access.caller import actor_user_id
from app.services.access.classification import (
    ACTOR_CLASSIFICATION,
    highest,
    reaches,
    redact_json,
    redact_text,
)
from app.services.feed.types import feed_filter
from app.services.incidents import timeline as incident_timeline
from app.services.incidents.timeline import EventRecord, encode_seq_cursor

if TYPE_CHECKING:
    from app.schema.people import User

NoteKind: TypeAlias = Annotated[_NoteKind, strawberry.enum(description="What a note is about.")]


@strawberry.type(description="One event on an incident's timeline: a CloudEvents v1.0 envelope.")
class TimelineEvent(Node):
    id: strawberry.ID
    seq: int = strawberry.field(description="Position on the incident's timeline, from 1, no gaps.")
    type: str
    source: str
    time: datetime
    subject: str
    actor: str | None
    data: JSON
    incident_id: strawberry.ID
    classification: Classification = strawberry.field(
        description="Who may read `data`: the event's own classification or its incident's, "
        "whichever is higher."
    )
    redacted: bool = strawberry.field(
        description="True when `data` (and `cloudEvent.data`) were redacted for this caller."
    )
    record: strawberry.Private[EventRecord]
    # The broker message's per-event cache when this came from a live feed (execution.py).
    shared: strawberry.Private[dict[str, Any] | None] = None

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="The user `actor` names (null for a service token, a linked ticket or "
        "incidentgraph itself, or when the actor is redacted for you)."
    )
    async def actor_user(
        self, info: Info[Context, Any]
    ) -> Annotated[User, strawberry.lazy("app.schema.people")] | None:
        from app.schema.people import User

        key = actor_user_id(self.actor)
        view = await info.context.loaders.user.load(key) if key is not None else None
        return User.of(view) if view is not None else None

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="The users a note @mentions (empty for other events, or when `data` is "
        "redacted for you)."
    )
    async def mentions(
        self, info: Info[Context, Any]
    ) -> list[Annotated[User, strawberry.lazy("app.schema.people")]]:
        from app.schema.people import User

        if self.redacted:
            return []
        keys = [actor_user_id(a) for a in self.record.data.get("mentionedUsers", ())]
        views = await info.context.loaders.user.load_many([k for k in keys if k is not None])
        return [User.of(v) for v in views if v is not None]

    @strawberry.field(description="This event's position, usable as `after` to resume from it.")  # type: ignore[untyped-decorator]
    def cursor(self) -> str:
        return encode_seq_cursor(self.seq)

    @strawberry.field(description="The whole CloudEvents v1.0 envelope.")  # type: ignore[untyped-decorator]
    def cloud_event(self) -> JSON:
        envelope: dict[str, Any] = self.record.cloud_event()
        envelope["subject"] = self.subject
        envelope["data"] = self.data
        return JSON(envelope)

    @classmethod
    def of(
        cls,
        record: EventRecord,
        *,
        clearance: _Classification,
        incident_classification: _Classification,
        shared: dict[str, Any] | None = None,
        incident_gid: str | None = None,
    ) -> TimelineEvent:
        """The event as a caller with `clearance` may see it (`incident_gid`: its incident's
        global id, when the caller has it already)."""
        if incident_gid is None:
            incident_gid = to_global_id(INCIDENT_PREFIX, record.incident_id)
        level, readable, actor_readable = _access(
            clearance, record.classification, incident_classification
        )
        return cls(
            id=strawberry.ID(to_global_id(EVENT_PREFIX, record.id)),
            seq=record.seq,
            type=record.type,
            source=record.source,
            time=record.time,
            subject=f"incidents/{incident_gid}",
            actor=record.actor if actor_readable else redact_text(record.actor),
            data=JSON(dict(record.data) if readable else redact_json(record.data)),
            incident_id=strawberry.ID(incident_gid),
            classification=level,
            redacted=not readable,
            record=record,
            shared=shared,
        )


@functools.cache
def _access(
    clearance: _Classification, event: _Classification, incident: _Classification
) -> tuple[_Classification, bool, bool]:
    """An event's classification, whether its data and whether its actor are readable."""
    level = highest(event, incident)
    actor_level = highest(ACTOR_CLASSIFICATION, incident)
    return level, reaches(clearance, level), reaches(clearance, actor_level)


@strawberry.type
class TimelineEventEdge:
    cursor: str
    node: TimelineEvent


@strawberry.type
class TimelineEventConnection:
    edges: list[TimelineEventEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def of(
        cls,
        records: list[EventRecord],
        *,
        low: int,
        high: int,
        total: int,
        clearance: _Classification,
        incident_classification: _Classification,
    ) -> TimelineEventConnection:
        """A page of the seqs (low, high] of a timeline of `total` events."""
        return cls.of_page(
            records,
            has_next=high < total,
            has_previous=low > 0,
            total=total,
            clearance=clearance,
            incident_classification=incident_classification,
        )

    @classmethod
    def of_page(
        cls,
        records: list[EventRecord],
        *,
        has_next: bool,
        has_previous: bool,
        total: int,
        clearance: _Classification,
        incident_classification: _Classification,
    ) -> TimelineEventConnection:
        """The events as the caller may read them, each with its cursor."""
        gids = {key: to_global_id(INCIDENT_PREFIX, key) for key in {r.incident_id for r in records}}
        edges = [
            TimelineEventEdge(
                cursor=encode_seq_cursor(r.seq),
                node=TimelineEvent.of(
                    r,
                    clearance=clearance,
                    incident_classification=incident_classification,
                    incident_gid=gids[r.incident_id],
                ),
            )
            for r in records
        ]
        return cls(
            edges=edges,
            page_info=PageInfo.of(
                [e.cursor for e in edges], has_next=has_next, has_previous=has_previous
            ),
            total_count=total,
        )


@strawberry.input(
    description="Which events of a timeline: each part given must hold. A filtered timeline "
    "pages forward (first/after)."
)
class TimelineFilter:
    types: list[str] | None = strawberry.field(
        default=None,
        description="Event types, exact or a prefix ending in `*` (`com.incidents.sla.*`).",
    )
    note_kinds: list[NoteKind] | None = strawberry.field(
        default=None, description="Notes of these kinds (other events do not match)."
    )
    since: datetime | None = strawberry.field(
        default=None, description="Events at or after this time."
    )

    def to_domain(
        self, *, clearance: _Classification, incident_classification: _Classification
    ) -> incident_timeline.TimelineFilter:
        """The filter as the caller may apply it: note kinds only of the notes it may read."""
        checked = feed_filter(types=self.types, field="filter")
        if self.since is not None and self.since.tzinfo is None:
            raise ValidationFailed("filter.since needs a UTC offset", field="filter.since")
        return incident_timeline.TimelineFilter(
            types=frozenset(checked.exact_types),
            prefixes=frozenset(checked.prefixes),
            note_kinds=frozenset(k.value for k in self.note_kinds or ()),
            since=self.since.astimezone(UTC) if self.since is not None else None,
            note_levels=frozenset(
                c.value
                for c in _Classification
                if reaches(clearance, highest(c, incident_classification))
            )
            if self.note_kinds
            else frozenset(),
        )


@strawberry.input
class AddNoteInput:
    incident_id: strawberry.ID
    body: str
    kind: NoteKind = _NoteKind.GENERAL
    mentions: list[str] = strawberry.field(default_factory=list)
    classification: Classification = strawberry.field(
        default=_Classification.INTERNAL,
        description="Who may read the note; PUBLIC notes are safe to publish to customers. "
        "Never above your own clearance.",
    )
    event_id: str | None = strawberry.field(
        default=None,
        description="Idempotency key: a second addNote with the same eventId stores nothing new.",
    )


@strawberry.type
class TimelineEventPayload:
    event: TimelineEvent | None
    errors: list[UserError]

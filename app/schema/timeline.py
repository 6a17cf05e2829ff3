"""Timeline types: CloudEvents on an incident, pages of them, and the addNote command."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeAlias

import strawberry
from strawberry.scalars import JSON

from app.models import NoteKind as _NoteKind
from app.schema.common import (
    EVENT_PREFIX,
    INCIDENT_PREFIX,
    Node,
    PageInfo,
    UserError,
    encode_seq_cursor,
    to_global_id,
)
from app.services.timeline import EventRecord

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
    record: strawberry.Private[EventRecord]
    # The broker message's per-event cache when this came from a live feed (execution.py).
    shared: strawberry.Private[dict[str, Any] | None] = None

    @strawberry.field(description="This event's position, usable as `after` to resume from it.")  # type: ignore[untyped-decorator]
    def cursor(self) -> str:
        return encode_seq_cursor(self.seq)

    @strawberry.field(description="The whole CloudEvents v1.0 envelope.")  # type: ignore[untyped-decorator]
    def cloud_event(self) -> JSON:
        envelope: dict[str, Any] = self.record.cloud_event()
        envelope["subject"] = self.subject
        return JSON(envelope)

    @classmethod
    def of(cls, record: EventRecord, *, shared: dict[str, Any] | None = None) -> TimelineEvent:
        incident_gid = to_global_id(INCIDENT_PREFIX, record.incident_id)
        return cls(
            id=strawberry.ID(to_global_id(EVENT_PREFIX, record.id)),
            seq=record.seq,
            type=record.type,
            source=record.source,
            time=record.time,
            subject=f"incidents/{incident_gid}",
            actor=record.actor,
            data=JSON(dict(record.data)),
            incident_id=strawberry.ID(incident_gid),
            record=record,
            shared=shared,
        )


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
        cls, records: list[EventRecord], *, low: int, high: int, total: int
    ) -> TimelineEventConnection:
        edges = [
            TimelineEventEdge(cursor=encode_seq_cursor(r.seq), node=TimelineEvent.of(r))
            for r in records
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=high < total,
                has_previous_page=low > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=total,
        )


@strawberry.input
class AddNoteInput:
    incident_id: strawberry.ID
    body: str
    kind: NoteKind = _NoteKind.GENERAL
    mentions: list[str] = strawberry.field(default_factory=list)
    event_id: str | None = strawberry.field(
        default=None,
        description="Idempotency key: a second addNote with the same eventId stores nothing new.",
    )


@strawberry.type
class TimelineEventPayload:
    event: TimelineEvent | None
    errors: list[UserError]

"""Reading the feed: the caller's events after a position, in commit order.

A page is read in three steps whatever its size: the feed rows (one statement), the events
they point at (one statement per timeline table), the classifications of their incidents
and records as they are now (one statement per kind present). An event of an incident or
record that does not exist for the caller is left out; its position is still passed, so the
cursor moves on over it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import ValidationFailed
from app.models import (
    Change,
    Classification,
    FeedCounter,
    FeedEntry,
    Incident,
    KnowledgeArticle,
    Problem,
    RecordEvent,
    TimelineEvent,
)
from app.services.access.caller import Caller
from app.services.access.classification import incident_visible
from app.services.feed.positions import INCIDENT
from app.services.feed.subjects import subject_of
from app.services.feed.types import FeedFilter
from app.services.incidents.timeline import EventRecord
from app.services.records.timeline import RecordEventView

# Records whose events are as classified as they are; services are not classified.
_CLASSIFIED: dict[str, Any] = {
    INCIDENT: Incident,
    "problem": Problem,
    "change": Change,
    "article": KnowledgeArticle,
}
# Rounds of reading a page may take to fill up past events the caller may not see.
_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class FeedItem:
    """An event at its place in the feed, with its incident's or record's classification
    as read (None for an unclassified record)."""

    position: int
    record_type: str
    record_id: str
    event: EventRecord | RecordEventView
    classification: Classification | None

    @property
    def subject(self) -> str:
        return subject_of(self.record_type, self.record_id)

    @property
    def type(self) -> str:
        return self.event.type

    def visible_to(self, clearance: Classification) -> bool:
        return self.classification is None or incident_visible(clearance, self.classification)


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[FeedItem]
    # The last position read (the cursor to go on from): past the last item, when events
    # after it were left out for the caller.
    last: int
    has_more: bool


async def head(tenant_id: str) -> int:
    """The newest position handed out in the tenant's feed (0 before its first event)."""
    row = await FeedCounter.get_or_none(tenant_id=tenant_id)
    return int(row.position) if row is not None else 0


def _query(tenant_id: str, after: int, filter: FeedFilter) -> Any:
    query = FeedEntry.filter(tenant_id=tenant_id, position__gt=after)
    q = filter.q()
    return (query.filter(q) if q is not None else query).order_by("position")


async def read(
    entries: Sequence[FeedEntry],
) -> list[FeedItem]:
    """The feed rows' events with their records' classifications, in the rows' order."""
    incident_rows = [e.event_row for e in entries if e.record_type == INCIDENT]
    record_rows = [e.event_row for e in entries if e.record_type != INCIDENT]
    events: dict[str, EventRecord | RecordEventView] = {}
    if incident_rows:
        for row in await TimelineEvent.filter(id__in=incident_rows):
            events[str(row.id)] = EventRecord.from_model(row)
    if record_rows:
        for record in await RecordEvent.filter(id__in=record_rows):
            events[str(record.id)] = RecordEventView.of(record)
    wanted: dict[str, set[Any]] = defaultdict(set)
    for e in entries:
        if e.record_type in _CLASSIFIED:
            wanted[e.record_type].add(e.record_id)
    levels: dict[str, Classification] = {}
    for record_type, ids in wanted.items():
        model = _CLASSIFIED[record_type]
        for key, level in await model.filter(id__in=list(ids)).values_list("id", "classification"):
            levels[str(key)] = Classification(level)
    items: list[FeedItem] = []
    for e in entries:
        event = events.get(str(e.event_row))
        record_id = str(e.record_id)
        classified = e.record_type in _CLASSIFIED
        if event is None or (classified and record_id not in levels):
            continue  # gone since (purged with its record)
        items.append(
            FeedItem(
                position=int(e.position),
                record_type=e.record_type,
                record_id=record_id,
                event=event,
                classification=levels[record_id] if classified else None,
            )
        )
    return items


async def events_after(*, caller: Caller, after: int, limit: int, filter: FeedFilter) -> FeedPage:
    """Up to `limit` events after position `after` that the caller may see and the filter
    takes, in commit order."""
    found: list[FeedItem] = []
    last = after
    for _ in range(_ROUNDS):
        want = limit - len(found)
        entries = await _query(caller.tenant_id, last, filter).limit(want + 1)
        more = len(entries) > want
        entries = entries[:want]
        found.extend(i for i in await read(entries) if i.visible_to(caller.clearance))
        if entries:
            last = int(entries[-1].position)
        if not more or len(found) == limit:
            return FeedPage(found, last, more)
    return FeedPage(found, last, True)


def encode_cursor(position: int) -> str:
    """A feed cursor: the position, in decimal (stable, and the same in every API)."""
    return str(position)


def decode_cursor(cursor: str, *, field: str = "after") -> int:
    """The position in a feed cursor; VALIDATION on `field` when it is not one."""
    text = cursor.strip()
    if not text.isdigit() or len(text) > 18:
        raise ValidationFailed(
            f"malformed cursor in {field}: a feed cursor is a position such as '42' "
            "('0' replays the feed from its start)",
            field=field,
        )
    return int(text)

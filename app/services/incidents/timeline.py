"""The event-sourced timeline: CloudEvents v1.0 envelopes, append and replay by seq."""

from __future__ import annotations

import base64
import binascii
import bisect
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from app.core.pagination import page_size
from app.errors import ValidationFailed
from app.models import Classification, TimelineEvent
from app.services.incidents.rows import execute, instant, json_value

API_SOURCE = "incidents://api"


class EventType:
    DECLARED = "com.incidents.declared.v1"
    UPDATED = "com.incidents.updated.v1"
    STATE_CHANGE = "com.incidents.state_change.v1"
    ASSIGNED = "com.incidents.assigned.v1"
    # A priority set by hand over the matrix's, or given back to it.
    PRIORITY_OVERRIDDEN = "com.incidents.priority_overridden.v1"
    NOTE_ADDED = "com.incidents.note_added.v1"
    RESOLVED = "com.incidents.resolved.v1"
    CLOSED = "com.incidents.closed.v1"
    TICKET_LINKED = "com.incidents.ticket.linked.v1"
    TICKET_UNLINKED = "com.incidents.ticket.unlinked.v1"
    TICKET_SYNC_REQUESTED = "com.incidents.ticket.sync_requested.v1"
    TICKET_SYNCED = "com.incidents.ticket.synced.v1"
    TICKET_SYNC_FAILED = "com.incidents.ticket.sync_failed.v1"
    TICKET_CONFLICT = "com.incidents.ticket.conflict.v1"
    # Alerts linked to the incident (by correlation or by hand), many alerts per event.
    ALERTS_LINKED = "com.incidents.alerts.linked.v1"
    # Linked alerts that stopped firing.
    ALERTS_RESOLVED = "com.incidents.alerts.resolved.v1"
    ALERT_UNLINKED = "com.incidents.alerts.unlinked.v1"
    # A record around the incident (a problem, a change...) linked to it, or unlinked.
    RECORD_LINKED = "com.incidents.record.linked.v1"
    RECORD_UNLINKED = "com.incidents.record.unlinked.v1"
    # On both incidents of a merge (data says which side this one was).
    MERGED = "com.incidents.merged.v1"
    # A copy of one of the merged incident's events, on the target's timeline.
    MERGED_EVENT = "com.incidents.merged_event.v1"

    @staticmethod
    def provider_ingested(provider: str) -> str:
        return f"com.incidents.provider.{provider}.ingested.v1"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event a command decided on, before it has a seq."""

    type: str
    data: Mapping[str, Any]
    source: str = API_SOURCE
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    classification: Classification = Classification.INTERNAL


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A stored timeline event, as the API and subscribers see it."""

    id: str
    incident_id: str
    seq: int
    type: str
    source: str
    event_id: str
    time: datetime
    actor: str | None
    data: Mapping[str, Any]
    classification: Classification = Classification.INTERNAL

    @property
    def subject(self) -> str:
        return f"incidents/{self.incident_id}"

    def cloud_event(self) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": self.event_id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat(),
            "subject": self.subject,
            "datacontenttype": "application/json",
            "sequence": str(self.seq),
            "data": dict(self.data),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "incidentId": self.incident_id,
            "seq": self.seq,
            "type": self.type,
            "source": self.source,
            "eventId": self.event_id,
            "time": self.time.isoformat(),
            "actor": self.actor,
            "data": dict(self.data),
            "classification": self.classification.value,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> EventRecord:
        return cls(
            id=raw["id"],
            incident_id=raw["incidentId"],
            seq=raw["seq"],
            type=raw["type"],
            source=raw["source"],
            event_id=raw["eventId"],
            time=datetime.fromisoformat(raw["time"]),
            actor=raw["actor"],
            data=raw["data"],
            classification=Classification(raw.get("classification", Classification.INTERNAL)),
        )

    @classmethod
    def from_values(cls, row: Mapping[str, Any]) -> EventRecord:
        """From a `.values(*_COLUMNS)` row: no model instance on hot read paths."""
        return cls(
            id=str(row["id"]),
            incident_id=str(row["incident_id"]),
            seq=row["seq"],
            type=row["type"],
            source=row["source"],
            event_id=row["event_id"],
            time=row["time"],
            actor=row["actor"],
            data=row["data"],
            classification=Classification(row["classification"]),
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> EventRecord:
        """From a row of the `_COLUMNS`, as the driver returns it: no model instance."""
        return cls(
            id=str(row[0]),
            incident_id=str(row[1]),
            seq=row[2],
            type=row[3],
            source=row[4],
            event_id=row[5],
            time=instant(row[6]),
            actor=row[7],
            data=json_value(row[8]),
            classification=_LEVELS[row[9]],
        )

    @classmethod
    def from_model(cls, row: TimelineEvent) -> EventRecord:
        return cls(
            id=str(row.id),
            incident_id=str(row.incident_id),
            seq=row.seq,
            type=row.type,
            source=row.source,
            event_id=row.event_id,
            time=row.time,
            actor=row.actor,
            data=row.data,
            classification=row.classification,
        )


_LEVELS = {c.value: c for c in Classification}
_COLUMNS = (
    "id",
    "incident_id",
    "seq",
    "type",
    "source",
    "event_id",
    "time",
    "actor",
    "data",
    "classification",
)
_SELECT = ", ".join(f'"{c}"' for c in _COLUMNS)


def build_rows(
    *,
    tenant_id: str,
    incident_id: uuid.UUID,
    first_seq: int,
    events: Sequence[NewEvent],
    actor: str | None,
    now: datetime,
) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            incident_id=incident_id,
            seq=first_seq + offset,
            type=event.type,
            source=event.source,
            event_id=event.event_id,
            time=now,
            actor=actor,
            data=dict(event.data),
            classification=event.classification,
        )
        for offset, event in enumerate(events)
    ]


async def find_by_event_id(*, tenant_id: str, source: str, event_id: str) -> EventRecord | None:
    row = await TimelineEvent.get_or_none(tenant_id=tenant_id, source=source, event_id=event_id)
    return EventRecord.from_model(row) if row else None


async def events_after(
    *, tenant_id: str, incident_id: str, after_seq: int, limit: int = 500
) -> list[EventRecord]:
    """Events with seq > after_seq, oldest first: the replay half of a resumable stream."""
    rows = (
        await TimelineEvent.filter(tenant_id=tenant_id, incident_id=incident_id, seq__gt=after_seq)
        .order_by("seq")
        .limit(limit)
    )
    return [EventRecord.from_model(r) for r in rows]


async def events_after_each(
    *, tenant_id: str, incident_id: str, afters: Collection[int], limit: int = 500
) -> dict[int, list[EventRecord]]:
    """`events_after` for several cursors of one incident in one statement: the rows past the
    smallest cursor, enough of them (`limit` plus the cursors' spread) for every cursor's page."""
    if not afters:
        return {}
    low, high = min(afters), max(afters)
    rows = (
        await TimelineEvent.filter(tenant_id=tenant_id, incident_id=incident_id, seq__gt=low)
        .order_by("seq")
        .limit(limit + high - low)
        .values(*_COLUMNS)
    )
    records = [EventRecord.from_values(row) for row in rows]
    seqs = [r.seq for r in records]
    pages: dict[int, list[EventRecord]] = {}
    for after in afters:
        start = bisect.bisect_right(seqs, after)
        pages[after] = records[start : start + limit]
    return pages


@dataclass(frozen=True, slots=True)
class SeqRange:
    """Events of one incident with low < seq <= high."""

    incident_id: str
    low: int
    high: int


async def load_ranges(
    *, tenant_id: str, ranges: Iterable[SeqRange]
) -> dict[SeqRange, list[EventRecord]]:
    """Several incidents' pages in one statement (seqs are contiguous, so a page is a range),
    read as plain rows: the dashboards' hot path."""
    from app.services.incidents.metrics_sql import Dialect

    wanted = [r for r in set(ranges) if r.high > r.low]
    found: dict[SeqRange, list[EventRecord]] = {r: [] for r in ranges}
    if not wanted:
        return found
    conn = TimelineEvent._meta.db
    d = Dialect(conn.capabilities.dialect)
    params: list[Any] = [tenant_id]
    conditions = []
    by_incident: dict[str, list[SeqRange]] = {}
    for r in wanted:
        by_incident.setdefault(r.incident_id, []).append(r)
        params.extend((r.incident_id, r.low, r.high))
        n = len(params)
        conditions.append(
            f'("incident_id" = {d.mark(n - 2)} AND "seq" > {d.mark(n - 1)} '
            f'AND "seq" <= {d.mark(n)})'
        )
    sql = (
        f'SELECT {_SELECT} FROM "timeline_event" WHERE "tenant_id" = {d.mark(1)} '
        f'AND ({" OR ".join(conditions)}) ORDER BY "seq"'
    )
    for row in await execute(conn, sql, params):
        record = EventRecord.from_row(row)
        for r in by_incident.get(record.incident_id, ()):
            if r.low < record.seq <= r.high:
                found[r].append(record)
    return found


async def find_event(*, tenant_id: str, event_row_id: str) -> EventRecord | None:
    row = await TimelineEvent.get_or_none(tenant_id=tenant_id, id=event_row_id)
    return EventRecord.from_model(row) if row else None


# --- paging a timeline -----------------------------------------------------------------------


def encode_seq_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_seq_cursor(cursor: str) -> int | None:
    """The seq inside a timeline cursor, or None when the cursor is malformed."""
    try:
        text = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    kind, _, number = text.partition(":")
    if kind != "seq" or not number.isdigit() or len(number) > 12:
        return None
    return int(number)


def seq_window(
    *,
    total: int,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> tuple[int, int]:
    """The seqs (low, high] of one page of a timeline of `total` events: `first`/`after`
    pages forward from the oldest, `last`/`before` back from the newest."""
    if last is not None or before is not None:
        if first is not None or after is not None:
            raise ValidationFailed("use first/after or last/before, not both", field="last")
        count = page_size(last, field="last")
        high = _cursor(before, "before") - 1 if before is not None else total
        high = max(min(high, total), 0)
        return max(high - count, 0), high
    count = page_size(first, field="first")
    low = min(_cursor(after, "after"), total) if after is not None else 0
    return low, min(low + count, total)


def _cursor(value: str, name: str) -> int:
    seq = decode_seq_cursor(value)
    if seq is None:
        raise ValidationFailed(f"malformed cursor in {name}", field=name)
    return seq


# --- a filtered timeline -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineFilter:
    """Events of some types (exact, or by prefix), notes of some kinds, at or after `since`:
    each part given must hold; a type and a note kind both given must both hold."""

    types: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()
    note_kinds: frozenset[str] = frozenset()
    since: datetime | None = None
    # With note kinds: the classifications of the notes whose data (the kind) the caller
    # may read; a kind must not be learnt of a note the caller may not read.
    note_levels: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class FilteredRange:
    """Up to `size` events of one incident the filter takes, with seq > after."""

    incident_id: str
    filter: TimelineFilter
    after: int
    size: int


@dataclass(frozen=True, slots=True)
class FilteredPage:
    records: list[EventRecord]
    total: int  # events the filter takes, on every page
    has_next: bool


# Per incident: every event the filter takes is counted (total), those after the page's
# cursor are numbered, and the first `size + 1` of them kept (one more says a next page);
# the first event up to the cursor comes along too, to carry the total of a page past the
# last match. One statement for a whole page of incidents.
_FILTERED_SQL = """
SELECT "id", "incident_id", "seq", "total" FROM (
  SELECT "id", "incident_id", "seq",
    COUNT(*) OVER (PARTITION BY "incident_id") AS total,
    ROW_NUMBER() OVER (PARTITION BY "incident_id", ("seq" > {after}) ORDER BY "seq") AS rn
  FROM "timeline_event" WHERE {where}
) m WHERE rn <= {limit} AND ("seq" > {after} OR rn = 1)
"""


async def load_filtered(
    *, tenant_id: str, ranges: Iterable[FilteredRange]
) -> dict[FilteredRange, FilteredPage]:
    """Filtered pages of several incidents' timelines: two statements per distinct filter,
    cursor and page size, whatever the number of incidents."""
    from app.services.incidents.metrics_sql import Dialect, where_of

    found: dict[FilteredRange, FilteredPage] = {}
    shapes: dict[tuple[TimelineFilter, int, int], list[FilteredRange]] = {}
    for r in dict.fromkeys(ranges):
        shapes.setdefault((r.filter, r.after, r.size), []).append(r)
    conn = TimelineEvent._meta.db
    d = Dialect(conn.capabilities.dialect)
    for (filter, after, size), group in shapes.items():
        query = TimelineEvent.filter(
            _filter_q(filter), tenant_id=tenant_id, incident_id__in=[r.incident_id for r in group]
        )
        where, params = where_of(query.only("id"), d)
        if filter.note_kinds:
            kind = "json_extract(\"data\", '$.kind')" if d.sqlite else "(\"data\"->>'kind')"
            params.append(EventType.NOTE_ADDED)
            note = d.mark(len(params))
            marks = []
            for value in sorted(filter.note_kinds):
                params.append(value)
                marks.append(d.mark(len(params)))
            where = f'({where}) AND "type" = {note} AND {kind} IN ({", ".join(marks)})'
        params.append(after)
        sql = _FILTERED_SQL.format(after=d.mark(len(params)), where=where, limit=size + 1)
        hits = await conn.execute_query_dict(sql, params)
        rows = await TimelineEvent.filter(
            tenant_id=tenant_id, id__in=[h["id"] for h in hits]
        ).values(*_COLUMNS)
        records = {str(row["id"]): EventRecord.from_values(row) for row in rows}
        by_incident: dict[str, list[dict[str, Any]]] = {}
        for hit in hits:
            by_incident.setdefault(str(hit["incident_id"]), []).append(hit)
        for r in group:
            mine = sorted(by_incident.get(r.incident_id, []), key=lambda h: h["seq"])
            total = int(mine[0]["total"]) if mine else 0
            page = [records[str(h["id"])] for h in mine if h["seq"] > after]
            found[r] = FilteredPage(page[:size], total=total, has_next=len(page) > size)
    return found


def _filter_q(filter: TimelineFilter) -> Q:
    q = Q()
    if filter.types or filter.prefixes:
        q &= Q(
            Q(type__in=sorted(filter.types)),
            *(Q(type__startswith=p) for p in sorted(filter.prefixes)),
            join_type="OR",
        )
    if filter.since is not None:
        q &= Q(time__gte=filter.since)
    if filter.note_kinds:
        q &= Q(classification__in=sorted(filter.note_levels)) if filter.note_levels else Q(id=None)
    return q

"""The append-only CloudEvents timeline of a record around the incident.

Like an incident's: seq from 1 per record with no gaps, `(source, id)` unique per tenant.
A record's row carries `last_seq`; `append` writes the events after it and moves it on
only where it is still the one read, so two writers never hand out the same seq (the
loser gets LostRace and decides again). Call inside the writer transaction of the change:
the record's subscribers hear of it through the outbox once it commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.models import RecordEvent
from app.pubsub import outbox
from app.services import writer
from app.services.feed import positions
from app.services.incidents.timeline import API_SOURCE
from app.services.writer import LostRace


class Record(Protocol):
    id: Any
    tenant_id: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class RecordEventView:
    id: str
    record_type: str
    record_id: str
    seq: int
    type: str
    source: str
    event_id: str
    time: datetime
    actor: str | None
    data: Mapping[str, Any]

    @classmethod
    def of(cls, row: RecordEvent) -> RecordEventView:
        return cls(
            id=str(row.id),
            record_type=row.record_type,
            record_id=str(row.record_id),
            seq=row.seq,
            type=row.type,
            source=row.source,
            event_id=row.event_id,
            time=row.time,
            actor=row.actor,
            data=dict(row.data),
        )

    def cloud_event(self, subject: str) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": self.event_id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat(),
            "subject": subject,
            "datacontenttype": "application/json",
            "sequence": str(self.seq),
            "data": dict(self.data),
        }


async def append(
    model: Any,
    row: Record,
    record_type: str,
    events: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    actor: str | None,
    now: datetime,
    changes: Mapping[str, Any] | None = None,
) -> list[RecordEventView]:
    """Write `events` (type, data) after the row's last_seq, with the row's `changes`."""
    seen = row.last_seq
    updated = await model.filter(id=row.id, last_seq=seen).update(
        last_seq=seen + len(events), **(changes or {})
    )
    if not updated:
        raise LostRace
    row.last_seq = seen + len(events)
    rows = [
        RecordEvent(
            id=uuid.uuid4(),
            tenant_id=row.tenant_id,
            record_type=record_type,
            record_id=row.id,
            seq=seen + n,
            type=kind,
            source=API_SOURCE,
            event_id=str(uuid.uuid4()),
            time=now,
            actor=actor,
            data=dict(data),
        )
        for n, (kind, data) in enumerate(events, 1)
    ]
    await RecordEvent.bulk_create(rows)
    commit = writer.current()
    commit.feed.extend(
        positions.Entry(
            tenant_id=row.tenant_id,
            record_type=record_type,
            record_id=str(row.id),
            event_row=str(r.id),
            type=r.type,
            time=r.time,
        )
        for r in rows
    )
    # Announced to the record's subscribers once the transaction commits.
    commit.messages.append(
        await outbox.enqueue_record(
            tenant_id=row.tenant_id,
            record_id=str(row.id),
            body={"recordType": record_type, "seq": row.last_seq},
        )
    )
    return [RecordEventView.of(r) for r in rows]


async def events_of(
    *, tenant_id: str, record_ids: Sequence[str]
) -> dict[str, list[RecordEventView]]:
    rows = await RecordEvent.filter(tenant_id=tenant_id, record_id__in=list(record_ids)).order_by(
        "seq"
    )
    found: dict[str, list[RecordEventView]] = {r: [] for r in record_ids}
    for row in rows:
        found.setdefault(str(row.record_id), []).append(RecordEventView.of(row))
    return found

"""Positions in the tenant's feed, handed out in commit order.

The writer calls `stamp` as the last statement of a transaction that wrote events. It moves
the tenant's counter on by the number of events (an upsert, so the tenant's first event
needs no row made beforehand) and writes the feed rows with the positions it got. On
PostgreSQL the counter's row stays locked until the transaction ends, so a second writer of
the tenant waits at its own `stamp` until the first has committed or rolled back: positions
follow commit order and have no gaps, and a reader that saw position n has seen every
position below it. SQLite runs one writer at a time, which gives the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from app.models import FeedCounter, FeedEntry
from app.services.access import quotas

INCIDENT = "incident"

# The month's count starts again with the first event of a new month (UTC).
_UPSERT_PG = (
    "INSERT INTO feed_counter (tenant_id, position, month, month_events) "
    "VALUES ($1, $2, $3, $2) "
    "ON CONFLICT (tenant_id) DO UPDATE SET "
    "position = feed_counter.position + EXCLUDED.position, "
    "month_events = CASE WHEN feed_counter.month = EXCLUDED.month "
    "THEN feed_counter.month_events + EXCLUDED.month_events ELSE EXCLUDED.month_events END, "
    "month = EXCLUDED.month "
    "RETURNING position, month_events"
)
_UPSERT_SQLITE = _UPSERT_PG.replace("VALUES ($1, $2, $3, $2)", "VALUES (?, ?, ?, ?)")


@dataclass(frozen=True, slots=True)
class Entry:
    """An event written in the transaction, waiting for its position."""

    tenant_id: str
    record_type: str
    record_id: str
    event_row: str
    type: str
    time: datetime


async def stamp(entries: Sequence[Entry]) -> None:
    """Give `entries` (in the order written) their tenants' next positions; call last in
    their transaction. Tenants are stamped in id order, so two transactions never wait on
    each other's counters in a cycle."""
    client = FeedCounter._meta.db
    postgres = client.capabilities.dialect == "postgres"
    upsert = _UPSERT_PG if postgres else _UPSERT_SQLITE
    month = quotas.this_month()
    ordered = sorted(entries, key=lambda e: e.tenant_id)  # stable: keeps each tenant's order
    rows: list[FeedEntry] = []
    for tenant_id, group in groupby(ordered, key=lambda e: e.tenant_id):
        batch = list(group)
        count = len(batch)
        args = [tenant_id, count, month] if postgres else [tenant_id, count, month, count]
        result = await client.execute_query_dict(upsert, args)
        # Over the month's events, a change made through the API rolls back here.
        await quotas.check_events(tenant_id, int(result[0]["month_events"]))
        first = int(result[0]["position"]) - count + 1
        rows.extend(
            FeedEntry(
                tenant_id=tenant_id,
                position=first + n,
                record_type=e.record_type,
                record_id=uuid.UUID(e.record_id),
                event_row=uuid.UUID(e.event_row),
                type=e.type,
                time=e.time,
            )
            for n, e in enumerate(batch)
        )
    await FeedEntry.bulk_create(rows)

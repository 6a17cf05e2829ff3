"""Live streams: subscribe first, read back from the database, then follow the broker.

Each stream keeps the newest seq it delivered, so a message delivered twice is skipped, and a
seq that jumps, a broker outage (`RESYNC`) or a late subscriber is filled in from the database.
Those reads go through `replay`, which serves concurrent subscribers' reads in one statement.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from app.core.clock import utcnow
from app.errors import NotFound
from app.models import Classification
from app.pubsub import channels
from app.pubsub.broker import Broker, Message, Resync
from app.services.access.caller import Caller
from app.services.incidents import replay
from app.services.incidents.search import IncidentFilter, changed_since, matching_ids, visible
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import EventRecord

_SEEN_LIMIT = 10_000
# Clock skew between processes that a resync's read-back tolerates.
_RESYNC_MARGIN = timedelta(seconds=5)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Live(Generic[T]):
    """An item of a live stream.

    `shared` is the broker message's cache, the same dict for every local subscriber of one
    event, so work that does not depend on the subscriber is done once per event; None for
    items read back from the database.
    """

    value: T
    shared: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """A timeline event with the classification its incident had when it was delivered."""

    event: EventRecord
    incident_classification: Classification


async def _visible_incident(
    *, tenant_id: str, incident_id: str, clearance: Classification
) -> IncidentSnapshot:
    """The incident, or NOT_FOUND when it does not exist for the caller."""
    snapshot = await replay.incident(tenant_id=tenant_id, incident_id=incident_id)
    _require_visible(snapshot, incident_id, clearance)
    return snapshot


def _require_visible(
    snapshot: IncidentSnapshot, incident_id: str, clearance: Classification
) -> None:
    # An incident raised above the caller's clearance ends the stream as if it were deleted.
    if not visible(snapshot, clearance):
        raise NotFound(f"no incident with id {incident_id!r}", field="id")


def snapshot_of(message: Message) -> IncidentSnapshot:
    """The incident a message carries, decoded once per process however many subscribers."""
    cached = message.cache.get("snapshot")
    if cached is None:
        cached = message.cache["snapshot"] = IncidentSnapshot.from_json(message.data["incident"])
    return cached


def events_of(message: Message) -> list[EventRecord]:
    cached = message.cache.get("events")
    if cached is None:
        cached = message.cache["events"] = [
            EventRecord.from_json(e) for e in message.data["events"]
        ]
    return cached


async def incident_updates(
    *,
    broker: Broker,
    caller: Caller,
    incident_id: str,
) -> AsyncGenerator[Live[IncidentSnapshot], None]:
    """Every new state of one incident, each once, in order."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    async with broker.subscribe(channels.incident(tenant_id, incident_id), started=False) as sub:
        # Read after subscribing, so nothing committed in between is missed; NOT_FOUND here.
        first = await _visible_incident(
            tenant_id=tenant_id, incident_id=incident_id, clearance=clearance
        )
        last = first.last_seq
        sub.started()
        async for item in sub:
            if isinstance(item, Resync):
                snapshot = await replay.incident(tenant_id=tenant_id, incident_id=incident_id)
                shared = None
            else:
                snapshot, shared = snapshot_of(item), item.cache
            _require_visible(snapshot, incident_id, clearance)
            if snapshot.last_seq > last:
                last = snapshot.last_seq
                yield Live(snapshot, shared)


async def timeline_events(
    *,
    broker: Broker,
    caller: Caller,
    incident_id: str,
    after: int | None,
) -> AsyncGenerator[Live[TimelineItem], None]:
    """Events with seq > after (from now when None), in seq order, no gap, no duplicate."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    async with broker.subscribe(channels.incident(tenant_id, incident_id), started=False) as sub:
        current = await _visible_incident(
            tenant_id=tenant_id, incident_id=incident_id, clearance=clearance
        )
        last = current.last_seq if after is None else after
        while True:
            # Read back everything past `last`; live messages buffer in `sub` meanwhile.
            while True:
                batch = await replay.events_after(
                    tenant_id=tenant_id, incident_id=incident_id, after_seq=last
                )
                for event in batch:
                    yield Live(TimelineItem(event, current.classification))
                    last = event.seq
                if len(batch) < 500:
                    break
            sub.started()
            gap = False
            async for item in sub:
                if isinstance(item, Resync):
                    gap = True
                    break
                snapshot = snapshot_of(item)
                _require_visible(snapshot, incident_id, clearance)
                for event in events_of(item):
                    if event.seq <= last:
                        continue
                    if event.seq != last + 1:
                        gap = True
                        break
                    # One message can carry several events: each gets its own shared cache.
                    shared = item.cache.setdefault(f"event:{event.seq}", {})
                    yield Live(TimelineItem(event, snapshot.classification), shared)
                    last = event.seq
                if gap:
                    break
            if not gap:
                return
            current = await _visible_incident(
                tenant_id=tenant_id, incident_id=incident_id, clearance=clearance
            )


async def incidents_changed(
    *,
    broker: Broker,
    caller: Caller,
    filter: IncidentFilter | None,
) -> AsyncGenerator[Live[IncidentSnapshot], None]:
    """The tenant-wide feed: each incident change that matches the filter."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    delivered: OrderedDict[str, int] = OrderedDict()
    since: datetime = utcnow()
    # A filter on other tables (services, alerts, tasks...) is read by the database.
    related = filter is not None and filter.related

    def fresh(snapshot: IncidentSnapshot) -> bool:
        if delivered.get(snapshot.id, 0) >= snapshot.last_seq:
            return False
        delivered[snapshot.id] = snapshot.last_seq
        delivered.move_to_end(snapshot.id)
        if len(delivered) > _SEEN_LIMIT:
            delivered.popitem(last=False)
        if not visible(snapshot, clearance):
            return False
        return filter is None or related or filter.matches(snapshot, clearance)

    async def matching(snapshot: IncidentSnapshot) -> bool:
        if not fresh(snapshot):
            return False
        if filter is None or not related:
            return True
        found = await matching_ids(
            tenant_id=tenant_id, clearance=clearance, filter=filter, ids=[snapshot.id]
        )
        return snapshot.id in found

    async with broker.subscribe(channels.incidents(tenant_id)) as sub:
        async for item in sub:
            if isinstance(item, Resync):
                missed = await changed_since(
                    tenant_id=tenant_id,
                    clearance=clearance,
                    since=since - _RESYNC_MARGIN,
                    filter=filter,
                )
                for snapshot in missed:
                    since = max(since, snapshot.updated_at)
                    if fresh(snapshot):
                        yield Live(snapshot)
                continue
            snapshot = snapshot_of(item)
            since = max(since, snapshot.updated_at)
            if await matching(snapshot):
                yield Live(snapshot, item.cache)


def shared_object(item: Live[T], kind: str, build: Callable[..., R]) -> R:
    """`build(item.value, shared=...)`, built once per event however many local subscribers."""
    if item.shared is None:
        return build(item.value, shared=None)
    cached = item.shared.get(kind)
    if cached is None:
        cached = item.shared[kind] = build(item.value, shared=item.shared)
    return cached

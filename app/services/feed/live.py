"""Following the feed live: replay from a cursor, then every new event once, in commit order.

Each process keeps one tail per tenant while anyone follows it. The tail listens on the
tenant's incidents and records channels (the outbox relay rings them after each commit),
reads the feed rows past the last position it read, once for all its followers, and hands
every follower the same items. Positions follow commit order with no gaps
(`positions.stamp`), so reading "past the last position read" misses nothing; a missed
doorbell is made good by the next one, a broker outage (Resync) and a periodic read.

A follower joins the tail first, then replays from the database what its cursor has not
seen, then takes the tail's items, skipping those the replay covered: no gap, no duplicate.
A follower that falls behind by more than `FOLLOWER_LIMIT` items drops them and replays
from the database again, so a slow reader costs memory only up to that bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator
from weakref import WeakKeyDictionary

from app.models import FeedEntry
from app.pubsub import channels
from app.pubsub.broker import Broker, SlowConsumer
from app.services.access.caller import Caller
from app.services.feed.queries import FeedItem, events_after, head, read
from app.services.feed.types import FeedFilter
from app.services.incidents.live import Live

log = logging.getLogger(__name__)

FOLLOWER_LIMIT = 10_000
_BATCH = 500
# A tail reads the feed this often even without a doorbell.
_POLL_SECONDS = 5.0
_RETRY_SECONDS = 1.0


class _Follower:
    def __init__(self) -> None:
        self.items: deque[Live[FeedItem]] = deque()
        self.overflowed = False
        self.ready = asyncio.Event()

    def put(self, items: list[Live[FeedItem]]) -> None:
        if self.overflowed:
            return
        if len(self.items) + len(items) > FOLLOWER_LIMIT:
            self.overflowed = True
            self.items.clear()
        else:
            self.items.extend(items)
        self.ready.set()

    def reset(self) -> None:
        self.overflowed = False
        self.items.clear()


class _Tail:
    def __init__(self, broker: Broker, tenant_id: str) -> None:
        self.broker = broker
        self.tenant_id = tenant_id
        self.followers: set[_Follower] = set()
        self.high = 0
        self.started = asyncio.Event()
        self.reads = 0
        self.task = asyncio.create_task(self._run(), name=f"feed-tail:{tenant_id}")

    async def _run(self) -> None:
        doorbells = (channels.incidents(self.tenant_id), channels.records(self.tenant_id))
        while True:
            try:
                async with self.broker.subscribe(*doorbells) as sub:
                    if not self.started.is_set():
                        # Read after subscribing: nothing committed in between is missed.
                        self.high = await head(self.tenant_id)
                        self.started.set()
                    while True:
                        await self._read()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(sub.get(), _POLL_SECONDS)
                        sub.discard_pending()  # one read answers every doorbell rung so far
            except asyncio.CancelledError:
                raise
            except SlowConsumer:
                continue  # subscribe again and read what the lost doorbells announced
            except Exception:
                log.warning("feed tail of %s failed; retrying", self.tenant_id, exc_info=True)
                await asyncio.sleep(_RETRY_SECONDS)

    async def _read(self) -> None:
        while True:
            entries = (
                await FeedEntry.filter(tenant_id=self.tenant_id, position__gt=self.high)
                .order_by("position")
                .limit(_BATCH)
            )
            self.reads += 1
            if not entries:
                return
            items = [Live(item, {}) for item in await read(entries)]
            self.high = int(entries[-1].position)
            for follower in self.followers:
                follower.put(items)
            if len(entries) < _BATCH:
                return


_TAILS: WeakKeyDictionary[Broker, dict[str, _Tail]] = WeakKeyDictionary()


def _join(broker: Broker, tenant_id: str, follower: _Follower) -> _Tail:
    tails = _TAILS.setdefault(broker, {})
    tail = tails.get(tenant_id)
    if tail is None or tail.task.done():
        tail = tails[tenant_id] = _Tail(broker, tenant_id)
    tail.followers.add(follower)
    return tail


async def _leave(broker: Broker, tail: _Tail, follower: _Follower) -> None:
    tail.followers.discard(follower)
    if tail.followers:
        return
    tails = _TAILS.get(broker, {})
    if tails.get(tail.tenant_id) is tail:
        del tails[tail.tenant_id]
    tail.task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await tail.task


async def follow(
    *, broker: Broker, caller: Caller, after: int | None, filter: FeedFilter
) -> AsyncGenerator[Live[FeedItem], None]:
    """Events after position `after` (from now when None) that the caller may see and the
    filter takes, replayed then live, each once, in commit order."""

    def wanted(item: FeedItem) -> bool:
        return filter.matches(item.type, item.record_id, item.event.time) and item.visible_to(
            caller.clearance
        )

    follower = _Follower()
    tail = _join(broker, caller.tenant_id, follower)
    try:
        # Inside the try: a reader gone while the tail starts is taken off it all the same.
        await tail.started.wait()
        last = await head(caller.tenant_id) if after is None else after
        while True:
            follower.reset()
            while True:
                page = await events_after(caller=caller, after=last, limit=_BATCH, filter=filter)
                for item in page.items:
                    yield Live(item)
                last = page.last
                if not page.has_more:
                    break
            while not follower.overflowed:
                if not follower.items:
                    follower.ready.clear()
                    await follower.ready.wait()
                    continue
                live = follower.items.popleft()
                if live.value.position <= last:
                    continue
                last = live.value.position
                if wanted(live.value):
                    yield live
    finally:
        await _leave(broker, tail, follower)

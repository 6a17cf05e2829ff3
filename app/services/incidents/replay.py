"""Read-backs of live streams, batched: many subscribers' identical reads in one statement.

A live stream subscribes to the broker first and reads the database second, so that nothing
committed in between is missed. A subscriber may therefore only share a read that *starts*
after it asked: `Batcher.load` joins the group's pending batch, which is not yet sent, and
never a read already in flight (it may have begun before this subscriber's subscription was
confirmed). A group has at most one read in flight; callers arriving meanwhile collect in
the next batch, sent when that read ends (or, when none is in flight, at the end of the
current loop turn), and no sooner than `interval` after the group's previous read was sent:
reconnecting clients arrive over seconds, not in one loop turn, and a short wait makes them
share a statement. So 10,000 clients reconnecting at once cost a few statements per
incident, not 10,000, and each still sees everything committed after it subscribed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from app.errors import NotFound
from app.services.incidents import snapshot as snapshots
from app.services.incidents import timeline
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import EventRecord

G = TypeVar("G", bound=Hashable)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Incident ids per statement (SQLite's bound-parameter limit is well above it).
_IDS_PER_READ = 500
# Seconds between two reads of one group: a lone subscriber waits for none of it (its read
# is sent at once), one of a burst at most this long.
INTERVAL = 0.05


@dataclass(slots=True)
class _Group(Generic[K, V]):
    pending: dict[K, list[asyncio.Future[V]]] | None = None
    # The read in flight (asyncio keeps only a weak reference to a running task).
    reading: asyncio.Task[None] | None = None
    sent_at: float = float("-inf")


@dataclass(slots=True)
class Batcher(Generic[G, K, V]):
    """Coalesces `load(group, key)` calls into one `read(group, keys)` per batch.

    `read` returns a value for every key it is given. Groups are independent: a read of one
    never delays another.
    """

    read: Callable[[G, Collection[K]], Awaitable[Mapping[K, V]]]
    interval: float = 0.0
    _groups: dict[tuple[asyncio.AbstractEventLoop, G], _Group[K, V]] = field(default_factory=dict)

    async def load(self, group: G, key: K) -> V:
        loop = asyncio.get_running_loop()
        slot = (loop, group)
        state = self._groups.get(slot)
        if state is None:
            state = self._groups[slot] = _Group()
        if state.pending is None:
            state.pending = {}
            if state.reading is None:
                self._schedule(slot, state)
        waiter: asyncio.Future[V] = loop.create_future()
        state.pending.setdefault(key, []).append(waiter)
        return await waiter

    def _schedule(self, slot: tuple[asyncio.AbstractEventLoop, G], state: _Group[K, V]) -> None:
        loop = slot[0]
        wait = state.sent_at + self.interval - loop.time()
        if wait > 0:
            loop.call_later(wait, self._send, slot, state)
        else:
            loop.call_soon(self._send, slot, state)

    def _send(self, slot: tuple[asyncio.AbstractEventLoop, G], state: _Group[K, V]) -> None:
        batch, state.pending = state.pending, None
        if not batch or not _waiting(batch):  # every caller has gone meanwhile
            self._idle(slot, state)
            return
        state.sent_at = slot[0].time()
        state.reading = slot[0].create_task(self._run(slot, state, batch))

    def _idle(self, slot: tuple[asyncio.AbstractEventLoop, G], state: _Group[K, V]) -> None:
        # Kept for one interval, so that a burst's late arrivals still wait for it.
        if self.interval > 0:
            slot[0].call_later(self.interval, self._forget, slot, state)
        else:
            self._forget(slot, state)

    def _forget(self, slot: tuple[asyncio.AbstractEventLoop, G], state: _Group[K, V]) -> None:
        if state.pending is None and state.reading is None and self._groups.get(slot) is state:
            del self._groups[slot]

    async def _run(
        self,
        slot: tuple[asyncio.AbstractEventLoop, G],
        state: _Group[K, V],
        batch: dict[K, list[asyncio.Future[V]]],
    ) -> None:
        try:
            found = await self.read(slot[1], list(batch))
        except asyncio.CancelledError:
            # The loop is shutting down: nobody waits for this batch or the next.
            later, state.pending = state.pending or {}, None
            for waiter in [*_waiting(batch), *_waiting(later)]:
                waiter.cancel()
            raise
        except Exception as exc:
            for waiter in _waiting(batch):
                waiter.set_exception(exc)
        else:
            for key, waiters in batch.items():
                for waiter in waiters:
                    if waiter.done():
                        continue
                    if key in found:
                        waiter.set_result(found[key])
                    else:
                        waiter.set_exception(LookupError(f"{key!r} was not read"))
        finally:
            state.reading = None
            if state.pending is not None:
                self._schedule(slot, state)
            else:
                self._idle(slot, state)


def _waiting(batch: Mapping[K, list[asyncio.Future[V]]]) -> list[asyncio.Future[V]]:
    return [w for waiters in batch.values() for w in waiters if not w.done()]


async def _read_incidents(
    tenant_id: str, incident_ids: Collection[str]
) -> dict[str, IncidentSnapshot | None]:
    ids = list(incident_ids)
    found: dict[str, IncidentSnapshot | None] = dict.fromkeys(ids)
    for start in range(0, len(ids), _IDS_PER_READ):
        chunk = ids[start : start + _IDS_PER_READ]
        found.update(await snapshots.get_incidents(tenant_id=tenant_id, incident_ids=chunk))
    return found


async def _read_events(
    group: tuple[str, str, int], afters: Collection[int]
) -> dict[int, list[EventRecord]]:
    tenant_id, incident_id, limit = group
    pages: dict[int, list[EventRecord]] = {}
    # One statement per run of cursors no further apart than a page, so a stale cursor
    # beside fresh ones does not make everyone's statement read the whole timeline.
    run: list[int] = []
    for after in sorted(afters):
        if run and after - run[0] > limit:
            pages.update(await _events_page(tenant_id, incident_id, run, limit))
            run = []
        run.append(after)
    pages.update(await _events_page(tenant_id, incident_id, run, limit))
    return pages


async def _events_page(
    tenant_id: str, incident_id: str, afters: list[int], limit: int
) -> dict[int, list[EventRecord]]:
    return await timeline.events_after_each(
        tenant_id=tenant_id, incident_id=incident_id, afters=afters, limit=limit
    )


INCIDENTS: Batcher[str, str, IncidentSnapshot | None] = Batcher(_read_incidents, INTERVAL)
EVENTS: Batcher[tuple[str, str, int], int, list[EventRecord]] = Batcher(_read_events, INTERVAL)


async def incident(*, tenant_id: str, incident_id: str) -> IncidentSnapshot:
    """`snapshot.get_incident`, read in one statement with every concurrent caller's."""
    key = str(snapshots.parse_incident_id(incident_id))
    found = await INCIDENTS.load(tenant_id, key)
    if found is None:
        raise NotFound(f"no incident with id {incident_id!r}", field="id")
    return found


async def events_after(
    *, tenant_id: str, incident_id: str, after_seq: int, limit: int = 500
) -> list[EventRecord]:
    """`timeline.events_after`, read in one statement with every concurrent caller's."""
    # Callers of one cursor share the page: each gets its own list.
    return list(await EVENTS.load((tenant_id, incident_id, limit), after_seq))

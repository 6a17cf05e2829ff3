"""Live status boards: one feed per (tenant, persona, clearance) per process, coalesced.

A feed follows the tenant's incidents and records channels and rebuilds its board at most once per
`INTERVAL`: the first change after a quiet period at once, the rest of a burst in one more
build at the end of the window. It also wakes up, with no write, when the board says it will
change by itself (an SLA clock falling due). Every local subscriber of the feed receives the
same Board object with the same `shared` dict, so the board is built once and each distinct
subscription document is executed once per push (app/schema/execution.py), whatever the
number of subscribers. A subscriber that has not taken a board yet when the next one comes
only gets the newer one: a board is a whole state, not a delta.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import timedelta
from weakref import WeakKeyDictionary

from app.core.clock import utcnow
from app.errors import DomainError
from app.models import Classification
from app.pubsub import channels
from app.pubsub.broker import Broker
from app.services.access.caller import Caller
from app.services.boards.status_board import Board, Persona, build_board, clearance_for
from app.services.incidents.live import Live

log = logging.getLogger(__name__)

INTERVAL = 1.0
# Wake a little after a deadline, so the board built then sees it passed.
_WAKE_MARGIN = timedelta(milliseconds=50)

_RETRY_FIRST = 0.5
_RETRY_MAX = 10.0

_Key = tuple[str, Persona, Classification]


class _Slot:
    """What one subscriber has not taken yet: only the newest board."""

    def __init__(self) -> None:
        self.item: Live[Board] | BaseException | None = None
        self.ready = asyncio.Event()

    def put(self, item: Live[Board] | BaseException) -> None:
        self.item = item
        self.ready.set()

    async def take(self) -> Live[Board]:
        await self.ready.wait()
        self.ready.clear()
        item, self.item = self.item, None
        if isinstance(item, BaseException):
            raise item
        assert item is not None
        return item


class _Feed:
    def __init__(self, broker: Broker, key: _Key) -> None:
        self.broker = broker
        self.key = key
        self.slots: set[_Slot] = set()
        self.current: Live[Board] | None = None
        self.builds = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        tenant_id, persona, _ = self.key
        self.task = asyncio.create_task(self._run(), name=f"board:{tenant_id}:{persona.value}")

    async def _build(self) -> Live[Board]:
        """The board now; a database blip is retried, subscribers keeping the last board."""
        tenant_id, persona, clearance = self.key
        delay = _RETRY_FIRST
        while True:
            try:
                board = await build_board(
                    caller=Caller.shared(tenant_id, clearance=clearance), persona=persona
                )
            except (asyncio.CancelledError, DomainError):
                raise
            except Exception:
                log.warning("status board %s: build failed, retrying", self.key, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            self.builds += 1
            return Live(board, {})

    def _push(self, item: Live[Board]) -> None:
        self.current = item
        for slot in self.slots:
            slot.put(item)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tenant_id = self.key[0]
        try:
            # Boards show records too (a problem's workaround, change success, open problems).
            following = (channels.incidents(tenant_id), channels.records(tenant_id))
            async with self.broker.subscribe(*following) as sub:
                # Built after subscribing: nothing committed in between is missed.
                self._push(await self._build())
                last_push = loop.time()
                dirty = False
                while True:
                    deadlines = [last_push + INTERVAL] if dirty else []
                    wake = self.current.value.changes_at if self.current else None
                    if wake is not None:
                        wait = (wake + _WAKE_MARGIN - utcnow()).total_seconds()
                        deadlines.append(loop.time() + wait)
                    if deadlines and min(deadlines) <= loop.time():
                        self._push(await self._build())
                        last_push, dirty = loop.time(), False
                        continue
                    timeout = min(deadlines) - loop.time() if deadlines else None
                    try:
                        await asyncio.wait_for(sub.get(), timeout)
                    except TimeoutError:
                        continue
                    # A change, or a broker outage (Resync): either way, rebuild.
                    if not dirty and loop.time() - last_push >= INTERVAL:
                        self._push(await self._build())
                        last_push = loop.time()
                    else:
                        dirty = True
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("status board feed %s failed", self.key)
            for slot in self.slots:
                slot.put(error)


# Feeds of each broker (one per process, several in tests that start more).
_FEEDS: WeakKeyDictionary[Broker, dict[_Key, _Feed]] = WeakKeyDictionary()


async def board_updates(
    *,
    broker: Broker,
    caller: Caller,
    persona: Persona,
) -> AsyncGenerator[Live[Board], None]:
    """The current board at once, then each new one, coalesced (see the module's doc)."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    key = (tenant_id, persona, clearance_for(persona, clearance))
    feeds = _FEEDS.setdefault(broker, {})
    feed = feeds.get(key)
    if feed is None or feed.task is None or feed.task.done():
        feed = feeds[key] = _Feed(broker, key)
        feed.start()
    slot = _Slot()
    feed.slots.add(slot)
    if feed.current is not None:
        slot.put(feed.current)
    try:
        while True:
            yield await slot.take()
    finally:
        feed.slots.discard(slot)
        if not feed.slots:
            if feeds.get(key) is feed:
                del feeds[key]
            if feed.task is not None:
                feed.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await feed.task

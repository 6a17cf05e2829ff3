"""The per-process broker hub.

One backend subscription per channel, whatever the number of local subscribers; local fan-out
to bounded per-subscriber buffers. Fixes broadcaster 0.3.1's faults (docs/architecture.md):
subscribing is serialised per channel and waits for the broker to confirm, buffers are
bounded, and the Redis backend supervises its connection, resubscribes after an outage and
tells every subscriber to read back what it may have missed (`RESYNC`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, Protocol
from urllib.parse import urlparse

from broadcaster import Event

from app.pubsub import channels

log = logging.getLogger(__name__)


class Backend(Protocol):
    async def connect(self) -> None: ...
    async def disconnect(self) -> None: ...
    async def subscribe(self, channel: str) -> None: ...
    async def unsubscribe(self, channel: str) -> None: ...
    async def publish(self, channel: str, message: Any) -> None: ...
    async def next_published(self) -> Event: ...
    async def ping(self) -> bool: ...


class _MemoryBackend:
    """In-process delivery: what is published reaches this process's subscribers only."""

    def __init__(self) -> None:
        self._subscribed: set[str] = set()
        self._published: asyncio.Queue[Event] = asyncio.Queue()

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None

    async def subscribe(self, channel: str) -> None:
        self._subscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._subscribed.discard(channel)

    async def publish(self, channel: str, message: Any) -> None:
        self._published.put_nowait(Event(channel=channel, message=message))

    async def next_published(self) -> Event:
        while True:
            event = await self._published.get()
            if event.channel in self._subscribed:
                return event

    async def ping(self) -> bool:
        return True


def create_backend(url: str) -> Backend:
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return _MemoryBackend()
    if scheme in ("redis", "rediss"):
        from app.pubsub.redis_backend import SupervisedRedisBackend

        return SupervisedRedisBackend(url)
    raise ValueError(f"unsupported broker URL scheme {scheme!r}")


class SlowConsumer(Exception):
    """A subscriber fell too far behind and was cut off."""


class Message:
    """A published message, decoded once per process and shared by every local subscriber."""

    __slots__ = ("channel", "raw", "_data", "cache")

    def __init__(self, channel: str, raw: str) -> None:
        self.channel = channel
        self.raw = raw
        self._data: dict[str, Any] | None = None
        self.cache: dict[str, Any] = {}

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = json.loads(self.raw)
        return self._data


class Resync:
    """Marker delivered after a broker outage: read back from the database."""


RESYNC: Final = Resync()


class Subscription:
    def __init__(self, limit: int) -> None:
        self._items: deque[Message | Resync] = deque()
        self._limit = limit
        self._wakeup = asyncio.Event()
        self.overflowed = False
        self._on_started: Callable[[], None] | None = None

    def started(self) -> None:
        """The stream has read what it starts from: it counts as live from now on."""
        on_started, self._on_started = self._on_started, None
        if on_started is not None:
            on_started()

    def push(self, item: Message | Resync) -> None:
        if len(self._items) >= self._limit:
            self.overflowed = True
        else:
            self._items.append(item)
        self._wakeup.set()

    def discard_pending(self) -> None:
        """Drop what is buffered, for a listener to whom a message is only a doorbell."""
        self._items.clear()

    async def get(self) -> Message | Resync:
        while True:
            if self.overflowed:
                raise SlowConsumer("subscriber fell behind and was disconnected")
            if self._items:
                return self._items.popleft()
            self._wakeup.clear()
            await self._wakeup.wait()

    def __aiter__(self) -> AsyncIterator[Message | Resync]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message | Resync]:
        while True:
            yield await self.get()


class Broker:
    def __init__(self, url: str, *, queue_size: int = 1000, namespace: str = "") -> None:
        """`namespace` prefixes every channel, so deployments can share one Redis."""
        self.url = url
        self._namespace = f"{namespace}:" if namespace else ""
        self._backend = create_backend(url)
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        # Channel memberships of subscriptions that have not called `started()` yet.
        self._starting = 0

    async def connect(self) -> None:
        await self._backend.connect()
        await self._backend.subscribe(channels.CONTROL)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="broker-dispatch")

    async def disconnect(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        await self._backend.disconnect()

    async def __aenter__(self) -> Broker:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    async def publish(self, channel: str, message: str) -> None:
        await self._backend.publish(self._namespace + channel, message)

    async def ping(self) -> bool:
        return await self._backend.ping()

    def subscriber_count(self) -> int:
        """Live subscriptions, per channel: those still reading what they start from are
        not counted yet."""
        return sum(len(s) for s in self._subscribers.values()) - self._starting

    @contextlib.asynccontextmanager
    async def subscribe(self, *names: str, started: bool = True) -> AsyncIterator[Subscription]:
        """A buffer receiving every message on the channels from the moment this returns.

        With `started=False` the subscription counts as live only once the caller has read
        the state it starts from and called `Subscription.started()`."""
        sub = Subscription(self._queue_size)
        joined: list[str] = []
        try:
            for name in (self._namespace + n for n in names):
                async with self._channel_lock(name):
                    if name not in self._subscribers:
                        await self._backend.subscribe(name)
                        self._subscribers[name] = set()
                    self._subscribers[name].add(sub)
                    joined.append(name)
            if not started:
                count = len(joined)
                self._starting += count
                sub._on_started = lambda: self._started(count)
            yield sub
        finally:
            if sub._on_started is not None:
                sub._on_started = None
                self._starting -= len(joined)
            for name in joined:
                async with self._channel_lock(name):
                    members = self._subscribers.get(name)
                    if members is None:
                        continue
                    members.discard(sub)
                    if not members:
                        del self._subscribers[name]
                        try:
                            await self._backend.unsubscribe(name)
                        except Exception:  # the broker may be down; resubscribe skips it
                            log.debug("unsubscribe from %s failed", name, exc_info=True)

    def _started(self, count: int) -> None:
        self._starting -= count

    @contextlib.asynccontextmanager
    async def _channel_lock(self, name: str) -> AsyncIterator[None]:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        self._lock_users[name] = self._lock_users.get(name, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[name] -= 1
            if not self._lock_users[name]:
                del self._lock_users[name]
                del self._locks[name]

    async def _dispatch(self) -> None:
        while True:
            try:
                event = await self._backend.next_published()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("broker listener failed; continuing")
                await asyncio.sleep(0.1)
                continue
            if event.channel == channels.CONTROL:
                if event.message == channels.RESYNC_MESSAGE:
                    for everyone in self._subscribers.values():
                        for sub in everyone:
                            sub.push(RESYNC)
                continue
            listeners = self._subscribers.get(event.channel)
            if not listeners:
                continue
            message = Message(event.channel, event.message)
            for sub in listeners:
                sub.push(message)

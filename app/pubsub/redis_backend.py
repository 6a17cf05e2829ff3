"""A Redis pub/sub backend that survives Redis restarts.

broadcaster's own backend marks itself ready before SUBSCRIBE is registered and never
reconnects. This one waits for each subscription's confirmation, and a supervisor task
reconnects with backoff, resubscribes every channel, then emits a resync on the control
channel so streams read back from the database what they may have missed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from broadcaster import Event
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.pubsub import channels

log = logging.getLogger(__name__)

_CONFIRM_TIMEOUT = 5.0
_BACKOFF_START = 0.1
_BACKOFF_MAX = 5.0


class SupervisedRedisBackend:
    def __init__(self, url: str) -> None:
        self._url = url
        options: dict[str, Any] = {
            "socket_connect_timeout": 2,
            # No silent reconnects inside redis-py: every reconnect must be seen, to resync.
            "retry": Retry(NoBackoff(), 0),
        }
        self._publisher = aioredis.Redis.from_url(url, socket_timeout=2, **options)
        self._listener_options = {**options, "health_check_interval": 5}
        self._channels: set[str] = set()
        self._confirmations: dict[str, list[asyncio.Future[None]]] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._connected = asyncio.Event()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._supervisor: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self._channels.add(channels.CONTROL)
        self._supervisor = asyncio.create_task(self._supervise(), name="redis-supervisor")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout=5)
        except TimeoutError:
            log.warning("Redis is not reachable yet; events wait in the outbox until it is")

    async def disconnect(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            try:
                await self._supervisor
            except (asyncio.CancelledError, Exception):
                pass
        await self._publisher.aclose()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None or not self._connected.is_set():
            return  # the supervisor subscribes on (re)connect, then resyncs
        waiter = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault(channel, []).append(waiter)
        try:
            await pubsub.subscribe(channel)
            await asyncio.wait_for(asyncio.shield(waiter), timeout=_CONFIRM_TIMEOUT)
        except (RedisError, OSError, TimeoutError):
            log.warning("subscribe to %s not confirmed; it will be after reconnect", channel)
        finally:
            waiters = self._confirmations.get(channel, [])
            if waiter in waiters:
                waiters.remove(waiter)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._pubsub is not None and self._connected.is_set():
            await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(channel, message)

    async def ping(self) -> bool:
        try:
            return bool(await self._publisher.ping())  # type: ignore[misc]
        except (RedisError, OSError):
            return False

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _supervise(self) -> None:
        backoff = _BACKOFF_START
        failed = False
        while True:
            client = aioredis.Redis.from_url(self._url, **self._listener_options)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(*self._channels)
                self._pubsub = pubsub
                self._connected.set()
                if failed:
                    log.info("Redis reconnected; resubscribed %d channels", len(self._channels))
                    self._queue.put_nowait(Event(channels.CONTROL, channels.RESYNC_MESSAGE))
                failed = False
                backoff = _BACKOFF_START
                await self._listen(pubsub)
            except asyncio.CancelledError:
                await self._close(client, pubsub)
                raise
            except (RedisError, OSError) as exc:
                if self._connected.is_set():
                    log.warning("Redis connection lost (%s); reconnecting", exc)
                self._connected.clear()
                self._pubsub = None
                failed = True
            await self._close(client, pubsub)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            kind = message["type"]
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            if kind == "message":
                data = message["data"]
                self._queue.put_nowait(
                    Event(channel, data.decode() if isinstance(data, bytes) else data)
                )
            elif kind == "subscribe":
                for waiter in self._confirmations.pop(channel, []):
                    if not waiter.done():
                        waiter.set_result(None)

    @staticmethod
    async def _close(client: aioredis.Redis, pubsub: aioredis.client.PubSub) -> None:
        try:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()
        except Exception:
            pass

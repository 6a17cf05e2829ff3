"""The intake writer: accepted alerts stored durably, many requests per statement.

A webhook request hands its normalised alerts (already encoded as JSON) to `write` and waits;
one task per process takes everything queued meanwhile and stores it in one statement and
one commit (group commit), then answers every waiting request and wakes the processor. A
request is answered only after its alerts are committed, so a 202 survives a crash, and the
cost of a commit is shared by all the requests that arrived while the previous one ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from app.core import metrics
from app.models import AlertIntake
from app.services import alerts

log = logging.getLogger(__name__)

# Alerts, and bytes of their JSON, stored by one statement (a request is never split: a
# flush takes at least one). One alert may be a megabyte, so a count alone bounds nothing.
FLUSH_MAX = 10_000
FLUSH_MAX_BYTES = 16 * 1024 * 1024
# Alerts, and bytes, waiting for a flush before new requests are turned away (503, retry).
QUEUE_MAX = 200_000
QUEUE_MAX_BYTES = 64 * 1024 * 1024
_STOP_SECONDS = 10.0

_INSERT_POSTGRES = (
    "INSERT INTO alert_intake (tenant_id, payload, received_at) "
    "SELECT t, p::jsonb, r FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(t, p, r)"
)
_INSERT_SQLITE = "INSERT INTO alert_intake (tenant_id, payload, received_at) VALUES (?, ?, ?)"


class IntakeUnavailable(Exception):
    """The alerts were not stored: the writer is stopped, overloaded, or the database failed."""


@dataclass(slots=True)
class _Pending:
    tenant_id: str
    payloads: list[str]
    size: int
    received_at: datetime
    done: asyncio.Future[None]


class IntakeWriter:
    def __init__(
        self,
        *,
        sqlite: bool,
        flush_max: int = FLUSH_MAX,
        flush_max_bytes: int = FLUSH_MAX_BYTES,
        queue_max: int = QUEUE_MAX,
        queue_max_bytes: int = QUEUE_MAX_BYTES,
    ):
        self._sqlite = sqlite
        self._flush_max = flush_max
        self._flush_max_bytes = flush_max_bytes
        self._queue_max = queue_max
        self._queue_max_bytes = queue_max_bytes
        self._queue: deque[_Pending] = deque()
        self._queued = 0
        self._queued_bytes = 0
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.flushes = 0
        self.stored = 0

    @property
    def queued(self) -> int:
        return self._queued

    async def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="alert-intake-writer")

    async def stop(self) -> None:
        """Store what is queued, then stop; requests arriving after this are refused."""
        self._closing = True
        self._ready.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), _STOP_SECONDS)
            except TimeoutError:
                log.warning("the alert intake writer did not finish in %s s", _STOP_SECONDS)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        while self._queue:
            self._fail([self._queue.popleft()], IntakeUnavailable("the server is stopping"))

    async def write(self, *, tenant_id: str, payloads: list[str], received_at: datetime) -> None:
        """Store the alerts; returns once they are committed. Raises IntakeUnavailable."""
        if self._task is None or self._closing:
            raise IntakeUnavailable("the server is stopping")
        # The payloads' length in characters stands for their size: it costs nothing, and
        # the intake's JSON is nearly all ASCII (one byte a character).
        size = sum(len(p) for p in payloads)
        if (
            self._queued + len(payloads) > self._queue_max
            or self._queued_bytes + size > self._queue_max_bytes
        ):
            raise IntakeUnavailable("too many alerts are waiting to be stored")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(tenant_id, payloads, size, received_at, done))
        self._queued += len(payloads)
        self._queued_bytes += size
        self._ready.set()
        await done

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                batch = self._take()
                await self._flush(batch)
                alerts.intake_written.send(None)
            if self._closing:
                return

    def _take(self) -> list[_Pending]:
        batch = [self._queue.popleft()]
        count, size = len(batch[0].payloads), batch[0].size
        while (
            self._queue
            and count + len(self._queue[0].payloads) <= self._flush_max
            and size + self._queue[0].size <= self._flush_max_bytes
        ):
            pending = self._queue.popleft()
            batch.append(pending)
            count += len(pending.payloads)
            size += pending.size
        self._queued -= count
        self._queued_bytes -= size
        return batch

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            await self._insert(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.warning("storing %d alerts failed: %r", len(batch[0].payloads), exc)
                self._fail(batch, IntakeUnavailable("the alerts could not be stored"))
                return
            # One request's alerts must not fail the others': store each on its own.
            for pending in batch:
                await self._flush([pending])
            return
        self.flushes += 1
        metrics.ALERT_INTAKE_FLUSHES.inc()
        for pending in batch:
            self.stored += len(pending.payloads)
            if not pending.done.done():
                pending.done.set_result(None)

    def _fail(self, batch: list[_Pending], exc: Exception) -> None:
        for pending in batch:
            if not pending.done.done():
                pending.done.set_exception(exc)

    async def _insert(self, batch: list[_Pending]) -> None:
        client = AlertIntake._meta.db
        if self._sqlite:
            rows = [
                [p.tenant_id, payload, p.received_at.isoformat(sep=" ", timespec="microseconds")]
                for p in batch
                for payload in p.payloads
            ]
            await client.execute_many(_INSERT_SQLITE, rows)
            return
        tenants: list[str] = []
        payloads: list[str] = []
        received: list[datetime] = []
        for p in batch:
            n = len(p.payloads)
            tenants += [p.tenant_id] * n
            payloads += p.payloads
            received += [p.received_at] * n
        await client.execute_query(_INSERT_POSTGRES, [tenants, payloads, received])

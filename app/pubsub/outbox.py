"""The transactional outbox and its relay.

A command writes an outbox row in its own transaction (`enqueue`) and, after commit, hands the
row to this process's relay (`committed`), which publishes it at once. A periodic sweep
publishes whatever a crash or a broker outage left unsent. The database is the truth, the
broker only a doorbell: subscribers tolerate a message delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.transactions import in_transaction

from app.core import metrics
from app.core.clock import utcnow
from app.core.signal import Signal
from app.core.tasks import cancel_and_wait
from app.models import OutboxMessage
from app.pubsub import channels
from app.pubsub.broker import Broker

log = logging.getLogger(__name__)

# Rows younger than this are left to the process that wrote them.
_SWEEP_GRACE = timedelta(seconds=2)
_SWEEP_BATCH = 500
_KEEP_SENT = timedelta(hours=1)
_MAX_IN_MEMORY = 10_000


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    tenant_id: str
    incident_id: str
    payload: str
    # Set for a record's message (a problem, change or article): it goes to its channel.
    record_id: str | None = None


async def enqueue(*, tenant_id: str, incident_id: str, body: Mapping[str, Any]) -> Pending:
    """Write an outbox row; call inside the command's transaction."""
    payload = json.dumps(
        {"tenant": tenant_id, "incidentId": incident_id, **body}, separators=(",", ":")
    )
    row = await OutboxMessage.create(tenant_id=tenant_id, payload=payload)
    return Pending(row.id, tenant_id, incident_id, payload)


async def enqueue_record(*, tenant_id: str, record_id: str, body: Mapping[str, Any]) -> Pending:
    """Write the outbox row announcing a record's change; call inside its transaction."""
    payload = json.dumps(
        {"tenant": tenant_id, "recordId": record_id, **body}, separators=(",", ":")
    )
    row = await OutboxMessage.create(tenant_id=tenant_id, payload=payload)
    return Pending(row.id, tenant_id, "", payload, record_id)


# Rung with every outbox row this process commits, before anyone is answered: the relay
# publishes it at once (without a relay, the next sweep does), the query cache drops the
# tenant's answers whatever wrote the change (a mutation, a webhook, the alert processor).
message_committed: Signal[Pending] = Signal("outbox.message_committed")


def committed(message: Pending) -> None:
    """Call after the transaction that wrote `message` has committed."""
    message_committed.send(message)


def _targets(tenant_id: str, incident_id: str, record_id: str | None) -> tuple[str, ...]:
    if record_id is not None:
        return channels.record(tenant_id, record_id), channels.records(tenant_id)
    return channels.incident(tenant_id, incident_id), channels.incidents(tenant_id)


class OutboxRelay:
    def __init__(
        self, broker: Broker, *, sweep_interval: float = 1.0, use_row_locks: bool = False
    ) -> None:
        self._broker = broker
        self._sweep_interval = sweep_interval
        self._use_row_locks = use_row_locks
        self._queue: deque[Pending] = deque()
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._disconnect: Callable[[], None] = lambda: None
        self.published = 0

    def schedule(self, message: Pending) -> None:
        if len(self._queue) < _MAX_IN_MEMORY:
            self._queue.append(message)
            self._wakeup.set()

    async def start(self) -> None:
        self._disconnect = message_committed.connect(self.schedule)
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="outbox-publish"),
            asyncio.create_task(self._sweep_loop(), name="outbox-sweep"),
        ]

    async def stop(self) -> None:
        self._disconnect()
        await cancel_and_wait(self._tasks)
        # Best effort: what is left is still in the table for the next sweep.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._drain(), timeout=2)

    async def _publish_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self._drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox publish failed; the sweep will retry")

    async def _drain(self) -> None:
        sent: list[int] = []
        try:
            while self._queue:
                message = self._queue[0]
                try:
                    await self._send(
                        message.tenant_id, message.incident_id, message.payload, message.record_id
                    )
                except Exception as exc:
                    log.warning(
                        "publish failed (%s); %d messages wait for the sweep", exc, len(self._queue)
                    )
                    self._queue.clear()
                    return
                self._queue.popleft()
                sent.append(message.id)
        finally:
            if sent:
                await OutboxMessage.filter(id__in=sent).update(sent_at=utcnow())

    async def _send(
        self, tenant_id: str, incident_id: str, payload: str, record_id: str | None = None
    ) -> None:
        for channel in _targets(tenant_id, incident_id, record_id):
            await self._broker.publish(channel, payload)
        self.published += 1
        metrics.OUTBOX_PUBLISHED.inc()

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox sweep failed: %s", exc)

    async def sweep(self, *, grace: timedelta = _SWEEP_GRACE) -> int:
        """Publish rows left unsent for longer than `grace`; returns how many were sent."""
        now = utcnow()
        async with in_transaction():
            query = OutboxMessage.filter(sent_at=None, created_at__lt=now - grace).order_by("id")
            if self._use_row_locks:
                query = query.select_for_update(skip_locked=True)
            rows = await query.limit(_SWEEP_BATCH)
            sent: list[int] = []
            for row in rows:
                data = json.loads(row.payload)
                try:
                    await self._send(
                        data["tenant"],
                        data.get("incidentId", ""),
                        row.payload,
                        data.get("recordId"),
                    )
                except Exception:
                    break
                sent.append(row.id)
            if sent:
                await OutboxMessage.filter(id__in=sent).update(sent_at=utcnow())
        await OutboxMessage.filter(sent_at__lt=now - _KEEP_SENT).delete()
        return len(sent)

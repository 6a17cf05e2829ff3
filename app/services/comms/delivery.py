"""Delivering PENDING communications, at least once, each to its channel.

A message is attempted by whoever holds its claim: the request that wrote it (its first
attempt), then the delivery worker, which claims due messages (PostgreSQL: FOR UPDATE SKIP
LOCKED, so several processes share the work; SQLite: one process) by pushing their next
attempt a lease away. The outcome is recorded on the message: SENT with the receiver's id;
a retryable failure waits a backoff with full jitter (never less than Retry-After); the
last attempt, or a failure no retry can mend, makes it FAILED with the error. A process
that dies mid-attempt leaves the claim to expire: the message is attempted again, never
lost (a receiver may see it twice; the ref and the webhook-id tell repeats apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

import httpx
from tortoise.transactions import in_transaction

from app.config import Settings
from app.core.backoff import backoff
from app.core.clock import utcnow
from app.core.tasks import cancel_and_wait
from app.models import Communication, CommunicationChannel, DeliveryStatus, Incident
from app.services.access.classification import reaches
from app.services.comms import adapters, destinations, notify
from app.services.comms.adapters import DeliveryFailed, Destinations, Outbound
from app.services.itsm.egress import GuardedTransport

log = logging.getLogger(__name__)

BATCH = 50
CONCURRENCY = 16


@functools.cache
def smtp_tls(ca_file: str | None) -> ssl.SSLContext:
    """How the SMTP server's certificate is checked: against the system's CAs, or those in
    INCIDENTGRAPH_SMTP_CA_FILE (a private CA); never not at all."""
    return ssl.create_default_context(cafile=ca_file)


def lease(settings: Settings) -> timedelta:
    """How long a claim holds: longer than any attempt can take."""
    return timedelta(seconds=settings.notify_timeout_seconds * 3 + 30)


async def deliver(ids: Sequence[str], *, settings: Settings) -> None:
    """Attempt each claimed message once and record the outcome."""
    rows = await Communication.filter(
        id__in=[uuid.UUID(i) for i in ids], status=DeliveryStatus.PENDING
    )
    if not rows:
        return
    incidents = {
        r.id: r
        for r in await Incident.filter(id__in=list({r.incident_id for r in rows})).only(
            "id", "number", "title", "priority", "status", "classification"
        )
    }
    by_tenant: dict[str, Destinations] = {}
    for tenant_id in {r.tenant_id for r in rows}:
        by_tenant[tenant_id] = await destinations.destinations(
            tenant_id=tenant_id, settings=settings
        )
    gate = asyncio.Semaphore(CONCURRENCY)
    transport = GuardedTransport(allow_private=settings.allow_private_networks)
    async with httpx.AsyncClient(
        transport=transport, timeout=settings.notify_timeout_seconds
    ) as client:

        async def one(row: Communication) -> None:
            async with gate:
                out = outbound(row, incidents.get(row.incident_id))
                try:
                    external = await attempt(
                        row, out, to=by_tenant[row.tenant_id], client=client, settings=settings
                    )
                except DeliveryFailed as error:
                    await _failed(row, error, settings)
                except Exception as error:  # a bug must not stop the other messages
                    log.exception("delivering %s failed", row.short_ref)
                    await _failed(row, DeliveryFailed(f"internal error: {error!r}"), settings)
                else:
                    await _sent(row, external)

        # An incident's PagerDuty events go in the order they were made (trigger before
        # acknowledge before resolve); everything else side by side.
        lanes: dict[object, list[Communication]] = {}
        for row in sorted(rows, key=lambda r: (r.created_at, r.short_ref)):
            lane = (
                (row.incident_id, row.channel)
                if row.channel is CommunicationChannel.PAGERDUTY
                else row.id
            )
            lanes.setdefault(lane, []).append(row)

        async def in_order(lane: list[Communication]) -> None:
            for row in lane:
                await one(row)

        await asyncio.gather(*(in_order(lane) for lane in lanes.values()))


def outbound(row: Communication, incident: Incident | None) -> Outbound:
    summary: dict[str, object] = {"id": str(row.incident_id)}
    if incident is not None:
        summary.update(
            number=incident.number, priority=incident.priority.value, status=incident.status.value
        )
        if reaches(row.classification, incident.classification):
            summary["title"] = incident.title
    return Outbound(
        id=str(row.id),
        short_ref=row.short_ref,
        recipient=row.recipient or "",
        subject=row.subject or f"Incident {summary.get('number', '')}".strip(),
        text=row.message,
        incident=summary,
        audience=row.audience.value if row.audience else None,
        action=row.action,
    )


async def attempt(
    row: Communication,
    out: Outbound,
    *,
    to: Destinations,
    client: httpx.AsyncClient,
    settings: Settings,
) -> str | None:
    channel = row.channel
    if channel is CommunicationChannel.EMAIL:
        if not settings.smtp_url:
            raise DeliveryFailed("the server has no INCIDENTGRAPH_SMTP_URL", retryable=False)
        return await adapters.send_email(
            out,
            smtp_url=settings.smtp_url,
            sender=to.email_from or "incidentgraph@localhost",
            timeout=settings.notify_timeout_seconds,
            tls=smtp_tls(settings.smtp_ca_file),
        )
    if channel is CommunicationChannel.SLACK:
        return await adapters.send_slack(out, to=to, client=client)
    if channel is CommunicationChannel.WEBHOOK:
        return await adapters.send_webhook(out, to=to, client=client)
    if channel is CommunicationChannel.PAGERDUTY:
        return await adapters.send_pagerduty(out, to=to, client=client)
    raise DeliveryFailed(f"{channel.value} messages are not delivered", retryable=False)


async def _sent(row: Communication, external: str | None) -> None:
    await Communication.filter(id=row.id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENT,
        sent_at=utcnow(),
        external_id=external[:255] if external else None,
        error=None,
        attempts=row.attempts + 1,
        next_attempt_at=None,
    )


async def _failed(row: Communication, error: DeliveryFailed, settings: Settings) -> None:
    attempts = row.attempts + 1
    text = str(error)
    if error.retryable and attempts < settings.notify_max_attempts:
        delay = backoff(
            attempts - 1,
            base=settings.notify_retry_base_seconds,
            cap=settings.notify_retry_max_seconds,
            retry_after=error.retry_after,
        )
        await Communication.filter(id=row.id, status=DeliveryStatus.PENDING).update(
            attempts=attempts, error=text, next_attempt_at=utcnow() + timedelta(seconds=delay)
        )
        return
    log.warning("message %s FAILED after %d attempt(s): %s", row.short_ref, attempts, text)
    await Communication.filter(id=row.id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, attempts=attempts, error=text, next_attempt_at=None
    )


async def claim(settings: Settings, *, use_row_locks: bool) -> list[str]:
    """Due messages, claimed for a lease."""
    now = utcnow()
    due = Communication.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    if not await due.exists():
        return []  # the usual case: no write transaction (SQLite's would lock the file)
    async with in_transaction():
        query = Communication.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).order_by("next_attempt_at")
        if use_row_locks:
            query = query.select_for_update(skip_locked=True)
        # Whole rows (of one column): a values_list() query would drop the FOR UPDATE.
        keys = [row.id for row in await query.limit(BATCH).only("id")]
        if keys:
            await Communication.filter(id__in=list(keys)).update(
                next_attempt_at=now + lease(settings)
            )
    return [str(k) for k in keys]


class DeliveryWorker:
    """Retries what is due, every poll: one per process."""

    def __init__(self, settings: Settings, *, use_row_locks: bool) -> None:
        self._settings = settings
        self._use_row_locks = use_row_locks
        self._poll = settings.notify_poll_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._wakeup = asyncio.Event()
        self._disconnect: Callable[[], None] = lambda: None

    async def start(self) -> None:
        self._disconnect = notify.queued.connect(lambda _: self._wakeup.set())
        self._tasks = [asyncio.create_task(self._loop(), name="comms-delivery")]

    async def stop(self) -> None:
        self._disconnect()
        await cancel_and_wait(self._tasks)

    async def run_due(self) -> int:
        ids = await claim(self._settings, use_row_locks=self._use_row_locks)
        if ids:
            await deliver(ids, settings=self._settings)
        return len(ids)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll)
            self._wakeup.clear()
            try:
                while await self.run_due() >= BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("message delivery failed; retrying on the next poll")

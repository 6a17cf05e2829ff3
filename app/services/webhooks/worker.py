"""Delivering the feed to webhook endpoints, at least once (Standard Webhooks).

Two loops per process. The dispatcher turns each enabled endpoint's new feed events into
deliveries (rows of their own, written with the endpoint's new position in one transaction,
the endpoint's row locked so that two processes never both do it), woken by every commit of
this process and polling for those of others. The sender claims due deliveries for a lease
(PostgreSQL: FOR UPDATE SKIP LOCKED) and posts each one signed with the endpoint's secret
(and the previous one during a rotation), at most `PER_ENDPOINT` at once per endpoint and
`SLOTS` in all, without waiting for one batch before claiming the next: an endpoint that
answers slowly or not at all holds its own few slots and delays nobody else.

An attempt that gets a 2xx is DELIVERED. Any other answer, a timeout or a refused connection
waits the next delay of `INCIDENTGRAPH_WEBHOOK_RETRY_SECONDS` (20 % either side, never sooner
than `Retry-After`); after the last the delivery is FAILED (dead-lettered), and an endpoint
with `INCIDENTGRAPH_WEBHOOK_DISABLE_AFTER` of those in a row is disabled: it stops taking
events (they wait in the feed) until it is enabled by hand. Every attempt is kept with its
status code and duration. A process that dies mid-attempt leaves the claim to expire, so a
receiver may get a delivery twice, always with the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx
from tortoise.expressions import F, Subquery
from tortoise.transactions import in_transaction

from app.config import Settings
from app.core import metrics
from app.core.backoff import retry_after_seconds
from app.core.clock import utcnow
from app.core.tasks import cancel_and_wait
from app.core.text import clip
from app.models import (
    Classification,
    FeedCounter,
    FeedEntry,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from app.pubsub import outbox
from app.services.access import secret_box
from app.services.comms.adapters import webhook_signature
from app.services.feed.envelope import envelope
from app.services.feed.queries import read
from app.services.feed.types import FeedFilter
from app.services.itsm.egress import GuardedTransport, Refused

log = logging.getLogger(__name__)

SLOTS = 64
PER_ENDPOINT = 4
_BATCH = 500
_ENDPOINTS_PER_PASS = 200
_BODY_KEPT = 1024
_JITTER = 0.2


def retry_delay(attempts: int, settings: Settings, retry_after: float | None) -> float | None:
    """Seconds before the next attempt after `attempts` failed ones; None when none is left."""
    schedule = settings.webhook_retry_seconds
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * random.uniform(1 - _JITTER, 1 + _JITTER)
    return max(delay, retry_after or 0.0)


async def dispatch(*, use_row_locks: bool) -> int:
    """New feed events of every enabled endpoint behind its feed's head, as deliveries."""
    behind = await WebhookEndpoint.filter(
        enabled=True,
        tenant_id__in=Subquery(FeedCounter.all().values("tenant_id")),
    ).values_list("tenant_id", "position")
    if not behind:
        return 0
    heads = dict(
        await FeedCounter.filter(tenant_id__in=list({t for t, _ in behind})).values_list(
            "tenant_id", "position"
        )
    )
    tenants = sorted({t for t, position in behind if position < heads.get(t, 0)})
    made = 0
    for tenant_id in tenants:
        made += await _dispatch_tenant(tenant_id, heads[tenant_id], use_row_locks=use_row_locks)
    return made


async def _dispatch_tenant(tenant_id: str, head: int, *, use_row_locks: bool) -> int:
    """One transaction for all the tenant's endpoints: the feed rows are read once, each
    event's payload built once per clearance, every endpoint moved on in one statement."""
    async with in_transaction():
        query = WebhookEndpoint.filter(tenant_id=tenant_id, enabled=True, position__lt=head)
        if use_row_locks:
            query = query.select_for_update(skip_locked=True)
        endpoints = await query
        if not endpoints:
            return 0
        entries = (
            await FeedEntry.filter(
                tenant_id=tenant_id, position__gt=min(e.position for e in endpoints)
            )
            .order_by("position")
            .limit(_BATCH)
        )
        if not entries:
            return 0
        items = await read(entries)
        last = int(entries[-1].position)
        payloads: dict[tuple[int, Classification], str] = {}
        now = utcnow()
        deliveries: list[WebhookDelivery] = []
        for endpoint in endpoints:
            wanted = FeedFilter(types=tuple(endpoint.event_types))
            for item in items:
                if item.position <= endpoint.position or not wanted.matches_type(item.type):
                    continue
                if not item.visible_to(endpoint.clearance):
                    continue
                key = (item.position, endpoint.clearance)
                payload = payloads.get(key)
                if payload is None:
                    body = envelope(item, endpoint.clearance).body
                    payload = payloads[key] = json.dumps(body, separators=(",", ":"), default=str)
                deliveries.append(
                    WebhookDelivery(
                        id=uuid.uuid4(),
                        tenant_id=tenant_id,
                        endpoint_id=endpoint.id,
                        position=item.position,
                        event_id=item.event.event_id,
                        type=item.type,
                        payload=payload,
                        status=WebhookDeliveryStatus.PENDING,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        await WebhookDelivery.bulk_create(deliveries)
        await WebhookEndpoint.filter(id__in=[e.id for e in endpoints if e.position < last]).update(
            position=last
        )
    return len(deliveries)


class WebhookWorker:
    def __init__(self, settings: Settings, *, use_row_locks: bool) -> None:
        self._settings = settings
        self._use_row_locks = use_row_locks
        self._poll = settings.notify_poll_seconds
        self._dispatch_wakeup = asyncio.Event()
        self._send_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._attempts: set[asyncio.Task[None]] = set()
        self._in_flight: dict[uuid.UUID, int] = {}
        self._disconnect: Callable[[], None] = lambda: None
        self._client: httpx.AsyncClient | None = None
        self.attempted = 0

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(allow_private=self._settings.allow_private_networks),
            timeout=self._settings.webhook_timeout_seconds,
            follow_redirects=False,
        )
        self._disconnect = outbox.message_committed.connect(lambda _: self._dispatch_wakeup.set())
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="webhook-dispatch"),
            asyncio.create_task(self._send_loop(), name="webhook-send"),
        ]

    async def stop(self) -> None:
        self._disconnect()
        await cancel_and_wait(self._tasks)
        await cancel_and_wait(list(self._attempts))
        if self._client is not None:
            await self._client.aclose()

    async def _dispatch_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dispatch_wakeup.wait(), self._poll)
            self._dispatch_wakeup.clear()
            try:
                while (made := await dispatch(use_row_locks=self._use_row_locks)) > 0:
                    self._send_wakeup.set()
                    if made < _BATCH:
                        break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("webhook dispatch failed; retrying on the next poll", exc_info=True)

    async def _send_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._send_wakeup.wait(), self._poll)
            self._send_wakeup.clear()
            try:
                await self._claim_and_send()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("webhook claim failed; retrying on the next poll", exc_info=True)

    async def _claim_and_send(self) -> None:
        free = SLOTS - len(self._attempts)
        if free <= 0:
            return
        now = utcnow()
        busy = [k for k, n in self._in_flight.items() if n >= PER_ENDPOINT]
        due = WebhookDelivery.filter(
            status=WebhookDeliveryStatus.PENDING,
            next_attempt_at__lte=now,
            endpoint_id__in=Subquery(WebhookEndpoint.filter(enabled=True).values("id")),
        )
        if busy:
            due = due.exclude(endpoint_id__in=busy)
        if not await due.exists():
            return  # the usual case: no write transaction
        lease = timedelta(seconds=self._settings.webhook_timeout_seconds * 2 + 30)
        async with in_transaction():
            query = due.order_by("next_attempt_at")
            if self._use_row_locks:
                query = query.select_for_update(skip_locked=True)
            rows = await query.limit(free * 4)
            taken: list[WebhookDelivery] = []
            load = dict(self._in_flight)
            for row in rows:
                if len(taken) == free or load.get(row.endpoint_id, 0) >= PER_ENDPOINT:
                    continue
                load[row.endpoint_id] = load.get(row.endpoint_id, 0) + 1
                taken.append(row)
            if taken:
                await WebhookDelivery.filter(id__in=[r.id for r in taken]).update(
                    next_attempt_at=now + lease
                )
        endpoints = {
            e.id: e
            for e in await WebhookEndpoint.filter(id__in=list({r.endpoint_id for r in taken}))
        }
        for row in taken:
            endpoint = endpoints.get(row.endpoint_id)
            if endpoint is None:
                continue  # deleted meanwhile: its deliveries went with it
            self._in_flight[row.endpoint_id] = self._in_flight.get(row.endpoint_id, 0) + 1
            task = asyncio.create_task(self._attempt(row, endpoint), name=f"webhook:{row.id}")
            self._attempts.add(task)
            task.add_done_callback(self._attempt_done(row.endpoint_id))
        if len(rows) > len(taken) or len(taken) == free:
            self._send_wakeup.set()

    def _attempt_done(self, endpoint_id: uuid.UUID) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self._attempts.discard(task)
            left = self._in_flight.get(endpoint_id, 1) - 1
            if left > 0:
                self._in_flight[endpoint_id] = left
            else:
                self._in_flight.pop(endpoint_id, None)
            self._send_wakeup.set()

        return done

    async def _attempt(self, row: WebhookDelivery, endpoint: WebhookEndpoint) -> None:
        try:
            await attempt(row, endpoint, client=self._client, settings=self._settings)
            self.attempted += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery %s: attempt failed to record", row.id)


@functools.lru_cache(maxsize=4096)
def _opened(box: secret_box.SecretBox, sealed: str) -> str:
    """A sealed secret, decrypted once per process (a rotation seals a new one)."""
    return box.open(sealed)


async def attempt(
    row: WebhookDelivery,
    endpoint: WebhookEndpoint,
    *,
    client: httpx.AsyncClient | None,
    settings: Settings,
) -> None:
    """Post the delivery once and record what came of it."""
    assert client is not None
    box = secret_box.load(settings)
    now = utcnow()
    keys = [_opened(box, endpoint.secret)]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and until > now:
        keys.append(_opened(box, endpoint.previous_secret))
    body = row.payload.encode()
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "incidentgraph-webhooks",
        "webhook-id": row.event_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": " ".join(
            webhook_signature(k, row.event_id, stamp, body) for k in keys
        ),
    }
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    try:
        # The whole attempt, every address tried and the answer read, within the timeout:
        # well inside the claim's lease.
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            async with client.stream("POST", endpoint.url, content=body, headers=headers) as answer:
                status = answer.status_code
                if not 200 <= status < 300:
                    kept = b""
                    async for part in answer.aiter_bytes():
                        kept += part
                        if len(kept) >= _BODY_KEPT:
                            break
                    detail = clip(kept.decode("utf-8", "replace").strip(), 300)
                    error = f"answered {status}" + (f": {detail}" if detail else "")
                    retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
    except (httpx.TimeoutException, TimeoutError):
        status = None
        error = f"no answer within {settings.webhook_timeout_seconds:g} s"
    except (httpx.HTTPError, Refused) as failure:
        error = f"unreachable: {failure or type(failure).__name__}"
    elapsed = time.monotonic() - started
    metrics.WEBHOOK_DELIVERY_DURATION.labels(outcome=_outcome(status, error)).observe(elapsed)
    duration = int(elapsed * 1000)
    await _record(row, endpoint, settings, status=status, error=error, duration_ms=duration,
                  retry_after=retry_after)  # fmt: skip


def _outcome(status: int | None, error: str | None) -> str:
    if error is None:
        return "delivered"
    if status is not None:
        return "refused"
    return "timeout" if error.startswith("no answer") else "unreachable"


async def _record(
    row: WebhookDelivery,
    endpoint: WebhookEndpoint,
    settings: Settings,
    *,
    status: int | None,
    error: str | None,
    duration_ms: int,
    retry_after: float | None,
) -> None:
    now = utcnow()
    attempts = row.attempts + 1
    async with in_transaction():
        await WebhookAttempt.create(
            delivery_id=row.id, at=now, status_code=status, duration_ms=duration_ms, error=error
        )
        last = {"last_status_code": status, "last_duration_ms": duration_ms, "last_error": error}
        pending = WebhookDelivery.filter(id=row.id, status=WebhookDeliveryStatus.PENDING)
        if error is None:
            await pending.update(
                status=WebhookDeliveryStatus.DELIVERED,
                attempts=attempts,
                delivered_at=now,
                next_attempt_at=None,
                **last,
            )
            if endpoint.failure_streak:
                await WebhookEndpoint.filter(id=endpoint.id).update(failure_streak=0)
            return
        delay = retry_delay(attempts, settings, retry_after)
        if delay is not None:
            await pending.update(
                attempts=attempts, next_attempt_at=now + timedelta(seconds=delay), **last
            )
            return
        log.warning("webhook delivery %s dead-lettered after %d attempts: %s", row.id,
                    attempts, error)  # fmt: skip
        await pending.update(
            status=WebhookDeliveryStatus.FAILED, attempts=attempts, next_attempt_at=None, **last
        )
        await WebhookEndpoint.filter(id=endpoint.id).update(failure_streak=F("failure_streak") + 1)
        limit = settings.webhook_disable_after
        streak = (await WebhookEndpoint.get(id=endpoint.id)).failure_streak
        if limit and streak >= limit:
            await WebhookEndpoint.filter(id=endpoint.id, enabled=True).update(
                enabled=False,
                disabled_reason=clip(
                    f"{streak} deliveries in a row failed their last attempt (last: {error})",
                    500,
                ),
                updated_at=now,
            )

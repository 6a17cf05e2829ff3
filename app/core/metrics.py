"""Prometheus metrics, by prometheus-client: what `GET /metrics` shows.

Counters end in `_total`; durations are histograms in seconds. Gauges of a process's own
state (live subscriptions, queued alerts) are read from the objects that hold it, through
`reading`, each time `/metrics` is scraped.

With `incidentgraph serve --workers N` the workers share `PROMETHEUS_MULTIPROC_DIR` (the
command makes one when it is not set): every worker writes its figures there, and whichever
worker answers a scrape adds them up (gauges summed over the live workers). Process figures
(`process_*`: memory, CPU, open files) are then left out, as prometheus-client does not
combine them across processes; with one process they are shown.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import datetime

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from app.config import metrics_dir

# No `_created` series beside every counter and histogram: nothing here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Seconds: from a fast cached read to a slow export page.
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Seconds from a change's commit to its push: milliseconds normally, seconds under load.
_DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30)

GRAPHQL_HTTP_REQUESTS = Counter(
    "incidentgraph_graphql_http_requests",
    "GraphQL requests over HTTP that passed authentication.",
)
GRAPHQL_DURATION = Histogram(
    "incidentgraph_graphql_request_duration_seconds",
    "Time to answer a GraphQL query or mutation (parse, validate, execute), by operation "
    "type (`invalid` for a document that does not parse or name one operation).",
    ["operation_type"],
    buckets=_REQUEST_BUCKETS,
)
DELIVERY_DELAY = Histogram(
    "incidentgraph_delivery_delay_seconds",
    "From a change's commit to its push to a live subscriber, by subscription field.",
    ["subscription"],
    buckets=_DELIVERY_BUCKETS,
)
RATE_LIMITED = Counter(
    "incidentgraph_rate_limited",
    "GraphQL requests and WebSocket operations refused by the per-token rate limit.",
)
CONNECTIONS_REFUSED = Counter(
    "incidentgraph_websocket_connections_refused",
    "WebSocket connections closed because their token had too many open.",
)
SLOW_CONSUMERS_CLOSED = Counter(
    "incidentgraph_slow_consumers_closed",
    "WebSockets closed with 1013 SLOW_CONSUMER: their client left messages unread for "
    "longer than the send timeout.",
)
ALERTS_ACCEPTED = Counter(
    "incidentgraph_alerts_accepted",
    "Alerts stored by the intake webhooks (answered 202).",
)
ALERT_REQUESTS_REFUSED = Counter(
    "incidentgraph_alert_requests_refused",
    "Alert webhook requests refused, by error code; none of their alerts were stored.",
    ["code"],
)
ALERTS_REFUSED = Counter(
    "incidentgraph_alerts_refused",
    "Alerts in well-formed webhook requests that were refused (rate limit, storage failure).",
)
ALERTS_QUARANTINED = Counter(
    "incidentgraph_alerts_quarantined",
    "Accepted alerts this process's processor could not store and quarantined.",
)
ALERT_INTAKE_DURATION = Histogram(
    "incidentgraph_alert_intake_duration_seconds",
    "Time to answer an alert webhook request (its alerts committed when answered 202).",
    buckets=_REQUEST_BUCKETS,
)
WEBHOOK_DELIVERY_DURATION = Histogram(
    "incidentgraph_webhook_delivery_duration_seconds",
    "Time of one outbound webhook attempt, by outcome (delivered, refused, unreachable, timeout).",
    ["outcome"],
    buckets=_REQUEST_BUCKETS,
)
OUTBOX_PUBLISHED = Counter(
    "incidentgraph_outbox_published",
    "Outbox messages this process has published to the broker.",
)
ALERT_INTAKE_FLUSHES = Counter(
    "incidentgraph_alert_intake_flushes",
    "Commits of the intake writer (each stores many requests' alerts).",
)

# Gauges read from the objects holding the state, by name.
_readings: dict[str, tuple[Gauge, Callable[[], float]]] = {}


def reading(name: str, help: str, read: Callable[[], float]) -> None:
    """A gauge whose value is `read()` at each scrape (summed over workers). Declaring the
    same name again (an app made twice in one process) moves it to the new reader."""
    known = _readings.get(name)
    gauge = known[0] if known else Gauge(name, help, multiprocess_mode="livesum")
    _readings[name] = (gauge, read)


def refresh() -> None:
    """Bring every reading gauge up to date (before a scrape, and now and then with workers,
    so that any worker's answer holds every worker's figures)."""
    for gauge, read in _readings.values():
        gauge.set(read())


_DELAYS: dict[str, Histogram] = {}


def delivered(subscription: str, committed: datetime) -> None:
    """A live push of a change committed at `committed` leaves now (once per subscriber: the
    labelled histogram is looked up once per subscription field)."""
    child = _DELAYS.get(subscription)
    if child is None:
        child = _DELAYS[subscription] = DELIVERY_DELAY.labels(subscription=subscription)
    child.observe(max(time.time() - committed.timestamp(), 0.0))


async def keep_fresh(interval: float = 5.0) -> None:
    """With workers, refresh this worker's readings now and then until cancelled."""
    while True:
        refresh()
        await asyncio.sleep(interval)


def render() -> bytes:
    """Everything in the Prometheus text format."""
    refresh()
    directory = metrics_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    PlatformCollector(registry=registry)
    return generate_latest(registry)


def process_exited() -> None:
    """This worker's live gauges stop counting (its counters and histograms stay summed)."""
    if metrics_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

"""A small Prometheus text-format registry (GET /metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Counter:
    def __init__(self, name: str, help: str) -> None:
        self.name, self.help, self.value = name, help, 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount

    def render(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} counter\n"
        return f"{head}{self.name} {self.value}\n"


class LabelledCounter:
    """A counter per value of one label (`name{label="value"}`)."""

    def __init__(self, name: str, help: str, label: str) -> None:
        self.name, self.help, self.label = name, help, label
        self.values: dict[str, int] = {}

    def inc(self, value: str, amount: int = 1) -> None:
        self.values[value] = self.values.get(value, 0) + amount

    def render(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} counter\n"
        rows = "".join(
            f'{self.name}{{{self.label}="{value}"}} {count}\n'
            for value, count in sorted(self.values.items())
        )
        return head + rows


class Gauge:
    def __init__(self, name: str, help: str, read: Callable[[], float]) -> None:
        self.name, self.help, self.read = name, help, read

    def render(self) -> str:
        return (
            f"# HELP {self.name} {self.help}\n# TYPE {self.name} gauge\n{self.name} {self.read()}\n"
        )


_STARTED = time.time()
GRAPHQL_HTTP_REQUESTS = Counter(
    "incidentgraph_graphql_http_requests_total",
    "GraphQL requests over HTTP that passed authentication.",
)
RATE_LIMITED = Counter(
    "incidentgraph_rate_limited_total",
    "GraphQL requests and WebSocket operations refused by the per-token rate limit.",
)
CONNECTIONS_REFUSED = Counter(
    "incidentgraph_websocket_connections_refused_total",
    "WebSocket connections closed because their token had too many open.",
)
ALERTS_ACCEPTED = Counter(
    "incidentgraph_alerts_accepted_total",
    "Alerts stored by the intake webhooks (answered 202).",
)
ALERT_REQUESTS_REFUSED = LabelledCounter(
    "incidentgraph_alert_requests_refused_total",
    "Alert webhook requests refused, by error code; none of their alerts were stored.",
    "code",
)
ALERTS_REFUSED = Counter(
    "incidentgraph_alerts_refused_total",
    "Alerts in well-formed webhook requests that were refused (rate limit, storage failure).",
)
ALERTS_QUARANTINED = Counter(
    "incidentgraph_alerts_quarantined_total",
    "Accepted alerts this process's processor could not store and quarantined.",
)
_registry: list[Counter | LabelledCounter | Gauge] = [
    GRAPHQL_HTTP_REQUESTS,
    RATE_LIMITED,
    CONNECTIONS_REFUSED,
    ALERTS_ACCEPTED,
    ALERT_REQUESTS_REFUSED,
    ALERTS_REFUSED,
    ALERTS_QUARANTINED,
    Gauge(
        "incidentgraph_process_start_time_seconds", "Start time of this process.", lambda: _STARTED
    ),
]


def register(metric: Counter | LabelledCounter | Gauge) -> None:
    if all(m.name != metric.name for m in _registry):
        _registry.append(metric)


def render() -> str:
    return "".join(m.render() for m in _registry)

"""(e) Alert intake: Alertmanager webhooks accepted and stored, deduplication and correlation on.

One server process on PostgreSQL + Redis with an INGEST token. A closed-loop generator posts
pre-encoded Alertmanager v4 payloads (each a group of alerts drawn from a fixed set of
fingerprints, so most are repeats) for a fixed time; a 202 means the alerts are committed
to the intake table. The server's processor deduplicates and correlates them meanwhile; after
the load the benchmark waits until the intake table is empty and checks the stored result:
every accepted notification counted exactly once, one alert per fingerprint, one incident per
group.

Baseline, same run and machine: the same payloads written straight into PostgreSQL by the
benchmark's own process over asyncpg, one transaction per payload and as many concurrent
connections as the generator uses: what an intake that commits each request on its own
could reach at best, with no HTTP, parsing or validation at all.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from bench import loadgen
from bench.loadgen import Load
from bench.report import Verdict
from bench.servers import (
    Backend,
    Server,
    cpu_seconds,
    log_directory,
    postgres_backend,
    require_services,
    running,
)
from bench.stats import Summary, ms
from tests.support import create_token

TARGET = 5_000
# Processing keeps up with a storm: alerts/s processed, and the backlog gone this soon after.
PROCESSED_TARGET = 10_000
DRAIN_TARGET = 2.0
PATH = "/webhooks/alerts/alertmanager"


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float = 10.0
    warmup: float = 2.0
    connections: int = 8
    batch: int = 100
    services: int = 20
    alertnames: int = 5
    instances: int = 100
    payloads: int = 400
    drain_timeout: float = 120.0

    @property
    def groups(self) -> int:
        return self.services * self.alertnames

    @property
    def fingerprints(self) -> int:
        return self.groups * self.instances


@dataclass(frozen=True, slots=True)
class Stored:
    alerts: int
    notifications: int
    incidents: int
    alert_events: int


@dataclass(frozen=True, slots=True)
class AlertsResult:
    options: Options
    load: Load
    server_cpu: float
    drain_seconds: float
    stored: Stored
    baseline: Load

    @property
    def accepted(self) -> int:
        return self.load.requests * self.options.batch

    @property
    def rate(self) -> float:
        return self.accepted / self.load.seconds if self.load.seconds else 0.0

    @property
    def processed_rate(self) -> float:
        total = self.load.seconds + self.drain_seconds
        return self.accepted / total if total else 0.0

    @property
    def baseline_rate(self) -> float:
        return self.baseline.requests * self.options.batch / self.baseline.seconds

    @property
    def latency(self) -> Summary:
        return self.load.latency


def payloads(options: Options, *, seed: int = 7) -> list[bytes]:
    """Alertmanager v4 bodies: each one group of `batch` firing alerts of one alertname,
    drawn from every service's instances (so fingerprints repeat across bodies)."""
    rng = random.Random(seed)
    starts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    bodies = []
    for n in range(options.payloads):
        alertname = f"Alert{n % options.alertnames}"
        alerts = []
        for _ in range(options.batch):
            service = f"svc-{rng.randrange(options.services)}"
            instance = f"host-{rng.randrange(options.instances)}:9100"
            labels = {
                "alertname": alertname,
                "service": service,
                "instance": instance,
                "severity": "critical",
            }
            alerts.append(
                {
                    "status": "firing",
                    "labels": labels,
                    "annotations": {"summary": f"{alertname} on {service} ({instance})"},
                    "startsAt": starts,
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                    "fingerprint": f"{alertname}-{service}-{instance}",
                }
            )
        bodies.append(
            json.dumps(
                {
                    "version": "4",
                    "groupKey": f'{{}}:{{alertname="{alertname}"}}',
                    "truncatedAlerts": 0,
                    "status": "firing",
                    "receiver": "incidentgraph",
                    "groupLabels": {"alertname": alertname},
                    "commonLabels": {"alertname": alertname, "severity": "critical"},
                    "commonAnnotations": {},
                    "externalURL": "http://alertmanager:9093",
                    "alerts": alerts,
                }
            ).encode()
        )
    return bodies


async def run(options: Options) -> AlertsResult:
    require_services()
    bodies = payloads(options)
    with log_directory() as logs, postgres_backend() as backend:
        with running(backend, 1, logs) as servers:
            server = servers[0]
            token = create_token(server, role="INGEST", name="bench-alerts")
            requests = [
                loadgen.post_request("127.0.0.1", server.port, PATH, body, token=token)
                for body in bodies
            ]
            warm = await _load(server, requests[:50], options, seconds=options.warmup)
            await _drain(backend, options.drain_timeout)
            before_stored = await _stored(backend)
            before = cpu_seconds(server)
            load = await _load(server, requests, options, seconds=options.seconds)
            drain_started = time.monotonic()
            await _drain(backend, options.drain_timeout)
            drain = time.monotonic() - drain_started
            server_cpu = cpu_seconds(server) - before
            stored = await _stored(backend)
            _check(options, warm, load, before_stored, stored)
        baseline = await _baseline(backend, bodies, options)
    result = AlertsResult(options, load, server_cpu, drain, stored, baseline)
    print(render(result), file=sys.stderr, flush=True)
    return result


async def _load(server: Server, requests: list[bytes], options: Options, *, seconds: float) -> Load:
    load = await loadgen.run(
        "127.0.0.1",
        server.port,
        requests,
        connections=options.connections,
        seconds=seconds,
        expect=202,
    )
    if load.failures:
        raise RuntimeError(f"{load.failures} refused posts; first: {load.first_failure}")
    return load


async def _connect(backend: Backend) -> asyncpg.Connection:
    return await asyncpg.connect(backend.database_url.replace("postgres://", "postgresql://", 1))


async def _drain(backend: Backend, timeout: float) -> None:
    """Wait until the processor has taken every accepted alert and owes no timeline event."""
    conn = await _connect(backend)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = await conn.fetchval(
                "SELECT (SELECT count(*) FROM alert_intake)"
                " + (SELECT count(*) FROM alert WHERE pending_event IS NOT NULL)"
                " + (SELECT count(*) FROM alert_group WHERE declare_pending)"
            )
            if left == 0:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"alerts still unprocessed after {timeout:.0f} s")
    finally:
        await conn.close()


async def _stored(backend: Backend) -> Stored:
    conn = await _connect(backend)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM alert) AS alerts,"
            " (SELECT coalesce(sum(count), 0) FROM alert) AS notifications,"
            " (SELECT count(*) FROM incident) AS incidents,"
            " (SELECT count(*) FROM timeline_event WHERE type LIKE 'com.incidents.alerts.%')"
            " AS alert_events"
        )
    finally:
        await conn.close()
    return Stored(
        alerts=row["alerts"],
        notifications=row["notifications"],
        incidents=row["incidents"],
        alert_events=row["alert_events"],
    )


def _check(options: Options, warm: Load, load: Load, before: Stored, after: Stored) -> None:
    accepted = (warm.requests + load.requests) * options.batch
    problems = []
    if after.notifications != accepted:
        problems.append(f"{after.notifications:,} notifications counted for {accepted:,} accepted")
    if after.alerts > options.fingerprints:
        problems.append(f"{after.alerts:,} alerts stored for {options.fingerprints:,} fingerprints")
    if after.incidents > options.groups:
        problems.append(f"{after.incidents:,} incidents for {options.groups:,} groups")
    if problems:
        raise RuntimeError("alert intake lost or doubled work: " + "; ".join(problems))


async def _baseline(backend: Backend, bodies: list[bytes], options: Options) -> Load:
    """Each body's alerts inserted by this process in one transaction of their own."""
    rows_per_body = []
    received = datetime.now(UTC)
    for body in bodies:
        alerts = json.loads(body)["alerts"]
        rows_per_body.append([("default", json.dumps(a), received) for a in alerts])
    pool = await asyncpg.create_pool(
        backend.database_url.replace("postgres://", "postgresql://", 1),
        min_size=options.connections,
        max_size=options.connections,
    )
    try:
        await pool.execute(
            "CREATE TABLE bench_alert_baseline (id bigserial PRIMARY KEY, tenant_id text NOT NULL,"
            " payload jsonb NOT NULL, received_at timestamptz NOT NULL)"
        )
        latencies: list[float] = []
        started = time.monotonic()
        stop_at = started + options.seconds

        async def writer(start: int) -> None:
            turn = start
            async with pool.acquire() as conn:
                while time.monotonic() < stop_at:
                    rows = rows_per_body[turn % len(rows_per_body)]
                    turn += 1
                    sent = time.monotonic()
                    async with conn.transaction():
                        await conn.executemany(
                            "INSERT INTO bench_alert_baseline (tenant_id, payload, received_at)"
                            " VALUES ($1, $2::jsonb, $3)",
                            rows,
                        )
                    latencies.append(time.monotonic() - sent)

        spread = len(rows_per_body) // options.connections
        await asyncio.gather(*(writer(i * spread) for i in range(options.connections)))
        elapsed = time.monotonic() - started
    finally:
        await pool.close()
    return Load(
        failures=0, seconds=elapsed, client_cpu=0.0, first_failure=None, latencies=latencies
    )


def target_met(result: AlertsResult) -> bool:
    return (
        result.rate >= TARGET
        and result.processed_rate >= PROCESSED_TARGET
        and result.drain_seconds <= DRAIN_TARGET
    )


def verdict(result: AlertsResult) -> Verdict:
    return Verdict(
        f"Alert intake on PostgreSQL, dedup and correlation on: at least {TARGET:,} alerts/s "
        f"accepted, at least {PROCESSED_TARGET:,} processed, the backlog gone within "
        f"{DRAIN_TARGET:.0f} s of the load stopping",
        f"{result.rate:,.0f} alerts/s accepted (p99 to 202: {ms(result.latency.p99)}), "
        f"{result.processed_rate:,.0f} alerts/s processed, backlog gone in "
        f"{result.drain_seconds:.1f} s; "
        f"{result.rate / result.baseline_rate:.1f}× a per-request-commit writer",
        target_met(result),
    )


def render(result: AlertsResult) -> str:
    o = result.options
    s = result.stored
    lat = result.latency
    base = result.baseline.latency
    met = "**met**" if target_met(result) else "**not met**"
    return "\n".join(
        [
            "## (e) Alert intake",
            "",
            f"One server process on PostgreSQL + Redis, an INGEST token. {o.connections} "
            f"keep-alive connections post Alertmanager v4 payloads of {o.batch} firing alerts "
            f"each, closed loop, for {o.seconds:.0f} s after {o.warmup:.0f} s of warm-up; "
            f"{o.payloads} different payloads in turn, drawn from {o.fingerprints:,} "
            f"fingerprints in {o.groups} groups ({o.services} services × {o.alertnames} "
            "alertnames), so most alerts are repeats to deduplicate. The processor "
            "deduplicates, correlates and declares meanwhile (the default correlation rule: one "
            "incident per service and alertname). *Processed* counts the time until the intake "
            "table is empty and no incident or timeline event is still owed.",
            "",
            "| | Alerts | Requests | alerts/s | p50 | p99 | max |",
            "|---|---|---|---|---|---|---|",
            f"| incidentgraph, time to 202 | {result.accepted:,} | {result.load.requests:,} | "
            f"**{result.rate:,.0f}** | {ms(lat.p50)} | {ms(lat.p99)} | {ms(lat.max)} |",
            f"| baseline: asyncpg, one transaction per payload | "
            f"{result.baseline.requests * o.batch:,} | {result.baseline.requests:,} | "
            f"{result.baseline_rate:,.0f} | {ms(base.p50)} | {ms(base.p99)} | {ms(base.max)} |",
            "",
            f"Accepted **{result.rate:,.0f} alerts/s**, {result.rate / result.baseline_rate:.2f}× "
            f"the baseline; processed (deduplicated, correlated, incidents declared, timeline "
            f"events written) **{result.processed_rate:,.0f} alerts/s**, the backlog gone "
            f"{result.drain_seconds:.1f} s after the load stopped. Server CPU "
            f"{result.server_cpu / (result.load.seconds + result.drain_seconds):.0%} of a core "
            f"over that time. Target ({TARGET:,} alerts/s accepted, {PROCESSED_TARGET:,} "
            f"processed, backlog gone within {DRAIN_TARGET:.0f} s): {met}.",
            "",
            f"Stored afterwards: {s.alerts:,} alerts for {s.notifications:,} notifications "
            f"(every accepted one counted once), {s.incidents} incidents declared, "
            f"{s.alert_events} alert events on their timelines.",
            "",
            PROFILE,
        ]
    )


PROFILE = """\
**Profile** (the processor's steps timed per batch, `pg_stat_activity` sampled every 250 ms, \
and PostgreSQL's statement log, during this benchmark). *Before* (05ce35f): the declarations \
and timeline events (phase B) renewed the processor's lease with an UPDATE of its row before \
each incident, while each batch (phase A) holds that row locked for its whole transaction: 34 \
of 60 samples were that UPDATE waiting. A batch of 5,000 repeats took about 590 ms: taking \
the intake rows 40 ms, parsing them 55 ms, reading the stored alerts they repeat 100 ms, \
deduplicating 70 ms (labels encoded again for every repeat), writing 300 ms, deleting the \
intake rows 15 ms. *After*: phase B goes by its own last renewal and waits for no batch; \
labels are encoded once per alert (deduplicating 26 ms); batches take up to 20,000 alerts. \
What dominates now is PostgreSQL's UPDATE of the repeated alerts, about 40 µs per alert row: \
each changes `last_received_at`, which the `(tenant_id, last_received_at)` index behind the \
newest-first alert list holds, so no update is HOT and each adds an entry to all seven of the \
table's indexes. On a fresh table of 10,000 alerts, updating 3,900 of them took 130-200 ms \
with that index and 50-90 ms without it.
"""

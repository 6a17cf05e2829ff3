"""(a) Subscription fan-out across two server processes sharing PostgreSQL and Redis.

N subscribers to `incidentUpdated(id:)` are spread evenly over two `incidentgraph serve`
processes; one mutation goes to the first server over HTTP. Latency runs from just before the
mutation is sent to each subscriber's receipt of the new version.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from bench import compression, seed, slow_consumer
from bench.report import Verdict
from bench.servers import (
    TOKEN,
    Server,
    cpu_seconds,
    log_directory,
    machine_cpu_seconds,
    postgres_backend,
    raise_open_file_limit,
    require_services,
    running,
    subscriber_count,
)
from bench.stats import Summary, ms
from bench.subscribers import Plan, Ready, SubscriberPool
from tests.support import GraphQLClient

SUBSCRIPTION = """
subscription Follow($id: ID!) {
  incidentUpdated(id: $id) { id status updatedAt version }
}
"""
SIZES = (1_000, 10_000)
TARGET_SIZE = 10_000
TARGET_P99 = 0.500
# Server CPU per delivery at TARGET_SIZE: at most this, and at most FLAT times the smallest N's.
TARGET_CPU = 40e-6
FLAT = 1.25
_SERVERS = 2
# Statuses the incident alternates between, one transition per round.
_CYCLE = ("PENDING", "IN_PROGRESS")


@dataclass(frozen=True, slots=True)
class Options:
    sizes: tuple[int, ...] = SIZES
    rounds: int = 5
    clients: int = 2
    round_timeout: float = 20.0
    pause: float = 0.5
    compression: str | None = "deflate"
    slow_consumer: bool = True


@dataclass(frozen=True, slots=True)
class Round:
    to: str
    expected: int
    mutation_seconds: float
    latencies: list[float] = field(repr=False)
    by_server: tuple[Summary, ...]
    server_cpu: float
    client_cpu: float
    machine_cpu: float

    @property
    def latency(self) -> Summary:
        return Summary.of(self.latencies)

    @property
    def received(self) -> int:
        return len(self.latencies)


@dataclass(frozen=True, slots=True)
class SizeResult:
    subscribers: int
    connected: int
    connect_seconds: float
    rounds: list[Round]
    errors: int
    closed: int
    first_error: str | None

    @property
    def aggregate(self) -> Summary:
        return Summary.of([v for r in self.rounds for v in r.latencies])

    @property
    def expected(self) -> int:
        return sum(r.expected for r in self.rounds)


@dataclass(slots=True)
class FanoutResult:
    options: Options
    sizes: list[SizeResult] = field(default_factory=list)
    slow: slow_consumer.SlowResult | None = None


async def run(options: Options) -> FanoutResult:
    require_services()
    raise_open_file_limit()
    result = FanoutResult(options)
    with log_directory() as logs, postgres_backend() as backend:
        with running(backend, _SERVERS, logs) as servers:
            async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
                gql = servers[0].client()
                try:
                    for size in options.sizes:
                        result.sizes.append(await _measure(size, servers, gql, http, options))
                        print(render_size(result.sizes[-1]), file=sys.stderr, flush=True)
                finally:
                    await gql.aclose()
        if options.slow_consumer:
            result.slow = await slow_consumer.run(backend, logs)
            print(slow_consumer.render(result.slow), file=sys.stderr, flush=True)
    return result


async def _measure(
    size: int,
    servers: Sequence[Server],
    gql: GraphQLClient,
    http: httpx.AsyncClient,
    options: Options,
) -> SizeResult:
    incident = await seed.declare(gql, title=f"Fan-out to {size} subscribers")
    incident_id = incident["id"]
    await seed.transition(gql, incident_id, "IN_PROGRESS")
    plans = _plans(size, servers, incident_id, options)
    rounds: list[Round] = []
    async with SubscriberPool(plans) as pool:
        started = time.monotonic()
        ready: list[Ready] = await pool.start(timeout=120 + size / 20)
        per_server = [sum(r.connected[i] for r in ready) for i in range(len(servers))]
        await _until_subscribed(http, servers, per_server, timeout=120)
        connect_seconds = time.monotonic() - started
        # The stream reads the incident once more after subscribing; let those reads finish.
        await asyncio.sleep(1.0)
        statuses = itertools.cycle(_CYCLE)
        await _round(pool, servers, gql, incident_id, next(statuses), sum(per_server), options)
        for _ in range(options.rounds):
            await asyncio.sleep(options.pause)
            measured = await _round(
                pool, servers, gql, incident_id, next(statuses), sum(per_server), options
            )
            rounds.append(measured)
        status = await pool.status()
    await _until_subscribed(http, servers, [0] * len(servers), timeout=60)
    return SizeResult(
        subscribers=size,
        connected=sum(per_server),
        connect_seconds=connect_seconds,
        rounds=rounds,
        errors=sum(c.errors for c in status) + sum(r.failed for r in ready),
        closed=sum(c.closed for c in status),
        first_error=next(
            (c.first_error for c in status if c.first_error),
            next((r.first_failure for r in ready if r.first_failure), None),
        ),
    )


def _plans(size: int, servers: Sequence[Server], incident_id: str, options: Options) -> list[Plan]:
    clients = max(1, min(options.clients, size))
    plans: list[Plan] = []
    for c in range(clients):
        share = size // clients + (1 if c < size % clients else 0)
        counts = [
            share // len(servers) + (1 if s < share % len(servers) else 0)
            for s in range(len(servers))
        ]
        if c % 2:
            counts.reverse()
        plans.append(
            Plan(
                urls=tuple(s.ws_url for s in servers),
                counts=tuple(counts),
                token=TOKEN,
                query=SUBSCRIPTION,
                variables={"id": incident_id},
                field="incidentUpdated",
                compression=options.compression,
            )
        )
    return plans


async def _until_subscribed(
    http: httpx.AsyncClient, servers: Sequence[Server], expected: Sequence[int], *, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        counts = [await subscriber_count(http, s) for s in servers]
        if counts == list(expected):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"servers report {counts} subscribers, expected {list(expected)}")
        await asyncio.sleep(0.2)


async def _round(
    pool: SubscriberPool,
    servers: Sequence[Server],
    gql: GraphQLClient,
    incident_id: str,
    to: str,
    expected: int,
    options: Options,
) -> Round:
    machine_before = machine_cpu_seconds()
    cpu_before = sum(cpu_seconds(s) for s in servers)
    client_before = sum(c.cpu_seconds for c in await pool.status())
    sent = time.monotonic()
    incident = await seed.transition(gql, incident_id, to)
    answered = time.monotonic() - sent
    collected = await pool.collect(int(incident["version"]), sent + options.round_timeout)
    server_cpu = sum(cpu_seconds(s) for s in servers) - cpu_before
    machine_cpu = machine_cpu_seconds() - machine_before
    by_server: list[list[float]] = [[] for _ in servers]
    for part in collected:
        for target, times in part.times.items():
            by_server[target].extend(t - sent for t in times)
    latencies = [v for values in by_server for v in values]
    return Round(
        to=to,
        expected=expected,
        mutation_seconds=answered,
        latencies=latencies,
        by_server=tuple(Summary.of(v) for v in by_server),
        server_cpu=server_cpu,
        client_cpu=sum(c.cpu_seconds for c in collected) - client_before,
        machine_cpu=machine_cpu,
    )


def _cpu_per_delivery(size: SizeResult) -> float:
    return sum(r.server_cpu for r in size.rounds) / max(size.aggregate.count, 1)


def target_met(result: FanoutResult) -> bool | None:
    if not result.sizes:
        return None
    smallest = min(result.sizes, key=lambda s: s.subscribers)
    for size in result.sizes:
        if size.subscribers == TARGET_SIZE:
            agg = size.aggregate
            cpu = _cpu_per_delivery(size)
            return (
                size.expected == agg.count
                and agg.p99 <= TARGET_P99
                and cpu <= TARGET_CPU
                and cpu <= FLAT * _cpu_per_delivery(smallest)
            )
    return None


def verdict(result: FanoutResult) -> Verdict:
    measured = "not in this run"
    for size in result.sizes:
        if size.subscribers == TARGET_SIZE:
            agg = size.aggregate
            measured = (
                f"p99 {ms(agg.p99)}, {agg.count:,} of {size.expected:,} received; CPU per "
                + ", ".join(
                    f"{_cpu_per_delivery(s) * 1e6:.0f} µs at {s.subscribers:,}"
                    for s in result.sizes
                )
            )
    return Verdict(
        f"{TARGET_SIZE:,} subscribers on two servers: all served, p99 at most "
        f"{TARGET_P99 * 1000:.0f} ms, server CPU per delivery at most {TARGET_CPU * 1e6:.0f} µs "
        f"and within {FLAT}× of the smallest N's",
        measured,
        target_met(result),
    )


def render_size(size: SizeResult) -> str:
    lines = [
        f"### N = {size.subscribers:,}",
        "",
        f"Connected {size.connected:,} of {size.subscribers:,} in {size.connect_seconds:.1f} s. "
        f"Errors: {size.errors}"
        + (f" (first: `{size.first_error}`)" if size.first_error else "")
        + f". Connections closed by a server: {size.closed}.",
        "",
        "| Round | Mutation | Answered | Received | first | p50 | p99 | max | p99 server A / B "
        "| CPU: servers | clients | machine |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(size.rounds, 1):
        lines.append(
            f"| {i} | → {r.to} | {ms(r.mutation_seconds)} | {r.received:,} / {r.expected:,} | "
            f"{ms(r.latency.min)} | {ms(r.latency.p50)} | "
            f"{ms(r.latency.p99)} | {ms(r.latency.max)} | "
            f"{' / '.join(ms(s.p99) for s in r.by_server)} | "
            f"{r.server_cpu * 1000:.0f} ms | {r.client_cpu * 1000:.0f} ms | "
            f"{r.machine_cpu * 1000:.0f} ms |"
        )
    agg = size.aggregate
    server_cpu = sum(r.server_cpu for r in size.rounds) / max(len(size.rounds), 1)
    lines.append(
        f"| **all** | | | **{agg.count:,} / {size.expected:,}** | {ms(agg.min)} | "
        f"**{ms(agg.p50)}** | **{ms(agg.p99)}** | **{ms(agg.max)}** | | "
        f"{server_cpu * 1000:.0f} ms avg | | |"
    )
    return "\n".join(lines) + "\n"


# Where a server's time went at N = 10,000, sampled by hand with
# `py-spy record -p <server pid> -d 25 -r 250 -f raw` during `--sizes 10000 --rounds 25`.
PROFILE = """\
### Profile

Before (2cc51f2): 59% of a server's samples re-checked WebSocket tokens (a task per socket,
a token lookup every 2 s: 2,500 lookups a second at 5,000 sockets, which made the cost per
delivery grow with N). With that fixed alone, 54% was strawberry's and graphql-core's
per-result machinery, run for every subscriber (extension contexts, a per-event executor,
the execution context built and copied, though the execution itself was shared), and 36% the
send: Starlette's and uvicorn's layers, the websockets library's framing, the JSON of the
same push encoded once per subscriber and the socket write.

After: one task re-checks each distinct token once; one subscriber of a (document,
variables, view) group goes through the execution, and every other member is sent the same
bytes framed with its own operation id, written straight to its transport. The socket write
itself (`transport.write`, a loopback TCP send) is now 30% of the samples and the event loop
12%; the live stream's own steps (broker buffer, seq check, audit check, delivery-delay
histogram, frame) a few percent each.
"""


def render(result: FanoutResult) -> str:
    o = result.options
    summary = [
        "| N | Received | p50 | p99 | max | Server CPU per delivery |",
        "|---|---|---|---|---|---|",
    ]
    for size in result.sizes:
        agg = size.aggregate
        per_delivery = _cpu_per_delivery(size)
        summary.append(
            f"| {size.subscribers:,} | {agg.count:,} / {size.expected:,} | {ms(agg.p50)} | "
            f"{ms(agg.p99)} | {ms(agg.max)} | {per_delivery * 1e6:.0f} µs |"
        )
    met = target_met(result)
    verdict = {
        True: "**met**",
        False: "**not met**",
        None: f"not measured (N = {TARGET_SIZE:,} was not in this run)",
    }[met]
    parts = [
        "## (a) Subscription fan-out",
        "",
        f"Two server processes, PostgreSQL + Redis; {o.clients} client processes; "
        f"{o.rounds} measured rounds per N after one warm-up round; WebSocket compression: "
        f"{o.compression or 'off'}.",
        "",
        *summary,
        "",
        f"Target: N = {TARGET_SIZE:,}, every subscriber served, p99 at most "
        f"{TARGET_P99 * 1000:.0f} ms, server CPU per delivery at most "
        f"{TARGET_CPU * 1e6:.0f} µs and within {FLAT}× of the smallest N's: {verdict}.",
        "",
        "Server CPU per delivery is both servers' CPU time during the rounds divided by the "
        "messages delivered (it includes the mutation itself, a few milliseconds). In the "
        "per-round tables, *Answered* is the mutation's HTTP response time, *first* the earliest "
        "receipt, *p99 server A / B* splits subscribers by the server they are connected to (A "
        "takes the mutation), and the CPU columns are CPU time spent during the round.",
        "",
        *(render_size(s) for s in result.sizes),
        *([slow_consumer.render(result.slow)] if result.slow is not None else []),
        compression.render(compression.measure()),
        PROFILE,
    ]
    if any(math.isnan(s.aggregate.p99) for s in result.sizes):
        parts.append("A dash means no subscriber received that round.\n")
    return "\n".join(parts)

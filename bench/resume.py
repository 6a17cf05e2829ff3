"""(r) Idle cost and reconnect storm: what an idle subscription costs a server in memory, and
10,000 clients resuming `timelineEventAdded(after:)` at once after both servers restart.

Two `incidentgraph serve` processes share PostgreSQL and Redis; subscribers live in client
processes, alternating between the servers. Idle memory is each server's RSS (`VmRSS`) before
and after N subscribers connect; the storm restarts both servers while events are written by
a third, and every client reconnects with `after:` its last cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from app.services.incidents import replay
from bench import seed
from bench.report import Verdict
from bench.servers import (
    TOKEN,
    Backend,
    Server,
    cpu_seconds,
    log_directory,
    postgres_backend,
    raise_open_file_limit,
    require_services,
    subscriber_count,
)
from bench.stats import Summary, ms
from bench.subscribers import Close, SubscriberPool, receive, run_client

FOLLOW = """
subscription Follow($id: ID!, $after: String) {
  timelineEventAdded(incidentId: $id, after: $after) { seq cursor type }
}
"""
IDLE_SIZES = (1_000, 10_000)
STORM_SUBSCRIBERS = 10_000
TARGET_KB = 20.0
TARGET_SECONDS = 30.0
_SERVERS = 2
# Events written while the servers are down, which every client must read back on resume.
_MISSED = 3
WARM_UP = 100
# Batched: on average each replay statement serves at least this many clients (unbatched,
# every client costs at least one statement per table).
_CLIENTS_PER_READ = 10
_OPEN_TIMEOUT = 60.0
# Concurrent handshakes per client process, and the pause between a client's attempts while
# its server is down (jittered, so the storm is not one synchronised burst per 100 ms).
_CONNECT_CONCURRENCY = 256
_RETRY = (0.05, 0.25)


@dataclass(frozen=True, slots=True)
class Options:
    idle_sizes: tuple[int, ...] = IDLE_SIZES
    storm: int = STORM_SUBSCRIBERS
    clients: int = 2
    deadline: float = 120.0


# --- client processes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    urls: tuple[str, ...]
    counts: tuple[int, ...]
    incident_id: str
    after: str | None
    after_seq: int | None


@dataclass(frozen=True, slots=True)
class _Wait:
    seq: int
    deadline: float


@dataclass(frozen=True, slots=True)
class _Progress:
    reached: int
    times: list[float]
    errors: int
    first_error: str | None
    failed_attempts: int
    connects: int


@dataclass
class _Follower:
    url: str
    cursor: str | None
    last: int | None


@dataclass
class _Client:
    plan: _Plan
    followers: list[_Follower]
    times: dict[int, list[float]] = field(default_factory=dict)
    errors: int = 0
    first_error: str | None = None
    failed_attempts: int = 0
    connects: int = 0
    closing: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def error(self, what: Any) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = (what if isinstance(what, str) else json.dumps(what))[:300]

    async def follow(self, f: _Follower, gate: asyncio.Semaphore) -> None:
        while not self.closing:
            ws: ClientConnection | None = None
            try:
                async with gate:
                    ws = await self._open(f)
                self.connects += 1
                await self._read(ws, f)
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                self.failed_attempts += 1
            finally:
                if ws is not None:
                    await ws.close()
            if not self.closing:
                await asyncio.sleep(random.uniform(*_RETRY))

    async def _open(self, f: _Follower) -> ClientConnection:
        ws = await connect(
            f.url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            compression=None,
            proxy=None,
            ping_interval=None,
            open_timeout=_OPEN_TIMEOUT,
        )
        try:
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {TOKEN}"}}
            await ws.send(json.dumps(init))
            ack = json.loads(await asyncio.wait_for(ws.recv(), _OPEN_TIMEOUT))
            if ack.get("type") != "connection_ack":
                raise ConnectionError(f"refused: {ack}")
            variables = {"id": self.plan.incident_id, "after": f.cursor}
            payload = {"query": FOLLOW, "variables": variables}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        except BaseException:
            await ws.close()
            raise
        return ws

    async def _read(self, ws: ClientConnection, f: _Follower) -> None:
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await ws.send('{"type":"pong"}')
            elif kind == "next":
                data = (message.get("payload") or {}).get("data") or {}
                event = data.get("timelineEventAdded")
                if event is None:
                    self.error(message)
                    continue
                if f.last is not None and event["seq"] != f.last + 1:
                    self.error(f"after seq {f.last} came {event['seq']}")
                f.last, f.cursor = event["seq"], event["cursor"]
                self.times.setdefault(event["seq"], []).append(time.monotonic())
                self.changed.set()
            elif kind in ("error", "complete"):
                self.error(message)
                return

    async def wait(self, seq: int, deadline: float) -> _Progress:
        while sum(1 for f in self.followers if (f.last or 0) >= seq) < len(self.followers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))
        return _Progress(
            reached=sum(1 for f in self.followers if (f.last or 0) >= seq),
            times=list(self.times.get(seq, [])),
            errors=self.errors,
            first_error=self.first_error,
            failed_attempts=self.failed_attempts,
            connects=self.connects,
        )


async def _serve(conn: Connection, plan: _Plan) -> None:
    urls = [u for u, n in zip(plan.urls, plan.counts, strict=True) for _ in range(n)]
    random.shuffle(urls)
    followers = [_Follower(u, plan.after, plan.after_seq) for u in urls]
    client = _Client(plan, followers)
    gate = asyncio.Semaphore(_CONNECT_CONCURRENCY)
    tasks = [asyncio.create_task(client.follow(f, gate)) for f in followers]
    conn.send("started")
    try:
        while True:
            command = await asyncio.to_thread(conn.recv)
            if isinstance(command, Close):
                break
            assert isinstance(command, _Wait)
            conn.send(await client.wait(command.seq, command.deadline))
    finally:
        client.closing = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _client_main(conn: Connection, plan: _Plan) -> None:
    run_client(_serve, conn, plan, sum(plan.counts))


class TimelinePool(SubscriberPool):
    """Client processes following the timeline; `async with` starts and stops them."""

    def __init__(self, plans: Sequence[_Plan]) -> None:
        super().__init__(plans, target=_client_main)

    async def __aenter__(self) -> TimelinePool:
        self.spawn()
        for pipe in self._pipes:
            await receive(pipe, 60)
        return self

    async def wait(self, seq: int, deadline: float) -> list[_Progress]:
        found = await self.ask(_Wait(seq, deadline), max(deadline - time.monotonic(), 0) + 30)
        return [p for p in found if isinstance(p, _Progress)]


def timeline_plans(
    size: int,
    servers: Sequence[Server],
    clients: int,
    incident_id: str,
    after: str | None = None,
    after_seq: int | None = None,
) -> list[_Plan]:
    clients = max(1, min(clients, size))
    plans = []
    for c in range(clients):
        share = size // clients + (1 if c < size % clients else 0)
        counts = [
            share // len(servers) + (1 if s < share % len(servers) else 0)
            for s in range(len(servers))
        ]
        if c % 2:
            counts.reverse()
        plans.append(
            _Plan(tuple(s.ws_url for s in servers), tuple(counts), incident_id, after, after_seq)
        )
    return plans


# --- measurements -----------------------------------------------------------------------------


def rss_bytes(server: Server) -> int:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@dataclass(frozen=True, slots=True)
class Scans:
    """PostgreSQL's cumulative statistics of the benchmark database."""

    timeline: int
    incident: int
    transactions: int

    def __sub__(self, other: Scans) -> Scans:
        return Scans(
            self.timeline - other.timeline,
            self.incident - other.incident,
            self.transactions - other.transactions,
        )


async def scans(backend: Backend) -> Scans:
    connection = await asyncpg.connect(backend.database_url)
    try:
        rows = await connection.fetch(
            "SELECT relname, seq_scan + coalesce(idx_scan, 0) AS scans FROM pg_stat_user_tables "
            "WHERE relname IN ('timeline_event', 'incident')"
        )
        transactions = await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    by_table = {r["relname"]: int(r["scans"]) for r in rows}
    return Scans(by_table["timeline_event"], by_table["incident"], int(transactions))


async def until_subscribed(
    http: httpx.AsyncClient, servers: Sequence[Server], expected: int, *, timeout: float
) -> float:
    started = time.monotonic()
    deadline = started + timeout
    while True:
        counts = [await subscriber_count(http, s) for s in servers]
        if sum(counts) == expected:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise TimeoutError(f"servers report {counts} subscribers, expected {expected}")
        await asyncio.sleep(0.25)


@contextlib.contextmanager
def _servers(backend: Backend, logs: Path) -> Any:
    servers = [Server(backend) for _ in range(_SERVERS)]
    try:
        for server in servers:
            server.start(logs)
        yield servers
    finally:
        for server in servers:
            server.stop()


def _tracebacks(servers: Sequence[Server]) -> int:
    return sum(s.log().count("Traceback") for s in servers)


# --- (a) idle memory --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Idle:
    subscribers: int
    connected: int
    connect_seconds: float
    cold: tuple[int, ...]
    before: tuple[int, ...]
    after: tuple[int, ...]
    cpu_seconds: float

    @property
    def kb_per_subscription(self) -> float:
        """The larger of the two servers' growth per subscription it holds: a server whose
        heap had room left from earlier work (the one that ran the mutation and the
        background jobs) absorbs part of its growth and would understate the cost."""
        return max(self.by_server, default=0.0)

    @property
    def by_server(self) -> list[float]:
        share = max(self.connected, 1) / len(self.before)
        return [(a - b) / share / 1024 for a, b in zip(self.after, self.before, strict=True)]


async def _idle(size: int, backend: Backend, logs: Path, options: Options) -> Idle:
    with _servers(backend, logs) as servers:
        async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
            gql = servers[0].client()
            try:
                incident = await seed.declare(gql, title=f"{size} idle subscribers")
            finally:
                await gql.aclose()
            cold = tuple(rss_bytes(s) for s in servers)
            # A first round of subscribers imports, compiles and caches what every later
            # one shares; the baseline is taken after it has gone.
            async with TimelinePool(timeline_plans(WARM_UP, servers, 1, incident["id"])):
                await until_subscribed(http, servers, WARM_UP, timeout=60)
            await until_subscribed(http, servers, 0, timeout=60)
            await asyncio.sleep(1.0)
            before = tuple(rss_bytes(s) for s in servers)
            cpu_before = sum(cpu_seconds(s) for s in servers)
            async with TimelinePool(timeline_plans(size, servers, options.clients, incident["id"])):
                seconds = await until_subscribed(http, servers, size, timeout=60 + size / 50)
                await asyncio.sleep(2.0)
                after = tuple(rss_bytes(s) for s in servers)
                connected = sum([await subscriber_count(http, s) for s in servers])
            cpu = sum(cpu_seconds(s) for s in servers) - cpu_before
    result = Idle(size, connected, seconds, cold, before, after, cpu)
    print(render_idle([result]), file=sys.stderr, flush=True)
    return result


# --- (b) reconnect storm ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Storm:
    subscribers: int
    connected_seconds: float
    live_reached: int
    reached: int
    restart_seconds: float
    resume: Summary
    errors: int
    first_error: str | None
    failed_attempts: int
    reconnects: int
    tracebacks: int
    control: Scans
    storm: Scans

    @property
    def all_seconds(self) -> float:
        return self.resume.max

    @property
    def clients_per_read(self) -> float:
        """Clients served per replay statement, by the busier of the two tables."""
        replay = self.storm - self.control
        return self.subscribers / max(replay.timeline, replay.incident, 1)


async def _storm(size: int, backend: Backend, logs: Path, options: Options) -> Storm:
    with _servers(backend, logs) as servers:
        writer = Server(backend)
        async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
            gql = servers[0].client()
            try:
                incident = await seed.declare(gql, title=f"{size} clients resuming")
                first = await _note(gql, incident["id"], "before anyone follows")
            finally:
                await gql.aclose()
            # Control: the same stop, start and stop with nobody connected.
            await _stop(servers)
            await asyncio.sleep(1.0)
            control_before = await scans(backend)
            await _start(servers, logs)
            await asyncio.sleep(2.0)
            await _stop(servers)
            await asyncio.sleep(1.0)
            control = await scans(backend) - control_before
            await _start(servers, logs)

            plans = timeline_plans(
                size, servers, options.clients, incident["id"], first["cursor"], first["seq"]
            )
            async with TimelinePool(plans) as pool:
                started = time.monotonic()
                await until_subscribed(http, servers, size, timeout=60 + size / 50)
                connected_seconds = time.monotonic() - started
                # One live event proves every stream is following before the restart.
                gql = servers[0].client()
                try:
                    live = await _note(gql, incident["id"], "while everyone follows")
                finally:
                    await gql.aclose()
                live_progress = await pool.wait(live["seq"], time.monotonic() + options.deadline)

                # The restart: both servers go down, events are written meanwhile, they come
                # back, and every client reconnects with `after:` its last cursor.
                await _stop(servers)
                writer.start(logs)
                wgql = writer.client()
                try:
                    for i in range(_MISSED):
                        missed = await _note(wgql, incident["id"], f"while down {i}")
                finally:
                    await wgql.aclose()
                    writer.stop()
                await asyncio.sleep(1.0)
                before = await scans(backend)
                restarting = time.monotonic()
                await _start(servers, logs)
                ready = time.monotonic()
                progress = await pool.wait(missed["seq"], ready + options.deadline)
            # Stopping the servers flushes their sessions' statistics to PostgreSQL.
            await _stop(servers)
            await asyncio.sleep(1.0)
            storm = await scans(backend) - before
    times = [t - restarting for p in progress for t in p.times]
    result = Storm(
        subscribers=size,
        connected_seconds=connected_seconds,
        live_reached=sum(p.reached for p in live_progress),
        reached=sum(p.reached for p in progress),
        restart_seconds=ready - restarting,
        resume=Summary.of(times),
        errors=sum(p.errors for p in progress),
        first_error=next((p.first_error for p in progress if p.first_error), None),
        failed_attempts=sum(p.failed_attempts for p in progress),
        reconnects=sum(p.connects for p in progress) - size,
        tracebacks=_tracebacks(servers),
        control=control,
        storm=storm,
    )
    print(render_storm(result), file=sys.stderr, flush=True)
    return result


async def _note(client: Any, incident_id: str, body: str) -> dict[str, Any]:
    mutation = """
    mutation Note($input: AddNoteInput!) {
      addNote(input: $input) { event { seq cursor } errors { code message } }
    }"""
    data = await client.execute(mutation, {"input": {"incidentId": incident_id, "body": body}})
    if data["addNote"]["errors"]:
        raise RuntimeError(f"addNote refused: {data['addNote']['errors']}")
    event: dict[str, Any] = data["addNote"]["event"]
    return event


async def _stop(servers: Sequence[Server]) -> None:
    await asyncio.gather(*(asyncio.to_thread(s.stop) for s in servers))


async def _start(servers: Sequence[Server], logs: Path) -> None:
    await asyncio.gather(*(asyncio.to_thread(s.start, logs, 120) for s in servers))


# --- the section ------------------------------------------------------------------------------


@dataclass(slots=True)
class ResumeResult:
    options: Options
    idle: list[Idle] = field(default_factory=list)
    storm: Storm | None = None


async def run(options: Options) -> ResumeResult:
    require_services()
    raise_open_file_limit()
    result = ResumeResult(options)
    with log_directory() as logs:
        for size in options.idle_sizes:
            with postgres_backend() as backend:
                result.idle.append(await _idle(size, backend, logs, options))
        with postgres_backend() as backend:
            result.storm = await _storm(options.storm, backend, logs, options)
    return result


def _idle_met(result: ResumeResult) -> bool | None:
    if not result.idle:
        return None
    return all(
        i.connected == i.subscribers and i.kb_per_subscription <= TARGET_KB for i in result.idle
    )


def _storm_met(result: ResumeResult) -> bool | None:
    s = result.storm
    if s is None or s.subscribers < STORM_SUBSCRIBERS:
        return None
    return (
        s.reached == s.subscribers
        and s.errors == 0
        and s.all_seconds <= TARGET_SECONDS
        and s.clients_per_read >= _CLIENTS_PER_READ
    )


def verdict(result: ResumeResult) -> Verdict:
    measured = [f"{i.subscribers:,} idle: {i.kb_per_subscription:.1f} KB each" for i in result.idle]
    s = result.storm
    if s is not None:
        measured.append(
            f"{s.reached:,} of {s.subscribers:,} resumed in {s.all_seconds:.1f} s, "
            f"{s.errors} errors, {s.clients_per_read:.0f} clients per replay statement"
        )
    idle, storm = _idle_met(result), _storm_met(result)
    met = None if idle is None or storm is None else idle and storm
    return Verdict(
        f"Idle subscription at most {TARGET_KB:.0f} KB; {STORM_SUBSCRIBERS:,} clients resuming "
        f"at once after a restart all within {TARGET_SECONDS:.0f} s, no error, reads batched",
        "; ".join(measured) or "not in this run",
        met,
    )


def _mb(value: int) -> str:
    return f"{value / 1024 / 1024:.0f} MB"


def render_idle(idle: Sequence[Idle]) -> str:
    lines = [
        "| N | Connected | in | RSS cold A / B | before | after | growth | per subscription A / B "
        "| Server CPU to connect |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i in idle:
        growth = sum(i.after) - sum(i.before)
        lines.append(
            f"| {i.subscribers:,} | {i.connected:,} | {i.connect_seconds:.1f} s | "
            f"{' / '.join(_mb(v) for v in i.cold)} | {' / '.join(_mb(v) for v in i.before)} | "
            f"{' / '.join(_mb(v) for v in i.after)} | {_mb(growth)} | "
            f"{' / '.join(f'{v:.1f}' for v in i.by_server)} KB, "
            f"**{i.kb_per_subscription:.1f} KB** | {i.cpu_seconds:.1f} s |"
        )
    return "\n".join(lines) + "\n"


def render_storm(s: Storm) -> str:
    replay = s.storm - s.control
    return "\n".join(
        [
            f"{s.subscribers:,} clients followed one incident's timeline (connected in "
            f"{s.connected_seconds:.1f} s; {s.live_reached:,} received a live event before the "
            f"restart). Both servers were stopped, {_MISSED} events were written through a third "
            f"server, and both were started again ({s.restart_seconds:.1f} s until both answered "
            f"`/healthz`).",
            "",
            "| Resumed | first | p50 | p99 | last | Errors | Refused attempts | "
            "Server tracebacks |",
            "|---|---|---|---|---|---|---|---|",
            f"| **{s.reached:,} / {s.subscribers:,}** | {_s(s.resume.min)} | {_s(s.resume.p50)} | "
            f"{_s(s.resume.p99)} | **{_s(s.resume.max)}** | {s.errors} | "
            f"{s.failed_attempts:,} | {s.tracebacks} |",
            "",
            *([f"First error: `{s.first_error}`", ""] if s.first_error else []),
            "| PostgreSQL, during the window | timeline_event scans | incident scans | "
            "transactions |",
            "|---|---|---|---|",
            f"| restart with {s.subscribers:,} clients resuming | {s.storm.timeline:,} | "
            f"{s.storm.incident:,} | {s.storm.transactions:,} |",
            f"| the same restart, nobody connected (control) | {s.control.timeline:,} | "
            f"{s.control.incident:,} | {s.control.transactions:,} |",
            f"| **difference: the resume** | **{replay.timeline:,}** | **{replay.incident:,}** | "
            f"{replay.transactions:,} |",
            "",
            f"{s.clients_per_read:.0f} clients per replay statement (the busier table).",
            "",
        ]
    )


def _s(seconds: float) -> str:
    return ms(seconds) if seconds < 1 else f"{seconds:.1f} s"


def render(result: ResumeResult) -> str:
    o = result.options
    parts = [
        "## (r) Idle cost and reconnect storm",
        "",
        f"Two server processes, PostgreSQL + Redis; {o.clients} client processes holding "
        "graphql-transport-ws connections that alternate between the servers, each following "
        "`timelineEventAdded(incidentId:, after:)` of one incident.",
        "",
        "### Idle memory per subscription",
        "",
        "Fresh servers for each N. *cold* is each server's resident memory (`VmRSS` in "
        f"`/proc/<pid>/status`) after one mutation; {WARM_UP} subscribers then connect and "
        "leave (imports, compiled documents and caches that every later subscription shares), "
        "and *before* is read once the servers report none left. N subscribers connect; "
        "*after* is read 2 s after both servers' `incidentgraph_subscribers` gauges show all "
        "of them. Per subscription is each server's (after − before) / (N / 2), and the figure "
        "is the larger of the two: the server that ran the mutation and the background jobs "
        "has free heap left from them, which absorbs part of its growth. 1 KB = 1,024 bytes. "
        "Each subscription is a WebSocket connection of its own, so this is the cost of an "
        f"idle connection with one subscription. Target: at most {TARGET_KB:.0f} KB.",
        "",
        render_idle(result.idle),
    ]
    if result.storm is not None:
        s = result.storm
        parts += [
            "### Reconnect storm",
            "",
            "Every client keeps the cursor of the last event it received. When its connection "
            "closes it tries again after a random 50–250 ms until the server answers, then "
            "subscribes with `after:` that cursor; each client process opens at most "
            f"{_CONNECT_CONCURRENCY} handshakes at a time. Times run from the moment both "
            "restarted servers answered `/healthz` to each client's receipt of the last missed "
            "event (clients were already knocking, so most reconnect at once); *from stop to "
            "last* adds the servers' start. A client that receives any seq other than its last "
            "plus one counts an error, as does an `error` or `complete` message.",
            "",
            "SQL statements are counted by PostgreSQL itself: `seq_scan + idx_scan` of the "
            "`timeline_event` and `incident` tables in `pg_stat_user_tables` (each statement "
            "that reads a table scans it once; `pg_stat_statements` is not loaded on this "
            "server), and `xact_commit + xact_rollback` of `pg_stat_database` (every statement "
            "outside a transaction is a transaction: this also counts each connection's token "
            "check and the servers' own start-up work). The window runs from just before the "
            "servers start to after they stop again (a session's statistics reach PostgreSQL "
            "when it ends); a control window with the same restart and no client connected is "
            "subtracted, so the difference is the work the resume caused. Without batching a "
            "resume reads the incident and the timeline once per client: "
            f"{s.subscribers:,} clients would scan each table at least {s.subscribers:,} times. "
            "With it (`app/services/incidents/replay.py`) a server sends at most one read of an "
            f"incident every {replay.INTERVAL * 1000:.0f} ms, shared by every subscriber that "
            "asked meanwhile, so the count "
            "follows the storm's duration, not the number of clients.",
            "",
            render_storm(s),
            f"Target: all {STORM_SUBSCRIBERS:,} resumed within {TARGET_SECONDS:.0f} s of the "
            f"restart without error, with batched replay reads (at least {_CLIENTS_PER_READ} "
            f"clients per statement on average): {_met(_storm_met(result))}.",
            "",
        ]
    parts.append(PROFILE)
    return "\n".join(parts)


PROFILE = """\
### Profile

*Idle memory* (`python -m bench.idle_memory --subscribers 2000`: one server in the benchmark's \
own process with the options of `incidentgraph serve`, traced by tracemalloc; growth credited \
to the package whose code allocated it; at aa30427): 52.9 KB of Python heap per idle \
subscription, close to the RSS figure above. Strawberry 14.0 KB (each subscription is a live \
operation: its task, the graphql-transport-ws operation, and the schema extensions' hooks, \
whose context managers stay open for the life of the stream, about 4.5 KB); uvicorn 11.6 KB \
(the WebSocket protocol object with its events and queues, 3.2 KB of them its receive queue, \
and the handshake's headers); ours 9.9 KB (the stream, its broker queue and the parsed \
`subscribe` message); websockets 6.1 KB (the handshake request, kept); graphql-core 5.2 KB \
(the subscription's execution context); Starlette 3.9 KB; the standard library 1.4 KB. The \
connection alone (uvicorn, websockets and Starlette) is 21.6 KB, more than the 20 KB target \
before any subscription state. uvicorn's other WebSocket implementation, wsproto, measured \
the same way (`ws="wsproto"`), holds 50.5 KB per idle subscription, uvicorn and wsproto \
together 15.5 KB: 2.4 KB less, not enough to be worth a second protocol stack. 20 KB takes \
connections held by a leaner server than uvicorn, and subscriptions held as entries of their \
fan-out group rather than as operations with their own task, generators and execution \
context.

*Reconnect storm* (py-spy at 100 Hz on both restarted servers for the 60 s from their start, \
10,000 clients resuming, at f793348; share of samples): the subscriptions' operations 37% \
(Strawberry's per-operation stream 29%, within it the replayed events' selections executed \
7% and their frames sent 9%); importing and building the app at start 16% (before \
`/healthz` answers); WebSocket handshakes and `connection_init` with its token check 13%; \
the batched replay reads 4%. Before batching, each resume read the incident and the \
timeline itself: the statement counts above are that comparison.
"""


def _met(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured at this size"}[met]

"""(d) Live status boards: N `boardUpdated` subscribers during a burst of incident changes.

N subscribers to `boardUpdated(persona: RESPONDER)` are spread evenly over two
`incidentgraph serve` processes sharing PostgreSQL and Redis, as in (a). A burst of changes
(declare, transition, update, assign) goes to the first server over HTTP from a few concurrent
writers; the last change is sent alone once the others were answered, so a board that shows it
was built after every change of the burst had committed. The baseline, in the same run, is the
same N subscribers on `incidentsChanged` (one push per change, nothing coalesced) for a burst
of the same shape.

Each subscriber records every board it receives with a fingerprint of what the board says about
the incidents (everything but the fields that move with the clock). After the burst the final
board is read once with `statusBoard`, and each subscriber's delay is the time from just before
the last change was sent to its first board with that fingerprint.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.services.boards.live import INTERVAL
from bench import seed
from bench.fanout import _until_subscribed
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
from bench.stats import Summary, ms, percentile
from bench.subscribers import (
    Close,
    Plan,
    Ready,
    SubscriberPool,
    _cpu_seconds,
    _interleave,
    _open,
    run_client,
)
from tests.support import GraphQLClient

# The wall display's responder selection (app/web/static/board.js), so each push costs what a
# real wall display's does.
_INCIDENT_FIELDS = """
      id reference title priority status severity service assignee commander isMajor
      ageSeconds customerImpact slaResponseDue slaResolveDue responseSecondsLeft
      resolveSecondsLeft recentEvents { id seq type time actor }"""
_BOARD_SELECTION = f"""__typename ... on ResponderBoard {{ persona generatedAt
    incidents {{{_INCIDENT_FIELDS} }} }}"""
BOARD_SUBSCRIPTION = f"""
subscription WallBoard {{
  boardUpdated(persona: RESPONDER) {{ {_BOARD_SELECTION} }}
}}
"""
BOARD_QUERY = f"""
query Board {{
  statusBoard(persona: RESPONDER) {{ {_BOARD_SELECTION} }}
}}
"""
CHANGES_SUBSCRIPTION = """
subscription Changes {
  incidentsChanged { id reference title status priority assignee version updatedAt }
}
"""
UPDATE = """
mutation Update($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { id version } errors { code message } }
}
"""
ASSIGN = """
mutation Assign($input: AssignIncidentInput!) {
  assignIncident(input: $input) { incident { id version } errors { code message } }
}
"""
# Fields of a board incident that change with the clock alone, not with a write.
_MOVING = frozenset(
    {"ageSeconds", "slaResponseDue", "slaResolveDue", "responseSecondsLeft", "resolveSecondsLeft"}
)
# What happens to each incident of a burst, in order: five changes per incident.
_STORY: tuple[tuple[str, str | None], ...] = (
    ("declare", None),
    ("transition", "IN_PROGRESS"),
    ("update", None),
    ("assign", None),
    ("transition", "ESCALATED"),
)
SUBSCRIBERS = 1_000
CHANGES = 200
_SERVERS = 2
_FIELDS = {"boards": "boardUpdated", "changes": "incidentsChanged"}


@dataclass(frozen=True, slots=True)
class Options:
    subscribers: int = SUBSCRIBERS
    changes: int = CHANGES
    writers: int = 4
    clients: int = 2
    compression: str | None = "deflate"
    quiet: float = 1.5
    timeout: float = 120.0


# --- client processes ----------------------------------------------------------------------


def board_state(board: Mapping[str, Any]) -> str:
    """A fingerprint of what a responder board says, leaving out what moves with the clock."""
    incidents = [{k: v for k, v in i.items() if k not in _MOVING} for i in board["incidents"]]
    text = json.dumps([board["__typename"], incidents], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def change_key(incident: Mapping[str, Any]) -> str:
    return f"{incident['id']}:{incident['version']}"


def _key(field: str, value: Mapping[str, Any]) -> str:
    return board_state(value) if field == "boardUpdated" else change_key(value)


@dataclass(frozen=True, slots=True)
class Settle:
    """Wait until every subscriber has received `final` (None: any message), or `deadline`;
    then `quiet` seconds more; then tally what each received (and forget it, with `reset`)."""

    final: str | None
    deadline: float
    quiet: float = 0.0
    reset: bool = False


@dataclass(frozen=True, slots=True)
class Tally:
    targets: list[int]
    pushes: list[int]
    # When each subscriber first received `final` (None: never), and whether it ended on it.
    reached: list[float | None]
    ends_final: list[bool]
    last_at: list[float | None]
    errors: int
    first_error: str | None
    closed: int
    cpu_seconds: float


@dataclass
class _Stream:
    target: int
    received: list[tuple[float, str]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def add(self, at: float, key: str) -> None:
        self.received.append((at, key))
        self.keys.add(key)

    def first(self, key: str | None) -> float | None:
        return next((at for at, k in self.received if k == key), None)


@dataclass
class _Errors:
    count: int = 0
    first: str | None = None

    def add(self, message: Any) -> None:
        self.count += 1
        if self.first is None:
            self.first = json.dumps(message)[:300]


async def _read(ws: ClientConnection, stream: _Stream, field: str, errors: _Errors) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            arrived = time.monotonic()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "next":
                payload = message.get("payload") or {}
                data = payload.get("data")
                if payload.get("errors") or not data:
                    errors.add(message)
                else:
                    stream.add(arrived, _key(field, data[field]))
            elif kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif kind in ("error", "complete"):
                errors.add(message)


async def _settle(
    streams: Sequence[_Stream], readers: Sequence[asyncio.Task[None]], errors: _Errors, cmd: Settle
) -> Tally:
    def done() -> bool:
        if cmd.final is None:
            return all(s.received for s in streams)
        return all(cmd.final in s.keys for s in streams)

    while not done() and time.monotonic() < cmd.deadline:
        await asyncio.sleep(0.01)
    if cmd.quiet:
        await asyncio.sleep(cmd.quiet)
    tally = Tally(
        targets=[s.target for s in streams],
        pushes=[len(s.received) for s in streams],
        reached=[s.first(cmd.final) for s in streams],
        ends_final=[bool(s.received) and s.received[-1][1] == cmd.final for s in streams],
        last_at=[s.received[-1][0] if s.received else None for s in streams],
        errors=errors.count,
        first_error=errors.first,
        closed=sum(1 for r in readers if r.done()),
        cpu_seconds=_cpu_seconds(),
    )
    if cmd.reset:
        for s in streams:
            s.received.clear()
            s.keys.clear()
    return tally


async def _serve(conn: Connection, plan: Plan) -> None:
    errors = _Errors()
    gate = asyncio.Semaphore(plan.connect_concurrency)
    order = _interleave(plan.counts)
    opened = await asyncio.gather(*(_open(plan, t, gate) for t in order), return_exceptions=True)
    sockets = [
        (t, ws) for t, ws in zip(order, opened, strict=True) if not isinstance(ws, BaseException)
    ]
    failures = [ws for ws in opened if isinstance(ws, BaseException)]
    streams = [_Stream(t) for t, _ in sockets]
    readers = [
        asyncio.create_task(_read(ws, s, plan.field, errors))
        for (_, ws), s in zip(sockets, streams, strict=True)
    ]
    conn.send(
        Ready(
            connected=tuple(sum(1 for t, _ in sockets if t == i) for i in range(len(plan.urls))),
            failed=len(failures),
            first_failure=repr(failures[0]) if failures else None,
        )
    )
    try:
        while True:
            command = await asyncio.to_thread(conn.recv)
            if isinstance(command, Close):
                break
            assert isinstance(command, Settle)
            conn.send(await _settle(streams, readers, errors, command))
    finally:
        await asyncio.gather(*(ws.close() for _, ws in sockets), return_exceptions=True)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


def client_main(conn: Connection, plan: Plan) -> None:
    """Entry point of a client process."""
    run_client(_serve, conn, plan, sum(plan.counts))


class _Pool(SubscriberPool):
    """SubscriberPool's processes, running this module's client (it records every message)."""

    def __init__(self, plans: Sequence[Plan]) -> None:
        super().__init__(plans, target=client_main)

    async def settle(self, command: Settle) -> list[Tally]:
        wait = max(command.deadline - time.monotonic(), 0) + command.quiet + 30
        return [self._expect(m, Tally) for m in await self.ask(command, wait)]


# --- the burst -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Burst:
    changes: int
    incidents: int
    started: float
    last_sent: float
    last_answered: float
    final: dict[str, Any]

    @property
    def seconds(self) -> float:
        """From the first change sent to the last one answered."""
        return self.last_answered - self.started

    @property
    def last_answer_seconds(self) -> float:
        return self.last_answered - self.last_sent


def _stories(changes: int) -> list[list[tuple[str, str | None]]]:
    """Each incident's changes, `changes` in all: whole stories, the last one maybe cut short."""
    incidents = math.ceil(changes / len(_STORY))
    stories = [list(_STORY) for _ in range(incidents)]
    stories[-1] = stories[-1][: changes - (incidents - 1) * len(_STORY)]
    return stories


def _incident(data: dict[str, Any], name: str) -> dict[str, Any]:
    payload = data[name]
    if payload["errors"]:
        raise RuntimeError(f"{name} refused: {payload['errors']}")
    incident: dict[str, Any] = payload["incident"]
    return incident


async def _change(
    gql: GraphQLClient, step: tuple[str, str | None], incident_id: str | None, name: str, index: int
) -> dict[str, Any]:
    kind, value = step
    if kind == "declare":
        return await seed.declare(gql, title=f"{name} incident {index}", index=index)
    assert incident_id is not None
    if kind == "transition":
        assert value is not None
        return await seed.transition(gql, incident_id, value)
    if kind == "update":
        variables = {"input": {"id": incident_id, "title": f"{name} incident {index}, updated"}}
        return _incident(await gql.execute(UPDATE, variables), "updateIncident")
    variables = {"input": {"id": incident_id, "assignee": f"responder-{index}"}}
    return _incident(await gql.execute(ASSIGN, variables), "assignIncident")


async def burst(gql: GraphQLClient, *, changes: int, writers: int, name: str) -> Burst:
    """`changes` changes from `writers` concurrent writers; the last one sent alone at the end."""
    stories = _stories(changes)
    final_step = stories[-1].pop()
    ids: dict[int, str] = {}
    pending = iter(range(len(stories)))

    async def writer() -> None:
        for index in pending:
            for step in stories[index]:
                incident = await _change(gql, step, ids.get(index), name, index)
                ids[index] = incident["id"]

    started = time.monotonic()
    await asyncio.gather(*(writer() for _ in range(max(1, writers))))
    last = len(stories) - 1
    last_sent = time.monotonic()
    final = await _change(gql, final_step, ids.get(last), name, last)
    last_answered = time.monotonic()
    return Burst(changes, len(stories), started, last_sent, last_answered, final)


# --- measuring -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    subscription: str
    subscribers: int
    connected: int
    connect_seconds: float
    burst: Burst
    # Delay per subscriber that received the final state, by server.
    delays: tuple[list[float], ...] = field(repr=False)
    pushes: list[int] = field(repr=False)
    ended_final: int
    last_push: float
    server_cpu: tuple[float, ...]
    client_cpu: float
    machine_cpu: float
    delivery_seconds: float
    board_bytes: int | None
    errors: int
    closed: int
    first_error: str | None

    @property
    def delay(self) -> Summary:
        return Summary.of([d for by_server in self.delays for d in by_server])

    @property
    def received(self) -> int:
        return sum(len(d) for d in self.delays)

    @property
    def cpu(self) -> float:
        return sum(self.server_cpu)

    @property
    def push_counts(self) -> tuple[int, float, int]:
        """Min, median and max pushes per subscriber."""
        ordered = sorted(self.pushes)
        if not ordered:
            return 0, math.nan, 0
        return ordered[0], percentile(ordered, 0.5), ordered[-1]

    @property
    def push_bound(self) -> int:
        """Most pushes one subscriber may get under "at most one a second" in this window."""
        return math.floor((self.last_push - self.burst.started) / INTERVAL) + 1

    @property
    def all_final(self) -> bool:
        return self.subscribers == self.connected == self.ended_final == self.received


@dataclass(frozen=True, slots=True)
class BoardsResult:
    options: Options
    boards: Phase | None = None
    changes: Phase | None = None


async def run(options: Options) -> BoardsResult:
    require_services()
    raise_open_file_limit()
    with log_directory() as logs, postgres_backend() as backend:
        with running(backend, _SERVERS, logs) as servers:
            async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
                gql = servers[0].client()
                try:
                    # The first query starts server A's query cache, which follows the tenant's
                    # changes with a subscription of its own: count it before subscribers come.
                    await gql.execute(BOARD_QUERY)
                    idle = await _steady_counts(http, servers)
                    boards = await _measure("boards", servers, gql, http, idle, options)
                    print(render_phase(boards), file=sys.stderr, flush=True)
                    changes = await _measure("changes", servers, gql, http, idle, options)
                    print(render_phase(changes), file=sys.stderr, flush=True)
                finally:
                    await gql.aclose()
    return BoardsResult(options, boards, changes)


async def _measure(
    kind: str,
    servers: Sequence[Server],
    gql: GraphQLClient,
    http: httpx.AsyncClient,
    idle: Sequence[int],
    options: Options,
) -> Phase:
    size = options.subscribers
    plans = _plans(kind, size, servers, options)
    async with _Pool(plans) as pool:
        started = time.monotonic()
        ready: list[Ready] = await pool.start(timeout=120 + size / 20)
        per_server = [sum(r.connected[i] for r in ready) for i in range(len(servers))]
        if kind == "boards":
            # The first message of boardUpdated is the current board: every subscriber has one.
            first = await pool.settle(Settle(None, time.monotonic() + options.timeout))
            missing = sum(1 for t in first for n in t.pushes if n == 0)
            if missing:
                raise TimeoutError(f"{missing} board subscribers received no first board")
        else:
            expected = [i + n for i, n in zip(idle, per_server, strict=True)]
            await _until_subscribed(http, servers, expected, timeout=options.timeout)
        connect_seconds = time.monotonic() - started
        # Quiet for longer than the coalescing window: the burst's first change is pushed at once.
        await asyncio.sleep(options.quiet)
        before = await pool.settle(Settle(None, time.monotonic(), reset=True))
        machine_before = machine_cpu_seconds()
        cpu_before = [cpu_seconds(s) for s in servers]
        done = await burst(gql, changes=options.changes, writers=options.writers, name=kind)
        final, board_bytes = await _final_key(kind, gql, done)
        delivered = await pool.settle(Settle(final, time.monotonic() + options.timeout))
        delivery_seconds = time.monotonic() - done.started
        server_cpu = tuple(cpu_seconds(s) - b for s, b in zip(servers, cpu_before, strict=True))
        machine_cpu = machine_cpu_seconds() - machine_before
        # A little longer, for any push still on its way after the final state.
        after = await pool.settle(Settle(final, time.monotonic(), quiet=options.quiet))
    await _until_subscribed(http, servers, idle, timeout=60)
    delays: list[list[float]] = [[] for _ in servers]
    for tally in after:
        for target, reached in zip(tally.targets, tally.reached, strict=True):
            if reached is not None:
                delays[target].append(reached - done.last_sent)
    last_push = max((at for t in after for at in t.last_at if at is not None), default=0.0)
    return Phase(
        subscription=_FIELDS[kind],
        subscribers=size,
        connected=sum(per_server),
        connect_seconds=connect_seconds,
        burst=done,
        delays=tuple(delays),
        pushes=[n for t in after for n in t.pushes],
        ended_final=sum(sum(t.ends_final) for t in after),
        last_push=last_push,
        server_cpu=server_cpu,
        client_cpu=sum(t.cpu_seconds for t in delivered) - sum(t.cpu_seconds for t in before),
        machine_cpu=machine_cpu,
        delivery_seconds=delivery_seconds,
        board_bytes=board_bytes,
        errors=sum(t.errors for t in after) + sum(r.failed for r in ready),
        closed=sum(t.closed for t in after),
        first_error=next(
            (t.first_error for t in after if t.first_error),
            next((r.first_failure for r in ready if r.first_failure), None),
        ),
    )


async def _steady_counts(http: httpx.AsyncClient, servers: Sequence[Server]) -> list[int]:
    """The servers' subscription gauges once they stop moving."""
    counts: list[int] = []
    for _ in range(50):
        latest = [await subscriber_count(http, s) for s in servers]
        if latest == counts:
            break
        counts = latest
        await asyncio.sleep(0.2)
    return counts


async def _final_key(kind: str, gql: GraphQLClient, done: Burst) -> tuple[str, int | None]:
    """What a subscriber holds once it has the burst's final state, and the final board's size
    as JSON (what one push carries before compression)."""
    if kind == "changes":
        return change_key(done.final), None
    data = await gql.execute(BOARD_QUERY)
    board = data["statusBoard"]
    size = len(json.dumps({"data": {"boardUpdated": board}}, separators=(",", ":")))
    return board_state(board), size


def _plans(kind: str, size: int, servers: Sequence[Server], options: Options) -> list[Plan]:
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
                query=BOARD_SUBSCRIPTION if kind == "boards" else CHANGES_SUBSCRIPTION,
                variables={},
                field=_FIELDS[kind],
                compression=options.compression,
            )
        )
    return plans


# --- the report ----------------------------------------------------------------------------


def target_met(result: BoardsResult) -> bool | None:
    b = result.boards
    if b is None or b.subscribers != SUBSCRIBERS or b.burst.changes != CHANGES:
        return None
    return b.all_final and b.errors == 0 and b.push_counts[2] <= b.push_bound


def verdict(result: BoardsResult) -> Verdict:
    b = result.boards
    measured = "not in this run"
    if b is not None:
        low, median, high = b.push_counts
        measured = (
            f"{low}/{median:.0f}/{high} pushes per subscriber (min/median/max) for "
            f"{b.burst.changes} changes, bound {b.push_bound}; {b.ended_final:,} of "
            f"{b.subscribers:,} ended on the final board, p99 {ms(b.delay.p99)} after the last "
            "change"
        )
    return Verdict(
        f"{SUBSCRIBERS:,} `boardUpdated` subscribers, burst of {CHANGES} changes: at most one "
        "push a second, every subscriber ends on the final board",
        measured,
        target_met(result),
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1%}" if b else "–"


def render_phase(p: Phase) -> str:
    low, median, high = p.push_counts
    cpu = " / ".join(f"{c * 1000:,.0f} ms" for c in p.server_cpu)
    by_server = " / ".join(ms(Summary.of(d).p99) for d in p.delays)
    return "\n".join(
        [
            f"### `{p.subscription}`",
            "",
            f"Connected {p.connected:,} of {p.subscribers:,} in {p.connect_seconds:.1f} s. "
            f"Errors: {p.errors}"
            + (f" (first: `{p.first_error}`)" if p.first_error else "")
            + f". Connections closed by a server: {p.closed}.",
            "",
            "| | |",
            "|---|---|",
            f"| Burst | {p.burst.changes} changes on {p.burst.incidents} incidents in "
            f"{p.burst.seconds * 1000:,.0f} ms; the last one answered in "
            f"{ms(p.burst.last_answer_seconds)} |",
            f"| Pushes per subscriber (min / median / max) | {low} / {median:.0f} / {high} |",
            f"| Received the final state | {p.received:,} of {p.subscribers:,}; "
            f"{p.ended_final:,} ended on it |",
            f"| Delay after the last change: p50 / p99 / max | {ms(p.delay.p50)} / "
            f"{ms(p.delay.p99)} / {ms(p.delay.max)} |",
            f"| p99 delay, server A / B | {by_server} |",
            f"| Every subscriber final, from the first change | "
            f"{p.delivery_seconds * 1000:,.0f} ms |",
            f"| Server CPU, A / B (total) | {cpu} ({p.cpu * 1000:,.0f} ms) |",
            *(
                [f"| Final board, as JSON before compression | {p.board_bytes:,} bytes |"]
                if p.board_bytes is not None
                else []
            ),
            f"| Client CPU / machine CPU | {p.client_cpu * 1000:,.0f} ms / "
            f"{p.machine_cpu * 1000:,.0f} ms |",
            "",
        ]
    )


def render(result: BoardsResult) -> str:
    o = result.options
    b, c = result.boards, result.changes
    met = target_met(result)
    verdict_text = {
        True: "**met**",
        False: "**not met**",
        None: f"not measured ({SUBSCRIBERS:,} subscribers and {CHANGES} changes were not this "
        "run's sizes)",
    }[met]
    rows = [
        "| Subscription | Pushes per subscriber min / median / max | Final state | p50 | p99 "
        "| Server CPU | Server CPU per change |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in (b, c):
        if p is None:
            continue
        low, median, high = p.push_counts
        rows.append(
            f"| `{p.subscription}` | {low} / {median:.0f} / {high} | "
            f"{p.ended_final:,} / {p.subscribers:,} | {ms(p.delay.p50)} | {ms(p.delay.p99)} | "
            f"{p.cpu * 1000:,.0f} ms | {p.cpu / p.burst.changes * 1000:.1f} ms |"
        )
    ratios = []
    if b is not None and c is not None:
        ratios = [
            "",
            f"`boardUpdated` against the `incidentsChanged` baseline: "
            f"**{_ratio(b.push_counts[1], c.push_counts[1])}** of the pushes per subscriber "
            f"(median), **{_ratio(b.cpu, c.cpu)}** of the server CPU. The same burst took "
            f"{b.burst.seconds:.1f} s beside `boardUpdated` and {c.burst.seconds:.1f} s beside "
            "`incidentsChanged`, whose pushes kept the servers busy.",
        ]
    parts = [
        "## (d) Live status boards",
        "",
        f"Two server processes, PostgreSQL + Redis; {o.subscribers:,} subscribers in "
        f"{o.clients} client processes, alternating between the servers; WebSocket compression: "
        f"{o.compression or 'off'}. Each phase is a burst of {o.changes} changes sent to server "
        f"A over HTTP by {o.writers} concurrent writers: {len(_STORY)} per incident "
        "(`declareIncident`, `transitionIncident` → IN_PROGRESS, `updateIncident` of the title, "
        "`assignIncident`, `transitionIncident` → ESCALATED), the last change sent alone once "
        "all the others were answered.",
        "",
        "- **`boardUpdated`**: `boardUpdated(persona: RESPONDER)` with the wall display's "
        "selection (every incident field, the last timeline events). Before the burst every "
        f"subscriber has its first board and the boards have been quiet for {o.quiet} s. The "
        "final state is the board `statusBoard(persona: RESPONDER)` returns after the burst; a "
        "subscriber has it when it receives a board saying the same about every incident "
        "(fields that move with the clock alone, `ageSeconds`, the SLA due times and seconds "
        "left, are not compared).",
        "- **Baseline, `incidentsChanged`**: the same subscribers, servers and burst shape "
        "(new incidents), subscribed to `incidentsChanged` (no filter): one push per change. "
        "The final state is the last change's incident version.",
        "",
        "Pushes are the `next` messages a subscriber received from just before the first change "
        f"until {o.quiet} s after every subscriber had the final state (the first board, "
        "received before the burst, is not counted). Delay runs from `time.monotonic()` just "
        "before the last change is sent (its commit follows within the time it took to answer) "
        "to a client process receiving the final state. Server CPU is both servers' "
        "`/proc/<pid>/stat` utime + stime from just before the first change until every "
        "subscriber had the final state. The client processes run on the same two cores: the "
        "CPU they spend receiving, decompressing and parsing pushes (shown per phase) competes "
        "with the servers', and the delays include it.",
        "",
        *rows,
        *ratios,
        "",
        f"Target: at most one push a second per subscriber (counted against the time from the "
        f"first change to the last push received, {INTERVAL:.0f} s per push plus the first) and "
        f"every subscriber ending on the final board: {verdict_text}.",
        "",
        *(render_phase(p) for p in (b, c) if p is not None),
    ]
    return "\n".join(parts)

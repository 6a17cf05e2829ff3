"""(h) The event feed at scale: SSE readers, webhook endpoints, exports.

Three measurements against real server processes on PostgreSQL and Redis:

1. Exports: `incidents` incidents (1,000,000 by default) written with one SQL statement,
   then `GET /exports/incidents?format=ndjson` read to the end; the server's peak RSS
   (VmHWM) before and after: the growth is what the export held. It runs first, so the
   peak is the export's own.
2. SSE readers: one server process, `readers` connections to `GET /events/stream` held by
   this process (raw sockets, one request each). Events are committed one at a time through
   the API; for each, the time from the mutation's answer to its arrival at every reader.
   The baseline is one reader on the same server: the ratio says what the crowd costs. The
   server's RSS growth over the connected readers gives the memory per reader.
3. Webhook endpoints: 100 endpoints on a receiver in this process, one pointing at a port
   nothing listens on (down for the whole run), one answering after 25 s (past the 15 s
   timeout); events committed through the API; for the 98 others, the delay from the
   mutation's answer to each delivery, and whether every event reached every one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from bench.report import Verdict
from bench.servers import log_directory, postgres_backend, require_services, running
from bench.stats import percentile
from tests.support import DECLARE, TOKEN, Server

READERS = 5_000
EVENTS = 20
ENDPOINTS = 100
EXPORT_ROWS = 1_000_000
SSE_P99_TARGET_MS = 1_000.0
WEBHOOK_DELAY_TARGET_MS = 1_000.0
EXPORT_GROWTH_TARGET_MB = 64.0
NOTE = """
mutation($input: AddNoteInput!) { addNote(input: $input) { errors { code } } }
"""


@dataclass(frozen=True, slots=True)
class Options:
    readers: int = READERS
    events: int = EVENTS
    endpoints: int = ENDPOINTS
    export_rows: int = EXPORT_ROWS


@dataclass(slots=True)
class FeedResult:
    readers: int = 0
    connected: int = 0
    one_reader_ms: list[float] = field(default_factory=list)
    crowd_ms: list[float] = field(default_factory=list)
    crowd_complete: bool = False
    kb_per_reader: float = 0.0
    endpoints: int = 0
    healthy_delays_ms: list[float] = field(default_factory=list)
    healthy_complete: bool = False
    down_attempts: int = 0
    slow_attempts: int = 0
    export_rows: int = 0
    export_seconds: float = 0.0
    export_bytes: int = 0
    rss_before_mb: float = 0.0
    peak_before_mb: float = 0.0
    peak_after_mb: float = 0.0


def _memory_mb(server: Server, key: str) -> float:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Reader:
    """One `GET /events/stream` over a raw socket; notes when each event id arrives."""

    def __init__(self, seen: dict[str, list[float]]) -> None:
        self.seen = seen
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, port: int) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            (
                "GET /events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await self.writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"retry:"):
                self.ready.set()
            elif line.startswith(b"id: "):
                self.seen[line[4:].strip().decode()].append(time.monotonic())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()


async def _readers(port: int, count: int, seen: dict[str, list[float]]) -> list[_Reader]:
    readers = [_Reader(seen) for _ in range(count)]
    for start in range(0, count, 250):  # open in waves: the listen backlog is finite
        wave = readers[start : start + 250]
        for r in wave:
            r.task = asyncio.create_task(r.run(port))
        await asyncio.wait_for(asyncio.gather(*(r.ready.wait() for r in wave)), 60)
    return readers


async def _commit_notes(
    client: httpx.AsyncClient, incident_id: str, count: int, *, pause: float = 0.2
) -> list[float]:
    """Notes one at a time; the monotonic time each mutation was answered."""
    answered: list[float] = []
    for n in range(count):
        response = await client.post(
            "/graphql",
            json={
                "query": NOTE,
                "variables": {"input": {"incidentId": incident_id, "body": f"n{n}"}},
            },
        )
        assert response.json()["data"]["addNote"]["errors"] == [], response.text
        answered.append(time.monotonic())
        await asyncio.sleep(pause)
    return answered


async def _declare(client: httpx.AsyncClient) -> str:
    values = {"title": "feed bench", "severity": "SEV3", "impact": "LOW", "urgency": "LOW"}
    response = await client.post(
        "/graphql", json={"query": DECLARE, "variables": {"input": values}}
    )
    return str(response.json()["data"]["declareIncident"]["incident"]["id"])


async def _head(client: httpx.AsyncClient) -> int:
    page = (await client.get("/events", params={"after": "0", "limit": "500"})).json()
    while page["hasMore"]:
        page = (await client.get("/events", params={"after": page["next"], "limit": "500"})).json()
    return int(page["next"])


async def _sse(
    server: Server, client: httpx.AsyncClient, options: Options, result: FeedResult
) -> None:
    incident = await _declare(client)
    for count, into in ((1, result.one_reader_ms), (options.readers, result.crowd_ms)):
        seen: dict[str, list[float]] = defaultdict(list)
        rss = _memory_mb(server, "VmRSS")
        readers = await _readers(server.port, count, seen)
        if count > 1:
            result.connected = count
            result.kb_per_reader = (_memory_mb(server, "VmRSS") - rss) * 1024 / count
        first = await _head(client) + 1
        answered = await _commit_notes(client, incident, options.events)
        deadline = time.monotonic() + 30
        ids = [str(first + n) for n in range(options.events)]
        while time.monotonic() < deadline and any(len(seen[i]) < count for i in ids):
            await asyncio.sleep(0.1)
        complete = all(len(seen[i]) == count for i in ids)
        for event_id, at in zip(ids, answered, strict=True):
            into.extend((t - at) * 1000 for t in seen[event_id])
        if count > 1:
            result.crowd_complete = complete
        for r in readers:
            r.close()
        await asyncio.sleep(1)
    result.readers = options.readers


class _Receiver:
    """Webhook receiver: 204 at once, or after `slow` seconds on the slow path."""

    def __init__(self, slow_path: str, slow: float) -> None:
        self.slow_path, self.slow = slow_path, slow
        self.received: dict[str, dict[str, float]] = defaultdict(dict)  # path -> id -> time
        self.attempts: dict[str, int] = defaultdict(int)
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readline()
                if not request:
                    return
                path = request.split()[1].decode()
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.attempts[path] += 1
                if path == self.slow_path:
                    await asyncio.sleep(self.slow)
                self.received[path].setdefault(headers["webhook-id"], time.monotonic())
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


CREATE_ENDPOINT = """
mutation($url: String!) {
  createWebhookEndpoint(input: {url: $url, eventTypes: ["com.incidents.note_added.v1"]}) {
    endpoint { id } errors { code message }
  }
}
"""
DELIVERIES = """
query($id: ID!) { webhookDeliveries(endpointId: $id, first: 100) { edges { node { eventId } } } }
"""


async def _webhooks(client: httpx.AsyncClient, options: Options, result: FeedResult) -> None:
    receiver = _Receiver("/slow", 25.0)
    port = await receiver.start()
    with contextlib.closing(__import__("socket").socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # nothing will listen here once it is closed
    paths = ["/slow"] + [f"/ok/{n}" for n in range(options.endpoints - 2)]
    urls = [f"http://127.0.0.1:{dead_port}/down"] + [f"http://127.0.0.1:{port}{p}" for p in paths]
    for url in urls:
        made = (
            await client.post(
                "/graphql", json={"query": CREATE_ENDPOINT, "variables": {"url": url}}
            )
        ).json()
        assert made["data"]["createWebhookEndpoint"]["errors"] == [], made
    incident = await _declare(client)
    answered = await _commit_notes(client, incident, options.events)
    healthy = paths[1:]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
        len(receiver.received[p]) < options.events for p in healthy
    ):
        await asyncio.sleep(0.1)
    result.endpoints = options.endpoints
    result.healthy_complete = all(len(receiver.received[p]) == options.events for p in healthy)
    # Arrivals in order of the notes: the n-th id received (by time) goes with the n-th note.
    for p in healthy:
        times = sorted(receiver.received[p].values())
        result.healthy_delays_ms.extend(
            (t - a) * 1000 for t, a in zip(times, answered, strict=False)
        )
    result.slow_attempts = receiver.attempts["/slow"]
    await receiver.stop()


async def _export(
    server: Server, client: httpx.AsyncClient, options: Options, result: FeedResult
) -> None:
    incident = await _declare(client)
    connection = await asyncpg.connect(
        server.backend.database_url.replace("postgres://", "postgresql://")
    )
    try:
        columns = [
            r["column_name"]
            for r in await connection.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'incident'"
            )
            if r["column_name"] not in ("id", "number")
        ]
        listed = ", ".join(f'"{c}"' for c in columns)
        await connection.execute(
            f"INSERT INTO incident (id, number, {listed}) "
            f"SELECT gen_random_uuid(), number + g, {listed} FROM incident, "
            f"generate_series(1, $1) AS g WHERE id = $2",
            options.export_rows - 1,
            uuid.UUID(incident.removeprefix("inc_")),
        )
        # The tenant's next number follows the copies (as a declaration would have moved it).
        await connection.execute(
            "UPDATE tenant SET incident_counter = "
            "(SELECT max(number) FROM incident WHERE incident.tenant_id = tenant.id) "
            "WHERE id = 'default'"
        )
        await connection.execute("ANALYZE incident")
    finally:
        await connection.close()
    result.rss_before_mb = _memory_mb(server, "VmRSS")
    result.peak_before_mb = _memory_mb(server, "VmHWM")
    started = time.monotonic()
    rows = 0
    size = 0
    async with client.stream(
        "GET", "/exports/incidents", params={"format": "ndjson"}, timeout=None
    ) as response:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\n")
    result.export_seconds = time.monotonic() - started
    result.export_rows = rows
    result.export_bytes = size
    result.peak_after_mb = _memory_mb(server, "VmHWM")


async def run(options: Options) -> FeedResult:
    require_services()
    result = FeedResult()
    env = {"INCIDENTGRAPH_SSE_HEARTBEAT_SECONDS": "15", "INCIDENTGRAPH_NOTIFY_POLL_SECONDS": "0.2"}
    with (
        log_directory() as logs,
        postgres_backend() as backend,
        running(backend, 1, logs, env) as (server,),
    ):
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as client:
            # The export first: its peak RSS is then its own, not the readers'.
            await _export(server, client, options, result)
            await _sse(server, client, options, result)
            await _webhooks(client, options, result)
    return result


def _p(values: list[float], fraction: float) -> float:
    return percentile(sorted(values), fraction) if values else float("nan")


def render(result: FeedResult) -> str:
    crowd, one = result.crowd_ms, result.one_reader_ms
    delays = result.healthy_delays_ms
    growth = result.peak_after_mb - result.peak_before_mb
    rate = result.export_rows / max(result.export_seconds, 1e-9)
    return "\n".join(
        [
            "## (h) The event feed: SSE readers, webhook endpoints, exports",
            "",
            (__doc__ or "").split("\n\n", 1)[1].strip(),
            "",
            "| measure | figure |",
            "|---|---|",
            f"| SSE readers held by one server process | {result.connected:,} |",
            f"| event to reader, 1 reader: p50 / p99 | "
            f"{_p(one, 0.5):.0f} / {_p(one, 0.99):.0f} ms |",
            f"| event to reader, {result.readers:,} readers: p50 / p99 / max | "
            f"{_p(crowd, 0.5):.0f} / {_p(crowd, 0.99):.0f} / {max(crowd, default=0):.0f} ms |",
            f"| every event reached every reader | {'yes' if result.crowd_complete else 'no'} |",
            f"| server memory per connected reader | {result.kb_per_reader:.1f} KB |",
            f"| webhook endpoints (1 down, 1 answering in 25 s) | {result.endpoints} |",
            f"| event to delivery, the {result.endpoints - 2} others: p50 / p99 / max | "
            f"{_p(delays, 0.5):.0f} / {_p(delays, 0.99):.0f} / {max(delays, default=0):.0f} ms |",
            f"| every event reached every healthy endpoint | "
            f"{'yes' if result.healthy_complete else 'no'} |",
            f"| export: rows, seconds, rows/s | {result.export_rows:,}, "
            f"{result.export_seconds:.1f} s, {rate:,.0f} |",
            f"| export: bytes | {result.export_bytes / 1_048_576:,.0f} MB |",
            f"| server RSS before the export; peak RSS before / after it (growth) | "
            f"{result.rss_before_mb:.0f} MB; {result.peak_before_mb:.0f} / "
            f"{result.peak_after_mb:.0f} MB ({growth:+.0f} MB) |",
            "",
        ]
    )


def verdict(result: FeedResult) -> Verdict:
    p99 = _p(result.crowd_ms, 0.99)
    delay = max(result.healthy_delays_ms, default=float("inf"))
    growth = result.peak_after_mb - result.peak_before_mb
    met = (
        result.crowd_complete
        and p99 <= SSE_P99_TARGET_MS
        and result.healthy_complete
        and delay <= WEBHOOK_DELAY_TARGET_MS
        and growth <= EXPORT_GROWTH_TARGET_MB
    )
    return Verdict(
        target=f"{READERS:,} SSE readers on one process, p99 <= {SSE_P99_TARGET_MS:.0f} ms; "
        f"webhooks: 98 endpoints beside a down and a slow one, every delivery within "
        f"{WEBHOOK_DELAY_TARGET_MS:.0f} ms; an export of {EXPORT_ROWS:,} rows growing the "
        f"peak RSS by at most {EXPORT_GROWTH_TARGET_MB:.0f} MB",
        measured=f"{result.connected:,} readers, p99 {p99:.0f} ms; webhook max {delay:.0f} ms "
        f"({'all' if result.healthy_complete else 'NOT all'} delivered); export "
        f"{result.export_rows:,} rows, peak RSS {growth:+.0f} MB",
        met=met,
    )

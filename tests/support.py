"""Test support: real server processes, a GraphQL client, and WebSocket subscribers."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-admin-token-0123456789abcdef"
# PostgreSQL needs INCIDENTGRAPH_SECRET_KEY (SQLite keeps a key file next to the database).
SECRET_KEY = "q0qsyS1HwRgmcKlvvTdUA8Mlr7k4fDBoLWf4tyhpFno="
PG_DSN = os.environ.get("INCIDENTGRAPH_TEST_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("INCIDENTGRAPH_TEST_REDIS", "redis://127.0.0.1:6379/0")
# Channels of this test run only, whatever else shares the Redis server.
CHANNEL_PREFIX = f"igtest-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def postgres_available() -> bool:
    return port_open("127.0.0.1", 5432)


def redis_available() -> bool:
    return port_open("127.0.0.1", 6379)


def create_pg_database() -> str:
    """A fresh, empty PostgreSQL database; returns its URL."""
    name = f"igtest_{uuid.uuid4().hex[:12]}"
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"],
        check=True,
        capture_output=True,
    )
    return f"{PG_DSN}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-qc",
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        ],
        capture_output=True,
    )


@dataclass
class Backend:
    name: str
    database_url: str
    broadcast_url: str

    @property
    def distributed(self) -> bool:
        return self.broadcast_url.startswith("redis")


@dataclass
class Server:
    """An `incidentgraph serve` process on a free port."""

    backend: Backend
    token: str = TOKEN
    port: int = field(default_factory=free_port)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    serve_args: Sequence[str] = ("--log-level", "warning")
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            INCIDENTGRAPH_DATABASE_URL=self.backend.database_url,
            INCIDENTGRAPH_BROADCAST_URL=self.backend.broadcast_url,
            INCIDENTGRAPH_HOST="127.0.0.1",
            INCIDENTGRAPH_PORT=str(self.port),
            INCIDENTGRAPH_BOOTSTRAP_TOKEN=self.token,
            INCIDENTGRAPH_CHANNEL_PREFIX=CHANNEL_PREFIX,
            # The suite drives one admin token hard (the fuzzer, bursts of concurrent
            # requests): per-token limits are off here, tested on servers of their own.
            INCIDENTGRAPH_RATE_LIMIT_PER_SECOND="0",
            INCIDENTGRAPH_MAX_CONNECTIONS_PER_TOKEN="0",
            # The fake ServiceNow and Jira listen on loopback.
            INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS="true",
        )
        if not self.backend.database_url.startswith("sqlite"):
            env["INCIDENTGRAPH_SECRET_KEY"] = SECRET_KEY
        env.update(self.extra_env)
        return env

    def start(self, log_dir: Path, timeout: float = 30) -> Server:
        self.log_path = log_dir / f"server-{self.port}.log"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", *self.serve_args],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace")
            if self.log_path and self.log_path.exists()
            else ""
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def client(self, token: str | None = None) -> GraphQLClient:
        return GraphQLClient(self.url, token=self.token if token is None else token)


class GraphQLClient:
    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)

    async def post(self, query: str, variables: Mapping[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(
            "/graphql", json={"query": query, "variables": dict(variables or {})}
        )

    async def execute(
        self, query: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run an operation that must succeed at the GraphQL level; returns `data`."""
        response = await self.post(query, variables)
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]  # type: ignore[no-any-return]

    async def raw(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return (await self.post(query, variables)).json()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self.http.aclose()


class Subscriber:
    """One WebSocket connection speaking graphql-transport-ws or legacy graphql-ws."""

    def __init__(
        self, url: str, *, token: str | None, protocol: str = "graphql-transport-ws"
    ) -> None:
        self.url = url
        self.token = token
        self.protocol = protocol
        self.ws: Any = None
        self._ids = 0

    async def connect(self, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self.ws = await websockets.connect(self.url, subprotocols=[self.protocol], max_size=2**24)  # type: ignore[list-item]
        init = (
            dict(payload)
            if payload is not None
            else ({"authorization": f"Bearer {self.token}"} if self.token else {})
        )
        await self.ws.send(json.dumps({"type": "connection_init", "payload": init}))
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if message["type"] in ("connection_ack", "connection_error"):
                return message  # type: ignore[no-any-return]
            if message["type"] == "ka":
                continue
            raise AssertionError(f"unexpected message {message}")

    async def subscribe(self, query: str, variables: Mapping[str, Any] | None = None) -> str:
        self._ids += 1
        op_id = str(self._ids)
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        await self.ws.send(
            json.dumps(
                {
                    "id": op_id,
                    "type": kind,
                    "payload": {"query": query, "variables": dict(variables or {})},
                }
            )
        )
        return op_id

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        """The next operation message (next/data, error, complete); pings are answered."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            message = json.loads(await asyncio.wait_for(self.ws.recv(), max(remaining, 0.01)))
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] in ("ka", "pong"):
                continue
            return message  # type: ignore[no-any-return]

    async def next_data(self, timeout: float = 10) -> dict[str, Any]:
        message = await self.next(timeout)
        assert message["type"] in ("next", "data"), message
        assert not message["payload"].get("errors"), message
        return message["payload"]["data"]  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def subscriber(
    server: Server, *, protocol: str = "graphql-transport-ws", token: str | None = None
) -> Subscriber:
    sub = Subscriber(
        server.ws_url, token=server.token if token is None else token, protocol=protocol
    )
    ack = await sub.connect()
    assert ack["type"] == "connection_ack", ack
    return sub


DECLARE = """
mutation Declare($input: DeclareIncidentInput!) {
  declareIncident(input: $input) {
    incident { id number title status severity impact urgency priority isMajor version
               createdAt acknowledgedAt resolvedAt closedAt updatedAt
               slaResponseDue slaResolveDue slaResponseBreached slaResolveBreached }
    errors { field code message }
  }
}
"""

TRANSITION = """
mutation Transition($input: TransitionIncidentInput!) {
  transitionIncident(input: $input) {
    incident { id status isMajor version acknowledgedAt resolvedAt closedAt resolutionSummary
               slaResponseDue slaResolveDue }
    errors { field code message }
  }
}
"""


async def answered(
    client: GraphQLClient, query: str, variables: Mapping[str, Any] | None, name: str
) -> list[dict[str, Any]]:
    """The errors (field, code, message) operation field `name` was answered with: its
    payload's `errors`, or the top-level errors when it was refused as a whole. A FORBIDDEN
    is only ever top-level (with `name` null and nothing else answered), every other code
    only in the payload."""
    body = await client.raw(query, variables)
    top = [
        {
            "field": e.get("extensions", {}).get("field"),
            "code": e.get("extensions", {}).get("code"),
            "message": e.get("message"),
        }
        for e in body.get("errors") or []
    ]
    if top:
        assert {e["code"] for e in top} == {"FORBIDDEN"}, body
        assert (body.get("data") or {}).get(name) is None, body
        return top
    found: list[dict[str, Any]] = body["data"][name]["errors"]
    assert "FORBIDDEN" not in {e["code"] for e in found}, body
    return found


async def answered_errors(
    client: GraphQLClient, query: str, variables: Mapping[str, Any] | None, name: str
) -> list[tuple[str | None, str]]:
    """The (field, code) of each error `answered` finds."""
    return [(e["field"], e["code"]) for e in await answered(client, query, variables, name)]


async def refused_transition(
    client: GraphQLClient, incident_id: str, to: str, **extra: Any
) -> list[dict[str, Any]]:
    """The errors a transition was answered with (see `answered`)."""
    variables = {"input": {"id": incident_id, "to": to, **extra}}
    return await answered(client, TRANSITION, variables, "transitionIncident")


async def declare(client: GraphQLClient, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "Checkout is down",
        "severity": "SEV2",
        "impact": "HIGH",
        "urgency": "MEDIUM",
    }
    values.update(overrides)
    data = await client.execute(DECLARE, {"input": values})
    payload = data["declareIncident"]
    assert payload["errors"] == [], payload
    return payload["incident"]  # type: ignore[no-any-return]


async def transition(
    client: GraphQLClient, incident_id: str, to: str, **extra: Any
) -> dict[str, Any]:
    data = await client.execute(TRANSITION, {"input": {"id": incident_id, "to": to, **extra}})
    return data["transitionIncident"]  # type: ignore[no-any-return]


def subscriber_count(server: Server) -> int:
    for line in httpx.get(f"{server.url}/metrics", timeout=5).text.splitlines():
        if line.startswith("incidentgraph_broker_subscriptions "):
            return int(float(line.split()[1]))
    raise AssertionError("no incidentgraph_broker_subscriptions gauge in /metrics")


async def wait_for_subscribers(server: Server, at_least: int, timeout: float = 10) -> None:
    """Wait until the server holds this many live subscriptions (the protocol has no ack)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        count = await asyncio.to_thread(subscriber_count, server)
        if count >= at_least:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count} subscribers on {server.url}, expected {at_least}")
        await asyncio.sleep(0.02)


async def subscribe_and_wait(
    sub: Subscriber, server: Server, query: str, variables: Mapping[str, Any]
) -> str:
    before = await asyncio.to_thread(subscriber_count, server)
    while True:  # let subscriptions that are closing finish, so the count only grows
        await asyncio.sleep(0.05)
        now = await asyncio.to_thread(subscriber_count, server)
        if now == before:
            break
        before = now
    op_id = await sub.subscribe(query, variables)
    await wait_for_subscribers(server, before + 1)
    return op_id


def cli(
    server: Server, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The `incidentgraph` command on the server's own database and settings."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=server.env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def create_token(server: Server, *, role: str, name: str, tenant: str = "default") -> str:
    """A new API token in the server's database, made with `incidentgraph token create`."""
    result = cli(server, "token", "create", "--tenant", tenant, "--role", role, "--name", name)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def create_tenant(server: Server, *, tenant_id: str, name: str) -> str:
    """A new tenant in the server's database, made with `incidentgraph tenant create`."""
    result = cli(server, "tenant", "create", "--id", tenant_id, "--name", name)
    assert result.returncode == 0, result.stderr
    return tenant_id


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 20, what: str = "condition"
) -> Any:
    """The first truthy result of `check`, polled every 0.1 s for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout}s; last: {last}")


async def old_tenant(tenant_id: str) -> None:
    """A tenant row as the first schema had it, for tests that upgrade an old database:
    today's model (and tenant service) would write columns of later versions."""
    from app.models import Tenant

    conn = Tenant._meta.db
    postgres = conn.capabilities.dialect == "postgres"
    marks = "$1, $2, '{}', 0, $3" if postgres else "?, ?, '{}', 0, ?"
    now = datetime.now(UTC)
    await conn.execute_query(
        f"INSERT INTO tenant (id, name, policy, incident_counter, created_at) VALUES ({marks})",
        [tenant_id, tenant_id, now if postgres else now.isoformat(" ")],
    )


def migrate_database(url: str) -> None:
    """Bring the database at `url` to the current schema with `incidentgraph migrate`."""
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        cwd=ROOT,
        env={**os.environ, "INCIDENTGRAPH_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[None]:
    """This test process on `url`, as a server process is, for tests that call services
    directly. The connection is named after the backend: Tortoise caches prepared
    statements per connection name, process-wide, and one name for both would hand
    SQLite's statements to PostgreSQL."""
    from tortoise.context import TortoiseContext

    from app.config import Settings
    from app.database import tortoise_config

    config = tortoise_config(Settings(database_url=url))
    name = url.split(":", 1)[0]
    config["connections"] = {name: config["connections"]["default"]}
    config["apps"]["models"]["default_connection"] = name
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        yield


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_real_services() -> None:
    """Skip the test when PostgreSQL or Redis is not running here; fail it under CI."""
    import pytest

    missing = [
        n
        for n, ok in (("PostgreSQL", postgres_available()), ("Redis", redis_available()))
        if not ok
    ]
    if missing:
        message = f"{' and '.join(missing)} not reachable on 127.0.0.1"
        if IN_CI:
            pytest.fail(f"{message}: required when CI=true")
        pytest.skip(message)


@contextmanager
def fresh_backend(kind: str, directory: Path) -> Iterator[Backend]:
    """A backend of `kind` ("embedded" or "postgres") on a database of its own: a SQLite
    file in `directory`, or a PostgreSQL database dropped afterwards."""
    if kind == "embedded":
        yield Backend("embedded", f"sqlite://{directory / 'incidentgraph.db'}", "memory://")
        return
    require_real_services()
    url = create_pg_database()
    try:
        yield Backend("postgres", url, REDIS_URL)
    finally:
        drop_pg_database(url)


class StalledClient:
    """A graphql-transport-ws client on a small receive buffer that reads nothing once
    subscribed, until told to read what is left."""

    def __init__(self, server: Server) -> None:
        self.protocol = ClientProtocol(
            parse_uri(server.ws_url), subprotocols=[Subprotocol("graphql-transport-ws")]
        )
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", server.port))
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.state is not State.OPEN:
            self.protocol.receive_data(self.sock.recv(65536))
            self.protocol.events_received()
        self._messages = self._receive_messages()
        self._send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {server.token}"}}
        )
        ack = next(self._messages, None)
        assert ack is not None and ack["type"] == "connection_ack", self.protocol.close_rcvd

    def subscribe(self, query: str, variables: dict[str, object]) -> None:
        self._send(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )

    def read_to_the_end(self) -> tuple[int, Close | None]:
        """Every push it left unread, then the server's close frame (None if none came)."""
        pushes = sum(1 for message in self._messages if message["type"] == "next")
        return pushes, self.protocol.close_rcvd

    def _send(self, message: dict[str, object]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()

    def _flush(self) -> None:
        self.sock.sendall(b"".join(self.protocol.data_to_send()))

    def _receive_messages(self) -> Iterator[dict[str, object]]:
        while True:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                data = b""
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            for event in self.protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    yield json.loads(bytes(event.data))
            if not data:
                return

    def close(self) -> None:
        self.sock.close()

"""The HTTP and WebSocket edge holds up against hostile clients: one `connection_init` per
socket, sockets that never initialise are closed, bodies, query texts and operation ids have
limits, deeply nested JSON is a 400, and `/metrics` can be closed with a token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from app.config import ConfigError, Settings
from tests.support import (
    Backend,
    GraphQLClient,
    Server,
    create_tenant,
    create_token,
    declare,
    subscribe_and_wait,
    subscriber,
    subscriber_count,
    wait_for_subscribers,
)

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
INIT_TIMEOUT = 1.0
MAX_BODY = 1_048_576
MAX_QUERY = 16_384  # below the default, so a GET at the limit fits in httpx's URL limit
MAX_OPERATION_ID = 128
METRICS_TOKEN = "metrics-scraper-0123456789abcdef"

COUNT = "query Count { incidents(first: 1) { totalCount } }"
INCIDENTS_CHANGED = "subscription Feed { incidentsChanged { id title } }"

CREATE_TOKEN = """
mutation Create($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { token { id } secret errors { code } }
}
"""

REVOKE_TOKEN = """
mutation Revoke($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) { errors { code } }
}
"""


@pytest.fixture(scope="module")
def edge(backend: Backend, log_dir: Path) -> Iterator[Server]:
    """A server of its own (its log is read by the tests) with a short init timeout and a
    shorter query length limit; the body limit is the default."""
    env = {
        "INCIDENTGRAPH_WS_INIT_TIMEOUT_SECONDS": str(INIT_TIMEOUT),
        "INCIDENTGRAPH_MAX_QUERY_LENGTH": str(MAX_QUERY),
    }
    srv = Server(backend, extra_env=env).start(log_dir)
    yield srv
    srv.stop()


@pytest.fixture
async def edge_client(edge: Server) -> AsyncIterator[GraphQLClient]:
    c = edge.client()
    yield c
    await c.aclose()


@pytest.fixture(scope="module")
def metered(backend: Backend, log_dir: Path) -> Iterator[Server]:
    """A server whose /metrics needs a token."""
    srv = Server(backend, extra_env={"INCIDENTGRAPH_METRICS_TOKEN": METRICS_TOKEN}).start(log_dir)
    yield srv
    srv.stop()


async def new_token(client: GraphQLClient, role: str = "RESPONDER") -> dict[str, Any]:
    name = f"edge {uuid.uuid4().hex[:8]}"
    data = await client.execute(CREATE_TOKEN, {"input": {"name": name, "role": role}})
    assert data["createApiToken"]["errors"] == [], data
    return data["createApiToken"]  # type: ignore[no-any-return]


def init(token: str) -> str:
    return json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})


def start(protocol: str, query: str, op_id: str = "1", variables: Any = None) -> str:
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    payload = {"query": query, "variables": variables or {}}
    return json.dumps({"id": op_id, "type": kind, "payload": payload})


async def closed_with(ws: Any, timeout: float = 10) -> tuple[int, str, list[dict[str, Any]]]:
    """Read until the server closes the socket: its close code and reason, and what came."""
    received: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") not in ("ka", "ping", "pong"):
                    received.append(message)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "dropped without a close frame"
        return closed.rcvd.code, closed.rcvd.reason, received
    raise AssertionError("the socket stayed open")  # pragma: no cover


async def next_operation_message(ws: Any, timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message.get("type") not in ("ka", "pong"):
                return message  # type: ignore[no-any-return]


def codes(body: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
    errors = body if isinstance(body, list) else (body.get("errors") or [body])
    return [(e.get("extensions") or {}).get("code") for e in errors]


def operation_errors(message: dict[str, Any]) -> list[dict[str, Any]]:
    """An `error` frame's errors: a list on graphql-transport-ws, one object on graphql-ws."""
    assert message["type"] == "error", message
    payload = message["payload"]
    return payload if isinstance(payload, list) else [payload]


def padded(query: str, length: int) -> str:
    """`query` with a comment that makes it exactly `length` characters long."""
    filler = length - len(query) - 2
    return f"#{'x' * filler}\n{query}"


async def assert_healthy(client: GraphQLClient) -> None:
    assert (await client.http.get("/healthz")).status_code == 200
    data = await client.execute(COUNT)
    assert data["incidents"]["totalCount"] >= 0


def assert_no_traceback(server: Server, since: int) -> None:
    written = server.log()[since:]
    for needle in ("Traceback", "Task exception was never retrieved", "ERROR"):
        assert needle not in written, written[-3000:]


# --- one connection_init per socket ---------------------------------------------------------


async def test_a_second_connection_init_on_a_legacy_socket_is_refused(edge, client):
    # given a legacy socket acknowledged with one token
    other = await new_token(client)
    sub = await subscriber(edge, protocol="graphql-ws")

    # when it initialises again with another token
    await sub.ws.send(init(other["secret"]))

    # then it is closed as graphql-transport-ws does, without a second ack
    code, reason, received = await closed_with(sub.ws)
    assert (code, reason) == (4429, "Too many initialisation requests")
    assert received == []


async def test_a_revoked_token_does_not_keep_working_behind_a_second_init(edge, edge_client):
    # given a legacy socket acknowledged with the admin token, that then presents a token
    # which is about to be revoked, and subscribes
    doomed = await new_token(edge_client)
    sub = await subscriber(edge, protocol="graphql-ws")
    await sub.ws.send(init(doomed["secret"]))
    await sub.ws.send(start("graphql-ws", INCIDENTS_CHANGED))

    # when that token is revoked and something changes
    revoked = await edge_client.execute(REVOKE_TOKEN, {"input": {"id": doomed["token"]["id"]}})
    assert revoked["revokeApiToken"]["errors"] == []
    await declare(edge_client, title="Seen by nobody revoked")

    # then the socket is closed and never delivered anything under the revoked token
    code, _, received = await closed_with(sub.ws)
    assert code in (4403, 4429)
    assert all(m["type"] not in ("connection_ack", "data") for m in received), received


async def test_a_flood_of_connection_inits_leaves_nothing_behind(edge, edge_client):
    # given where the server's log stands
    since = len(edge.log())

    # when a legacy socket sends 5,000 connection_init frames as fast as it can
    sent = 0
    async with websockets.connect(edge.ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        try:
            for _ in range(5_000):
                await ws.send(init(edge.token))
                sent += 1
        except websockets.ConnectionClosed:
            pass
        code, reason, received = await closed_with(ws)

    # then one was acknowledged, the socket was closed on the second, and the server logged
    # no failure while the socket was open or after it closed
    assert [m["type"] for m in received] == ["connection_ack"]
    assert (code, reason) == (4429, "Too many initialisation requests")
    await asyncio.sleep(1)
    assert_no_traceback(edge, since)
    await assert_healthy(edge_client)


# --- sockets that never initialise ----------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_that_never_initialises_is_closed(edge, protocol):
    # when a client opens a socket and sends nothing
    began = time.monotonic()
    async with websockets.connect(edge.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        code, reason, received = await closed_with(ws, timeout=INIT_TIMEOUT + 5)

    # then the server closes it after the init timeout, as graphql-transport-ws does
    assert (code, reason) == (4408, "Connection initialisation timeout")
    assert received == []
    assert time.monotonic() - began >= INIT_TIMEOUT * 0.9


async def test_an_initialised_legacy_socket_outlives_the_init_timeout(edge, edge_client):
    # given a legacy socket that initialised at once and subscribed
    sub = await subscriber(edge, protocol="graphql-ws")
    await subscribe_and_wait(sub, edge, INCIDENTS_CHANGED, {})

    # when the init timeout has long passed and something changes
    await asyncio.sleep(INIT_TIMEOUT * 2.5)
    incident = await declare(edge_client, title="After the init timeout")

    # then it still delivers
    data = await sub.next_data()
    assert data["incidentsChanged"]["id"] == incident["id"]
    await sub.close()


# --- request size limits --------------------------------------------------------------------


async def test_a_body_over_the_limit_is_refused_with_413(edge, edge_client):
    # given a comment-padded query of 2 MiB
    body = json.dumps({"query": padded(COUNT, 2 * MAX_BODY)}).encode()

    # when it is posted with its Content-Length
    response = await edge_client.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )

    # then it is refused with a JSON error that says why
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert codes(response.json()) == ["PAYLOAD_TOO_LARGE"]
    await assert_healthy(edge_client)


async def test_a_chunked_body_over_the_limit_is_refused_before_it_is_all_read(edge, edge_client):
    # given a client that streams a 32 MiB body without a Content-Length
    total, chunk = 32 * MAX_BODY, b"x" * 65_536
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {edge.token}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
    )

    # when it sends chunk after chunk, looking for an answer after each
    sent = 0
    answer = b""
    while sent < total and b"\r\n\r\n" not in answer:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        sent += len(chunk)
        with contextlib.suppress(TimeoutError):
            answer += await asyncio.wait_for(reader.read(65_536), 0.001)
    if b"\r\n\r\n" not in answer:
        writer.write(b"0\r\n\r\n")  # the whole body went: end it
    async with asyncio.timeout(30):
        if b"\r\n\r\n" not in answer:
            answer += await reader.readuntil(b"\r\n\r\n")
        head, _, payload = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(payload) < length:
            payload += await reader.read(65_536)
    writer.close()

    # then the server answered 413 long before the body ended
    assert head.startswith(b"HTTP/1.1 413"), answer[:500]
    assert codes(json.loads(payload)) == ["PAYLOAD_TOO_LARGE"]
    assert sent < total // 2, f"{sent} of {total} bytes were sent before the answer"
    await assert_healthy(edge_client)


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_query_text_over_the_limit_is_refused_and_one_at_the_limit_runs(
    edge_client, method
):
    async def ask(query: str) -> httpx.Response:
        if method == "GET":
            return await edge_client.http.get("/graphql", params={"query": query})
        return await edge_client.http.post("/graphql", json={"query": query})

    # when a comment-padded query one character over the limit is sent
    over = await ask(padded(COUNT, MAX_QUERY + 1))

    # then it is refused with a JSON error that says why
    assert over.status_code == 413, over.text
    assert codes(over.json()) == ["QUERY_TOO_LARGE"]

    # and one exactly at the limit runs
    at = await ask(padded(COUNT, MAX_QUERY))
    assert at.status_code == 200, at.text
    assert at.json()["data"]["incidents"]["totalCount"] >= 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_websocket_query_over_the_limit_is_refused(edge, protocol):
    # given an acknowledged socket
    sub = await subscriber(edge, protocol=protocol)

    # when it starts an operation whose query is over the limit
    await sub.ws.send(start(protocol, padded(INCIDENTS_CHANGED, MAX_QUERY + 1), op_id="big"))

    # then that operation is refused with a code, and the socket stays usable
    refusal = await next_operation_message(sub.ws)
    assert refusal["id"] == "big"
    assert codes(operation_errors(refusal)) == ["QUERY_TOO_LARGE"]
    await subscribe_and_wait(sub, edge, INCIDENTS_CHANGED, {})
    await sub.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_operation_id_over_the_limit_closes_the_socket(edge, protocol):
    # given an acknowledged socket that runs an operation with an id at the limit
    sub = await subscriber(edge, protocol=protocol)
    before = await asyncio.to_thread(subscriber_count, edge)
    await sub.ws.send(start(protocol, INCIDENTS_CHANGED, op_id="i" * MAX_OPERATION_ID))
    await wait_for_subscribers(edge, before + 1)

    # when it starts one with an id one character longer
    await sub.ws.send(start(protocol, INCIDENTS_CHANGED, op_id="i" * (MAX_OPERATION_ID + 1)))

    # then the socket is closed as for any malformed frame
    code, _, received = await closed_with(sub.ws)
    assert code == 4400
    assert all(len(m.get("id", "")) <= MAX_OPERATION_ID for m in received)


# --- deeply nested input --------------------------------------------------------------------

DEEP = 100_000
DEEP_BODIES = {
    "variables": (
        '{"query": "query Count { incidents(first: 1) { totalCount } }", "variables": {"a": '
        + "[" * DEEP
        + "]" * DEEP
        + "}}"
    ),
    "body": "[" * DEEP + "]" * DEEP,
    "query document": json.dumps({"query": "{" + "incidents {" * 1_000 + "}" * 1_001}),
}


@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
async def test_deeply_nested_input_over_http_is_a_400(edge, edge_client, body):
    since = len(edge.log())

    # when
    response = await edge_client.http.post(
        "/graphql", content=body.encode(), headers={"Content-Type": "application/json"}
    )

    # then a clear refusal, and no traceback in the server's log
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert codes(response.json()) == ["BAD_REQUEST"]
    else:  # a document nested too deeply is a syntax error, as any other
        assert codes(response.json()) == ["GRAPHQL_PARSE_FAILED"]
    await asyncio.sleep(0.2)
    assert_no_traceback(edge, since)
    await assert_healthy(edge_client)


async def test_deeply_nested_variables_in_a_get_are_a_400(edge, edge_client):
    since = len(edge.log())

    # when
    response = await edge_client.http.get(
        "/graphql",
        params={"query": COUNT, "variables": '{"a": ' + "[" * 5_000 + "]" * 5_000 + "}"},
    )

    # then
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_REQUEST"]
    await asyncio.sleep(0.2)
    assert_no_traceback(edge, since)


async def test_a_subscription_over_get_is_a_400(edge, edge_client):
    since = len(edge.log())

    # when
    response = await edge_client.http.get("/graphql", params={"query": INCIDENTS_CHANGED})

    # then, as for a POST
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["BAD_REQUEST"]
    await asyncio.sleep(0.2)
    assert_no_traceback(edge, since)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_deeply_nested_input_over_a_websocket_logs_no_traceback(edge, edge_client, protocol):
    since = len(edge.log())
    deep_document = "subscription {" + "incidentsChanged {" * 500 + "}" * 501

    # when a socket sends a deeply nested document, then deeply nested variables
    sub = await subscriber(edge, protocol=protocol)
    await sub.ws.send(start(protocol, deep_document, op_id="doc"))
    if protocol == "graphql-ws":
        refusal = await next_operation_message(sub.ws)
        assert refusal["id"] == "doc"
        assert codes(operation_errors(refusal)) == ["GRAPHQL_PARSE_FAILED"]
    else:  # graphql-transport-ws closes the socket on a syntax error
        code, reason, _ = await closed_with(sub.ws)
        assert (code, reason) == (
            4400,
            "Syntax Error: Document is nested too deeply. Parsing aborted.",
        )
        sub = await subscriber(edge, protocol=protocol)
    nested = "[" * DEEP + "]" * DEEP
    frame = start(protocol, INCIDENTS_CHANGED, op_id="vars").replace(
        '"variables": {}', f'"variables": {{"a": {nested}}}'
    )
    await sub.ws.send(frame)
    try:
        await asyncio.wait_for(sub.ws.recv(), 1)
    except (TimeoutError, websockets.ConnectionClosed):
        pass
    await sub.close()

    # then nothing of it is logged as a server fault
    await asyncio.sleep(0.3)
    assert_no_traceback(edge, since)
    await assert_healthy(edge_client)


# --- /metrics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789abcdef", "test-admin-token-0123456789abcdef", "API"],
)
async def test_metrics_need_the_metrics_token_when_one_is_set(metered, authorization):
    # given
    if authorization == "API":
        authorization = f"Bearer {metered.token}"  # an API token is not the metrics token
    headers = {"Authorization": authorization} if authorization else {}

    # when
    async with httpx.AsyncClient(base_url=metered.url, timeout=10) as http:
        refused = await http.get("/metrics", headers=headers)
        allowed = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    # then
    assert refused.status_code == 401, refused.text
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert "incidentgraph_" not in refused.text
    assert allowed.status_code == 200
    assert "incidentgraph_subscribers " in allowed.text


async def test_open_metrics_show_only_process_wide_figures(server, client):
    # given activity in two tenants
    tenant = create_tenant(server, tenant_id=f"m{uuid.uuid4().hex[:10]}", name="Metrics Corp")
    other = server.client(create_token(server, role="ADMIN", name="metrics", tenant=tenant))
    await declare(client, title="In the default tenant")
    await declare(other, title="In the other tenant")
    await other.aclose()

    # when /metrics is read without a token (no metrics token is set)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        page = (await http.get("/metrics")).text

    # then no sample names a tenant: every figure is for the whole process
    samples = [line for line in page.splitlines() if line and not line.startswith("#")]
    assert samples
    assert tenant not in page and "default" not in page and "Metrics Corp" not in page
    for line in samples:
        labels = line.split(" ")[0].partition("{")[2]
        assert "tenant" not in labels, line


async def test_the_metrics_token_also_shows_each_tenants_key_figures(metered):
    # given a tenant with a P1 past its response time and a P3, on the metered server
    tenant = create_tenant(metered, tenant_id=f"g{uuid.uuid4().hex[:10]}", name="Gauges")
    admin = metered.client(create_token(metered, role="ADMIN", name="gauges", tenant=tenant))
    policy = await admin.execute(
        "mutation($i: UpdateTenantPolicyInput!) { updateTenantPolicy(input: $i) { "
        "errors { code } } }",
        {"i": {"sla": [{"priority": "P1", "responseMinutes": 0.01, "resolveMinutes": 60}]}},
    )
    assert policy["updateTenantPolicy"]["errors"] == []
    await declare(admin, title="Down", severity="SEV1", impact="HIGH", urgency="HIGH")
    await declare(admin, title="Slow", severity="SEV3", impact="MEDIUM", urgency="MEDIUM")
    await admin.aclose()
    await asyncio.sleep(1.5)

    # when the scraper with the metrics token reads /metrics
    async with httpx.AsyncClient(base_url=metered.url, timeout=10) as http:
        page = (
            await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        ).text

    # then the tenant's open incidents, by priority, and those past an SLA are there
    lines = set(page.splitlines())
    assert f'incidentgraph_tenant_open_incidents{{tenant="{tenant}",priority="P1"}} 1' in lines
    assert f'incidentgraph_tenant_open_incidents{{tenant="{tenant}",priority="P3"}} 1' in lines
    assert f'incidentgraph_tenant_open_incidents_sla_breached{{tenant="{tenant}"}} 1' in lines
    assert "# TYPE incidentgraph_tenant_mttr_seconds_7d gauge" in lines


# --- settings -------------------------------------------------------------------------------


def test_the_edge_settings_are_read_and_checked():
    # given
    env = {
        "INCIDENTGRAPH_MAX_BODY_BYTES": "2097152",
        "INCIDENTGRAPH_MAX_QUERY_LENGTH": "4096",
        "INCIDENTGRAPH_WS_INIT_TIMEOUT_SECONDS": "2.5",
        "INCIDENTGRAPH_METRICS_TOKEN": METRICS_TOKEN,
    }

    # when
    settings = Settings.from_env(env)

    # then
    assert (settings.max_body_bytes, settings.max_query_length) == (2_097_152, 4_096)
    assert settings.ws_init_timeout_seconds == 2.5
    assert settings.metrics_token == METRICS_TOKEN
    defaults = Settings.from_env({})
    assert (defaults.max_body_bytes, defaults.max_query_length) == (1_048_576, 65_536)
    assert (defaults.ws_init_timeout_seconds, defaults.metrics_token) == (10.0, None)


@pytest.mark.parametrize(
    "env",
    [
        {"INCIDENTGRAPH_MAX_BODY_BYTES": "100"},
        {"INCIDENTGRAPH_MAX_QUERY_LENGTH": "2000000"},  # longer than the body may be
        {"INCIDENTGRAPH_MAX_QUERY_LENGTH": "lots"},
        {"INCIDENTGRAPH_WS_INIT_TIMEOUT_SECONDS": "0"},
        {"INCIDENTGRAPH_METRICS_TOKEN": "short"},
    ],
)
def test_bad_edge_settings_are_refused_at_start(env):
    with pytest.raises(ConfigError):
        Settings.from_env(env)

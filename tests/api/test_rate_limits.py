"""Per-token abuse limits: request rate, open WebSockets, subscriptions per connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from app.config import ConfigError, Settings
from app.web.rate_limit import ConnectionLimit, RateLimit, retry_after
from tests.support import (
    Backend,
    GraphQLClient,
    Server,
    Subscriber,
    subscribe_and_wait,
    subscriber,
    subscriber_count,
    wait_for_subscribers,
)

BURST = 10
LIMITS = {
    "INCIDENTGRAPH_RATE_LIMIT_PER_SECOND": "0.5",
    "INCIDENTGRAPH_RATE_LIMIT_BURST": str(BURST),
    "INCIDENTGRAPH_MAX_CONNECTIONS_PER_TOKEN": "2",
    "INCIDENTGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION": "3",
}
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]

COUNT_INCIDENTS = "query Count { incidents(first: 1) { totalCount } }"

FIND_INCIDENTS = """
query Find($text: String!) { incidents(filter: {text: $text}) { totalCount } }
"""

DECLARE = """
mutation Declare($input: DeclareIncidentInput!) {
  declareIncident(input: $input) { incident { id } errors { code } }
}
"""

CREATE_TOKEN = """
mutation Create($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { secret errors { code } }
}
"""

INCIDENTS_CHANGED = "subscription Feed { incidentsChanged { id title } }"


@pytest.fixture(scope="module")
def limited(backend: Backend, log_dir: Path) -> Iterator[Server]:
    """A server of its own with small limits; it shares the backend with `server`."""
    srv = Server(backend, extra_env=LIMITS).start(log_dir)
    yield srv
    srv.stop()


async def new_token(client: GraphQLClient) -> str:
    """A fresh responder token (made through the unlimited shared server): a full bucket."""
    name = f"limits {uuid.uuid4().hex[:8]}"
    data = await client.execute(CREATE_TOKEN, {"input": {"name": name, "role": "RESPONDER"}})
    assert data["createApiToken"]["errors"] == [], data
    return data["createApiToken"]["secret"]  # type: ignore[no-any-return]


def incident(title: str) -> dict[str, Any]:
    return {"input": {"title": title, "severity": "SEV3", "impact": "LOW", "urgency": "LOW"}}


async def exhaust(caller: GraphQLClient) -> tuple[list[httpx.Response], httpx.Response]:
    """Ask the same query until the limit answers; the answers before, and the refusal."""
    answers: list[httpx.Response] = []
    for _ in range(BURST * 3):
        response = await caller.post(COUNT_INCIDENTS)
        if response.status_code == 429:
            return answers, response
        answers.append(response)
    raise AssertionError(f"no 429 after {len(answers)} requests")


def metric(server: Server, name: str) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def assert_rate_limited(response: httpx.Response) -> int:
    """The refusal's shape; returns its Retry-After in seconds."""
    assert response.status_code == 429, response.text
    seconds = int(response.headers["retry-after"])
    assert seconds >= 1
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": seconds}
    assert error["message"]
    return seconds


def operation_errors(message: dict[str, Any]) -> list[dict[str, Any]]:
    """An `error` frame's errors: a list on graphql-transport-ws, one object on graphql-ws."""
    assert message["type"] == "error", message
    payload = message["payload"]
    return payload if isinstance(payload, list) else [payload]


async def refused_connection(server: Server, token: str, protocol: str) -> tuple[int, str]:
    """Connect and initialise; the close code and reason the server answers with."""
    sub = Subscriber(server.ws_url, token=token, protocol=protocol)
    try:
        answer = await sub.connect()
        assert answer["type"] == "connection_error", answer
        assert answer["payload"]["code"] == "RATE_LIMITED", answer
        await asyncio.wait_for(sub.ws.recv(), 10)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("the connection stayed open")


async def test_a_burst_beyond_the_limit_is_refused_and_writes_nothing(limited, client):
    # given a token with a full allowance
    caller = limited.client(await new_token(client))
    marker = uuid.uuid4().hex
    refused_before = await asyncio.to_thread(metric, limited, "incidentgraph_rate_limited_total")
    try:
        # when it sends the same query again and again, then a mutation
        answers, refusal = await exhaust(caller)
        declared = await caller.post(DECLARE, incident(f"Never {marker}"))
        fetched = await caller.http.get("/graphql", params={"query": COUNT_INCIDENTS})

        # then the whole burst is answered, cached answers included, and the rest is refused
        assert len(answers) >= BURST
        assert all(a.status_code == 200 for a in answers)
        assert "hit" in [a.headers.get("x-cache") for a in answers]
        assert_rate_limited(refusal)
        assert_rate_limited(declared)
        assert_rate_limited(fetched)

        # and the refused mutation wrote nothing
        found = await client.execute(FIND_INCIDENTS, {"text": marker})
        assert found["incidents"]["totalCount"] == 0

        # and /metrics counts the refusals
        refused = await asyncio.to_thread(metric, limited, "incidentgraph_rate_limited_total")
        assert refused >= refused_before + 3
    finally:
        await caller.aclose()


async def test_another_token_is_unaffected(limited, client):
    # given one token over its limit
    noisy = limited.client(await new_token(client))
    quiet = limited.client(await new_token(client))
    nobody = limited.client("not-a-token")
    try:
        await exhaust(noisy)

        # when another token, and a request without a valid token, ask
        answer = await quiet.post(COUNT_INCIDENTS)
        stranger = await nobody.post(COUNT_INCIDENTS)

        # then the other token is answered, and the stranger is still told to authenticate
        assert answer.status_code == 200, answer.text
        assert stranger.status_code == 401
        assert stranger.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    finally:
        for c in (noisy, quiet, nobody):
            await c.aclose()


async def test_after_waiting_retry_after_the_token_works_again(limited, client):
    # given a token that was refused
    caller = limited.client(await new_token(client))
    try:
        _, refusal = await exhaust(caller)
        seconds = assert_rate_limited(refusal)

        # when it waits as long as it was told
        await asyncio.sleep(seconds)
        answer = await caller.post(COUNT_INCIDENTS)

        # then it is answered again
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["incidents"]["totalCount"] >= 0
    finally:
        await caller.aclose()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_token_may_hold_only_so_many_websockets(limited, client, protocol):
    # given a token holding as many connections as allowed, each with a live subscription
    token = await new_token(client)
    caller = limited.client(token)
    refused_before = await asyncio.to_thread(
        metric, limited, "incidentgraph_websocket_connections_refused_total"
    )
    first = await subscriber(limited, protocol=protocol, token=token)
    second = await subscriber(limited, protocol=protocol, token=token)
    await subscribe_and_wait(first, limited, INCIDENTS_CHANGED, {})
    await subscribe_and_wait(second, limited, INCIDENTS_CHANGED, {})
    try:
        # when it opens one more
        code, reason = await refused_connection(limited, token, protocol)

        # then that one is closed with 4429, and the first ones still deliver
        assert (code, reason) == (4429, "too many connections for this token")
        title = f"Seen by both {uuid.uuid4().hex}"
        declared = await caller.execute(DECLARE, incident(title))
        assert declared["declareIncident"]["errors"] == []
        for sub in (first, second):
            assert (await sub.next_data())["incidentsChanged"]["title"] == title
        refused = await asyncio.to_thread(
            metric, limited, "incidentgraph_websocket_connections_refused_total"
        )
        assert refused == refused_before + 1

        # when one of them drops without a closing handshake
        first.ws.transport.abort()

        # then a new connection is accepted in its place
        async with asyncio.timeout(10):
            while True:
                again = Subscriber(limited.ws_url, token=token, protocol=protocol)
                with contextlib.suppress(websockets.ConnectionClosed):
                    if (await again.connect())["type"] == "connection_ack":
                        break
                await again.close()
                await asyncio.sleep(0.1)  # the server is still releasing the slot
        await again.close()
        await second.close()

        # and once all are closed, the process holds no connection for anyone
        async with asyncio.timeout(10):
            while await asyncio.to_thread(metric, limited, "incidentgraph_websocket_connections"):
                await asyncio.sleep(0.05)
    finally:
        await first.close()
        await second.close()
        await caller.aclose()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_connection_may_hold_only_so_many_subscriptions(limited, client, protocol):
    # given a connection with as many subscriptions as allowed
    sub = await subscriber(limited, protocol=protocol, token=await new_token(client))
    try:
        op_ids = [await subscribe_and_wait(sub, limited, INCIDENTS_CHANGED, {}) for _ in range(3)]

        # when it starts one more
        await sub.subscribe(INCIDENTS_CHANGED)
        refusal = await sub.next()

        # then that one is refused with a clear error, and the socket stays open
        [error] = operation_errors(refusal)
        assert error["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": 3}
        assert "at most 3" in error["message"]
        assert refusal["id"] not in op_ids

        # when one subscription is completed
        stop = "complete" if protocol == "graphql-transport-ws" else "stop"
        before = await asyncio.to_thread(subscriber_count, limited)
        await sub.ws.send(json.dumps({"id": op_ids[0], "type": stop}))
        async with asyncio.timeout(10):
            while await asyncio.to_thread(subscriber_count, limited) >= before:
                await asyncio.sleep(0.05)

        # then a new one may start on the same connection
        await sub.subscribe(INCIDENTS_CHANGED)
        await wait_for_subscribers(limited, before)
    finally:
        await sub.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_websocket_subscribe_over_the_limit_is_refused_and_the_socket_stays(
    limited, client, protocol
):
    # given a connected token that has spent its allowance over HTTP
    token = await new_token(client)
    caller = limited.client(token)
    sub = await subscriber(limited, protocol=protocol, token=token)
    try:
        await exhaust(caller)

        # when it subscribes over the socket
        op_id = await sub.subscribe(INCIDENTS_CHANGED)
        refusal = await sub.next()

        # then that operation is refused as RATE_LIMITED
        assert refusal["id"] == op_id
        [error] = operation_errors(refusal)
        assert error["extensions"]["code"] == "RATE_LIMITED"
        seconds = error["extensions"]["retryAfter"]
        assert isinstance(seconds, int) and seconds >= 1

        # and once it has waited, the same socket subscribes and delivers
        await asyncio.sleep(seconds)
        await subscribe_and_wait(sub, limited, INCIDENTS_CHANGED, {})
        await asyncio.sleep(2)  # one more request's worth of allowance, for the mutation
        title = f"After the wait {uuid.uuid4().hex}"
        await caller.execute(DECLARE, incident(title))
        assert (await sub.next_data())["incidentsChanged"]["title"] == title
    finally:
        await sub.close()
        await caller.aclose()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_then_the_sustained_rate():
    # given a bucket of 3 refilled at 2 per second
    clock = FakeClock()
    limit = RateLimit(rate=2, burst=3, clock=clock)

    # when 4 requests come at once
    waits = [limit.take("a") for _ in range(4)]

    # then 3 pass and the 4th is told to wait half a second, rounded up to 1 for Retry-After
    assert waits == [0, 0, 0, 0.5]
    assert retry_after(waits[-1]) == 1

    # when a quarter second passes, half a request is back: still refused, a quarter to go
    clock.now += 0.25
    assert limit.take("a") == pytest.approx(0.25)

    # when another quarter passes, one request is allowed, and the next refused
    clock.now += 0.25
    assert limit.take("a") == 0
    assert limit.take("a") == pytest.approx(0.5)

    # and after a long pause the bucket holds no more than the burst
    clock.now += 3600
    assert [limit.take("a") for _ in range(4)][-2:] == [0, 0.5]


def test_buckets_stay_bounded_and_idle_ones_go():
    # given a limit holding at most 3 buckets
    clock = FakeClock()
    limit = RateLimit(rate=1, burst=5, max_buckets=3, clock=clock)

    # when 10 tokens make a request each
    for n in range(10):
        limit.take(f"token-{n}")

    # then only the 3 most recent buckets are kept
    assert len(limit) == 3

    # when they fall idle long enough to refill, and someone else asks
    clock.now += 61
    limit.take("newcomer")

    # then the full buckets are dropped
    assert len(limit) == 1


def test_a_rate_of_zero_turns_the_limit_off():
    limit = RateLimit(rate=0, burst=1, clock=FakeClock())
    assert [limit.take("a") for _ in range(100)] == [0] * 100
    assert len(limit) == 0


def test_connection_slots_are_counted_per_token_and_given_back():
    # given a cap of 2
    slots = ConnectionLimit(per_key=2)

    # when a token takes 3 and another 1
    taken = [slots.acquire("a"), slots.acquire("a"), slots.acquire("a"), slots.acquire("b")]

    # then the third is refused, and giving them back frees their entries
    assert taken == [True, True, False, True]
    for key in ("a", "a", "b"):
        slots.release(key)
    assert slots.total() == 0 and slots.acquire("a")
    assert ConnectionLimit(per_key=0).acquire("a")  # 0: no cap


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("INCIDENTGRAPH_RATE_LIMIT_PER_SECOND", "fast", "must be a number"),
        ("INCIDENTGRAPH_RATE_LIMIT_PER_SECOND", "-1", "between 0 (no limit) and"),
        ("INCIDENTGRAPH_RATE_LIMIT_BURST", "0", "between 1 and"),
        ("INCIDENTGRAPH_RATE_LIMIT_BURST", "2.5", "must be a whole number"),
        ("INCIDENTGRAPH_MAX_CONNECTIONS_PER_TOKEN", "-3", "between 0 (no cap) and"),
        ("INCIDENTGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION", "0", "between 1 and"),
    ],
)
def test_bad_limit_settings_are_refused_clearly(name, value, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(name)} .*{re.escape(message)}"):
        Settings.from_env({name: value})


def test_limit_settings_default_to_the_documented_figures():
    settings = Settings.from_env({})
    assert (
        settings.rate_limit_per_second,
        settings.rate_limit_burst,
        settings.max_connections_per_token,
        settings.max_subscriptions_per_connection,
    ) == (50, 200, 50, 100)

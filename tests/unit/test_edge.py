"""The edge's pure parts: the one body reader on an in-memory ASGI receive, and the two
shapes a refusal is answered in."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from app.errors import ErrorCode, RateLimited, ValidationFailed
from app.web.middleware.body_limit import read_body, replay
from app.web.middleware.refusal import Refusal, outage_refused, too_large, unauthenticated


def chunks(*parts: bytes, disconnect: bool = False) -> tuple[Receive, list[int]]:
    """A receive handing over `parts` as one body; counts the messages taken."""
    taken: list[int] = []
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1 or disconnect}
        for i, part in enumerate(parts)
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})

    async def receive() -> MutableMapping[str, Any]:
        taken.append(1)
        return messages.pop(0)

    return receive, taken


async def test_a_body_in_chunks_is_read_whole() -> None:
    receive, _ = chunks(b'{"query":', b' "{ a }"', b"}")
    assert await read_body(receive, limit=100) == b'{"query": "{ a }"}'


async def test_a_body_at_the_limit_is_read_and_one_byte_over_is_refused() -> None:
    receive, _ = chunks(b"x" * 10)
    assert await read_body(receive, limit=10) == b"x" * 10

    receive, _ = chunks(b"x" * 6, b"x" * 5)
    with pytest.raises(Refusal) as refused:
        await read_body(receive, limit=10)
    assert (refused.value.status, refused.value.code) == (413, ErrorCode.PAYLOAD_TOO_LARGE)
    assert refused.value.extensions == {"limit": 10}


async def test_reading_stops_at_the_first_chunk_past_the_limit() -> None:
    # given a body of a thousand chunks, the limit passed at the third
    receive, taken = chunks(*[b"x" * 4] * 1000)

    with pytest.raises(Refusal):
        await read_body(receive, limit=10)

    # then no more of it was asked for
    assert len(taken) == 3


async def test_a_content_length_over_the_limit_is_refused_before_reading() -> None:
    receive, taken = chunks(b"x")
    with pytest.raises(Refusal):
        await read_body(receive, limit=10, content_length="11")
    assert taken == []
    # a Content-Length that lies low changes nothing: the bytes are counted
    receive, _ = chunks(b"x" * 11)
    with pytest.raises(Refusal):
        await read_body(receive, limit=10, content_length="1")


async def test_a_client_that_leaves_midway_is_a_disconnect() -> None:
    receive, _ = chunks(b"xx", disconnect=True)
    with pytest.raises(ClientDisconnect):
        await read_body(receive, limit=10)


async def test_a_read_body_replays() -> None:
    assert await read_body(replay(b"abc"), limit=3) == b"abc"


def test_a_refusal_in_the_graphql_shape() -> None:
    refusal = Refusal.of(RateLimited("retry in 2 s", retry_after=2), status=429)

    response = refusal.graphql_response()

    assert response.status_code == 429
    assert json.loads(bytes(response.body)) == {
        "data": None,
        "errors": [
            {"message": "retry in 2 s", "extensions": {"code": "RATE_LIMITED", "retryAfter": 2}}
        ],
    }


def test_a_refusal_in_the_webhook_shape() -> None:
    refusal = Refusal.of(ValidationFailed("must be a string", field="alerts[0].labels"), status=400)

    response = refusal.webhook_response()

    assert response.status_code == 400
    assert json.loads(bytes(response.body)) == {
        "error": "must be a string",
        "code": "VALIDATION",
        "field": "alerts[0].labels",
    }


def test_the_shared_refusals() -> None:
    assert too_large(5).webhook_body() == {
        "error": "the body may be at most 5 bytes",
        "code": "PAYLOAD_TOO_LARGE",
        "limit": 5,
    }
    denied = unauthenticated("invalid or revoked token").graphql_response()
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"] == 'Bearer realm="incidentgraph"'
    unavailable = Refusal.unavailable().graphql_response()
    assert unavailable.status_code == 503
    assert int(unavailable.headers["retry-after"]) >= 1
    [error] = json.loads(bytes(unavailable.body))["errors"]
    assert error["extensions"]["code"] == "UNAVAILABLE"


def test_an_outage_becomes_unavailable_and_anything_else_passes() -> None:
    with pytest.raises(Refusal) as refused, outage_refused():
        raise ConnectionRefusedError(111, "Connection refused")
    assert refused.value.code is ErrorCode.UNAVAILABLE

    with pytest.raises(KeyError), outage_refused():
        raise KeyError("a bug stays a bug")

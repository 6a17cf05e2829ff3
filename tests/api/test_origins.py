"""Browser pages on other origins: refused unless allowed, on HTTP (CORS) and WebSocket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support import Backend, Server

ALLOWED = "https://wall.example.com"
OTHER = "https://evil.example.net"


@pytest.fixture(scope="module")
def open_to_wall(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("origins") / "incidentgraph.db"
    backend = Backend("embedded", f"sqlite://{path}", "memory://")
    srv = Server(backend, extra_env={"INCIDENTGRAPH_ALLOWED_ORIGINS": f"{ALLOWED}/"}).start(log_dir)
    yield srv
    srv.stop()


async def handshake(server: Server, origin: str) -> str:
    """What a browser on `origin` gets when it opens the subscription socket."""
    try:
        async with websockets.connect(
            server.ws_url,
            subprotocols=["graphql-transport-ws"],
            origin=origin,  # type: ignore[arg-type]
        ) as ws:
            init = {"authorization": f"Bearer {server.token}"}
            await ws.send(json.dumps({"type": "connection_init", "payload": init}))
            return str(json.loads(await ws.recv())["type"])
    except websockets.exceptions.InvalidStatus as refused:
        return f"refused {refused.response.status_code}"


async def test_a_page_on_an_allowed_origin_connects_and_others_do_not(open_to_wall, server):
    # when pages on the allowed origin and on another open the socket
    allowed = await handshake(open_to_wall, ALLOWED)
    other = await handshake(open_to_wall, OTHER)
    default = await handshake(server, ALLOWED)  # a server that allows no other origin

    # then only the allowed one is acknowledged
    assert allowed == "connection_ack"
    assert other == default == "refused 403"


async def test_cors_preflight_answers_only_allowed_origins(open_to_wall):
    # when browsers on two origins ask before a POST with a bearer token
    async with httpx.AsyncClient(base_url=open_to_wall.url) as http:
        answers = {
            origin: await http.options(
                "/graphql",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,content-type",
                },
            )
            for origin in (ALLOWED, OTHER)
        }
        posted = await http.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Origin": ALLOWED, "Authorization": f"Bearer {open_to_wall.token}"},
        )

    # then the allowed origin may send its token, the other may not
    assert answers[ALLOWED].headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in answers[ALLOWED].headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in answers[OTHER].headers
    assert posted.json() == {"data": {"__typename": "Query"}}
    assert posted.headers["access-control-allow-origin"] == ALLOWED


def test_an_origin_that_is_not_one_is_a_configuration_error():
    from app.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="ALLOWED_ORIGINS"):
        Settings.from_env({"INCIDENTGRAPH_ALLOWED_ORIGINS": "wall.example.com"})


async def test_a_refused_preflight_says_what_and_which_setting(open_to_wall, server):
    # when a page on an origin not allowed asks, of a server allowing one and one allowing none
    preflight = {
        "Origin": OTHER,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with httpx.AsyncClient() as http:
        answers = [
            await http.options(f"{s.url}/graphql", headers=preflight)
            for s in (open_to_wall, server)
        ]

    # then both answer (not 405), refusing, naming the origin and the setting to change
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert "access-control-allow-origin" not in answer.headers
        body = answer.json()
        assert body["code"] == "FORBIDDEN"
        assert OTHER in body["error"] and "INCIDENTGRAPH_ALLOWED_ORIGINS" in body["error"]


async def test_a_refused_socket_is_logged_with_the_setting_to_change(open_to_wall):
    assert await handshake(open_to_wall, OTHER) == "refused 403"
    log = open_to_wall.log_path.read_text()
    assert f"refused a WebSocket from origin {OTHER!r}" in log
    assert "INCIDENTGRAPH_ALLOWED_ORIGINS" in log and "`allowed_origins`" not in log

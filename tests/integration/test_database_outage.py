"""When the database cannot answer, clients are told so: HTTP 503 with a `Retry-After`
header and a GraphQL error coded `UNAVAILABLE`, for queries and mutations alike, whether or
not the server still remembers the caller's token; and it serves again once the database is
back."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    REDIS_URL,
    Backend,
    GraphQLClient,
    Server,
    create_pg_database,
    create_token,
    drop_pg_database,
    eventually,
)

COUNT = "query Count { incidents(first: 1) { totalCount } }"
DECLARE = """
mutation Declare($input: DeclareIncidentInput!) {
  declareIncident(input: $input) { incident { id } errors { code } }
}
"""
INCIDENT = {"title": "Checkout is down", "severity": "SEV2", "impact": "HIGH", "urgency": "LOW"}


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql],
        check=True,
        capture_output=True,
    )


def assert_no_request_failed(log: str) -> None:
    """No request ended in an unhandled exception or an INTERNAL_SERVER_ERROR (background
    workers may log the outage as they retry)."""
    assert "Exception in ASGI application" not in log
    assert "unexpected error" not in log


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAVAILABLE", body
    assert "Traceback" not in error["message"] and "SELECT" not in error["message"]


async def post(server: Server, token: str, query: str, variables: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        return await http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )


@pytest.fixture
def pg_server(log_dir: Path) -> Iterator[tuple[Server, str]]:
    from tests.support import require_real_services

    require_real_services()
    url = create_pg_database()
    server = Server(Backend("postgres", url, REDIS_URL)).start(log_dir)
    try:
        yield server, url.rsplit("/", 1)[1]
    finally:
        server.stop()
        psql(f"ALTER DATABASE {url.rsplit('/', 1)[1]} ALLOW_CONNECTIONS true")
        drop_pg_database(url)


@pytest.mark.integration
async def test_postgres_outage_is_a_503_unavailable_then_recovers(
    pg_server: tuple[Server, str],
) -> None:
    # given a server whose callers include tokens it has never seen (so not cached)
    server, name = pg_server
    reader = create_token(server, role="VIEWER", name=f"reader {uuid.uuid4().hex[:6]}")
    writer = create_token(server, role="RESPONDER", name=f"writer {uuid.uuid4().hex[:6]}")
    client = server.client()
    try:
        await client.execute(COUNT)  # the bootstrap token is now remembered

        # when the database refuses every connection
        psql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )

        # then a query and a mutation are 503 UNAVAILABLE with Retry-After, token cached or not
        assert_unavailable(await post(server, reader, COUNT))
        assert_unavailable(await post(server, writer, DECLARE, {"input": INCIDENT}))
        assert_unavailable(await post(server, server.token, DECLARE, {"input": INCIDENT}))
        assert_unavailable(await post(server, server.token, COUNT))
        assert (await client.http.get("/healthz")).status_code == 200

        # when the database is back, the same requests succeed
        psql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")

        async def serves_again() -> bool:
            response = await post(server, writer, DECLARE, {"input": INCIDENT})
            return response.status_code == 200 and not response.json().get("errors")

        await eventually(serves_again, timeout=20, what="the server to serve again")
        answer = (await post(server, reader, COUNT)).json()
        assert answer["data"]["incidents"]["totalCount"] >= 1, answer
        assert_no_request_failed(server.log())
    finally:
        await client.aclose()


@pytest.fixture
def sqlite_server(tmp_path: Path, log_dir: Path) -> Iterator[tuple[Server, Path]]:
    path = tmp_path / "incidentgraph.db"
    server = Server(Backend("embedded", f"sqlite://{path}", "memory://")).start(log_dir)
    yield server, path
    server.stop()


async def test_sqlite_held_by_another_process_is_a_503_unavailable_then_recovers(
    sqlite_server: tuple[Server, Path],
) -> None:
    # given a server on a SQLite file and a token it has never seen
    server, path = sqlite_server
    writer = create_token(server, role="RESPONDER", name=f"writer {uuid.uuid4().hex[:6]}")
    client: GraphQLClient = server.client()
    # when another process (a backup, a migration) holds the write lock past the busy timeout
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        # then a mutation is 503 UNAVAILABLE with Retry-After, and nothing was written;
        # eight at once are all answered so, none waiting out the busy timeout behind another
        responses = await asyncio.gather(
            *(post(server, writer, DECLARE, {"input": INCIDENT}) for _ in range(8))
        )
        for response in responses:
            assert_unavailable(response)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        count = (await client.execute(COUNT))["incidents"]["totalCount"]
        assert count == 0
        # and once the lock is given back the same mutation succeeds
        response = await post(server, writer, DECLARE, {"input": INCIDENT})
        assert response.status_code == 200 and not response.json().get("errors"), response.text
        assert_no_request_failed(server.log())
    finally:
        await client.aclose()

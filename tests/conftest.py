"""Fixtures: every test that takes `server` runs against each backend.

- embedded: SQLite file + in-process broker (always runs)
- postgres: PostgreSQL + Redis (marked `integration`; required when CI=true)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    REDIS_URL,
    Backend,
    GraphQLClient,
    Server,
    create_pg_database,
    create_token,
    drop_pg_database,
    migrate_database,
    require_real_services,
)


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    require_real_services()
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(
    scope="session",
    params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)],
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    if request.param == "embedded":
        path = tmp_path_factory.mktemp("embedded") / "incidentgraph.db"
        yield Backend("embedded", f"sqlite://{path}", "memory://")
    else:
        yield Backend("postgres", request.getfixturevalue("pg_database"), REDIS_URL)


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)],
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, migrated database of each kind, for tests that call services in-process
    (`tests.support.connected`)."""
    if request.param == "embedded":
        url = f"sqlite://{tmp_path_factory.mktemp('inprocess') / 'incidentgraph.db'}"
        migrate_database(url)
        yield url
        return
    require_real_services()
    url = create_pg_database()
    try:
        migrate_database(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(scope="session")
def server(backend: Backend, log_dir: Path) -> Iterator[Server]:
    srv = Server(backend).start(log_dir)
    yield srv
    srv.stop()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[GraphQLClient]:
    c = server.client()
    yield c
    await c.aclose()


@pytest.fixture(scope="session")
def role_tokens(server: Server) -> dict[str, str]:
    """One token per role, plus a second admin (another person), on the session's server."""
    roles = ["VIEWER", "STAKEHOLDER", "RESPONDER", "INCIDENT_MANAGER", "ADMIN", "INGEST"]
    tokens = {role: create_token(server, role=role, name=f"{role.lower()} user") for role in roles}
    tokens["OTHER_ADMIN"] = create_token(server, role="ADMIN", name="another admin")
    return tokens


@pytest.fixture
async def as_role(server: Server, role_tokens: dict[str, str]) -> AsyncIterator[Any]:
    """`as_role("VIEWER")`: a client holding that role's token."""
    opened: list[GraphQLClient] = []

    def make(role: str) -> GraphQLClient:
        c = server.client(token=role_tokens[role])
        opened.append(c)
        return c

    yield make
    for c in opened:
        await c.aclose()


@pytest.fixture
async def api(
    server: Server, tenant: dict[str, str]
) -> AsyncIterator[Callable[..., GraphQLClient]]:
    """Clients of the module's `tenant` fixture (role name -> token), by role; ADMIN unless
    asked otherwise."""
    opened: list[GraphQLClient] = []

    def make(role: str = "ADMIN") -> GraphQLClient:
        client = server.client(token=tenant[role])
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()

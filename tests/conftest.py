"""Fixtures: every test that takes `server` runs against each backend.

- embedded: SQLite file + in-process broker (always runs)
- postgres: PostgreSQL + Redis (marked `integration`; required when CI=true)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support import (
    REDIS_URL,
    Backend,
    GraphQLClient,
    Server,
    create_pg_database,
    drop_pg_database,
    postgres_available,
    redis_available,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_real_services() -> None:
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

"""PostgreSQL finds likely duplicate problems with pg_trgm, and the measure SQLite's
fallback computes is the one PostgreSQL computes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tortoise import connections

from app import database
from app.config import Settings
from app.services.problems.similarity import similarity
from tests.support import connected

pytestmark = pytest.mark.integration

PAIRS = [
    ("Checkout times out under load", "Checkout timeouts under heavy load"),
    ("Checkout times out under load", "Printer jams on floor three"),
    ("DNS resolution fails in eu-west-1", "dns resolution failing (eu-west-1)"),
    ("Ledger writes stall during failover", "ledger_writes stall during fail-over!"),
    ("Queue backlog > 10k on payments", "Payments queue backlog above 10k"),
    ("Zahlungen schlagen fehl", "Zahlungen schlagen häufig fehl"),
    ("a", "b"),
    ("", "Something"),
]


@pytest.fixture
async def postgres(pg_database: str) -> AsyncIterator[None]:
    await database.migrate(Settings(database_url=pg_database))
    async with connected(pg_database):
        yield


async def test_the_migrations_install_pg_trgm_and_index_problem_titles(postgres):
    conn = connections.get("postgres")
    extensions = await conn.execute_query_dict(
        "SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'"
    )
    indexes = await conn.execute_query_dict(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'problem_title_trigrams'"
    )
    assert extensions == [{"extname": "pg_trgm"}]
    assert len(indexes) == 1 and "gin_trgm_ops" in indexes[0]["indexdef"]


async def test_the_fallback_measures_titles_as_pg_trgm_does(postgres):
    conn = connections.get("postgres")
    for first, second in PAIRS:
        rows = await conn.execute_query_dict(
            "SELECT similarity($1::text, $2::text) AS s", [first, second]
        )
        assert similarity(first, second) == pytest.approx(rows[0]["s"], abs=1e-6), (first, second)

"""(c) SQL statements per dashboard query, for a growing number of incidents: the live
dashboard's page (incidents with their newest events) and an integrator's page of incidents
with their ITIL records (services, problems, changes, knowledge articles).

The app runs in this process (`create_app` behind `httpx.ASGITransport`, lifespan started by
hand) and every statement Tortoise sends is counted through its `tortoise.db_client` logger.
Only statements issued on behalf of the measured request count: a context variable marks the
request, and tasks it starts (DataLoader batches) inherit it; the outbox sweep does not.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app import database
from app.config import Settings
from app.main import create_app
from app.services.access import tokens as token_service
from bench import seed
from bench.dashboard import dashboard_query
from bench.report import Verdict
from bench.servers import TOKEN, postgres_backend, require_services
from tests.support import SECRET_KEY

INCIDENT_COUNTS = (10, 50, 200)
PAGE_SIZES = (10, 50)
DASHBOARD = "dashboard"
RECORDS = "records"
QUERIES = (DASHBOARD, RECORDS)


def records_query(first: int) -> str:
    """A page of incidents with every ITIL record linked to them."""
    return f"""
query Records {{
  incidents(first: {first}) {{
    totalCount
    edges {{
      node {{
        id title
        affectedServices {{ name health owner {{ name }} }}
        problems {{ reference status knowledgeArticles {{ reference }} }}
        changes {{ reference status }}
        knowledgeArticles {{ reference version }}
      }}
    }}
  }}
}}
"""


_QUERIES = {DASHBOARD: dashboard_query, RECORDS: records_query}
_REPEATS = 3
_SQL = re.compile(
    r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I
)
_measuring: contextvars.ContextVar[bool] = contextvars.ContextVar("bench_measuring", default=False)


class StatementLog(logging.Handler):
    """Collects the SQL Tortoise logs while a request is being measured (or, not
    `only_measured`, all of it while attached)."""

    def __init__(self, *, only_measured: bool = True) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []
        self.only_measured = only_measured

    def emit(self, record: logging.LogRecord) -> None:
        if self.only_measured and not _measuring.get():
            return
        text = record.args[0] if isinstance(record.args, tuple) and record.args else record.msg
        if isinstance(text, str) and _SQL.match(text):
            self.statements.append(" ".join(text.split()))

    @contextlib.contextmanager
    def attached(self) -> Iterator[StatementLog]:
        logger = logging.getLogger("tortoise.db_client")
        level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)


@dataclass(frozen=True, slots=True)
class Count:
    query: str
    incidents: int
    first: int
    cold: int
    warm: int
    statements: list[str] = field(repr=False)
    cold_statements: list[str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class BackendCounts:
    backend: str
    counts: list[Count]


@dataclass(frozen=True, slots=True)
class StatementsResult:
    backends: list[BackendCounts]


class _AsgiClient:
    """Just enough of a GraphQL client for the seeding helpers, over the ASGI transport."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def execute(
        self, query: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": dict(variables or {})}
        )
        body: dict[str, Any] = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"GraphQL request failed: {body}")
        data: dict[str, Any] = body["data"]
        return data


@contextlib.asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[_AsgiClient]:
    """The app with its lifespan running, and a client that talks to it without a socket."""
    if not settings.is_sqlite:
        await database.migrate(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {settings.bootstrap_token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers
        ) as http:
            yield _AsgiClient(http)


async def run() -> StatementsResult:
    require_services()
    results = []
    with postgres_backend() as backend:
        results.append(await _measure("PostgreSQL", backend.database_url))
    with tempfile.TemporaryDirectory(prefix="incidentgraph-bench-db-") as path:
        results.append(await _measure("SQLite", f"sqlite://{Path(path) / 'bench.db'}"))
    return StatementsResult(results)


async def _measure(name: str, database_url: str) -> BackendCounts:
    settings = Settings(
        database_url=database_url,
        broadcast_url="memory://",
        bootstrap_token=TOKEN,
        outbox_sweep_interval=3600.0,
        # Every request executed: what is counted is the SQL one query costs.
        query_cache_seconds=0.0,
        # One token seeds and queries as fast as it can: the per-token limits would refuse it.
        rate_limit_per_second=0.0,
        max_connections_per_token=0,
        # PostgreSQL needs a key for the stored secrets (none are stored here).
        secret_keys=(SECRET_KEY,),
    )
    counts: list[Count] = []
    async with in_process(settings) as client:
        with StatementLog().attached() as log:
            seeded = 0
            for total in INCIDENT_COUNTS:
                ids = await seed.incidents(
                    client, count=total - seeded, start=seeded, concurrency=4
                )
                await seed.records(client, ids)
                seeded = total
                for query in QUERIES:
                    for first in PAGE_SIZES:
                        counts.append(
                            await _count(client, log, query, incidents=total, first=first)
                        )
    return BackendCounts(name, counts)


async def _count(
    client: _AsgiClient, log: StatementLog, name: str, *, incidents: int, first: int
) -> Count:
    query = _QUERIES[name](first)
    token_service.clear_cache()
    page = min(first, incidents)
    cold = await _statements(client, log, query, page=page)
    warm = [await _statements(client, log, query, page=page) for _ in range(_REPEATS)]
    if len({len(w) for w in warm}) != 1:
        raise RuntimeError(f"statement count varies between identical requests: {warm}")
    return Count(
        name,
        incidents,
        first,
        cold=len(cold),
        warm=len(warm[0]),
        statements=warm[0],
        cold_statements=cold,
    )


async def _statements(
    client: _AsgiClient, log: StatementLog, query: str, *, page: int
) -> list[str]:
    log.statements.clear()
    token = _measuring.set(True)
    try:
        data = await client.execute(query)
    finally:
        _measuring.reset(token)
    if len(data["incidents"]["edges"]) != page:
        raise RuntimeError(f"expected a page of {page} incidents from the dashboard query")
    return list(log.statements)


def constant(result: StatementsResult) -> bool:
    """True when the warm count is the same for every number of incidents, per query and
    page size."""
    return all(
        len({c.warm for c in b.counts if c.query == q and c.first == f}) == 1
        for b in result.backends
        for q in QUERIES
        for f in PAGE_SIZES
    )


def verdict(result: StatementsResult) -> Verdict:
    totals = ", ".join(str(n) for n in INCIDENT_COUNTS)
    per_query = []
    for name in QUERIES:
        warm = sorted({c.warm for b in result.backends for c in b.counts if c.query == name})
        per_query.append(f"{name} {'/'.join(map(str, warm))} warm")
    return Verdict(
        "SQL statements per dashboard query do not grow with the number of incidents",
        f"{', '.join(per_query)}, for {totals} incidents and first: 10 or 50",
        constant(result) if result.backends else None,
    )


_COLUMNS = re.compile(r'^SELECT ("[^"]+",)+"[^"]+" FROM ', re.I)


def _shorten(statement: str, limit: int = 160) -> str:
    """A statement for the report: the column list elided, long conditions cut."""
    statement = _COLUMNS.sub("SELECT … FROM ", statement, count=1)
    return statement if len(statement) <= limit else statement[: limit - 1] + "…"


def render(result: StatementsResult) -> str:
    lines = [
        "## (c) SQL statements per dashboard query",
        "",
        "The app in-process (`create_app` + `httpx.ASGITransport`, lifespan started by hand, "
        "in-memory broker, outbox sweep parked); statements counted from Tortoise's "
        "`tortoise.db_client` logger, only those issued for the measured request. "
        "*Cold* is the first request after the token cache was cleared (the token lookup adds "
        f"one statement); *warm* is each of the next {_REPEATS} identical requests (tokens are "
        "cached for 5 s after first use, so authentication adds nothing).",
        "",
        "The *records* query is an integrator's page of incidents with every ITIL record "
        "linked to them (affected services with health and owner team, problems with their "
        "articles, changes, articles); each seeded incident has a service, a problem with an "
        "article, a change linked as FIXES and the article linked.",
        "",
        "| Backend | Query | Incidents in the database | "
        + " | ".join(f"`first: {f}` cold / warm" for f in PAGE_SIZES)
        + " |",
        "|---|---|---|" + "---|" * len(PAGE_SIZES),
    ]
    for backend in result.backends:
        by_row: dict[tuple[str, int], dict[int, Count]] = {}
        for c in backend.counts:
            by_row.setdefault((c.query, c.incidents), {})[c.first] = c
        for (name, total), pages in sorted(by_row.items()):
            cells = [f"{pages[f].cold} / {pages[f].warm}" for f in PAGE_SIZES]
            lines.append(f"| {backend.backend} | {name} | {total} | " + " | ".join(cells) + " |")
    first_backend = result.backends[0] if result.backends else None
    for name in QUERIES if first_backend else ():
        assert first_backend is not None
        primary = [c for c in first_backend.counts if c.query == name][-1]
        lines += [
            "",
            f"The warm statements of the {name} query for `first: {primary.first}` with "
            f"{primary.incidents} incidents ({first_backend.backend}):",
            "",
            "```sql",
            *(_shorten(s) for s in primary.statements),
            "```",
        ]
        extra = [s for s in primary.cold_statements if s not in primary.statements]
        if extra:
            lines += ["", "The cold request's extra statement:", "", "```sql"]
            lines += [*(_shorten(s) for s in extra), "```"]
    lines += [
        "",
        "The count "
        + ("does not grow" if constant(result) else "**grows**")
        + " with the number of incidents in the database or on the page.",
        "",
    ]
    return "\n".join(lines)

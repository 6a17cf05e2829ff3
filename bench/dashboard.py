"""(b) The dashboard query's throughput beside `{ __typename }` on the same server, same run.

One server process; the same load generator, connections and duration for both queries,
alternated so that drift on the machine hits both alike. The ratio is the figure to compare.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from bench import loadgen, seed
from bench.loadgen import Load
from bench.report import Verdict
from bench.servers import (
    TOKEN,
    Backend,
    Server,
    cpu_seconds,
    log_directory,
    postgres_backend,
    require_services,
    running,
    sqlite_backend,
)
from bench.stats import Summary, ms


def dashboard_query(first: int = 50) -> str:
    """A dashboard: a page of incidents, each with its five newest timeline events."""
    return f"""
query Dashboard {{
  incidents(first: {first}) {{
    totalCount
    edges {{
      node {{
        id title status priority severity assignee slaResolveDue
        timeline(last: 5) {{ edges {{ node {{ seq type time data }} }} }}
      }}
    }}
  }}
}}
"""


DASHBOARD = dashboard_query()
TYPENAME = "{ __typename }"
TARGET_RATIO = 0.40


# Every request executed: the cost of a query no other client asked within the cache's ttl.
NO_CACHE = {"INCIDENTGRAPH_QUERY_CACHE_SECONDS": "0"}


# A large page, measured on the query-cache-off server once more incidents are seeded.
LARGE_FIRST = 500
LARGE_INCIDENTS = 600

# What dominated the server's profile (py-spy, 200 Hz, the query-cache-off server under the
# dashboard load) before the read path was reworked, after it, and as plain fields and then
# whole subtrees of them came to be completed in place (app/schema/plain_fields.py).
PROFILE = (
    "**Profile** (py-spy on the query-cache-off server under the dashboard load, share of "
    "samples). *Before:* graphql-core and Strawberry's per-field execution 37%; reading the "
    "timelines 20% (an ORM `OR` of 50 `Q` objects: resolving and rendering it to SQL 11%, "
    "then `DatetimeField`/`JSONField.to_python_value` and `json.loads` per row); reading the "
    "page of incidents as model instances 14% (`Model._init_from_db`, per-field "
    "`to_python_value`, `IncidentSnapshot.from_model`); building the Strawberry objects 9%; "
    "`json.dumps` of the response 4%. *After the read path was reworked:* graphql-core and "
    "Strawberry's per-field execution 51%; the timelines, one hand-written statement read as "
    "plain rows, 7%; the page of incidents, read as plain rows, 7%; building the objects 9%; "
    "orjson for the response 2%. *Then:* the 1,400 plain fields of the dashboard's 1,800 "
    "(an attribute of a scalar or enum type, no resolver) were read and serialised in place "
    "rather than executed one by one (51 to 56 req/s in one session's A/B). *Now:* attributes "
    "of object and list types (`edges`, `node`) are completed without a resolver call or a "
    "resolve info of their own too (63 to 70 req/s, 15.9 to 14.2 ms of server CPU per request, "
    "in one session's A/B), and global ids are made without parsing a UUID (4% of samples "
    "before, 1.3% after). *Now:* a subtree of plain attributes (each timeline's `edges`, their "
    "`node`s and the nodes' scalars) is completed in one pass by a function compiled once per "
    "selection, not by graphql-core value by value: 8.8% of samples where its completion was "
    "most of the executor's 37%. In-process CPU per request, two runs each: 10.5 to 10.3 ms for "
    "this dashboard, 35-38 to 31-34 ms for 200 incidents. Making `timeline` a plain function "
    "fed by one read before the page returns (no coroutine per incident) was measured too, "
    "85 req/s beside 89 without it, and left out. *Then:* the page of incidents was 16% of "
    "samples, 6% of them Tortoise building the same page and count statements on every "
    "request; an unfiltered first page and its count now take their statements from a cache "
    "keyed by what they are built from (dialect, tenant, clearance, order, size), a row "
    "converts only the 28 of its 48 columns that need it, and a compiled subtree returns a "
    "String, ID, Boolean or 32-bit Int of exactly the type its scalar gives as it is. "
    "In-process CPU per request, two runs each: the page with its count 4.1 to 3.4 ms, this "
    "dashboard 12.8-13.1 to 11.1-12.2 ms (on the machine of this run). What remains (py-spy "
    "at 6223905): reading the timelines 12% (rows to event records 9%, their JSON 3%); the 50 "
    "`timeline` resolvers 11% (building the events 9%); the page of incidents 11% (rows to "
    "snapshots 3%, to Strawberry objects 3%, their cursors 2%, the count 1%); Strawberry's "
    "conversion of the resolvers' arguments (all five, with their defaults, on every call) 8% "
    "and graphql-core's 4%; the compiled subtrees 7%; the incidents' plain fields 3%; the "
    "response's encoding 3%; the event loop 13%. No single step dominates: the rest of the "
    "way to 6% of `{ __typename }` is a response built from the rows without the objects in "
    "between."
)


@dataclass(frozen=True, slots=True)
class Options:
    incidents: int = 200
    seconds: float = 5.0
    repeats: int = 3
    warmup: float = 2.0
    connections: int = 8
    sqlite: bool = True
    large_incidents: int = LARGE_INCIDENTS


@dataclass
class Phase:
    """Every measured load of one query, pooled."""

    loads: list[Load] = field(default_factory=list)
    server_cpu: float = 0.0

    @property
    def requests(self) -> int:
        return sum(load.requests for load in self.loads)

    @property
    def seconds(self) -> float:
        return sum(load.seconds for load in self.loads)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> int:
        return sum(load.failures for load in self.loads)

    @property
    def client_cpu(self) -> float:
        return sum(load.client_cpu for load in self.loads)

    @property
    def latency(self) -> Summary:
        return Summary.of([v for load in self.loads for v in load.latencies])

    @property
    def server_cpu_per_request(self) -> float:
        return self.server_cpu / self.requests if self.requests else 0.0


@dataclass
class BackendResult:
    backend: str
    incidents: int
    response_bytes: int
    typename: Phase = field(default_factory=Phase)
    dashboard: Phase = field(default_factory=Phase)
    # `incidents(first: LARGE_FIRST)` with the same selection, on the query-cache-off server.
    large: Phase | None = None
    large_incidents: int = 0
    large_bytes: int = 0

    @property
    def ratio(self) -> float:
        return self.dashboard.rate / self.typename.rate if self.typename.rate else 0.0

    @property
    def large_ratio(self) -> float:
        return self.large.rate / self.typename.rate if self.large and self.typename.rate else 0.0


@dataclass(frozen=True, slots=True)
class DashboardResult:
    options: Options
    backends: list[BackendResult]


async def run(options: Options) -> DashboardResult:
    require_services()
    kinds: list[tuple[str, Callable[[], AbstractContextManager[Backend]], dict[str, str]]] = [
        ("PostgreSQL + Redis", postgres_backend, {}),
        ("PostgreSQL + Redis, query cache off", postgres_backend, NO_CACHE),
    ]
    if options.sqlite:
        kinds.append(("SQLite + in-process broker", sqlite_backend, {}))
    results = []
    for name, make, env in kinds:
        with (
            log_directory() as logs,
            make() as backend,
            running(backend, 1, logs, env) as servers,
        ):
            result = await _measure(name, servers[0], options)
            if env is NO_CACHE:
                await _measure_large(result, servers[0], options)
            results.append(result)
            print(render_backend(results[-1]), file=sys.stderr, flush=True)
    return DashboardResult(options, results)


async def _measure(name: str, server: Server, options: Options) -> BackendResult:
    client = server.client()
    try:
        await seed.incidents(client, count=options.incidents)
        response = await client.post(DASHBOARD)
        _check(response.json(), options.incidents)
    finally:
        await client.aclose()
    result = BackendResult(name, options.incidents, response_bytes=len(response.content))
    requests = {
        "typename": loadgen.graphql_request("127.0.0.1", server.port, TYPENAME, token=TOKEN),
        "dashboard": loadgen.graphql_request("127.0.0.1", server.port, DASHBOARD, token=TOKEN),
    }
    for request in requests.values():
        await _load(server, request, options, seconds=options.warmup)
    for _ in range(options.repeats):
        for phase, request in (
            (result.typename, requests["typename"]),
            (result.dashboard, requests["dashboard"]),
        ):
            before = cpu_seconds(server)
            phase.loads.append(await _load(server, request, options, seconds=options.seconds))
            phase.server_cpu += cpu_seconds(server) - before
    return result


async def _measure_large(result: BackendResult, server: Server, options: Options) -> None:
    """`incidents(first: LARGE_FIRST)` beside the typename figures already taken, once the
    server holds `options.large_incidents` incidents."""
    query = dashboard_query(LARGE_FIRST)
    client = server.client()
    try:
        more = options.large_incidents - options.incidents
        if more > 0:
            await seed.incidents(client, count=more, start=options.incidents)
        total = max(options.incidents, options.large_incidents)
        response = await client.post(query)
        _check(response.json(), total, first=LARGE_FIRST)
    finally:
        await client.aclose()
    request = loadgen.graphql_request("127.0.0.1", server.port, query, token=TOKEN)
    await _load(server, request, options, seconds=options.warmup)
    phase = Phase()
    for _ in range(options.repeats):
        before = cpu_seconds(server)
        phase.loads.append(await _load(server, request, options, seconds=options.seconds))
        phase.server_cpu += cpu_seconds(server) - before
    result.large, result.large_incidents, result.large_bytes = phase, total, len(response.content)


async def _load(server: Server, request: bytes, options: Options, *, seconds: float) -> Load:
    load = await loadgen.run(
        "127.0.0.1", server.port, request, connections=options.connections, seconds=seconds
    )
    if load.failures:
        raise RuntimeError(f"{load.failures} failed requests; first: {load.first_failure}")
    return load


def _check(body: dict[str, Any], incidents: int, first: int = 50) -> None:
    if body.get("errors"):
        raise RuntimeError(f"dashboard query failed: {json.dumps(body['errors'])[:500]}")
    page = body["data"]["incidents"]
    edges = page["edges"]
    timelines = {len(e["node"]["timeline"]["edges"]) for e in edges}
    if page["totalCount"] != incidents or len(edges) != min(first, incidents) or timelines != {5}:
        raise RuntimeError(
            f"unexpected dashboard: totalCount {page['totalCount']}, {len(edges)} incidents, "
            f"timeline sizes {sorted(timelines)}"
        )


def target_met(result: DashboardResult) -> bool | None:
    return result.backends[0].ratio >= TARGET_RATIO if result.backends else None


def verdict(result: DashboardResult) -> Verdict:
    primary = result.backends[0] if result.backends else None
    measured = (
        f"{primary.ratio:.1%} ({primary.dashboard.rate:,.0f} vs "
        f"{primary.typename.rate:,.0f} req/s, {primary.backend})"
        if primary
        else "not in this run"
    )
    return Verdict(
        f"Dashboard at least {TARGET_RATIO:.0%} of the `{{ __typename }}` rate",
        measured,
        target_met(result),
    )


def render_backend(r: BackendResult) -> str:
    rows = [
        "| Query | Requests | req/s | p50 | p99 | Server CPU per request | Client CPU |",
        "|---|---|---|---|---|---|---|",
    ]
    phases = [("`{ __typename }`", r.typename), ("dashboard", r.dashboard)]
    if r.large is not None:
        label = f"dashboard, `first: {LARGE_FIRST}` ({r.large_incidents} incidents)"
        phases.append((label, r.large))
    for label, phase in phases:
        rows.append(
            f"| {label} | {phase.requests:,} | {phase.rate:,.0f} | {ms(phase.latency.p50)} | "
            f"{ms(phase.latency.p99)} | {phase.server_cpu_per_request * 1e6:,.0f} µs | "
            f"{phase.client_cpu / phase.seconds:.0%} of a core |"
        )
    cpu_ratio = (
        r.typename.server_cpu_per_request / r.dashboard.server_cpu_per_request
        if r.dashboard.server_cpu_per_request
        else 0.0
    )
    return (
        f"### {r.backend}\n\n"
        + "\n".join(rows)
        + f"\n\nDashboard / `{{ __typename }}`: **{r.ratio:.1%}** by rate, {cpu_ratio:.1%} by "
        f"server CPU per request. Dashboard response: {r.response_bytes:,} bytes.\n"
        + (
            f"\n`first: {LARGE_FIRST}` / `{{ __typename }}`: **{r.large_ratio:.2%}** by rate; "
            f"response {r.large_bytes:,} bytes.\n"
            if r.large is not None
            else ""
        )
    )


def render(result: DashboardResult) -> str:
    o = result.options
    met = target_met(result)
    verdict = "not measured" if met is None else ("**met**" if met else "**not met**")
    primary = result.backends[0] if result.backends else None
    summary = (
        f"PostgreSQL: dashboard {primary.dashboard.rate:,.0f} req/s, `{{ __typename }}` "
        f"{primary.typename.rate:,.0f} req/s, ratio **{primary.ratio:.1%}**. "
        if primary
        else ""
    )
    return "\n".join(
        [
            "## (b) Dashboard query throughput",
            "",
            f"One server process; {o.incidents} incidents with {seed.EVENTS_PER_INCIDENT} timeline "
            f"events each; `incidents(first: 50)` with `timeline(last: 5)` per incident. "
            f"{o.connections} keep-alive connections, closed loop; {o.repeats} × {o.seconds:.0f} s "
            f"per query, alternating, after {o.warmup:.0f} s of warm-up each.",
            "",
            "By default a server answers an identical query (same body, tenant and role) from a "
            "per-process cache until the tenant's next change or for at most "
            "`INCIDENTGRAPH_QUERY_CACHE_SECONDS` (1 s): both queries are then served from it, "
            "which is what dashboards polling the same query see. The *query cache off* run "
            "executes every request: the cost of a query nobody else asked within the last "
            "second. The target is judged on the default configuration; the run without the "
            "cache is shown beside it.",
            "",
            summary + f"Target: dashboard at least {TARGET_RATIO:.0%} of the `{{ __typename }}` "
            f"rate: {verdict}.",
            "",
            "```graphql" + DASHBOARD.rstrip() + "\n```",
            "",
            f"The query-cache-off server also answers the same selection with "
            f"`incidents(first: {LARGE_FIRST})` once {o.large_incidents} incidents are seeded.",
            "",
            *(render_backend(r) for r in result.backends),
            PROFILE,
            "",
        ]
    )

"""What one request may cost the server: the query cost limit, batched per-incident boards,
and the size of a subscription push."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from tortoise.backends.base.executor import EXECUTOR_CACHE

from app.config import Settings
from app.main import create_app
from app.resolvers.root import schema
from app.schema.cost import QueryCost
from bench.dashboard import dashboard_query
from tests.support import SECRET_KEY, TOKEN, GraphQLClient, declare, subscriber

LIMIT = 10_000  # INCIDENTGRAPH_MAX_QUERY_COST's default

BOARDS_PER_INCIDENT = """
query Boards($first: Int, $persona: Persona!) {
  incidents(first: $first) {
    edges { node { id statusBoard(persona: $persona) { ...Board } } }
  }
}
fragment Board on StatusBoard {
  __typename
  ... on ExecutiveBoard { openByPriority { priority count } majorIncidents { id title } }
  ... on ResponderBoard { incidents { id title recentEvents { seq type } } }
  ... on CommunicationsBoard { overdue { publicSummary incident { id } } }
  ... on CustomerBoard { services { service status updates { body } } }
}
"""
ADD_NOTE = """
mutation Note($input: AddNoteInput!) {
  addNote(input: $input) { event { seq } errors { code message } }
}
"""
COUNT = "query($text: String) { incidents(filter: {text: $text}) { totalCount } }"


def attack(aliases: int, first: int) -> str:
    """The shape of the attack: aliases of a page of incidents, each building its board."""
    fields = " ".join(
        f"a{i}: incidents(first: {first}) {{ edges {{ node {{ statusBoard(persona: RESPONDER) "
        "{ ... on ResponderBoard { incidents { id title recentEvents { seq type } } } } } } }"
        for i in range(aliases)
    )
    return f"query Attack {{ {fields} }}"


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


# --- the estimate (no server) ---------------------------------------------------------------

_ESTIMATOR = QueryCost(schema.as_str)


def cost(document: str, variables: dict[str, Any] | None = None) -> int:
    parsed = parse(document)
    [operation] = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return _ESTIMATOR.of(operation, fragments, variables)


def test_a_page_multiplies_what_each_of_its_items_asks_for():
    # when
    small = cost("{ incidents(first: 10) { edges { node { id title } } } }")
    large = cost("{ incidents(first: 500) { edges { node { id title } } } }")
    nested = cost(
        "{ incidents(first: 10) { edges { node { "
        "timeline(last: 5) { edges { node { seq } } } } } } }"
    )
    by_variable = cost(
        "query($n: Int) { incidents(first: $n) { edges { node { id } } } }", {"n": 500}
    )
    defaulted = cost("query($n: Int = 500) { incidents(first: $n) { edges { node { id } } } }")

    # then: one object per edge and per node, the connection itself one
    assert (small, large) == (1 + 10 * 2, 1 + 500 * 2)
    assert nested == 1 + 10 * (2 + 1 + 5 * 2)
    assert by_variable == defaulted == large
    # a page size beyond the maximum counts as the maximum (the resolver refuses it anyway)
    assert cost("{ incidents(first: 99999999999) { edges { node { id } } } }") == large


def test_a_union_costs_its_most_expensive_member_and_boards_have_a_price():
    # when
    board = cost("{ statusBoard(persona: RESPONDER) { __typename } }")
    both = cost(
        "{ statusBoard(persona: RESPONDER) { ... on ResponderBoard { incidents { id } } "
        "... on CustomerBoard { services { service } } } }"
    )
    one = cost(
        'query { incident(id: "x") { statusBoard(persona: RESPONDER) { '
        "... on ResponderBoard { incidents { id } } } } }"
    )

    # then
    assert board == 100 + 1
    assert both == board + 10 * 1  # one list of ten, not two
    assert one == 1 + (10 + 1 + 1)  # one incident's board lists that incident alone
    assert cost(attack(1, 200)) < LIMIT < cost(attack(5, 200)) < cost(attack(30, 500))
    assert cost(dashboard_query(500)) < LIMIT


# --- the limit, over a server -----------------------------------------------------------------


async def test_the_attack_is_refused_before_it_runs_with_its_cost_and_the_limit(as_role):
    # given a viewer, within every document limit (30 aliases, depth and tokens)
    viewer = as_role("VIEWER")

    # when
    started = time.monotonic()
    body = await viewer.raw(attack(30, 500))
    took = time.monotonic() - started

    # then
    assert codes(body) == ["QUERY_TOO_COSTLY"], body
    [error] = body["errors"]
    assert error["extensions"]["limit"] == LIMIT
    assert error["extensions"]["cost"] == cost(attack(30, 500)) > LIMIT
    assert str(error["extensions"]["cost"]) in error["message"]
    assert str(LIMIT) in error["message"]
    assert body.get("data") is None
    assert took < 2, took


async def test_page_sizes_in_variables_count(client):
    # when
    large = await client.raw(BOARDS_PER_INCIDENT, {"first": 500, "persona": "RESPONDER"})
    small = await client.raw(BOARDS_PER_INCIDENT, {"first": 20, "persona": "RESPONDER"})

    # then
    assert codes(large) == ["QUERY_TOO_COSTLY"]
    assert codes(small) == [] and small["data"]["incidents"] is not None


async def test_a_costly_mutation_is_refused_and_writes_nothing(client):
    # given thirty declarations, each asking for a long timeline back
    title = f"Costly {uuid.uuid4().hex}"
    fields = " ".join(
        f'd{i}: declareIncident(input: {{title: "{title}", severity: SEV3, impact: LOW, '
        "urgency: LOW}) { incident { timeline(first: 500) { edges { node { seq } } } } }"
        for i in range(30)
    )

    # when
    body = await client.raw(f"mutation {{ {fields} }}")

    # then
    assert codes(body) == ["QUERY_TOO_COSTLY"], body
    assert (await client.execute(COUNT, {"text": title}))["incidents"]["totalCount"] == 0


async def test_a_costly_subscription_is_refused_at_subscribe_time(server):
    # given
    pages = " ".join(
        f"t{i}: timeline(first: 500) {{ edges {{ node {{ seq }} }} }}" for i in range(30)
    )
    sub = await subscriber(server)

    # when
    op = await sub.subscribe(f"subscription {{ incidentsChanged {{ id {pages} }} }}")
    message = await sub.next()

    # then
    assert message["id"] == op and message["type"] in ("next", "error"), message
    payload = message["payload"]
    errors = payload.get("errors", []) if isinstance(payload, dict) else payload
    assert [e["extensions"]["code"] for e in errors] == ["QUERY_TOO_COSTLY"]
    await sub.close()


async def test_dashboards_within_the_limit_still_run(client):
    # when
    dashboard = await client.raw(dashboard_query(500))
    boards = await client.raw(BOARDS_PER_INCIDENT, {"first": 50, "persona": "EXECUTIVE"})

    # then
    assert codes(dashboard) == [] and codes(boards) == []


# --- boards of a page of incidents: batched --------------------------------------------------

_measuring: contextvars.ContextVar[bool] = contextvars.ContextVar("measuring", default=False)
_SQL = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.I)


class _Statements(logging.Handler):
    """The SQL Tortoise sends for the request being measured (bench/statements.py's method)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.args[0] if isinstance(record.args, tuple) and record.args else record.msg
        if _measuring.get() and isinstance(text, str) and _SQL.match(text):
            self.seen.append(text)

    @contextlib.contextmanager
    def attached(self) -> Iterator[_Statements]:
        logger = logging.getLogger("tortoise.db_client")
        level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)


@contextlib.asynccontextmanager
async def in_process(database_url: str) -> AsyncIterator[GraphQLClient]:
    """The app in this process with its lifespan running; a client over the ASGI transport."""
    settings = Settings(
        database_url=database_url,
        bootstrap_token=TOKEN,
        outbox_sweep_interval=3600.0,
        query_cache_seconds=0.0,
        rate_limit_per_second=0.0,
        max_connections_per_token=0,
        secret_keys=(SECRET_KEY,),
    )
    # Tortoise caches each model's INSERT per connection name, process-wide, and the app
    # names its connection "default" on either backend: forget the other backend's.
    EXECUTOR_CACHE.clear()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        client = GraphQLClient("http://app", token=TOKEN)
        client.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://app",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        try:
            yield client
        finally:
            await client.aclose()


async def statements(client: GraphQLClient, log: _Statements, query: str, **variables: Any) -> int:
    log.seen.clear()
    token = _measuring.set(True)
    try:
        await client.execute(query, variables)
    finally:
        _measuring.reset(token)
    return len(log.seen)


async def seed(client: GraphQLClient, count: int) -> None:
    for i in range(count):
        incident = await declare(
            client,
            title=f"Board {i} {uuid.uuid4().hex[:6]}",
            severity="SEV1" if i % 2 else "SEV2",
            service=f"svc-{i % 3}",
            classification="PUBLIC",
        )
        for kind in ("PUBLIC", "INTERNAL"):
            note = {"incidentId": incident["id"], "body": f"{kind} {i}", "classification": kind}
            await client.execute(ADD_NOTE, {"input": note})


@pytest.mark.parametrize("persona", ["EXECUTIVE", "RESPONDER", "COMMUNICATIONS", "CUSTOMER"])
async def test_the_boards_of_a_page_of_incidents_take_the_same_statements_for_any_page(
    database_url, persona
):
    async with in_process(database_url) as client:
        with _Statements().attached() as log:
            # given a page of 3 incidents, then of 30
            await seed(client, 3)
            await statements(client, log, BOARDS_PER_INCIDENT, first=3, persona=persona)  # warm
            few = await statements(client, log, BOARDS_PER_INCIDENT, first=3, persona=persona)
            await seed(client, 27)

            # when each asks for its board
            many = await statements(client, log, BOARDS_PER_INCIDENT, first=30, persona=persona)
            boards = await client.execute(BOARDS_PER_INCIDENT, {"first": 30, "persona": persona})

    # then the statements do not grow with the page, and every board is there
    assert many == few, (few, many)
    edges = boards["incidents"]["edges"]
    assert len(edges) == 30
    assert all(e["node"]["statusBoard"]["__typename"] for e in edges)


# --- the size of a push ---------------------------------------------------------------------

WATCH_TIMELINE = """
subscription Watch($id: ID!) {
  incidentUpdated(id: $id) { id version timeline(first: 500) { edges { node { seq data } } } }
}
"""
WATCH_SMALL = "subscription Small($id: ID!) { incidentUpdated(id: $id) { id version } }"
UPDATE = """
mutation Update($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { version } errors { code } }
}
"""
PUSH_LIMIT = 1_048_576  # INCIDENTGRAPH_MAX_PUSH_BYTES's default


async def test_a_push_over_the_size_limit_is_replaced_by_an_error_and_the_stream_goes_on(
    server, client
):
    # given an incident whose timeline holds 20 notes of 60 KB, watched whole and in small
    incident = await declare(client, title=f"Long notes {uuid.uuid4().hex}")
    for i in range(20):
        note = {"incidentId": incident["id"], "body": f"{i} " + "x" * 60_000}
        assert (await client.execute(ADD_NOTE, {"input": note}))["addNote"]["errors"] == []
    sub = await subscriber(server)
    whole = await sub.subscribe(WATCH_TIMELINE, {"id": incident["id"]})
    small = await sub.subscribe(WATCH_SMALL, {"id": incident["id"]})
    await asyncio.sleep(0.5)

    # when the incident changes twice
    pushes: dict[str, list[dict[str, Any]]] = {whole: [], small: []}
    for n, commander in enumerate(("ann", "bob"), start=1):
        await client.execute(UPDATE, {"input": {"id": incident["id"], "commander": commander}})
        while len(pushes[whole]) < n or len(pushes[small]) < n:
            message = await sub.next(timeout=10)
            assert message["type"] == "next", message
            pushes[message["id"]].append(message["payload"])

    # then the whole timeline is never pushed: each change is an error saying so, in its place
    for payload in pushes[whole]:
        assert payload.get("data") is None
        [error] = payload["errors"]
        assert error["extensions"]["code"] == "PUSH_TOO_LARGE"
        assert error["extensions"]["limit"] == PUSH_LIMIT
        assert error["extensions"]["size"] > PUSH_LIMIT
        assert str(PUSH_LIMIT) in error["message"]
    assert len(pushes[whole]) == 2
    # and the small selection of the same changes arrives as usual
    assert [p["data"]["incidentUpdated"]["version"] for p in pushes[small]] == [
        incident["version"] + 1,
        incident["version"] + 2,
    ]
    await sub.close()

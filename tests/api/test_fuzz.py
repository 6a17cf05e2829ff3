"""Operations generated from the committed schema, sent to a live server with a valid token:
whatever they ask, the answer is never a 5xx, every error carries a code, nothing leaks,
and the server stays healthy afterwards."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import httpx
import pytest
from graphql import StringValueNode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, mutations, nodes, queries

from tests.support import ROOT, TOKEN, Server

SCHEMA = (ROOT / "schema.graphql").read_text()
# DateTime arguments (due times, windows): well-formed instants, and any text at all.
DATETIMES = (st.datetimes(timezones=st.just(UTC)).map(lambda at: at.isoformat()) | st.text()).map(
    nodes.String
)

# What must never reach a client: stack traces, SQL, driver and ORM names, the bootstrap
# token, and paths on the server.
LEAKS = (
    "Traceback",
    'File "',
    "SELECT ",
    "INSERT ",
    "asyncpg",
    "sqlite3",
    "tortoise",
    TOKEN,
    "/work/",
    str(ROOT),
    "site-packages",
)

DECLARE = """
mutation Declare($input: DeclareIncidentInput!) {
  declareIncident(input: $input) { incident { id } errors { code } }
}
"""

ADD_NOTE = """
mutation AddNote($input: AddNoteInput!) {
  addNote(input: $input) { event { id } errors { code } }
}
"""

POLICY = """
{ tenantPolicy { matrix { impact urgency priority } severityFloor { severity priority }
                 sla { priority responseMinutes resolveMinutes } } }
"""

UPDATE_POLICY = """
mutation Update($input: UpdateTenantPolicyInput!) {
  updateTenantPolicy(input: $input) { errors { code } }
}
"""

HEALTH_QUERY = "{ incidents(first: 1) { totalCount edges { node { id } } } }"

CREATE_TOKEN = """
mutation Create($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { token { id } errors { field code } }
}
"""

AUDIT_LOG = """
query Audit($filter: AuditFilter) { auditLog(filter: $filter, first: 1) { edges { cursor } } }
"""

# Bounded, so the suite stays fast: about 15 s per backend for all three tests.
fuzz = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture(scope="module")
def ids(http: httpx.Client) -> st.SearchStrategy[StringValueNode]:
    """IDs to generate: an incident and a timeline event of this module's own, well-formed
    ids of nothing, and any text at all."""
    incident = execute(
        http,
        DECLARE,
        {
            "input": {
                "title": f"Fuzzed {uuid.uuid4().hex}",
                "severity": "SEV3",
                "impact": "MEDIUM",
                "urgency": "MEDIUM",
            }
        },
    )["declareIncident"]["incident"]["id"]
    note = execute(http, ADD_NOTE, {"input": {"incidentId": incident, "body": "fuzz"}})
    event = note["addNote"]["event"]["id"]
    nobody = [f"inc_{uuid.uuid4().hex}", f"evt_{uuid.uuid4().hex}"]
    return (st.sampled_from([incident, event, *nobody]) | st.text()).map(nodes.String)


@pytest.fixture(scope="module", autouse=True)
def policy_restored(http: httpx.Client) -> Iterator[None]:
    """Generated mutations rewrite the tenant's policy; other tests expect it as it was."""
    before = execute(http, POLICY)["tenantPolicy"]
    yield
    # Clear every floor, then set the old ones in their old order: the policy reads back equal.
    now = execute(http, POLICY)["tenantPolicy"]
    restore = {
        "matrix": before["matrix"],
        "sla": before["sla"],
        "severityFloor": [
            *({"severity": f["severity"], "priority": None} for f in now["severityFloor"]),
            *before["severityFloor"],
        ],
    }
    assert execute(http, UPDATE_POLICY, {"input": restore})["updateTenantPolicy"]["errors"] == []
    assert execute(http, POLICY)["tenantPolicy"] == before


def test_generated_queries_are_answered_without_a_5xx_or_a_leak(server, http, ids):
    # given
    log_from = len(server.log())

    @fuzz
    @given(query=queries(SCHEMA, custom_scalars={"ID": ids, "DateTime": DATETIMES}))
    def send(query: str) -> None:
        # when
        response = http.post("/graphql", json={"query": query})

        # then
        assert_answered_cleanly(server, response, query)

    send()

    # then
    assert_healthy(server, http, log_from)


def test_generated_mutations_are_answered_without_a_5xx_or_a_leak(server, http, ids):
    # given
    log_from = len(server.log())

    @fuzz
    @given(mutation=mutations(SCHEMA, custom_scalars={"ID": ids, "DateTime": DATETIMES}))
    def send(mutation: str) -> None:
        # when
        response = http.post("/graphql", json={"query": mutation})

        # then
        assert_answered_cleanly(server, response, mutation)

    send()

    # then
    assert_healthy(server, http, log_from)


def test_operations_that_break_the_schema_are_refused_with_a_code(server, http, ids):
    # given operations with one violation each: a wrong type, a missing argument, ...
    log_from = len(server.log())

    @fuzz
    @given(
        operation=from_schema(
            SCHEMA, custom_scalars={"ID": ids, "DateTime": DATETIMES}, mode=Mode.NEGATIVE
        )
    )
    def send(operation: str) -> None:
        # when
        response = http.post("/graphql", json={"query": operation})

        # then
        assert_answered_cleanly(server, response, operation)
        assert response.json().get("errors"), operation

    send()

    # then
    assert_healthy(server, http, log_from)


@pytest.mark.parametrize("name", ["nul \x00 byte", "lone \ud800 surrogate"])
async def test_a_token_name_a_database_cannot_store_is_refused(client, name):
    # when
    # (sent as ASCII JSON: a lone surrogate travels as a \\ud800 escape)
    body = {"query": CREATE_TOKEN, "variables": {"input": {"name": name, "role": "VIEWER"}}}
    response = await client.http.post(
        "/graphql", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )

    # then
    body = response.json()
    assert body.get("errors") is None, body
    payload = body["data"]["createApiToken"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("name", "VALIDATION")]


@pytest.mark.parametrize("field", ["action", "actor", "target"])
async def test_an_audit_filter_a_database_cannot_store_is_refused(client, field):
    # when
    response = await client.post(AUDIT_LOG, {"filter": {field: "nul \x00 byte"}})

    # then
    body = response.json()
    assert [e["extensions"]["code"] for e in body.get("errors") or []] == ["VALIDATION"], body


def execute(http: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = http.post("/graphql", json={"query": query, "variables": variables or {}})
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    return body["data"]


def assert_answered_cleanly(server: Server, response: httpx.Response, operation: str) -> None:
    # Each message ends with the server log's tail: what it logged for this very request.
    assert response.status_code < 500, (response.status_code, response.text, tail(server))
    body = response.json()
    assert isinstance(body, dict) and ("data" in body or "errors" in body), body
    text = "\n".join(strings(body))
    # A marker the operation itself carries comes back as an echo of the input, not a leak.
    leaked = [marker for marker in LEAKS if marker in text and marker not in operation]
    assert not leaked, (leaked, body, tail(server))
    for error in body.get("errors") or []:
        assert (error.get("extensions") or {}).get("code"), (error, tail(server))
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", (error, tail(server))


def assert_healthy(server: Server, http: httpx.Client, log_from: int) -> None:
    assert server.process is not None and server.process.poll() is None, server.log()
    # A crash outside GraphQL, which no response shows (masked errors are checked above).
    logged = server.log()[log_from:]
    assert "Exception in ASGI application" not in logged, logged
    assert http.get("/healthz").status_code == 200
    assert execute(http, HEALTH_QUERY)["incidents"]["totalCount"] >= 1


def tail(server: Server) -> str:
    return server.log()[-4000:]


def strings(value: object) -> Iterator[str]:
    """Every key and string inside a decoded JSON body."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)

"""Bad input of every kind is refused with a code, writes nothing, leaks nothing, and the
server stays healthy afterwards."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets

from tests.support import GraphQLClient, Server, create_token, declare

COUNT = """
query Count($text: String!) { incidents(filter: {text: $text}) { totalCount } }
"""

HEALTH_QUERY = "{ incidents(first: 1) { totalCount edges { node { id } } } }"

INCIDENT = """
query Incident($id: ID!) {
  incident(id: $id) { id title description status version timeline { totalCount } }
}
"""

NODE = "query Node($id: ID!) { node(id: $id) { id } }"

DECLARE = """
mutation Declare($input: DeclareIncidentInput!) {
  declareIncident(input: $input) { incident { id title } errors { field code message } }
}
"""

UPDATE = """
mutation Update($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { id } errors { field code message } }
}
"""

TRANSITION = """
mutation Transition($input: TransitionIncidentInput!) {
  transitionIncident(input: $input) { incident { id } errors { field code message } }
}
"""

ASSIGN = """
mutation Assign($input: AssignIncidentInput!) {
  assignIncident(input: $input) { incident { id } errors { field code message } }
}
"""

ADD_NOTE = """
mutation AddNote($input: AddNoteInput!) {
  addNote(input: $input) { event { id } errors { field code message } }
}
"""

INCIDENTS_AFTER = """
query Page($after: String, $first: Int, $orderBy: IncidentOrder) {
  incidents(after: $after, first: $first, orderBy: $orderBy) { totalCount edges { cursor } }
}
"""

TIMELINE = """
query Timeline($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  incident(id: $id) {
    timeline(first: $first, after: $after, last: $last, before: $before) { totalCount }
  }
}
"""

SUBSCRIPTION = "subscription { incidentsChanged { id } }"

LEAKS = ("Traceback", "SELECT", "INSERT", "sqlite", "asyncpg", "/work/", ".py", 'File "')


def marker() -> str:
    return f"mk{uuid.uuid4().hex}"


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


UNKNOWN_ID = "inc_0000000000004000800000000000dead"  # well formed, never handed out


async def count(client: GraphQLClient, text: str) -> int:
    return (await client.execute(COUNT, {"text": text}))["incidents"]["totalCount"]  # type: ignore[no-any-return]


async def assert_healthy(server: Server, client: GraphQLClient) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await http.get("/healthz")).status_code == 200
    data = await client.execute(HEALTH_QUERY)
    assert data["incidents"]["totalCount"] >= 0


def assert_no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} leaked in {text[:500]!r}"


def error_codes(body: dict[str, Any]) -> list[str]:
    errors = body.get("errors") or []
    assert errors, body
    return [(e.get("extensions") or {}).get("code") for e in errors]


RAW = "<raw>"


async def post_with_escape(
    client: GraphQLClient, query: str, variables: dict[str, Any], escape: str
) -> httpx.Response:
    """Post with `escape` (a JSON escape such as \\ud800) spliced in where RAW stands in a string:
    it reaches the server as JSON no encoder would produce from a valid string."""
    document = json.dumps({"query": query, "variables": variables}).replace(RAW, escape)
    return await client.http.post(
        "/graphql", content=document.encode(), headers={"Content-Type": "application/json"}
    )


# --- unknown and malformed ids --------------------------------------------------------------

IDS = {
    "unknown": UNKNOWN_ID,
    "empty": "",
    "garbage": "garbage",
    "bare prefix": "inc_",
    "not hex": "inc_zzzz",
    "short": "inc_" + "0" * 31,
    "an event id": "evt_0000000000004000800000000000dead",
    "10k chars": "x" * 10_000,
    "sql": "'; DROP TABLE incident; --",
    "non-ascii": "inc_\u00e9\u00e9",
}


@pytest.mark.parametrize("incident_id", IDS.values(), ids=IDS.keys())
async def test_an_unknown_or_malformed_id_finds_nothing(server, client, incident_id):
    # when
    incident = await client.raw(INCIDENT, {"id": incident_id})
    node = await client.raw(NODE, {"id": incident_id})

    # then
    assert incident == {"data": {"incident": None}}
    assert node == {"data": {"node": None}}
    await assert_healthy(server, client)


@pytest.mark.parametrize("incident_id", IDS.values(), ids=IDS.keys())
async def test_commands_on_an_unknown_or_malformed_id_are_not_found(server, client, incident_id):
    # when
    payloads = [
        (await client.execute(UPDATE, {"input": {"id": incident_id, "title": "x"}}))[
            "updateIncident"
        ],
        (await client.execute(TRANSITION, {"input": {"id": incident_id, "to": "IN_PROGRESS"}}))[
            "transitionIncident"
        ],
        (await client.execute(ASSIGN, {"input": {"id": incident_id, "assignee": "alice"}}))[
            "assignIncident"
        ],
    ]
    note = (await client.execute(ADD_NOTE, {"input": {"incidentId": incident_id, "body": "x"}}))[
        "addNote"
    ]

    # then
    for payload in payloads:
        assert payload["incident"] is None
        assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"]
    assert note["event"] is None
    assert [(e["field"], e["code"]) for e in note["errors"]] == [("incidentId", "NOT_FOUND")]
    await assert_healthy(server, client)


# --- titles, descriptions and other text ----------------------------------------------------


@pytest.mark.parametrize(
    "title",
    ["", " ", "   \t\n  ", "x" * 256, "x" * 10 * 1024],
    ids=["empty", "space", "whitespace", "256-chars", "10KB"],
)
async def test_a_bad_title_is_refused_and_nothing_is_written(server, client, title):
    # given
    tag = marker()
    before = await count(client, tag)

    # when
    payload = (
        await client.execute(
            DECLARE,
            {
                "input": {
                    "title": title,
                    "description": f"see {tag}",
                    "severity": "SEV2",
                    "impact": "HIGH",
                    "urgency": "LOW",
                }
            },
        )
    )["declareIncident"]

    # then
    assert payload["incident"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("title", "VALIDATION")]
    assert await count(client, tag) == before == 0
    await assert_healthy(server, client)


async def test_a_title_of_255_characters_is_fine(client):
    # given
    tag = marker()
    title = (tag + " " + "x" * 255)[:255]

    # when
    incident = await declare(client, title=title)

    # then
    assert incident["title"] == title
    assert await count(client, tag) == 1


async def test_a_bad_title_in_an_update_is_refused_and_nothing_is_written(client):
    # given
    incident = await declare(client, title=f"Rename me {marker()}")
    before = (await client.execute(INCIDENT, {"id": incident["id"]}))["incident"]

    for title in ("", "   ", "y" * 256):
        # when
        payload = (await client.execute(UPDATE, {"input": {"id": incident["id"], "title": title}}))[
            "updateIncident"
        ]

        # then
        assert payload["incident"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("title", "VALIDATION")]
        assert (await client.execute(INCIDENT, {"id": incident["id"]}))["incident"] == before


async def test_a_description_over_64_kib_is_refused(server, client):
    # given
    tag = marker()
    limit = 64 * 1024

    for description in ("d" * (limit + 1), "\u00e9" * (limit // 2 + 1)):
        # when
        payload = (
            await client.execute(
                DECLARE,
                {
                    "input": {
                        "title": f"Huge {tag}",
                        "description": description,
                        "severity": "SEV3",
                        "impact": "LOW",
                        "urgency": "LOW",
                    }
                },
            )
        )["declareIncident"]

        # then
        assert payload["incident"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [
            ("description", "VALIDATION")
        ]
    assert await count(client, tag) == 0

    # and exactly 64 KiB is fine
    incident = await declare(client, title=f"Big {tag}", description="d" * limit)
    stored = (await client.execute(INCIDENT, {"id": incident["id"]}))["incident"]
    assert len(stored["description"]) == limit
    await assert_healthy(server, client)


async def test_an_empty_note_is_refused(client):
    # given
    incident = await declare(client, title=f"Quiet {marker()}")

    for body in ("", "  \n "):
        # when
        payload = (
            await client.execute(ADD_NOTE, {"input": {"incidentId": incident["id"], "body": body}})
        )["addNote"]

        # then
        assert payload["event"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("body", "VALIDATION")]
    stored = (await client.execute(INCIDENT, {"id": incident["id"]}))["incident"]
    assert stored["timeline"]["totalCount"] == 1


@pytest.mark.parametrize(
    ("field", "escaped"),
    [
        ("title", "nul \\u0000 byte"),
        ("title", "lone \\ud800 surrogate"),
        ("description", "nul \\u0000 byte"),
        ("description", "lone \\udfff surrogate"),
        ("service", "nul \\u0000"),
    ],
)
async def test_text_a_database_cannot_store_is_refused(server, client, field, escaped):
    # given
    tag = marker()
    values = {"title": f"Odd text {tag}", "severity": "SEV3", "impact": "LOW", "urgency": "LOW"}
    values[field] = f"{values.get(field, '')} {tag} {RAW}"

    # when
    response = await post_with_escape(client, DECLARE, {"input": values}, escaped)

    # then
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["declareIncident"]
    assert payload["incident"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "VALIDATION")]
    assert await count(client, tag) == 0
    await assert_healthy(server, client)


async def test_a_note_a_database_cannot_store_is_refused(server, client):
    # given
    incident = await declare(client, title=f"Odd note {marker()}")

    for escaped in ("\\u0000", "\\ud800"):
        note = {"incidentId": incident["id"], "body": f"odd {RAW}"}

        # when
        response = await post_with_escape(client, ADD_NOTE, {"input": note}, escaped)

        # then
        assert response.status_code == 200, response.text
        payload = response.json()["data"]["addNote"]
        assert payload["event"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("body", "VALIDATION")]
    stored = (await client.execute(INCIDENT, {"id": incident["id"]}))["incident"]
    assert stored["timeline"]["totalCount"] == 1
    await assert_healthy(server, client)


@pytest.mark.parametrize("escaped", ["\\u0000", "\\ud800"])
async def test_a_search_text_a_database_cannot_store_is_refused(server, client, escaped):
    # when
    response = await post_with_escape(client, COUNT, {"text": f"a{RAW}b"}, escaped)

    # then
    assert response.status_code == 200, response.text
    assert error_codes(response.json()) == ["VALIDATION"]
    assert_no_leak(response.text)
    await assert_healthy(server, client)


# --- enums, cursors and page sizes ----------------------------------------------------------


async def test_a_wrong_enum_value_is_a_graphql_error_and_writes_nothing(server, client):
    # given
    tag = marker()

    # when: as a variable, and written inline
    as_variable = await client.post(
        DECLARE,
        {"input": {"title": tag, "severity": "SEV9", "impact": "HIGH", "urgency": "HIGH"}},
    )
    inline = await client.post(
        "mutation { declareIncident(input: {"
        f'title: "{tag}", severity: SEV9, impact: HIGH, urgency: HIGH'
        "}) { incident { id } errors { code } } }"
    )
    lowercase = await client.post(
        DECLARE,
        {"input": {"title": tag, "severity": "sev1", "impact": "HIGH", "urgency": "HIGH"}},
    )

    # then
    for response in (as_variable, inline, lowercase):
        assert response.status_code in (200, 400)
        assert all(error_codes(response.json()))
        assert response.json().get("data") is None
        assert_no_leak(response.text)
    assert await count(client, tag) == 0
    await assert_healthy(server, client)


BAD_CURSORS = [
    "",
    "zzz",
    "!!!not base64!!!",
    base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    cursor_of({"field": "CREATED_AT"}),
    cursor_of("just a string"),
    cursor_of(["NUMBER", "seven", 7]),
    cursor_of(["PRIORITY", 1, 1]),
    cursor_of(["PRIORITY", "P9", 1]),
    cursor_of(["PRIORITY", "P1\u0000", 1]),
    cursor_of(["CREATED_AT", "yesterday", 1]),
    cursor_of(["CREATED_AT", "2024-01-01T00:00:00", 1]),
    cursor_of(["CREATED_AT", "9999-12-31T23:59:59-14:00", 1]),
    cursor_of(["CREATED_AT", "0001-01-01T00:00:00+14:00", 1]),
    cursor_of(["CREATED_AT", "2024-01-01T00:00:00+00:00", "1"]),
    cursor_of(["NUMBER", 10**30, 10**30]),
    cursor_of(["NUMBER", 5, -(10**20)]),
    cursor_of(["SEVERITY", "SEV1", 2**63]),
    cursor_of(["UPDATED_AT", "2024-01-01T00:00:00+00:00", 1]),  # another ordering's cursor
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
async def test_a_malformed_incidents_cursor_is_a_validation_error(server, client, cursor):
    # given: the field the cursor claims to be for, where it names one
    order = None
    try:
        field = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))[0]
    except (ValueError, KeyError, TypeError, IndexError):
        field = None
    if field in ("NUMBER", "PRIORITY", "SEVERITY", "CREATED_AT"):
        order = {"field": field, "direction": "ASC"}

    # when
    body = await client.raw(INCIDENTS_AFTER, {"after": cursor, "orderBy": order})

    # then
    assert error_codes(body) == ["VALIDATION"], body
    assert body["errors"][0]["extensions"].get("field") == "after"
    assert_no_leak(json.dumps(body))
    await assert_healthy(server, client)


async def test_a_cursor_from_another_ordering_is_refused(client):
    # given
    await declare(client, title=f"Cursor {marker()}")
    by_number = await client.execute(
        INCIDENTS_AFTER, {"first": 1, "orderBy": {"field": "NUMBER", "direction": "ASC"}}
    )
    cursor = by_number["incidents"]["edges"][0]["cursor"]

    # when
    body = await client.raw(INCIDENTS_AFTER, {"after": cursor})

    # then
    assert error_codes(body) == ["VALIDATION"]


@pytest.mark.parametrize("argument", ["after", "before"])
@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "zzz",
        "!!!",
        cursor_of(["NUMBER", 1, 1]),
        base64.b64encode(b"seq:-1").decode(),
        base64.b64encode(b"seq:1e3").decode(),
        base64.b64encode(b"seq:" + b"9" * 40).decode(),
    ],
)
async def test_a_malformed_timeline_cursor_is_a_validation_error(server, client, argument, cursor):
    # given
    incident = await declare(client, title=f"Timeline cursor {marker()}")

    # when
    body = await client.raw(TIMELINE, {"id": incident["id"], argument: cursor})

    # then
    assert error_codes(body) == ["VALIDATION"], body
    assert_no_leak(json.dumps(body))
    await assert_healthy(server, client)


@pytest.mark.parametrize("first", [-1, -(2**31), 501, 100_000, 2**31 - 1])
async def test_a_page_size_out_of_range_is_a_validation_error(server, client, first):
    # given
    incident = await declare(client, title=f"Page size {marker()}")

    # when
    listing = await client.raw(INCIDENTS_AFTER, {"first": first})
    timeline_first = await client.raw(TIMELINE, {"id": incident["id"], "first": first})
    timeline_last = await client.raw(TIMELINE, {"id": incident["id"], "last": first})

    # then
    for body in (listing, timeline_first, timeline_last):
        assert error_codes(body) == ["VALIDATION"], body
    await assert_healthy(server, client)


async def test_a_page_size_beyond_a_graphql_int_is_refused(server, client):
    # when
    body = await client.raw(INCIDENTS_AFTER, {"first": 2**40})
    inline = await client.raw("{ incidents(first: 99999999999) { totalCount } }")

    # then
    for response in (body, inline):
        assert all(error_codes(response)), response
    await assert_healthy(server, client)


async def test_timeline_paging_both_ways_at_once_is_refused(client):
    # given
    incident = await declare(client, title=f"Both ways {marker()}")

    # when
    body = await client.raw(TIMELINE, {"id": incident["id"], "first": 1, "last": 1})

    # then
    assert error_codes(body) == ["VALIDATION"]


# --- broken requests ------------------------------------------------------------------------

BROKEN_BODIES = {
    "not json": b"this is not json",
    "truncated json": b'{"query": "{ incidents { totalCount } }"',
    "binary": b"\xff\xfe\x00\x01",
    "json array of numbers": b"[1, 2]",
    "json string": b'"{ incidents { totalCount } }"',
    "json number": b"42",
    "json null": b"null",
    "json true": b"true",
    "empty object": b"{}",
    "missing query": b'{"variables": {}}',
    "null query": b'{"query": null}',
    "empty query": b'{"query": ""}',
    "query is a number": b'{"query": 5}',
    "query is an object": b'{"query": {"a": 1}}',
    "variables is a list": b'{"query": "{ incidents { totalCount } }", "variables": [1]}',
    "variables is a string": b'{"query": "{ incidents { totalCount } }", "variables": "x"}',
    "operation name is a number": b'{"query": "{ incidents { totalCount } }", "operationName": 5}',
    "unknown operation name": b'{"query": "query A { incidents { totalCount } }", '
    b'"operationName": "B"}',
    "syntax error": b'{"query": "{ incidents { totalCount "}',
    "stray brace": b'{"query": "{ incidents { totalCount } } }"}',
    "not graphql": b'{"query": "hello world"}',
    "unknown field": b'{"query": "{ nosuchfield }"}',
    "subscription over plain http": b'{"query": "subscription { incidentsChanged { id } }"}',
}


@pytest.mark.parametrize("body", BROKEN_BODIES.values(), ids=BROKEN_BODIES.keys())
async def test_a_broken_request_is_refused_without_a_500_or_a_leak(server, client, body):
    # when
    response = await client.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )

    # then
    assert response.status_code < 500, response.text
    assert_no_leak(response.text)
    if response.status_code == 200:
        assert all(error_codes(response.json())), response.text
    else:
        assert 400 <= response.status_code < 500
        if response.headers.get("content-type", "").startswith("application/json"):
            assert all(error_codes(response.json())), response.text
    await assert_healthy(server, client)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""]
)
async def test_an_unsupported_content_type_is_refused(server, client, content_type):
    # when
    response = await client.http.post(
        "/graphql",
        content=b'{"query": "{ incidents { totalCount } }"}',
        headers={"Content-Type": content_type},
    )

    # then
    assert 400 <= response.status_code < 500
    assert_no_leak(response.text)
    await assert_healthy(server, client)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer not-a-real-token-0123456789",
        "bearer not-a-real-token-0123456789",
        "Basic dXNlcjpwYXNz",
        "Token test-admin-token-0123456789abcdef",
        "test-admin-token-0123456789abcdef",
        b"Bearer \xff\xfe\xfd",
    ],
)
async def test_missing_or_bad_credentials_are_unauthenticated(server, client, authorization):
    # given
    headers = [(b"Content-Type", b"application/json")]
    if authorization is not None:
        raw = authorization if isinstance(authorization, bytes) else authorization.encode()
        headers.append((b"Authorization", raw))

    # when
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        response = await anonymous.post(
            "/graphql",
            content=json.dumps({"query": HEALTH_QUERY}).encode(),
            headers=headers,
        )

    # then
    assert response.status_code == 401, response.text
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert "data" not in response.json() or response.json()["data"] is None
    await assert_healthy(server, client)


async def test_a_mutation_without_credentials_writes_nothing(server, client):
    # given
    tag = marker()

    # when
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as anonymous:
        response = await anonymous.post(
            "/graphql",
            json={
                "query": DECLARE,
                "variables": {
                    "input": {"title": tag, "severity": "SEV1", "impact": "HIGH", "urgency": "HIGH"}
                },
            },
        )

    # then
    assert response.status_code == 401
    assert await count(client, tag) == 0


# --- query cost guards ----------------------------------------------------------------------


async def test_a_too_deep_query_is_refused(server, client):
    # given: 14 levels of selection
    inner = "id"
    for name in ("a", "b", "c", "d", "e", "f", "g"):
        inner = f"{name} {{ {inner} }}"
    query = "{ incidents { edges { node { timeline { edges { node { " + inner + " } } } } } } }"

    # when
    response = await client.post(query)

    # then
    assert response.status_code in (200, 400)
    body = response.json()
    assert all(error_codes(body))
    assert any("depth" in e["message"] for e in body["errors"]), body
    await assert_healthy(server, client)


async def test_too_many_aliases_are_refused(server, client):
    # given
    aliases = " ".join(f"a{i}: incidents(first: 1) {{ totalCount }}" for i in range(40))
    query = "{ " + aliases + " }"

    # when
    response = await client.post(query)

    # then
    assert response.status_code in (200, 400)
    body = response.json()
    assert all(error_codes(body))
    assert body.get("data") is None
    await assert_healthy(server, client)


async def test_a_deep_introspection_query_is_refused(server, client):
    # given
    inner = "name"
    for _ in range(6):
        inner = f"fields {{ type {{ {inner} }} }}"
    query = "{ __schema { types { " + inner + " } } }"

    # when
    response = await client.post(query)

    # then
    assert all(error_codes(response.json()))
    await assert_healthy(server, client)


# --- WebSockets -----------------------------------------------------------------------------


async def exchange(
    server: Server,
    messages: list[str],
    *,
    protocol: str = "graphql-transport-ws",
    replies: int | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Send raw frames; return the replies and the close code (1006: dropped, None: open).

    Waits for the socket to close, or for `replies` replies when given.
    """
    received: list[dict[str, Any]] = []
    async with websockets.connect(server.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        for message in messages:
            await ws.send(message)
        try:
            while replies is None or len(received) < replies:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if frame.get("type") not in ("ka", "ping", "pong"):
                    received.append(frame)
        except websockets.ConnectionClosed as closed:
            return received, closed.rcvd.code if closed.rcvd else 1006
        except TimeoutError:
            pass
        return received, None


def init(token: str | None) -> str:
    payload = {"authorization": f"Bearer {token}"} if token is not None else {}
    return json.dumps({"type": "connection_init", "payload": payload})


def subscribe(payload: Any, op_id: Any = "1") -> str:
    return json.dumps({"id": op_id, "type": "subscribe", "payload": payload})


NONSENSE_BEFORE_INIT = {
    "not json": "this is not json",
    "json array": "[1, 2, 3]",
    "json string": '"connection_init"',
    "json number": "42",
    "json null": "null",
    "no type": '{"payload": {}}',
    "type is a number": '{"type": 1}',
    "unknown type": '{"type": "hello"}',
    "init payload is a string": '{"type": "connection_init", "payload": "Bearer x"}',
}


@pytest.mark.parametrize("frame", NONSENSE_BEFORE_INIT.values(), ids=NONSENSE_BEFORE_INIT.keys())
async def test_a_nonsense_frame_closes_the_socket_with_4400(server, client, frame):
    # when
    received, code = await exchange(server, [frame])

    # then
    assert code == 4400
    assert all(m.get("type") != "connection_ack" for m in received)
    await assert_healthy(server, client)


async def test_subscribing_before_connection_init_is_unauthorized(server, client):
    # when
    received, code = await exchange(server, [subscribe({"query": SUBSCRIPTION})])

    # then
    assert code == 4401
    assert received == []
    await assert_healthy(server, client)


@pytest.mark.parametrize(
    "frame",
    [
        init("not-a-real-token-0123456789"),
        init(None),
        json.dumps({"type": "connection_init"}),
        json.dumps({"type": "connection_init", "payload": {"authorization": "garbage"}}),
        json.dumps({"type": "connection_init", "payload": {"authorization": 12345}}),
        json.dumps({"type": "connection_init", "payload": {"Authorization": "Basic dXNlcjpwYXNz"}}),
        '{"type": "connection_init", "payload": {"authorization": "Bearer \\ud800"}}',
    ],
    ids=["wrong", "missing", "no payload", "no scheme", "number", "basic", "surrogate"],
)
async def test_bad_credentials_on_a_socket_are_never_acknowledged(server, client, frame):
    # when
    received, code = await exchange(server, [frame, subscribe({"query": SUBSCRIPTION})])

    # then
    assert code in (4401, 4403)
    assert all(m.get("type") not in ("connection_ack", "next") for m in received)
    await assert_healthy(server, client)


NONSENSE_AFTER_ACK = {
    "not json": "this is not json",
    "json array": "[1]",
    "unknown type": '{"type": "hello"}',
    "payload is a string": subscribe("subscription { incidentsChanged { id } }"),
    "payload without query": subscribe({"variables": {}}),
    "query is a number": subscribe({"query": 5}),
    "variables is a number": subscribe({"query": SUBSCRIPTION, "variables": 5}),
    "id is a number": subscribe({"query": SUBSCRIPTION}, op_id=5),
    "no id": json.dumps({"type": "subscribe", "payload": {"query": SUBSCRIPTION}}),
    "complete without id": '{"type": "complete"}',
    "second init": init("test-admin-token-0123456789abcdef"),
}


@pytest.mark.parametrize("frame", NONSENSE_AFTER_ACK.values(), ids=NONSENSE_AFTER_ACK.keys())
async def test_a_nonsense_frame_after_ack_closes_the_socket(server, client, frame):
    # when
    received, code = await exchange(server, [init(server.token), frame])

    # then
    assert received[0] == {"type": "connection_ack"}
    assert code in (4400, 4429)
    assert all(m.get("type") != "next" for m in received)
    await assert_healthy(server, client)


async def test_an_invalid_subscription_is_an_error_with_a_code(server, client):
    # when
    received, _ = await exchange(
        server,
        [init(server.token), subscribe({"query": "subscription { nosuchfield }"})],
        replies=2,
    )

    # then
    assert received[0] == {"type": "connection_ack"}
    errors = received[1]
    assert errors["type"] == "error" and errors["id"] == "1"
    assert all(e["extensions"]["code"] for e in errors["payload"])
    await assert_healthy(server, client)


@pytest.mark.parametrize(
    "frames",
    [
        [init("not-a-real-token-0123456789")],
        [init(None)],
        ['{"type": "connection_init", "payload": "x"}'],
        ['{"type": "connection_init", "payload": {"authorization": "Bearer \\ud800"}}'],
    ],
    ids=["wrong", "missing", "payload is a string", "surrogate"],
)
async def test_bad_credentials_on_a_legacy_socket_are_never_acknowledged(server, client, frames):
    # when
    received, code = await exchange(server, frames, protocol="graphql-ws")

    # then
    assert [m["type"] for m in received] == ["connection_error"]
    assert code is not None and code != 1006, "closed cleanly"
    await assert_healthy(server, client)


@pytest.mark.parametrize(
    "frame",
    [
        "[1]",
        "42",
        json.dumps({"id": "1", "type": "start", "payload": "x"}),
        json.dumps({"id": "1", "type": "start"}),
        json.dumps({"id": "1", "type": "start", "payload": {"query": 5}}),
        json.dumps({"type": "stop"}),
    ],
    ids=["array", "number", "payload is a string", "no payload", "query is a number", "stop no id"],
)
async def test_a_nonsense_frame_on_a_legacy_socket_is_handled(server, client, frame):
    # when
    received, code = await exchange(server, [init(server.token), frame], protocol="graphql-ws")

    # then: refused with a close frame, never a dropped connection or data
    assert received[0] == {"type": "connection_ack"}
    assert code == 4400
    assert all(m.get("type") != "data" for m in received)
    await assert_healthy(server, client)


async def test_refused_requests_do_not_fill_the_server_log_with_tracebacks(server, client):
    # given where the server's log stands
    start = len(server.log())

    # when clients make the usual mistakes: an unknown id, a bad value, a bad document,
    # a role that may not do something
    await client.raw(
        'mutation { updateIncident(input: {id: "nope", title: "x"}) { errors { code } } }'
    )
    await client.raw("{ incidents(first: -1) { totalCount } }")
    await client.raw("{ incidents { nosuchfield } }")
    await client.raw('{ incidents(after: "garbage") { totalCount } }')
    stakeholder = server.client(token=create_token(server, role="STAKEHOLDER", name="log check"))
    refused = await stakeholder.raw("{ incidents { totalCount } }")
    await stakeholder.aclose()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await asyncio.sleep(0.2)

    # then none of it is logged as a server fault
    written = server.log()[start:]
    assert "Traceback" not in written and "ERROR" not in written, written[-2000:]

"""The tenant's event feed over real servers: every committed CloudEvent (incidents' and
records' timelines) in commit order from a cursor, in GraphQL (`events`, `eventAdded`), as
JSON pages (`GET /events`) and as Server-Sent Events (`GET /events/stream`), each with the
same filter, the same visibility and redaction as the timelines, and clear refusals."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.api.test_problems import open_problem
from tests.support import (
    Server,
    create_tenant,
    create_token,
    declare,
    subscribe_and_wait,
    subscriber,
    transition,
)

EVENTS = """
query($after: String, $first: Int, $filter: EventFilter) {
  events(after: $after, first: $first, filter: $filter) {
    edges { cursor node { cursor id type source subject time actor data redacted cloudEvent } }
    pageInfo { hasNextPage endCursor }
  }
}"""
EVENT_ADDED = """
subscription($after: String, $filter: EventFilter) {
  eventAdded(after: $after, filter: $filter) { cursor type subject data redacted }
}"""
NOTE = """
mutation($input: AddNoteInput!) { addNote(input: $input) { errors { field code } } }
"""
REVOKE = """
mutation($input: RevokeApiTokenInput!) { revokeApiToken(input: $input) { errors { code } } }
"""
TOKENS = "query { apiTokens(first: 50) { edges { node { id name } } } }"


@pytest.fixture
def tenant(server: Server) -> Iterator[dict[str, str]]:
    """A tenant of its own per test, so its feed starts at position 1."""
    tenant_id = create_tenant(server, tenant_id=f"feed-{uuid.uuid4().hex[:8]}", name="Feed")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="feed admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="feed r", tenant=tenant_id),
        "VIEWER": create_token(server, role="VIEWER", name="feed v", tenant=tenant_id),
        "STAKEHOLDER": create_token(server, role="STAKEHOLDER", name="feed s", tenant=tenant_id),
    }


async def feed(client: Any, **variables: Any) -> dict[str, Any]:
    data = await client.execute(EVENTS, variables)
    return data["events"]  # type: ignore[no-any-return]


def nodes(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in page["edges"]]


async def note(client: Any, incident_id: str, body: str) -> None:
    data = await client.execute(NOTE, {"input": {"incidentId": incident_id, "body": body}})
    assert data["addNote"]["errors"] == [], data


def get_events(server: Server, token: str | None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}/events", params=params, headers=headers, timeout=10)


class Stream:
    """An open `GET /events/stream`, read frame by frame."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers


@pytest.fixture
async def sse(server: Server) -> AsyncIterator[Any]:
    """`sse(token, headers=..., params=...)`: an open `GET /events/stream`."""
    client = httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(10, read=30))
    streams: list[Any] = []

    async def open_stream(
        token: str, *, headers: dict[str, str] | None = None, params: dict[str, str] | None = None
    ) -> Stream:
        request = client.build_request(
            "GET",
            "/events/stream",
            params=params,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
        )
        response = await client.send(request, stream=True)
        streams.append(response)
        return Stream(response)

    yield open_stream
    for response in streams:
        await response.aclose()
    await client.aclose()


async def frames(stream: Stream, count: int, timeout: float = 15) -> list[dict[str, str]]:
    """The next `count` frames of a stream (events and errors; comments as `comment`)."""
    found: list[dict[str, str]] = []
    lines = stream.lines

    async def read() -> None:
        frame: dict[str, str] = {}
        async for line in lines:
            if line == "":
                if frame:
                    found.append(frame)
                    frame = {}
                    if len(found) == count:
                        return
                continue
            name, _, value = line.partition(":")
            frame[name or "comment"] = value.removeprefix(" ")

    await asyncio.wait_for(read(), timeout)
    return found


async def test_the_feed_holds_every_record_s_events_in_commit_order(api, tenant):
    # given an incident with a note and a transition, and a problem
    admin = api("ADMIN")
    incident = await declare(admin, title="Payments down")
    await note(admin, incident["id"], "Looking at the database")
    await transition(admin, incident["id"], "IN_PROGRESS")
    problem = await open_problem(admin, title="Connection pool exhaustion")

    # when the whole feed is read from the start
    page = await feed(admin, after="0")

    # then it holds those events in the order they were committed, at positions 1, 2, 3...
    # each a CloudEvents envelope naming its subject
    events = nodes(page)
    assert [e["type"] for e in events] == [
        "com.incidents.declared.v1",
        "com.incidents.note_added.v1",
        "com.incidents.state_change.v1",
        "com.incidents.problem.created.v1",
    ]
    assert [e["cursor"] for e in events] == ["1", "2", "3", "4"]
    assert [e["subject"] for e in events] == [f"incidents/{incident['id']}"] * 3 + [
        f"problems/{problem['id']}"
    ]
    envelope = events[1]["cloudEvent"]
    assert envelope["specversion"] == "1.0" and envelope["sequence"] == "2"
    assert envelope["id"] == events[1]["id"] and envelope["data"]["body"] == (
        "Looking at the database"
    )
    assert page["pageInfo"] == {"hasNextPage": False, "endCursor": "4"}

    # and pages follow on from their end cursor with nothing repeated or skipped
    first = await feed(admin, first=3)
    rest = await feed(admin, after=first["pageInfo"]["endCursor"], first=3)
    assert first["pageInfo"]["hasNextPage"] is True
    assert [e["cursor"] for e in nodes(first) + nodes(rest)] == ["1", "2", "3", "4"]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_filters_choose_types_prefixes_subjects_and_a_start_time(api, tenant):
    # given two incidents and a problem
    admin = api("ADMIN")
    one = await declare(admin, title="One")
    two = await declare(admin, title="Two")
    await note(admin, two["id"], "on two")
    await open_problem(admin, title="A cause")

    # when filtered by type, by prefix, by subject and by time
    by_type = await feed(admin, filter={"types": ["com.incidents.declared.v1"]})
    by_prefix = await feed(admin, filter={"types": ["com.incidents.problem.*"]})
    by_subject = await feed(admin, filter={"subjects": [f"incidents/{two['id']}"]})
    later = await feed(admin, filter={"since": "2999-01-01T00:00:00+00:00"})

    # then each holds what it asked for
    assert [e["subject"] for e in nodes(by_type)] == [
        f"incidents/{one['id']}",
        f"incidents/{two['id']}",
    ]
    assert [e["type"] for e in nodes(by_prefix)] == ["com.incidents.problem.created.v1"]
    assert [e["type"] for e in nodes(by_subject)] == [
        "com.incidents.declared.v1",
        "com.incidents.note_added.v1",
    ]
    assert nodes(later) == []


async def test_bad_cursors_and_filters_are_refused_naming_what_is_wrong(api, tenant, server):
    admin = api("ADMIN")
    cases = [
        ({"after": "abc"}, "after"),
        ({"after": "-1"}, "after"),
        ({"first": 100000}, "first"),
        ({"filter": {"types": ["com.incidents.no_such.v1"]}}, "filter.types"),
        ({"filter": {"types": ["org.other.*"]}}, "filter.types"),
        ({"filter": {"subjects": ["incidents/nope"]}}, "filter.subjects"),
    ]
    for variables, field in cases:
        response = await admin.post(EVENTS, variables)
        body = response.json()
        assert body["data"] is None, body
        error = body["errors"][0]
        assert error["extensions"]["code"] == "VALIDATION", (variables, error)
        assert error["extensions"]["field"] == field, (variables, error)
    unknown = (await admin.post(EVENTS, {"filter": {"types": ["com.incidents.nope.v1"]}})).json()
    assert "com.incidents.nope.v1" in unknown["errors"][0]["message"]

    # and over HTTP: 400 with the same codes, 401 without a token, 403 for the wrong role
    ingest = create_token(server, role="INGEST", name="feed ingest", tenant=tenant["id"])
    for params, field in [
        ({"after": "x"}, "after"),
        ({"types": "com.incidents.nope.v1"}, "types"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "many"}, "limit"),
    ]:
        response = get_events(server, tenant["ADMIN"], **params)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "VALIDATION"
        assert response.json()["field"] == field
    assert get_events(server, None).status_code == 401
    assert get_events(server, ingest).status_code == 403
    assert get_events(server, tenant["STAKEHOLDER"]).status_code == 403


async def test_what_a_caller_may_not_see_is_left_out_or_redacted(api, tenant):
    # given a RESTRICTED incident, an INTERNAL one, and a CONFIDENTIAL note on the latter
    admin = api("ADMIN")
    secret = await declare(
        admin, title="Board member account taken over", classification="RESTRICTED"
    )
    public = await declare(admin, title="Slow search")
    data = await admin.execute(
        NOTE,
        {
            "input": {
                "incidentId": public["id"],
                "body": "customer 4711 affected",
                "classification": "CONFIDENTIAL",
            }
        },
    )
    assert data["addNote"]["errors"] == []

    # when an ADMIN, a RESPONDER and a VIEWER read the feed
    seen = {role: nodes(await feed(api(role))) for role in ("ADMIN", "RESPONDER", "VIEWER")}

    # then the restricted incident's events exist for the ADMIN only, and the confidential
    # note reads [REDACTED] for the VIEWER, whose page still ends where the feed does
    subjects = {role: {e["subject"] for e in events} for role, events in seen.items()}
    assert f"incidents/{secret['id']}" in subjects["ADMIN"]
    assert f"incidents/{secret['id']}" not in subjects["RESPONDER"] | subjects["VIEWER"]
    notes = {
        role: next(e for e in events if e["type"] == "com.incidents.note_added.v1")
        for role, events in seen.items()
    }
    assert notes["RESPONDER"]["data"]["body"] == "customer 4711 affected"
    assert notes["VIEWER"]["redacted"] is True
    assert "customer 4711" not in json.dumps(notes["VIEWER"])
    viewer_page = await feed(api("VIEWER"), first=1)
    assert viewer_page["pageInfo"]["endCursor"] == "2"  # past the restricted declaration


async def test_http_pages_follow_the_feed_with_the_same_envelopes(api, tenant, server):
    admin = api("ADMIN")
    incident = await declare(admin, title="Queue backlog")
    for n in range(3):
        await note(admin, incident["id"], f"note {n}")

    first = get_events(server, tenant["ADMIN"], limit="2")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    body = first.json()
    assert body["hasMore"] is True and body["next"] == "2"
    rest = get_events(server, tenant["ADMIN"], after=body["next"], limit="10").json()
    envelopes = body["events"] + rest["events"]
    assert [e["sequence"] for e in envelopes] == ["1", "2", "3", "4"]
    assert [e["data"].get("body") for e in envelopes[1:]] == ["note 0", "note 1", "note 2"]
    assert rest["hasMore"] is False and rest["next"] == "4"
    graphql = [n["cloudEvent"] for n in nodes(await feed(admin))]
    assert graphql == envelopes
    only = get_events(server, tenant["ADMIN"], types="com.incidents.declared.v1").json()
    assert [e["type"] for e in only["events"]] == ["com.incidents.declared.v1"]


async def test_event_added_replays_then_follows_live_with_no_gap_and_no_duplicate(
    api, tenant, server
):
    # given events already in the feed
    admin = api("ADMIN")
    incident = await declare(admin, title="Login errors")
    await note(admin, incident["id"], "before the subscription")

    # when a subscriber asks for everything after position 1, while more commit
    sub = await subscriber(server, token=tenant["ADMIN"])
    try:
        op = await subscribe_and_wait(sub, server, EVENT_ADDED, {"after": "1"})
        writes = [note(admin, incident["id"], f"live {n}") for n in range(5)]
        await asyncio.gather(*writes)
        await transition(admin, incident["id"], "IN_PROGRESS")
        received = []
        while len(received) < 7:
            message = await sub.next(timeout=15)
            assert message["type"] == "next" and message["id"] == op, message
            received.append(message["payload"]["data"]["eventAdded"])
    finally:
        await sub.close()

    # then it got position 2 from the database and 3..8 live, each once, in order
    assert [e["cursor"] for e in received] == [str(n) for n in range(2, 9)]
    assert received[0]["data"]["body"] == "before the subscription"
    assert sorted(e["data"]["body"] for e in received[1:6]) == [f"live {n}" for n in range(5)]
    assert received[6]["type"] == "com.incidents.state_change.v1"


async def test_event_added_filters_and_hides_like_the_query(api, tenant, server):
    admin = api("ADMIN")
    viewer_sub = await subscriber(server, token=tenant["VIEWER"])
    try:
        await subscribe_and_wait(
            viewer_sub, server, EVENT_ADDED, {"filter": {"types": ["com.incidents.declared.v1"]}}
        )
        await declare(admin, title="Hidden", classification="RESTRICTED")
        shown = await declare(admin, title="Shown")
        await note(admin, shown["id"], "not a declaration")
        await declare(admin, title="Shown too")
        first = await viewer_sub.next(timeout=15)
        second = await viewer_sub.next(timeout=15)
    finally:
        await viewer_sub.close()
    got = [first["payload"]["data"]["eventAdded"], second["payload"]["data"]["eventAdded"]]
    assert [e["subject"] for e in got][0] == f"incidents/{shown['id']}"
    assert [e["cursor"] for e in got] == ["2", "4"]
    refused = await subscriber(server, token=tenant["VIEWER"])
    try:
        await refused.subscribe(EVENT_ADDED, {"after": "nope"})
        message = await refused.next(timeout=10)
    finally:
        await refused.close()
    # (Strawberry sends an error raised before the first event as a `next` with errors)
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert [e["extensions"]["code"] for e in errors] == ["VALIDATION"]


async def test_the_event_stream_resumes_from_last_event_id(api, tenant, sse):
    # given three events
    admin = api("ADMIN")
    incident = await declare(admin, title="DNS failures")
    await note(admin, incident["id"], "one")
    await note(admin, incident["id"], "two")

    # when a reader streams from the start and stops after the second event
    stream = await sse(tenant["ADMIN"], params={"after": "0"})
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["x-accel-buffering"] == "no"
    assert "no-cache" in stream.headers["cache-control"]
    opening = await frames(stream, 3)
    assert opening[0].get("retry") == "3000"
    assert [f["id"] for f in opening[1:]] == ["1", "2"]
    await stream.response.aclose()

    # and comes back with Last-Event-ID while another event commits
    again = await sse(tenant["ADMIN"], headers={"Last-Event-ID": "2"})
    await note(admin, incident["id"], "three")
    resumed = await frames(again, 3)

    # then it gets the third and the fourth, once each, as CloudEvents
    events = [f for f in resumed if "id" in f]
    assert [f["id"] for f in events] == ["3", "4"]
    assert [json.loads(f["data"])["data"]["body"] for f in events] == ["two", "three"]

    # and a malformed Last-Event-ID is refused before the stream begins
    bad = await sse(tenant["ADMIN"], headers={"Last-Event-ID": "yesterday"})
    assert bad.status_code == 400
    body = json.loads(await bad.response.aread())
    assert body["code"] == "VALIDATION" and body["field"] == "Last-Event-ID"


@pytest.fixture(scope="module")
def quick_server(backend: Any, log_dir: Any) -> Iterator[Server]:
    """A server that sends a heartbeat every half second."""
    srv = Server(backend, extra_env={"INCIDENTGRAPH_SSE_HEARTBEAT_SECONDS": "0.5"})
    srv.start(log_dir)
    yield srv
    srv.stop()


async def test_the_stream_beats_while_quiet_and_ends_when_its_token_is_revoked(quick_server):
    # given a reader of a quiet tenant's stream
    server = quick_server
    tenant_id = create_tenant(server, tenant_id=f"beat-{uuid.uuid4().hex[:8]}", name="Beat")
    admin_token = create_token(server, role="ADMIN", name="beat admin", tenant=tenant_id)
    reader = create_token(server, role="VIEWER", name="beat reader", tenant=tenant_id)
    async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(10, read=30)) as http:
        async with http.stream(
            "GET", "/events/stream", headers={"Authorization": f"Bearer {reader}"}
        ) as response:
            stream = Stream(response)
            # then comment lines keep it open
            beats = await frames(stream, 3, timeout=10)
            assert [f.get("comment") for f in beats[1:]] == ["heartbeat", "heartbeat"]

            # and when the reader's token is revoked, the stream ends with an error event
            admin = server.client(token=admin_token)
            try:
                tokens = await admin.execute(TOKENS)
                token_id = next(
                    e["node"]["id"]
                    for e in tokens["apiTokens"]["edges"]
                    if e["node"]["name"] == "beat reader"
                )
                revoked = await admin.execute(REVOKE, {"input": {"id": token_id}})
                assert revoked["revokeApiToken"]["errors"] == []
            finally:
                await admin.aclose()
            ending = await frames(stream, 1, timeout=10)
            while ending[-1].get("comment") == "heartbeat":
                ending = await frames(stream, 1, timeout=10)
            assert ending[-1]["event"] == "error"
            assert json.loads(ending[-1]["data"])["code"] == "UNAUTHENTICATED"
            # the server closed it: nothing follows
            assert [line async for line in stream.lines] == []

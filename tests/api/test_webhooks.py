"""Outbound webhooks over real servers: endpoints follow the tenant's event feed and receive
each event signed per Standard Webhooks (verified here with the reference library), retried
with backoff (never before Retry-After), dead-lettered, redelivered, replayed from a cursor;
an endpoint that keeps failing is disabled and its events wait for it; a slow endpoint
delays no other; what the endpoint's clearance may not read never leaves."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.fakes.base import Call
from tests.fakes.messaging import FakeReceiver
from tests.support import (
    Server,
    cli,
    create_tenant,
    create_token,
    declare,
    eventually,
    fresh_backend,
    transition,
)

ENDPOINT_FIELDS = """
id url description eventTypes clearance enabled disabledReason cursor failureStreak
previousSecretUntil
"""
CREATE = f"""
mutation($input: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(input: $input) {{
    endpoint {{ {ENDPOINT_FIELDS} }} secret errors {{ field code message }}
  }}
}}"""
UPDATE = f"""
mutation($input: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(input: $input) {{
    endpoint {{ {ENDPOINT_FIELDS} }} errors {{ field code message }}
  }}
}}"""
ROTATE = f"""
mutation($input: WebhookEndpointIdInput!) {{
  rotateWebhookSecret(input: $input) {{
    endpoint {{ {ENDPOINT_FIELDS} }} secret errors {{ field code message }}
  }}
}}"""
DELETE = """
mutation($input: WebhookEndpointIdInput!) {
  deleteWebhookEndpoint(input: $input) { endpoint { id } errors { field code } }
}"""
REPLAY = f"""
mutation($input: ReplayWebhookEndpointInput!) {{
  replayWebhookEndpoint(input: $input) {{
    endpoint {{ {ENDPOINT_FIELDS} }} errors {{ field code message }}
  }}
}}"""
REDELIVER = """
mutation($input: RedeliverWebhookInput!) {
  redeliverWebhook(input: $input) { delivery { id status attempts } errors { field code } }
}"""
DELIVERIES = """
query($endpointId: ID!, $status: WebhookDeliveryStatus, $first: Int, $after: String) {
  webhookDeliveries(endpointId: $endpointId, status: $status, first: $first, after: $after) {
    edges { node {
      id eventId type cursor status attempts lastStatusCode lastDurationMs lastError
      deliveredAt attemptLog { at statusCode durationMs error }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""
ENDPOINTS = f"query {{ webhookEndpoints {{ {ENDPOINT_FIELDS} }} }}"
NOTE = """
mutation($input: AddNoteInput!) { addNote(input: $input) { errors { field code } } }
"""
DECLARED = "com.incidents.declared.v1"
NOTED = "com.incidents.note_added.v1"


@pytest.fixture(scope="module")
def receiver() -> Iterator[FakeReceiver]:
    with FakeReceiver() as fake:
        yield fake


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)],
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, log_dir: Path
) -> Iterator[Server]:
    """A server of its own with quick retries, a short timeout and early disabling."""
    with fresh_backend(request.param, tmp_path_factory.mktemp("webhooks")) as backend:
        srv = Server(
            backend,
            extra_env={
                "INCIDENTGRAPH_WEBHOOK_RETRY_SECONDS": "0.3,0.3",
                "INCIDENTGRAPH_WEBHOOK_TIMEOUT_SECONDS": "1",
                "INCIDENTGRAPH_WEBHOOK_DISABLE_AFTER": "2",
                "INCIDENTGRAPH_NOTIFY_POLL_SECONDS": "0.1",
            },
        ).start(log_dir)
        yield srv
        srv.stop()


@pytest.fixture
def tenant(server: Server) -> Iterator[dict[str, str]]:
    """A tenant of its own per test: its endpoints see only its events."""
    tenant_id = create_tenant(server, tenant_id=f"whk-{uuid.uuid4().hex[:8]}", name="Hooks")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="hook admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="hook r", tenant=tenant_id),
    }


async def endpoint(client: Any, url: str, **fields: Any) -> tuple[dict[str, Any], str]:
    data = await client.execute(CREATE, {"input": {"url": url, **fields}})
    payload = data["createWebhookEndpoint"]
    assert payload["errors"] == [], payload
    return payload["endpoint"], payload["secret"]


async def note(client: Any, incident_id: str, body: str, **extra: Any) -> None:
    data = await client.execute(NOTE, {"input": {"incidentId": incident_id, "body": body, **extra}})
    assert data["addNote"]["errors"] == [], data


async def calls_to(
    receiver: FakeReceiver, path: str, count: int, timeout: float = 15
) -> list[Call]:
    async def enough() -> list[Call] | None:
        found = receiver.calls_to("POST", path)
        return found if len(found) >= count else None

    found = await eventually(enough, timeout=timeout)
    assert found is not None, f"{len(receiver.calls_to('POST', path))} calls to {path}"
    return found


async def deliveries(client: Any, endpoint_id: str, **variables: Any) -> list[dict[str, Any]]:
    data = await client.execute(DELIVERIES, {"endpointId": endpoint_id, **variables})
    return [e["node"] for e in data["webhookDeliveries"]["edges"]]


def hook_path() -> str:
    return f"/hooks/{uuid.uuid4().hex}"


async def test_an_endpoint_receives_its_events_signed_as_standard_webhooks_say(
    api, server, tenant, receiver
):
    # given an endpoint for declarations and notes
    admin = api("ADMIN")
    path = hook_path()
    made, secret = await endpoint(
        admin, receiver.url + path, eventTypes=[DECLARED, NOTED], description="ops bridge"
    )
    assert secret.startswith("whsec_") and made["enabled"] is True
    assert made["eventTypes"] == [DECLARED, NOTED]

    # when an incident is declared, noted and acknowledged
    incident = await declare(admin, title="Webhooks wanted")
    await note(admin, incident["id"], "first look")
    await transition(admin, incident["id"], "IN_PROGRESS")

    # then the receiver gets the declaration and the note, not the state change, each
    # signed so that the reference library verifies it, as a CloudEvents envelope
    calls = await calls_to(receiver, path, 2)
    await asyncio.sleep(0.5)
    assert len(receiver.calls_to("POST", path)) == 2
    verified = [Webhook(secret).verify(c.raw, c.headers) for c in calls]
    assert sorted(v["type"] for v in verified) == [DECLARED, NOTED]
    for call, body in zip(calls, verified, strict=True):
        assert call.headers["webhook-id"] == body["id"]
        assert body["subject"] == f"incidents/{incident['id']}"
        assert body["specversion"] == "1.0"
    assert next(v for v in verified if v["type"] == NOTED)["data"]["body"] == "first look"

    # and its deliveries say so, with the receiver's status and the time it took
    seen = await deliveries(admin, made["id"])
    assert sorted(d["type"] for d in seen) == [DECLARED, NOTED]
    for delivery in seen:
        assert delivery["status"] == "DELIVERED" and delivery["lastStatusCode"] == 204
        assert delivery["attempts"] == 1 and delivery["lastDurationMs"] >= 0
        assert [a["statusCode"] for a in delivery["attemptLog"]] == [204]
    assert {d["eventId"] for d in seen} == {v["id"] for v in verified}

    # and a signature made with another secret does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(calls[0].raw, calls[0].headers)


async def test_failures_are_retried_after_retry_after_then_dead_lettered_and_redelivered(
    api, tenant, receiver
):
    admin = api("ADMIN")
    path = hook_path()
    made, secret = await endpoint(admin, receiver.url + path, eventTypes=[NOTED])
    incident = await declare(admin, title="Flaky receiver")

    # when the receiver answers 429 with Retry-After: 1 once, then takes the next attempt
    receiver.rate_limit_next(1, retry_after="1", path=path)
    await note(admin, incident["id"], "rate limited once")
    calls = await calls_to(receiver, path, 2)

    # then the second attempt waited the second the receiver asked for, not 0.3 s
    [delivery] = await deliveries(admin, made["id"], status="DELIVERED")
    first, second = (datetime.fromisoformat(a["at"]) for a in delivery["attemptLog"])
    assert [a["statusCode"] for a in delivery["attemptLog"]] == [429, 204]
    assert (second - first).total_seconds() >= 0.95
    assert calls[0].headers["webhook-id"] == calls[1].headers["webhook-id"]

    # when the receiver fails every attempt of the next event (three: first and two retries)
    receiver.fail_next(3, status=503, path=path)
    await note(admin, incident["id"], "fails for good")
    await calls_to(receiver, path, 5)

    # then the delivery is dead-lettered with the receiver's answer
    async def dead() -> list[dict[str, Any]] | None:
        found = await deliveries(admin, made["id"], status="FAILED")
        return found or None

    [failed] = await eventually(dead, timeout=10)
    assert failed["attempts"] == 3 and failed["lastStatusCode"] == 503
    assert "answered 503" in failed["lastError"]

    # and redelivering it sends the same event again, now accepted
    again = await admin.execute(REDELIVER, {"input": {"id": failed["id"]}})
    assert again["redeliverWebhook"]["errors"] == []
    calls = await calls_to(receiver, path, 6)
    assert Webhook(secret).verify(calls[-1].raw, calls[-1].headers)["data"]["body"] == (
        "fails for good"
    )
    [done] = [d for d in await deliveries(admin, made["id"]) if d["id"] == failed["id"]]
    assert done["status"] == "DELIVERED"


async def test_an_endpoint_failing_in_a_row_is_disabled_and_its_events_wait_for_it(
    api, tenant, receiver
):
    # given an endpoint whose receiver is failing
    admin = api("ADMIN")
    path = hook_path()
    made, secret = await endpoint(admin, receiver.url + path, eventTypes=[NOTED])
    incident = await declare(admin, title="Receiver down")
    receiver.fail_next(6, status=500, path=path)

    # when two deliveries in a row are dead-lettered
    await note(admin, incident["id"], "lost one")
    await calls_to(receiver, path, 3)
    await note(admin, incident["id"], "lost two")
    await calls_to(receiver, path, 6)

    # then the endpoint is disabled, saying why
    async def disabled() -> dict[str, Any] | None:
        found = (await admin.execute(ENDPOINTS))["webhookEndpoints"]
        mine = next(e for e in found if e["id"] == made["id"])
        return mine if not mine["enabled"] else None

    off = await eventually(disabled, timeout=10)
    assert off["failureStreak"] == 2
    assert "2 deliveries in a row failed" in off["disabledReason"]

    # and what happens meanwhile is not sent, but not lost either
    await note(admin, incident["id"], "while disabled")
    await asyncio.sleep(1)
    assert len(receiver.calls_to("POST", path)) == 6

    # when it is enabled again by hand
    on = await admin.execute(UPDATE, {"input": {"id": made["id"], "enabled": True}})
    assert on["updateWebhookEndpoint"]["endpoint"]["disabledReason"] is None

    # then the waiting event arrives
    calls = await calls_to(receiver, path, 7)
    assert Webhook(secret).verify(calls[-1].raw, calls[-1].headers)["data"]["body"] == (
        "while disabled"
    )


async def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(api, tenant, receiver):
    admin = api("ADMIN")
    path = hook_path()
    made, old = await endpoint(admin, receiver.url + path, eventTypes=[DECLARED])
    rotated = await admin.execute(ROTATE, {"input": {"id": made["id"]}})
    payload = rotated["rotateWebhookSecret"]
    new = payload["secret"]
    assert new.startswith("whsec_") and new != old
    assert payload["endpoint"]["previousSecretUntil"] is not None

    await declare(admin, title="Rotated")
    [call] = await calls_to(receiver, path, 1)

    # both receivers' secrets verify the same delivery: the header carries two signatures
    assert len(call.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(call.raw, call.headers)["type"] == DECLARED
    assert Webhook(old).verify(call.raw, call.headers)["type"] == DECLARED
    # and the secret is never shown again
    listed = (await admin.execute(ENDPOINTS))["webhookEndpoints"]
    assert new not in json.dumps(listed) and old not in json.dumps(listed)


async def test_replay_from_a_cursor_sends_the_same_events_again(api, tenant, receiver):
    admin = api("ADMIN")
    incident = await declare(admin, title="Before the endpoint")
    await note(admin, incident["id"], "also before")
    path = hook_path()
    made, secret = await endpoint(admin, receiver.url + path)
    assert made["cursor"] == "2"  # it starts at the head of the feed
    await note(admin, incident["id"], "after")
    first = await calls_to(receiver, path, 1)

    replayed = await admin.execute(REPLAY, {"input": {"id": made["id"], "after": "0"}})
    assert replayed["replayWebhookEndpoint"]["errors"] == []
    calls = await calls_to(receiver, path, 4)
    bodies = [Webhook(secret).verify(c.raw, c.headers) for c in calls[1:]]
    assert sorted(b["sequence"] for b in bodies) == ["1", "2", "3"]
    assert first[0].headers["webhook-id"] in {c.headers["webhook-id"] for c in calls[1:]}

    too_far = await admin.execute(REPLAY, {"input": {"id": made["id"], "after": "999"}})
    assert [(e["field"], e["code"]) for e in too_far["replayWebhookEndpoint"]["errors"]] == [
        ("after", "VALIDATION")
    ]


async def test_what_the_endpoint_may_not_read_never_leaves(api, tenant, receiver):
    admin = api("ADMIN")
    path = hook_path()
    made, secret = await endpoint(admin, receiver.url + path, clearance="INTERNAL")
    await declare(admin, title="Executive mailbox breach", classification="RESTRICTED")
    open_one = await declare(admin, title="Slow pages")
    await note(admin, open_one["id"], "customer 4711 affected", classification="CONFIDENTIAL")

    calls = await calls_to(receiver, path, 2)
    await asyncio.sleep(0.5)
    bodies = [Webhook(secret).verify(c.raw, c.headers) for c in receiver.calls_to("POST", path)]
    assert [b["subject"] for b in bodies].count(f"incidents/{open_one['id']}") == 2
    assert len(bodies) == 2
    raw = b"".join(c.raw for c in calls)
    assert b"Executive mailbox" not in raw and b"customer 4711" not in raw


async def test_a_slow_endpoint_delays_no_other(api, tenant, receiver):
    admin = api("ADMIN")
    slow_path, fast_path = hook_path(), hook_path()
    await endpoint(admin, receiver.url + slow_path, eventTypes=[NOTED])
    await endpoint(admin, receiver.url + fast_path, eventTypes=[NOTED])
    incident = await declare(admin, title="One slow receiver")
    receiver.delay_next(20, seconds=3, path=slow_path)

    started = time.monotonic()
    for n in range(8):
        await note(admin, incident["id"], f"note {n}")
    await calls_to(receiver, fast_path, 8, timeout=10)
    assert time.monotonic() - started < 2.5  # the slow one takes 3 s an answer


async def test_bad_endpoints_are_refused_and_nothing_is_written(api, server, tenant, receiver):
    admin = api("ADMIN")
    before = (await admin.execute(ENDPOINTS))["webhookEndpoints"]
    cases = [
        ({"url": "ftp://example.com/hook"}, "url", "VALIDATION"),
        ({"url": "not a url"}, "url", "VALIDATION"),
        ({"url": "https://user:pw@example.com/hook"}, "url", "VALIDATION"),
        (
            {"url": receiver.url, "eventTypes": ["com.incidents.nope.v1"]},
            "eventTypes",
            "VALIDATION",
        ),
        ({"url": receiver.url, "description": "x" * 501}, "description", "VALIDATION"),
    ]
    for fields, field, code in cases:
        data = await admin.execute(CREATE, {"input": fields})
        errors = data["createWebhookEndpoint"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)], fields
    assert (await admin.execute(ENDPOINTS))["webhookEndpoints"] == before

    unknown = await admin.execute(UPDATE, {"input": {"id": "whe_" + "0" * 32, "enabled": True}})
    assert [e["code"] for e in unknown["updateWebhookEndpoint"]["errors"]] == ["NOT_FOUND"]
    gone = await admin.execute(DELETE, {"input": {"id": "nonsense"}})
    assert [e["code"] for e in gone["deleteWebhookEndpoint"]["errors"]] == ["NOT_FOUND"]
    responder = await api("RESPONDER").post(CREATE, {"input": {"url": receiver.url}})
    assert responder.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.fixture(scope="module")
def guarded_server(backend: Any, log_dir: Path) -> Iterator[Server]:
    """A server as installed by default: no private networks."""
    srv = Server(backend, extra_env={"INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS": "false"})
    srv.start(log_dir)
    yield srv
    srv.stop()


async def test_private_addresses_are_refused_unless_the_installation_allows_them(guarded_server):
    tenant_id = create_tenant(guarded_server, tenant_id=f"ssrf-{uuid.uuid4().hex[:8]}", name="S")
    admin = guarded_server.client(
        token=create_token(guarded_server, role="ADMIN", name="ssrf admin", tenant=tenant_id)
    )
    try:
        for url in (
            "http://127.0.0.1:9/hook",
            "http://localhost/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.8/hook",
            "http://[::1]/hook",
        ):
            data = await admin.execute(CREATE, {"input": {"url": url}})
            errors = data["createWebhookEndpoint"]["errors"]
            assert [(e["field"], e["code"]) for e in errors] == [("url", "VALIDATION")], url
            assert "PRIVATE_NETWORKS" in errors[0]["message"]
        assert (await admin.execute(ENDPOINTS))["webhookEndpoints"] == []
    finally:
        await admin.aclose()


async def test_an_endpoint_above_the_callers_clearance_does_not_exist_for_them(
    api, server, tenant, receiver
):
    # given a RESTRICTED endpoint, and an ADMIN token cleared for INTERNAL only
    admin = api("ADMIN")
    made, _ = await endpoint(admin, receiver.url + hook_path(), clearance="RESTRICTED")
    issued = cli(
        server, "token", "create", "--tenant", tenant["id"], "--role", "ADMIN",
        "--name", "internal admin", "--clearance", "INTERNAL",
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    lesser = server.client(token=issued.stdout.strip())
    try:
        # when that token lists it, points it elsewhere or replays it
        listed = (await lesser.execute(ENDPOINTS))["webhookEndpoints"]
        moved = await lesser.execute(
            UPDATE, {"input": {"id": made["id"], "url": "http://127.0.0.1:9/mine"}}
        )
        replayed = await lesser.execute(REPLAY, {"input": {"id": made["id"], "after": "0"}})
    finally:
        await lesser.aclose()

    # then it does not exist for it, and nothing changed
    assert made["id"] not in {e["id"] for e in listed}
    assert [e["code"] for e in moved["updateWebhookEndpoint"]["errors"]] == ["NOT_FOUND"]
    assert [e["code"] for e in replayed["replayWebhookEndpoint"]["errors"]] == ["NOT_FOUND"]
    [still] = [e for e in (await admin.execute(ENDPOINTS))["webhookEndpoints"]
               if e["id"] == made["id"]]  # fmt: skip
    assert still["url"] == made["url"]

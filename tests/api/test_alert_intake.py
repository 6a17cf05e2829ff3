"""Alert intake: the Alertmanager and generic webhooks, their refusals, and durability.

Every check of what was stored reads the database directly: an accepted alert is either
still waiting in `alert_intake` or already processed into `alert`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.errors import ValidationFailed
from app.services.alerts.payloads import parse_alertmanager, parse_generic
from tests.support import (
    Backend,
    Server,
    create_pg_database,
    create_tenant,
    create_token,
    drop_pg_database,
    eventually,
)

ALERTMANAGER = "/webhooks/alerts/alertmanager"
GENERIC = "/webhooks/alerts/generic"

TIGHT_BODY = 4096
TIGHT_MAX_ALERTS = 60
TIGHT_RATE = 10
TIGHT_BURST = 100
TIGHT = {
    "INCIDENTGRAPH_ALERT_MAX_BODY_BYTES": str(TIGHT_BODY),
    "INCIDENTGRAPH_ALERT_MAX_PER_REQUEST": str(TIGHT_MAX_ALERTS),
    "INCIDENTGRAPH_ALERT_RATE_PER_SECOND": str(TIGHT_RATE),
    "INCIDENTGRAPH_ALERT_RATE_BURST": str(TIGHT_BURST),
}


@dataclass
class Sender:
    """An INGEST token of a tenant of its own, so what it stored can be counted exactly."""

    tenant: str
    token: str


def new_sender(server: Server, role: str = "INGEST") -> Sender:
    tenant = create_tenant(server, tenant_id=f"t{uuid.uuid4().hex[:10]}", name="Alert sender")
    return Sender(tenant, create_token(server, role=role, name="alertmanager", tenant=tenant))


@pytest.fixture(scope="module")
def sender(server: Server) -> Sender:
    return new_sender(server)


@pytest.fixture(scope="module")
def refused(server: Server) -> dict[str, str]:
    """A tenant that is only ever sent requests that must be refused: it must store nothing."""
    sender = new_sender(server)
    return {
        "tenant": sender.tenant,
        "INGEST": sender.token,
        "VIEWER": create_token(server, role="VIEWER", name="viewer", tenant=sender.tenant),
        "ADMIN": create_token(server, role="ADMIN", name="admin", tenant=sender.tenant),
    }


@pytest.fixture(scope="module")
def tight(backend: Backend, log_dir: Path) -> Iterator[Server]:
    """A server of its own with a small body cap, few alerts per request and a low rate."""
    srv = Server(backend, extra_env=TIGHT).start(log_dir)
    yield srv
    srv.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def post(
    http: httpx.AsyncClient,
    server: Server,
    path: str,
    token: str | None,
    body: Any = None,
    *,
    content: bytes | Any = None,
    content_type: str | None = "application/json",
) -> httpx.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if content_type is not None:
        headers["Content-Type"] = content_type
    if content is None:
        content = json.dumps(body).encode()
    return await http.post(server.url + path, content=content, headers=headers)


Row = tuple[str, str, str]


def tables(backend: Backend, tenant: str) -> tuple[list[Row], list[Row]]:
    """(source, fingerprint, status) of the tenant's alerts waiting in `alert_intake`, and of
    those processed into `alert`.

    Both are read from one snapshot: a row the processor moves meanwhile is in one of them,
    never in both or neither.
    """
    if backend.database_url.startswith("sqlite"):
        path = backend.database_url.removeprefix("sqlite://")
        with contextlib.closing(sqlite3.connect(path, timeout=10, isolation_level=None)) as db:
            db.execute("BEGIN")  # one read transaction: one snapshot for both tables
            payloads = [
                p
                for (p,) in db.execute(
                    "SELECT payload FROM alert_intake WHERE tenant_id = ?", (tenant,)
                )
            ]
            done = db.execute(
                "SELECT source, fingerprint, status FROM alert WHERE tenant_id = ?", (tenant,)
            ).fetchall()
            db.execute("COMMIT")
    else:
        payloads, done = asyncio.run(_tables_postgres(backend.database_url, tenant))
    waiting = [(a["source"], a["fingerprint"], a["status"]) for a in map(json.loads, payloads)]
    return waiting, [(s, f, st) for s, f, st in done]


async def _tables_postgres(url: str, tenant: str) -> tuple[list[str], list[Any]]:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            payloads = [
                r[0]
                for r in await conn.fetch(
                    "SELECT payload::text FROM alert_intake WHERE tenant_id = $1", tenant
                )
            ]
            done = await conn.fetch(
                "SELECT source, fingerprint, status FROM alert WHERE tenant_id = $1", tenant
            )
        return payloads, [tuple(r) for r in done]
    finally:
        await conn.close()


def stored(backend: Backend, tenant: str) -> list[Row]:
    """The tenant's alerts, waiting or processed."""
    waiting, done = tables(backend, tenant)
    return waiting + done


async def stored_of(backend: Backend, tenant: str) -> list[tuple[str, str, str]]:
    return await asyncio.to_thread(stored, backend, tenant)


def metric(server: Server, line_start: str) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def alertmanager_notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    """A notification as Alertmanager sends it to a webhook receiver (payload version 4)."""
    return {
        "receiver": "incidentgraph",
        "status": "firing" if any(a.get("status") == "firing" for a in alerts) else "resolved",
        "alerts": list(alerts),
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "job": "checkout"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": '{}/{severity=~"critical|error"}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
    }


def alertmanager_alert(fingerprint: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "HighErrorRate",
            "job": "checkout",
            "instance": "checkout-7d9f:8080",
            "severity": "critical",
            **labels,
        },
        "annotations": {
            "summary": "Checkout answers 5xx to more than 5% of requests",
            "description": "5xx ratio 0.12 over 5m on checkout-7d9f:8080",
            "runbook_url": "https://runbooks.example/checkout/5xx",
        },
        "startsAt": "2026-11-23T10:00:00.123456789Z",
        "endsAt": "2026-11-23T10:07:30Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=job%3Acheckout_5xx",
        "fingerprint": fingerprint,
    }


def generic_alert(**fields: Any) -> dict[str, Any]:
    return {"source": "nagios", "title": "Disk almost full on db-1", **fields}


def fp() -> str:
    return uuid.uuid4().hex[:16]


# Accepted


async def test_an_alertmanager_notification_is_accepted_and_stored(server, sender, http):
    # given a notification with one firing and one resolved alert
    firing, resolved = fp(), fp()
    notification = alertmanager_notification(
        alertmanager_alert(firing), alertmanager_alert(resolved, "resolved", instance="b:8080")
    )
    accepted_before = metric(server, "incidentgraph_alerts_accepted_total")

    # when Alertmanager posts it
    response = await post(http, server, ALERTMANAGER, sender.token, notification)

    # then it is accepted, and both alerts are stored with their status
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 2}
    rows = set(await stored_of(server.backend, sender.tenant))
    assert ("alertmanager", firing, "FIRING") in rows
    assert ("alertmanager", resolved, "RESOLVED") in rows
    assert metric(server, "incidentgraph_alerts_accepted_total") == accepted_before + 2


async def test_generic_alerts_are_accepted_one_at_a_time_in_a_list_or_wrapped(server, sender, http):
    # given alerts of the three generic shapes, one of them without an id
    single, listed, wrapped = fp(), [fp(), fp()], fp()
    no_id_title = f"Queue backlog {uuid.uuid4().hex[:8]}"

    # when they are posted
    answers = [
        await post(http, server, GENERIC, sender.token, generic_alert(id=single)),
        await post(
            http,
            server,
            GENERIC,
            sender.token,
            [generic_alert(id=listed[0], status="resolved"), generic_alert(id=listed[1])],
        ),
        await post(
            http,
            server,
            GENERIC,
            sender.token,
            {"alerts": [generic_alert(id=wrapped, source="datadog", severity="warning")]},
        ),
        await post(http, server, GENERIC, sender.token, {"alerts": []}),
        await post(http, server, GENERIC, sender.token, []),
        await post(
            http, server, GENERIC, sender.token, generic_alert(title=no_id_title, service="q")
        ),
    ]

    # then each is accepted with its count, and every alert is stored once
    assert [(a.status_code, a.json()) for a in answers] == [
        (202, {"accepted": 1}),
        (202, {"accepted": 2}),
        (202, {"accepted": 1}),
        (202, {"accepted": 0}),
        (202, {"accepted": 0}),
        (202, {"accepted": 1}),
    ]
    rows = await stored_of(server.backend, sender.tenant)
    assert ("nagios", single, "FIRING") in rows
    assert ("nagios", listed[0], "RESOLVED") in rows
    assert ("nagios", listed[1], "FIRING") in rows
    assert ("datadog", wrapped, "FIRING") in rows
    derived = parse_generic(
        json.dumps(generic_alert(title=no_id_title, service="q")).encode(),
        received_at=datetime.now(UTC),
        max_alerts=1,
    )[0]["fingerprint"]
    assert ("nagios", derived, "FIRING") in rows


# Refused: every one of these stores nothing, and the server carries on


def _alerts_with_bad_fourth() -> dict[str, Any]:
    alerts = [alertmanager_alert(fp()) for _ in range(4)]
    alerts[3]["labels"]["service"] = 42
    return alertmanager_notification(*alerts)


def _good_then_bad() -> list[dict[str, Any]]:
    return [generic_alert(id=fp()), generic_alert(id=fp()), generic_alert(labels={"disk": 91})]


def _alertmanager_without(key: str) -> dict[str, Any]:
    alert = alertmanager_alert(fp())
    del alert[key]
    return alertmanager_notification(alert)


BAD_BODIES = [
    # (id, path, body (bytes are sent as they are), field, message fragment)
    ("malformed-json", GENERIC, b'{"source": "nagios", "title": ', None, "not valid JSON"),
    ("nan", GENERIC, b'{"source": "a", "title": "b", "labels": {"x": NaN}}', None, "JSON"),
    ("not-utf8", GENERIC, b'{"source": "\xff\xfe", "title": "b"}', None, "UTF-8"),
    ("a-string", GENERIC, b'"disk full"', None, "expected an alert object"),
    ("title-not-string", GENERIC, generic_alert(title=5), "title", "must be a string"),
    ("source-missing", GENERIC, {"title": "Disk full"}, "source", "required"),
    ("unknown-field", GENERIC, generic_alert(sevrity="critical"), "sevrity", "unknown field"),
    ("one-bad-of-three", GENERIC, _good_then_bad(), "[2].labels.disk", "must be a string"),
    ("title-too-long", GENERIC, generic_alert(title="x" * 256), "title", "at most 255"),
    ("nul-in-title", GENERIC, generic_alert(title="disk\u0000full"), "title", "NUL"),
    ("bad-status", GENERIC, generic_alert(status="open"), "status", '"firing" or "resolved"'),
    ("bad-time", GENERIC, generic_alert(startsAt="yesterday"), "startsAt", "RFC 3339"),
    ("naive-time", GENERIC, generic_alert(startsAt="2026-11-23T10:00:00"), "startsAt", "offset"),
    (
        "wrapper-with-extra",
        GENERIC,
        {"alerts": [generic_alert()], "source": "x"},
        "source",
        "unknown field",
    ),
    (
        "am-version-3",
        ALERTMANAGER,
        {**alertmanager_notification(alertmanager_alert(fp())), "version": "3"},
        "version",
        'only version "4"',
    ),
    ("am-no-alerts", ALERTMANAGER, {"version": "4", "status": "firing"}, "alerts", "required"),
    (
        "am-alerts-not-list",
        ALERTMANAGER,
        {"version": "4", "alerts": {"status": "firing"}},
        "alerts",
        "must be a list",
    ),
    (
        "am-label-not-string",
        ALERTMANAGER,
        _alerts_with_bad_fourth(),
        "alerts[3].labels.service",
        "alerts[3].labels.service: must be a string",
    ),
    ("am-status-missing", ALERTMANAGER, _alertmanager_without("status"), "alerts[0].status", ""),
    (
        "am-starts-missing",
        ALERTMANAGER,
        _alertmanager_without("startsAt"),
        "alerts[0].startsAt",
        "",
    ),
    ("am-a-list", ALERTMANAGER, [alertmanager_alert(fp())], None, "must be an object"),
    # A name that is no Unicode text (a lone surrogate, escaped in the JSON) is named escaped.
    ("surrogate-key", GENERIC, generic_alert(**{"\ud800": 1}), "\\ud800", "unknown field"),
    (
        "surrogate-wrapper-key",
        GENERIC,
        {"alerts": [generic_alert()], "\udfff": 1},
        "\\udfff",
        "unknown field",
    ),
    (
        "surrogate-label-name",
        GENERIC,
        generic_alert(labels={"\ud800": 1}),
        "labels.\\ud800",
        "must be a string",
    ),
    (
        "am-surrogate-label-name",
        ALERTMANAGER,
        alertmanager_notification({**alertmanager_alert(fp()), "annotations": {"\udbff": ["x"]}}),
        "alerts[0].annotations.\\udbff",
        "must be a string",
    ),
]


@pytest.fixture
def log_mark(server: Server) -> Iterator[None]:
    """After the test: no traceback in the server's log, and the server still answers."""
    before = len(server.log())
    yield
    assert "Traceback" not in server.log()[before:]
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field", "fragment"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
async def test_a_bad_body_is_refused_whole_and_nothing_is_stored(
    server, refused, http, log_mark, path, body, field, fragment
):
    # when a body that is not JSON, or not the documented shape, is posted
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await post(http, server, path, refused["INGEST"], content=content)

    # then it is refused with the offending path named, and not one alert is stored
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "VALIDATION"
    assert error.get("field") == field
    assert fragment in error["error"]
    assert await stored_of(server.backend, refused["tenant"]) == []


@pytest.mark.parametrize(
    ("credentials", "status", "code"),
    [
        (None, 401, "UNAUTHENTICATED"),
        ("Bearer igt_not-a-real-token", 401, "UNAUTHENTICATED"),
        ("Basic YWxlcnQ6bWFuYWdlcg==", 401, "UNAUTHENTICATED"),
        ("VIEWER", 403, "FORBIDDEN"),
        ("ADMIN", 403, "FORBIDDEN"),
    ],
    ids=["missing", "unknown-token", "basic-auth", "viewer", "admin"],
)
@pytest.mark.parametrize("path", [ALERTMANAGER, GENERIC])
async def test_only_an_ingest_token_may_post_alerts(
    server, refused, http, log_mark, path, credentials, status, code
):
    # given a well-formed body
    body = (
        alertmanager_notification(alertmanager_alert(fp()))
        if path == ALERTMANAGER
        else generic_alert(id=fp())
    )
    headers = {"Content-Type": "application/json"}
    if credentials in ("VIEWER", "ADMIN"):
        headers["Authorization"] = f"Bearer {refused[credentials]}"
    elif credentials is not None:
        headers["Authorization"] = credentials

    # when it comes without an INGEST token
    response = await http.post(server.url + path, json=body, headers=headers)

    # then it is refused and nothing is stored
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert await stored_of(server.backend, refused["tenant"]) == []


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", None],
    ids=["text", "form", "none"],
)
async def test_a_body_that_is_not_declared_json_is_refused(
    server, refused, http, log_mark, content_type
):
    # when a valid alert is sent under another content type
    response = await post(
        http, server, GENERIC, refused["INGEST"], generic_alert(), content_type=content_type
    )

    # then it is refused as unsupported, and nothing is stored
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert await stored_of(server.backend, refused["tenant"]) == []


def _large_body() -> bytes:
    alerts = [generic_alert(id=f"big-{i}", description="x" * 200) for i in range(TIGHT_MAX_ALERTS)]
    body = json.dumps(alerts).encode()
    assert len(body) > TIGHT_BODY
    return body


async def test_a_body_over_the_cap_is_refused_with_or_without_content_length(tight, http):
    # given a sender and a well-formed body larger than the server's cap
    sender = new_sender(tight)
    body = _large_body()
    before = len(tight.log())

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1024):
            yield body[start : start + 1024]

    # when it is sent with its Content-Length, and streamed without one
    declared = await post(http, tight, GENERIC, sender.token, content=body)
    streamed = await post(http, tight, GENERIC, sender.token, content=chunks())

    # then both are refused as too large and nothing is stored
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert "content-length" not in streamed.request.headers
    assert await stored_of(tight.backend, sender.tenant) == []
    assert "Traceback" not in tight.log()[before:]


def _raw_request(
    server: Server, token: str, declared: int, body: bytes, *, half_close: bool
) -> bytes:
    """Send a request whose Content-Length is `declared` whatever the body; the answer."""
    head = (
        f"POST {GENERIC} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head + body)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                answer += chunk
        return answer


async def test_a_content_length_that_lies_lets_no_alert_in(tight):
    # given a sender and a body above the cap
    sender = new_sender(tight)
    body = _large_body()
    before = len(tight.log())

    # when the request claims a length under the cap, and another claims more than it sends
    under = await asyncio.to_thread(
        _raw_request, tight, sender.token, TIGHT_BODY // 2, body, half_close=False
    )
    over = await asyncio.to_thread(
        _raw_request, tight, sender.token, TIGHT_BODY - 10, body[:100], half_close=True
    )

    # then the server reads no more than the declared length, a cut body is no JSON, and
    # one that ends early is dropped: neither is accepted nor stores anything
    assert under.startswith(b"HTTP/1.1 400"), under[:200]
    assert not over.startswith(b"HTTP/1.1 202"), over[:200]
    assert await stored_of(tight.backend, sender.tenant) == []
    assert "Traceback" not in tight.log()[before:]
    assert httpx.get(f"{tight.url}/healthz", timeout=5).status_code == 200


async def test_more_alerts_than_a_request_may_carry_are_refused(tight, http):
    # given a sender
    sender = new_sender(tight)

    # when one request carries one alert more than allowed
    alerts = [{"source": "s", "title": "t", "id": str(i)} for i in range(TIGHT_MAX_ALERTS + 1)]
    response = await post(http, tight, GENERIC, sender.token, alerts)

    # then it is refused whole
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION"
    assert f"at most {TIGHT_MAX_ALERTS} alerts" in response.json()["error"]
    assert await stored_of(tight.backend, sender.tenant) == []


async def test_a_flood_from_one_token_is_rate_limited_and_the_excess_not_stored(tight, http):
    # given a sender whose token may send a burst of 100 alerts, then 10 per second
    sender = new_sender(tight)
    ids = [[f"flood-{n}-{i}" for i in range(50)] for n in range(3)]
    limited_before = metric(
        tight, 'incidentgraph_alert_requests_refused_total{code="RATE_LIMITED"}'
    )

    # when it sends three requests of 50 at once
    answers = [
        await post(
            http,
            tight,
            GENERIC,
            sender.token,
            [{"source": "s", "title": "t", "id": i} for i in batch],
        )
        for batch in ids
    ]

    # then the burst passes, the third request is refused with when to retry
    assert [a.status_code for a in answers] == [202, 202, 429], [a.text for a in answers]
    refusal = answers[2]
    assert refusal.json()["code"] == "RATE_LIMITED"
    assert int(refusal.headers["retry-after"]) >= 1
    # and exactly the accepted alerts are stored
    rows = await stored_of(tight.backend, sender.tenant)
    assert sorted(f for _, f, _ in rows) == sorted(ids[0] + ids[1])
    assert (
        metric(tight, 'incidentgraph_alert_requests_refused_total{code="RATE_LIMITED"}')
        == limited_before + 1
    )

    # when the sender waits as told, it may send again
    await asyncio.sleep(int(refusal.headers["retry-after"]))
    again = await post(
        http, tight, GENERIC, sender.token, [{"source": "s", "title": "t", "id": i} for i in ids[2]]
    )
    assert again.status_code == 202, again.text


# Durability


@pytest.fixture
def own_database(backend: Backend, tmp_path: Path) -> Iterator[Backend]:
    if backend.database_url.startswith("sqlite"):
        yield Backend(backend.name, f"sqlite://{tmp_path / 'crash.db'}", backend.broadcast_url)
        return
    url = create_pg_database()
    try:
        yield Backend(backend.name, url, backend.broadcast_url)
    finally:
        drop_pg_database(url)


CRASH_TARGET = 3000
SENDERS = 6
PER_REQUEST = 50


async def test_no_alert_answered_202_is_lost_when_the_server_is_killed(own_database, log_dir):
    # given a server of its own, and concurrent senders of Alertmanager and generic alerts
    server = Server(own_database).start(log_dir)
    token = create_token(server, role="INGEST", name="alertmanager")
    accepted: list[tuple[str, str]] = []
    killed = asyncio.Event()

    def request(sender: int, n: int) -> tuple[str, Any, list[tuple[str, str]]]:
        ids = [f"crash-{sender}-{n}-{i}" for i in range(PER_REQUEST)]
        if sender % 2:
            return GENERIC, [generic_alert(id=i) for i in ids], [("nagios", i) for i in ids]
        alerts = [alertmanager_alert(i) for i in ids]
        return ALERTMANAGER, alertmanager_notification(*alerts), [("alertmanager", i) for i in ids]

    async def send(sender: int) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            n = 0
            while not killed.is_set():
                path, body, keys = request(sender, n)
                n += 1
                try:
                    response = await post(http, server, path, token, body)
                except httpx.HTTPError:
                    return
                if response.status_code == 202:
                    accepted.extend(keys)
                    if len(accepted) >= CRASH_TARGET and not killed.is_set():
                        # when the server dies the moment the last 202 we wait for arrives,
                        # with other requests still in flight
                        killed.set()
                        server.kill()

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(send(s) for s in range(SENDERS))), 120)
    assert killed.is_set() and server.process is not None
    assert server.process.returncode == -9
    assert len(accepted) >= CRASH_TARGET, f"{len(accepted)} in {time.monotonic() - started:.1f}s"

    # then a new server on the same database holds every alert that was answered 202
    restarted = Server(own_database).start(log_dir)
    try:
        rows = await stored_of(own_database, "default")
        missing = set(accepted) - {(source, f) for source, f, _ in rows}
        assert not missing, f"{len(missing)} of {len(accepted)} accepted alerts lost"

        # and once the processor has caught up, every one of them is a stored alert
        deadline = time.monotonic() + 120
        while True:
            waiting, done = await asyncio.to_thread(tables, own_database, "default")
            if not waiting or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert waiting == []
        assert set(accepted) <= {(source, f) for source, f, _ in done}
    finally:
        restarted.stop()


# What the processor receives: the normalised alert


RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_an_alertmanager_alert_is_normalised():
    # given Alertmanager's notification with a firing and a resolved alert
    firing = alertmanager_alert("a1b2c3d4e5f60718")
    resolved = alertmanager_alert("0f1e2d3c4b5a6978", "resolved", service="payments")
    resolved["annotations"] = {}
    body = json.dumps(alertmanager_notification(firing, resolved)).encode()

    # when it is parsed
    first, second = parse_alertmanager(body, received_at=RECEIVED, max_alerts=10)

    # then each alert has the documented normalised shape
    assert first == {
        "source": "alertmanager",
        "fingerprint": "a1b2c3d4e5f60718",
        "status": "FIRING",
        "alertname": "HighErrorRate",
        "service": "checkout",  # no service label: the job's
        "severity": "critical",
        "title": "Checkout answers 5xx to more than 5% of requests",
        "description": "5xx ratio 0.12 over 5m on checkout-7d9f:8080",
        "labels": firing["labels"],
        "annotations": firing["annotations"],
        "url": firing["generatorURL"],
        "startsAt": "2026-11-23T10:00:00.123456+00:00",
        "endsAt": None,  # Go's zero time: not ended
        "groupKey": '{}/{severity=~"critical|error"}:{alertname="HighErrorRate"}',
        "receivedAt": "2026-11-23T12:00:00+00:00",
    }
    assert second["status"] == "RESOLVED"
    assert second["service"] == "payments"
    assert second["title"] == "HighErrorRate"  # no summary: the alert's name
    assert second["description"] is None
    assert second["endsAt"] == "2026-11-23T10:07:30+00:00"


def test_an_alertmanager_alert_without_fingerprint_gets_one_from_its_labels():
    # given the same labels in another order, and other labels
    one = alertmanager_alert("", instance="a")
    same = {**one, "labels": dict(reversed(list(one["labels"].items())))}
    other = alertmanager_alert("", instance="b")
    for alert in (one, same, other):
        del alert["fingerprint"]

    # when they are parsed
    parsed = parse_alertmanager(
        json.dumps(alertmanager_notification(one, same, other)).encode(),
        received_at=RECEIVED,
        max_alerts=10,
    )

    # then the same labels give the same fingerprint, other labels another
    assert parsed[0]["fingerprint"] == parsed[1]["fingerprint"] != parsed[2]["fingerprint"]
    assert len(parsed[0]["fingerprint"]) == 64


def test_a_generic_alert_is_normalised_with_its_defaults():
    # when a minimal alert and a resolved one are parsed
    minimal, resolved = parse_generic(
        json.dumps(
            [
                {"source": "nagios", "title": "  Disk almost full  "},
                {"source": "nagios", "title": "Disk almost full", "status": "RESOLVED", "id": "d1"},
            ]
        ).encode(),
        received_at=RECEIVED,
        max_alerts=10,
    )

    # then the defaults are filled in, and a start the sender did not give is left unsaid
    assert minimal == {
        "source": "nagios",
        "fingerprint": minimal["fingerprint"],
        "status": "FIRING",
        "alertname": "Disk almost full",
        "service": None,
        "severity": None,
        "title": "Disk almost full",
        "description": None,
        "labels": {},
        "annotations": {},
        "url": None,
        "startsAt": None,
        "endsAt": None,
        "groupKey": None,
        "receivedAt": "2026-11-23T12:00:00+00:00",
    }
    assert len(minimal["fingerprint"]) == 64
    assert resolved["fingerprint"] == "d1"
    assert resolved["status"] == "RESOLVED"
    assert resolved["endsAt"] == "2026-11-23T12:00:00+00:00"


def test_a_generic_alert_without_id_is_identified_by_what_it_says():
    def fingerprint(**fields: Any) -> str:
        body = json.dumps({"source": "nagios", "title": "Disk full", **fields}).encode()
        return str(parse_generic(body, received_at=RECEIVED, max_alerts=1)[0]["fingerprint"])

    # then the same alert sent again is the same alert, and another is another
    assert fingerprint(labels={"host": "db-1"}) == fingerprint(labels={"host": "db-1"})
    assert fingerprint(labels={"host": "db-1"}) != fingerprint(labels={"host": "db-2"})
    assert fingerprint(service="db") != fingerprint(service="web")
    assert fingerprint(description="now 91%") == fingerprint(description="now 97%")


def test_a_lone_surrogate_is_refused_by_its_path():
    body = b'{"source": "nagios", "title": "t", "labels": {"host": "\\ud800"}}'
    with pytest.raises(ValidationFailed) as refused:
        parse_generic(body, received_at=RECEIVED, max_alerts=1)
    assert refused.value.field == "labels.host"


async def test_the_same_generic_request_sent_again_is_counted_not_stored_twice(server, http):
    # given the README's generic request: a firing alert and a resolved one, neither with
    # a start time
    sender = new_sender(server)
    body = [
        {
            "source": "nagios",
            "id": "db-1/disk",
            "title": "Disk almost full on db-1",
            "service": "postgres",
            "severity": "warning",
            "labels": {"host": "db-1"},
        },
        {
            "source": "nagios",
            "id": "web-2/load",
            "title": "Load high on web-2",
            "status": "resolved",
        },
    ]

    # when it is sent three times, each once the one before was processed
    def processed() -> list[Row] | None:
        waiting, done = tables(server.backend, sender.tenant)
        return done if not waiting else None

    for sent in range(1, 4):
        response = await post(http, server, GENERIC, sender.token, body)
        assert response.status_code == 202, response.text
        await eventually(
            lambda sent=sent: asyncio.to_thread(counts_of, server.backend, sender.tenant, sent),
            what=f"request {sent} processed",
        )

    # then there are still two alerts, each counted three times
    assert sorted(await asyncio.to_thread(processed) or []) == [
        ("nagios", "db-1/disk", "FIRING"),
        ("nagios", "web-2/load", "RESOLVED"),
    ]


def counts_of(backend: Backend, tenant: str, at_least: int) -> list[int] | None:
    """The tenant's stored alerts' counts once nothing waits and every one is at `at_least`."""
    waiting, _ = tables(backend, tenant)
    if waiting:
        return None
    query = "SELECT count FROM alert WHERE tenant_id = {} ORDER BY fingerprint"
    if backend.database_url.startswith("sqlite"):
        path = backend.database_url.removeprefix("sqlite://")
        with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
            counts = [c for (c,) in db.execute(query.format("?"), (tenant,))]
    else:
        counts = asyncio.run(_counts_postgres(backend.database_url, query.format("$1"), tenant))
    return counts if counts and min(counts) >= at_least else None


async def _counts_postgres(url: str, query: str, tenant: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r[0] for r in await conn.fetch(query, tenant)]
    finally:
        await conn.close()


# Memory bounds of the intake writer, in this process


def big_payload(size: int) -> str:
    """A normalised alert of about `size` bytes of JSON."""
    alert = {"source": "nagios", "fingerprint": fp(), "status": "FIRING", "title": "Disk"}
    return json.dumps({**alert, "description": "x" * size})


async def test_the_intake_writer_bounds_each_flush_and_its_queue_by_bytes(database_url):
    from app.models import AlertIntake
    from app.services.access import tenants as tenant_service
    from app.services.alerts.intake import IntakeUnavailable, IntakeWriter
    from tests.support import connected

    async with connected(database_url):
        tenant = f"t{uuid.uuid4().hex[:10]}"
        await tenant_service.create_tenant(tenant_id=tenant, name="Big alerts")
        writer = IntakeWriter(
            sqlite=database_url.startswith("sqlite"),
            flush_max_bytes=50_000,
            queue_max_bytes=100_000,
        )
        await writer.start()
        try:
            # when three requests of one 40 kB alert each arrive at once
            answers = await asyncio.gather(
                *(
                    writer.write(
                        tenant_id=tenant, payloads=[big_payload(40_000)], received_at=RECEIVED
                    )
                    for _ in range(3)
                ),
                return_exceptions=True,
            )
        finally:
            await writer.stop()

        # then the third does not fit the queue and is refused, nothing of it stored
        assert answers[:2] == [None, None]
        assert isinstance(answers[2], IntakeUnavailable)
        assert await AlertIntake.filter(tenant_id=tenant).count() == 2
        # and the two accepted ones took a statement each: together they exceed a flush
        assert writer.flushes == 2

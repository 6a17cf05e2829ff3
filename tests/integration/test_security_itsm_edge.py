"""The ITSM edge under attack: replayed webhooks, SSRF through baseUrl, hostile JSON, and the
secrets the connections hold, against real servers and fake products on loopback sockets."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.jira import FakeJira
from tests.fakes.servicenow import FakeServiceNow
from tests.integration.test_itsm_sync import (
    CONFIGURE,
    WEBHOOK_SECRET,
    configure,
    create_ticket,
    incident_of,
    jira_signed,
    post_webhook,
    signed,
    synced_incident,
    ticket_in,
    ticket_of,
    types,
)
from tests.support import (
    ROOT,
    Backend,
    GraphQLClient,
    Server,
    cli,
    declare,
    eventually,
    free_port,
    fresh_backend,
)

SN_PASSWORD = "s3cret-pw-Zq81-never-stored"
JIRA_TOKEN = "jira-api-token-Zq81-never-stored"
KEY_A = "2Ud0dm5kCs1Ysk8X9jAnHDXT5YTB5ryzS_Tt8CJcZ_A="
KEY_B = "Ga5yJXVYRLadCLkJpa7l4S0bm4EkvjvM7pcbHZFHdWw="
FAST = {
    "INCIDENTGRAPH_ITSM_MAX_ATTEMPTS": "6",
    "INCIDENTGRAPH_ITSM_RETRY_BASE_SECONDS": "0.3",
    "INCIDENTGRAPH_ITSM_RETRY_MAX_SECONDS": "1",
    "INCIDENTGRAPH_ITSM_POLL_SECONDS": "0.1",
    "INCIDENTGRAPH_ITSM_HTTP_TIMEOUT_SECONDS": "1",
    "INCIDENTGRAPH_ITSM_RECONCILE_SECONDS": "0",
}
CONNECTIONS = "query { itsmConnections { provider baseUrl } }"
SN_INGESTED = "com.incidents.provider.servicenow.ingested.v1"
JIRA_INGESTED = "com.incidents.provider.jira.ingested.v1"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)],
)
def edge_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, log_dir: Path
) -> Iterator[Server]:
    """A server of its own with fast retries; private networks allowed (the fakes are on
    loopback), as the test servers are unless told otherwise."""
    with fresh_backend(request.param, tmp_path_factory.mktemp("edge")) as backend:
        server = Server(backend, extra_env=FAST).start(log_dir)
        yield server
        server.stop()


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[Server]:
    """A server as installed: private networks refused."""
    env = {**FAST, "INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS": "false"}
    with fresh_backend("embedded", tmp_path_factory.mktemp("strict")) as backend:
        server = Server(backend, extra_env=env).start(log_dir)
        yield server
        server.stop()


@pytest.fixture(scope="module")
def servicenow() -> Iterator[FakeServiceNow]:
    with FakeServiceNow(password=SN_PASSWORD) as fake:
        yield fake


@pytest.fixture(scope="module")
def jira() -> Iterator[FakeJira]:
    with FakeJira(api_token=JIRA_TOKEN) as fake:
        yield fake


@pytest.fixture
async def api(
    edge_server: Server, servicenow: FakeServiceNow, jira: FakeJira
) -> AsyncIterator[GraphQLClient]:
    servicenow.clear_faults()
    servicenow.up()
    jira.clear_faults()
    client = edge_server.client()
    await configure(
        client, "SERVICENOW", servicenow.url, username="integration", secret=SN_PASSWORD
    )
    await configure(
        client, "JIRA", jira.url, username="bot@example.com", secret=JIRA_TOKEN, projectKey="OPS"
    )
    yield client
    await client.aclose()


# --- helpers --------------------------------------------------------------------------------


def rows(backend: Backend, query: str) -> list[tuple[str, ...]]:
    """What the database driver itself reads (sqlite3, psql): every value as text."""
    if backend.name == "embedded":
        with sqlite3.connect(backend.database_url.removeprefix("sqlite://"), timeout=10) as db:
            return [tuple("" if v is None else str(v) for v in row) for row in db.execute(query)]
    result = subprocess.run(
        ["psql", backend.database_url.replace("postgres://", "postgresql://", 1)]
        + ["-AtF", "\x1f", "-c", query],
        capture_output=True,
        text=True,
        check=True,
    )
    return [tuple(line.split("\x1f")) for line in result.stdout.splitlines()]


def execute(backend: Backend, statement: str) -> None:
    """A statement run by the database driver itself, behind the server's back."""
    if backend.name == "embedded":
        with sqlite3.connect(backend.database_url.removeprefix("sqlite://"), timeout=10) as db:
            db.execute(statement)
        return
    subprocess.run(
        ["psql", backend.database_url.replace("postgres://", "postgresql://", 1), "-qc", statement],
        capture_output=True,
        check=True,
    )


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


# --- W3: a delivery is what was signed, not what an unsigned header says ----------------------


async def test_a_signed_servicenow_delivery_replayed_with_new_delivery_headers_counts_once(
    api: GraphQLClient, edge_server: Server, servicenow: FakeServiceNow
) -> None:
    # given a synced ticket a person renamed, and its webhook signed once
    incident, ticket = await synced_incident(api, "SERVICENOW")
    servicenow.edit(ticket["externalKey"], short_description="Renamed in ServiceNow")
    body = json.dumps(servicenow.webhook_payload(ticket["externalKey"])).encode()
    headers = signed(body)

    # when it is delivered, then replayed as is under new delivery ids, and without one
    replies = [
        await post_webhook(
            edge_server,
            "servicenow",
            None,
            body=body,
            headers={**headers, "X-Incidentgraph-Delivery": uuid.uuid4().hex},
        ),
        await post_webhook(
            edge_server,
            "servicenow",
            None,
            body=body,
            headers={**headers, "X-Incidentgraph-Delivery": uuid.uuid4().hex},
        ),
        await post_webhook(edge_server, "servicenow", None, body=body, headers=headers),
        # and as a retrying sender would: signed again, a minute earlier
        await post_webhook(
            edge_server,
            "servicenow",
            None,
            body=body,
            headers={
                **signed(body, timestamp=time.time() - 60),
                "X-Incidentgraph-Delivery": uuid.uuid4().hex,
            },
        ),
    ]

    # then it is applied once: the replays are duplicates
    assert [r.json()["status"] for r in replies] == ["applied"] + ["duplicate"] * 3
    after = await incident_of(api, incident["id"])
    assert after["title"] == "Renamed in ServiceNow"
    assert types(after).count(SN_INGESTED) == 1


async def test_a_jira_delivery_replayed_with_a_new_webhook_identifier_counts_once(
    api: GraphQLClient, edge_server: Server, jira: FakeJira
) -> None:
    # given a synced Jira issue a person renamed, and Jira's signed webhook for it
    incident, ticket = await synced_incident(api, "JIRA")
    jira.edit(ticket["externalKey"], summary="Renamed in Jira")
    body = json.dumps(jira.webhook_payload(ticket["externalKey"])).encode()

    # when it is delivered, then replayed under other webhook identifiers
    replies = [
        await post_webhook(
            edge_server, "jira", None, body=body, headers=jira_signed(body, delivery=delivery)
        )
        for delivery in (str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))
    ]

    # then it is applied once
    assert [r.json()["status"] for r in replies] == ["applied", "duplicate", "duplicate"]
    assert types(await incident_of(api, incident["id"])).count(JIRA_INGESTED) == 1


# --- W7: JSON nested deeper than anything a product sends ------------------------------------


async def test_deeply_nested_json_to_a_signed_webhook_is_a_clear_400(
    api: GraphQLClient, edge_server: Server, jira: FakeJira
) -> None:
    # given a synced Jira issue
    incident, ticket = await synced_incident(api, "JIRA")
    key = ticket["externalKey"]
    payload = jira.webhook_payload(key)
    payload["issue"]["fields"]["description"] = "DESCRIPTION"
    adf = (
        '{"type": "doc", "content": ['
        + '{"type": "x", "content": [' * 900
        + '{"type": "text", "text": "deep"}'
        + "]}" * 900
        + "]}"
    )
    bodies = {
        # JSON too deep for the decoder itself, in our scheme and in Jira's
        "servicenow": ('{"record": ' + nested(100_000) + "}").encode(),
        "jira": (
            '{"timestamp": ' + str(int(time.time() * 1000)) + ', "a": ' + nested(100_000) + "}"
        ).encode(),
        # an ADF description the decoder takes, 900 levels deep
        "jira-adf": json.dumps(payload).replace('"DESCRIPTION"', adf).encode(),
    }
    before = edge_server.log()

    # when each arrives correctly signed
    replies = {
        "servicenow": await post_webhook(
            edge_server, "servicenow", None, body=bodies["servicenow"]
        ),
        "jira": await post_webhook(
            edge_server,
            "jira",
            None,
            body=bodies["jira"],
            headers=jira_signed(bodies["jira"], delivery="deep"),
        ),
        "jira-adf": await post_webhook(edge_server, "jira", None, body=bodies["jira-adf"]),
    }

    # then each is a 400 in the webhooks' JSON shape, nothing changed, nothing in the log
    for name, reply in replies.items():
        assert reply.status_code == 400, (name, reply.text)
        assert "nested" in reply.json()["error"], (name, reply.json())
    assert (await incident_of(api, incident["id"]))["title"] == incident["title"]
    log = edge_server.log()[len(before) :]
    assert "Traceback" not in log and "RecursionError" not in log, log
    async with httpx.AsyncClient(base_url=edge_server.url) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_deeply_nested_json_to_the_alert_webhooks_is_a_clear_400(
    edge_server: Server,
) -> None:
    # given an INGEST token
    from tests.support import create_token

    token = create_token(edge_server, role="INGEST", name="deep alerts")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    before = edge_server.log()
    bodies = {
        "generic": nested(100_000),
        "generic-details": '{"alerts": [{"title": "Disk full", "source": "x", "details": '
        + nested(900)
        + "}]}",
        "alertmanager": '{"alerts": ' + nested(100_000) + "}",
        "alertmanager-annotations": '{"alerts": [{"status": "firing", "labels": '
        + '{"alertname": "DiskFull"}, "annotations": '
        + nested(900)
        + "}]}",
    }

    # when each is posted
    async with httpx.AsyncClient(base_url=edge_server.url, timeout=30) as http:
        replies = {
            name: await http.post(
                f"/webhooks/alerts/{name.split('-')[0]}", content=body, headers=headers
            )
            for name, body in bodies.items()
        }

    # then each is a clear 400 with a code, and nothing reached the log
    for name, reply in replies.items():
        assert reply.status_code == 400, (name, reply.text)
        assert reply.json()["code"] == "VALIDATION", (name, reply.json())
    log = edge_server.log()[len(before) :]
    assert "Traceback" not in log and "RecursionError" not in log, log


# --- W4: no requests into private networks ------------------------------------------------


PRIVATE_URLS = [
    "http://127.0.0.1:{port}",
    "http://10.1.2.3",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:{port}",
    "http://localhost:{port}",
    "http://[::ffff:127.0.0.1]:{port}",
    "http://0.0.0.0:{port}",
    "http://2130706433:{port}",
    "http://192.168.1.1",
    "http://[fe80::1]",
]


async def test_private_addresses_are_refused_when_configured(
    strict_server: Server, servicenow: FakeServiceNow
) -> None:
    # given a server that does not allow private networks
    client = strict_server.client()
    try:
        # when a connection is configured to point at each private or loopback target
        answers = []
        for url in PRIVATE_URLS:
            data = await client.execute(
                CONFIGURE,
                {
                    "input": {
                        "provider": "SERVICENOW",
                        "baseUrl": url.format(port=servicenow.port),
                        "username": "integration",
                        "secret": SN_PASSWORD,
                    }
                },
            )
            answers.append((url, data["configureItsmConnection"]))

        # then each is refused on baseUrl with VALIDATION, and no connection is written
        for url, payload in answers:
            assert payload["connection"] is None, url
            assert [(e["field"], e["code"]) for e in payload["errors"]] == [
                ("baseUrl", "VALIDATION")
            ], (url, payload)
        assert (await client.execute(CONNECTIONS))["itsmConnections"] == []

        # and a public address is accepted (nothing is called when configuring)
        public = await configure(client, "JIRA", "https://203.0.114.10", projectKey="OPS")
        assert public["baseUrl"] == "https://203.0.114.10"
    finally:
        await client.aclose()


async def test_an_address_that_turned_private_is_refused_at_call_time(
    strict_server: Server,
) -> None:
    # given a ServiceNow connection configured with a public address, whose host now
    # answers with a private one (as DNS rebinding would); the provider is this test's
    # own, so no other server's worker can be the one calling it
    client = strict_server.client()
    try:
        with FakeServiceNow(password=SN_PASSWORD) as servicenow:
            await configure(
                client, "SERVICENOW", "https://198.51.101.7", username="integration", secret="pw"
            )
            execute(
                strict_server.backend,
                f"UPDATE itsm_connection SET base_url = '{servicenow.url}' "
                "WHERE provider = 'servicenow'",
            )

            # when a ticket is created from an incident
            incident = await declare(client, title="Rebinding")
            await create_ticket(client, incident["id"], "SERVICENOW")

            # then the call is never made, and the error says only that the provider is
            # unreachable
            async def failed() -> dict[str, Any] | None:
                ticket = await ticket_of(client, incident["id"])
                return ticket if ticket["lastError"] else None

            ticket = await eventually(failed, what="a recorded error")
            assert ticket["lastError"].endswith("provider unreachable"), ticket
            assert servicenow.calls == []
    finally:
        await client.aclose()


async def _garbage_server() -> tuple[asyncio.Server, int]:
    """A port that answers like an SSH daemon, not like HTTP."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_unreachable_providers_all_read_the_same(
    edge_server: Server, servicenow: FakeServiceNow
) -> None:
    # given three ServiceNow addresses that fail differently: a closed port, a port that
    # speaks another protocol, and a product that never answers in time
    garbage, garbage_port = await _garbage_server()
    client = edge_server.client()
    errors = []
    try:
        for url, slow in (
            (f"http://127.0.0.1:{free_port()}", False),
            (f"http://127.0.0.1:{garbage_port}", False),
            (servicenow.url, True),
        ):
            await configure(client, "SERVICENOW", url, username="integration", secret=SN_PASSWORD)
            servicenow.clear_faults()
            if slow:
                servicenow.delay_next(times=100, seconds=3)

            # when a ticket is created through each
            incident = await declare(client, title=f"Unreachable {uuid.uuid4().hex[:6]}")
            await create_ticket(client, incident["id"], "SERVICENOW")

            async def failed(incident_id: str = incident["id"]) -> str | None:
                return (await ticket_of(client, incident_id))["lastError"]  # type: ignore[no-any-return]

            errors.append(await eventually(failed, what="a recorded error"))
    finally:
        servicenow.clear_faults()
        garbage.close()
        await client.aclose()

    # then the recorded errors cannot tell the three apart
    assert len(set(errors)) == 1, errors
    assert errors[0] == "ServiceNow GET /api/now/table/incident: provider unreachable"


# --- W9: secrets at rest --------------------------------------------------------------------


async def test_secrets_are_stored_encrypted_and_the_integration_still_works(
    api: GraphQLClient, edge_server: Server, servicenow: FakeServiceNow
) -> None:
    # given connections configured with credentials and a webhook secret (the api fixture)
    # when the database is read with its own driver
    stored = rows(edge_server.backend, "SELECT credentials, webhook_secret FROM itsm_connection")

    # then no secret is there in the clear
    assert len(stored) == 2
    text = repr(stored)
    for secret in (SN_PASSWORD, JIRA_TOKEN, WEBHOOK_SECRET):
        assert secret not in text

    # and the integration works: the product is called with the password, a signed
    # webhook is taken
    incident, ticket = await synced_incident(api, "SERVICENOW")
    servicenow.edit(ticket["externalKey"], short_description="Renamed after encryption")
    reply = await post_webhook(
        edge_server, "servicenow", servicenow.webhook_payload(ticket["externalKey"])
    )
    assert reply.json()["status"] == "applied"
    assert (await incident_of(api, incident["id"]))["title"] == "Renamed after encryption"


def test_the_embedded_default_keeps_its_key_in_a_file_only_its_owner_reads(
    tmp_path: Path, log_dir: Path
) -> None:
    # given an embedded server started without INCIDENTGRAPH_SECRET_KEY
    backend = Backend("embedded", f"sqlite://{tmp_path / 'data' / 'incidentgraph.db'}", "memory://")
    env = {"INCIDENTGRAPH_SECRET_KEY": ""}
    server = Server(backend, extra_env=env).start(log_dir)
    server.stop()

    # then a key file was made next to the database, readable by its owner only
    key_file = tmp_path / "data" / "secret.key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()

    # and the next start keeps it
    Server(backend, extra_env=env).start(log_dir).stop()
    assert key_file.read_bytes() == key


def test_postgres_without_a_key_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    # given a PostgreSQL URL and no INCIDENTGRAPH_SECRET_KEY
    env = {
        **os.environ,
        "INCIDENTGRAPH_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/never_used",
        "INCIDENTGRAPH_SECRET_KEY": "",
    }

    # when the server is started
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # then it stops at once, naming the setting, without a traceback
    assert result.returncode == 2
    assert "INCIDENTGRAPH_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_wrong_key_is_a_clear_error_and_rotation_recovers(
    tmp_path: Path, log_dir: Path, servicenow: FakeServiceNow
) -> None:
    # given a server whose ServiceNow connection was configured under key A
    backend = Backend("embedded", f"sqlite://{tmp_path / 'incidentgraph.db'}", "memory://")
    servicenow.clear_faults()
    servicenow.up()

    def start(keys: str) -> Server:
        return Server(backend, extra_env={**FAST, "INCIDENTGRAPH_SECRET_KEY": keys}).start(log_dir)

    first = start(KEY_A)
    async with _client(first) as client:
        await configure(
            client, "SERVICENOW", servicenow.url, username="integration", secret=SN_PASSWORD
        )
        incident = await declare(client, title="Key rotation")
        await create_ticket(client, incident["id"], "SERVICENOW")
        await ticket_in(client, incident["id"], "IN_SYNC")
    first.stop()

    # when it starts again under key B only
    second = start(KEY_B)
    try:
        async with _client(second) as client:
            ticket = await ticket_of(client, incident["id"])
            servicenow.edit(ticket["externalKey"], short_description="Under key B")
            payload = servicenow.webhook_payload(ticket["externalKey"])
            webhook = await post_webhook(second, "servicenow", payload)
            other = await declare(client, title="Still declaring")

        # then it serves, the webhook is refused with a clear error (the provider retries),
        # and the log says what is wrong, without a traceback
        assert other["title"] == "Still declaring"
        assert webhook.status_code == 503, webhook.text
        assert "INCIDENTGRAPH_SECRET_KEY" in webhook.json()["error"]
        log = second.log()
        assert "INCIDENTGRAPH_SECRET_KEY" in log and "Traceback" not in log
    finally:
        second.stop()

    # when the keys are rotated with B first and A still known
    rotated = cli(
        second,
        "secrets",
        "rotate",
        env={**second.env(), "INCIDENTGRAPH_SECRET_KEY": f"{KEY_B},{KEY_A}"},
    )
    assert rotated.returncode == 0, rotated.stderr

    # then key B alone opens them again
    third = start(KEY_B)
    try:
        reply = await post_webhook(third, "servicenow", payload)
        assert reply.json()["status"] == "applied", reply.text
    finally:
        third.stop()


def _client(server: Server) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def opened() -> AsyncIterator[GraphQLClient]:
        client = server.client()
        try:
            yield client
        finally:
            await client.aclose()

    return opened()


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)])
def old_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A database at the schema before secrets were encrypted."""
    with fresh_backend(request.param, tmp_path) as backend:

        async def migrate_to_before() -> None:
            from tortoise.context import TortoiseContext
            from tortoise.migrations.api import migrate

            from app.config import Settings
            from app.database import tortoise_config

            async with TortoiseContext():
                config = tortoise_config(Settings(database_url=backend.database_url))
                await migrate(config=config, target="models.0012_alert_keys_quarantine")

        asyncio.run(migrate_to_before())
        yield backend


def test_the_migration_encrypts_secrets_stored_in_the_clear(
    old_backend: Backend, log_dir: Path
) -> None:
    # given a connection stored in the clear by an earlier version
    credentials = json.dumps({"username": "integration", "secret": SN_PASSWORD})
    execute(
        old_backend,
        "INSERT INTO itsm_connection (id, tenant_id, provider, base_url, credentials, "
        "webhook_secret, project_key, mapping, export_notes_up_to, enabled, created_at, "
        "updated_at) VALUES ('0b5a3b57-62c3-4a39-9b0e-2c1a7f0f6a11', 'default', 'servicenow', "
        f"'http://127.0.0.1:9', '{credentials}', '{WEBHOOK_SECRET}', NULL, '{{}}', 'INTERNAL', "
        "TRUE, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
    )

    # when the current version migrates it (serve does)
    server = Server(old_backend, extra_env={"INCIDENTGRAPH_SECRET_KEY": KEY_A})
    migrated = cli(server, "migrate")
    assert migrated.returncode == 0, migrated.stderr

    # then the secrets are no longer readable in the database
    stored = repr(rows(old_backend, "SELECT credentials, webhook_secret FROM itsm_connection"))
    assert "integration" in stored
    assert SN_PASSWORD not in stored and WEBHOOK_SECRET not in stored

    # and the server still checks webhooks with the webhook secret
    server.start(log_dir)
    try:
        body = json.dumps({"sys_id": "0" * 32, "sys_updated_on": "2026-01-01 00:00:00"}).encode()
        reply = httpx.post(
            f"{server.url}/webhooks/itsm/servicenow?tenant=default",
            content=body,
            headers=signed(body),
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["status"] == "ignored"
    finally:
        server.stop()


async def test_the_transport_connects_to_the_address_it_checked_under_the_host_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.services.itsm import egress

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    # given a host that resolves to one address only, which the policy takes as public
    async def one_address(host: str, port: int, **_: Any) -> list[Any]:
        import ipaddress

        return [ipaddress.ip_address("127.0.0.1")] if host == "tickets.example" else []

    monkeypatch.setattr(egress, "resolve", one_address)
    monkeypatch.setattr(egress, "is_public", lambda address: True)
    guarded = egress.GuardedTransport(allow_private=False, inner=httpx.MockTransport(answer))

    # when a request to it goes through the transport
    async with httpx.AsyncClient(transport=guarded) as http:
        await http.get("https://tickets.example:8443/api/now/table/incident?x=1")

    # then the connection goes to the checked address, under the host's name (Host, TLS)
    sent = seen[0]
    assert str(sent.url) == "https://127.0.0.1:8443/api/now/table/incident?x=1"
    assert sent.headers["host"] == "tickets.example:8443"
    assert sent.extensions["sni_hostname"] == "tickets.example"


async def test_the_transport_refuses_a_name_with_any_private_address() -> None:
    from app.services.itsm import egress

    seen: list[httpx.Request] = []
    guarded = egress.GuardedTransport(
        allow_private=False,
        inner=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200)),
    )

    # when a request goes to names and addresses that reach private networks
    async with httpx.AsyncClient(transport=guarded) as http:
        for url in ("http://localhost:8080", "http://169.254.169.254", "http://[::1]/"):
            with pytest.raises(httpx.ConnectError):
                await http.get(url)

    # then nothing was sent
    assert seen == []


def test_webhook_json_may_nest_as_deep_as_the_limit_and_no_deeper() -> None:
    from app.services.itsm import inbound

    # given JSON at the limit, one level beyond it, and beyond what the decoder takes
    at_limit = nested(inbound.MAX_DEPTH - 1, "{}").encode()
    beyond = nested(inbound.MAX_DEPTH, "{}").encode()

    # then the first decodes, the others are a 400 that says why
    assert inbound.decode(at_limit)
    for body in (beyond, nested(100_000).encode()):
        with pytest.raises(inbound.Rejected) as refused:
            inbound.decode(body)
        assert refused.value.status == 400 and "nested" in refused.value.message

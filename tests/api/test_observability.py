"""What an operator watches: /metrics in Prometheus's conventions, one JSON log line per
request, metrics summed over `serve --workers`, and OpenTelemetry traces when asked for."""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    REDIS_URL,
    Backend,
    Server,
    create_pg_database,
    create_tenant,
    create_token,
    declare,
    drop_pg_database,
    eventually,
    require_real_services,
    subscriber,
    subscriber_count,
    wait_for_subscribers,
)

INCIDENT_UPDATED = "subscription ($id: ID!) { incidentUpdated(id: $id) { id status } }"
ACKNOWLEDGE = """
mutation Ack($input: TransitionIncidentInput!) {
  transitionIncident(input: $input) { incident { id status } errors { code } }
}
"""


def scrape(server: Server) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of /metrics, parsed by prometheus-client's own parser: name -> labels ->
    value (the parser refuses what is not the text format)."""
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    return float(samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0))


@pytest.fixture(scope="module")
def observed(backend: Backend, log_dir: Path) -> Iterator[Server]:
    """A server logging JSON at INFO."""
    server = Server(
        backend,
        extra_env={"INCIDENTGRAPH_LOG_FORMAT": "json"},
        serve_args=("--log-level", "info"),
    ).start(log_dir)
    yield server
    server.stop()


async def test_metrics_follow_prometheus_conventions_and_count_what_happened(
    observed: Server,
) -> None:
    # given a server nobody has subscribed to yet
    client = observed.client()
    before = scrape(observed)
    assert value(before, "incidentgraph_subscribers") == 0
    # then counters end in _total, and the process and platform figures are there
    families = text_string_to_metric_families(httpx.get(f"{observed.url}/metrics", timeout=5).text)
    for family in families:
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
    assert value(before, "process_resident_memory_bytes") > 0
    assert "python_info" in before

    # when a query, a mutation and a live subscription run
    incident = await declare(client, title=f"Observed {uuid.uuid4().hex[:6]}")
    await client.execute("{ incidents(first: 1) { totalCount } }")
    joined = subscriber_count(observed)
    sub = await subscriber(observed)
    try:
        await sub.subscribe(INCIDENT_UPDATED, {"id": incident["id"]})
        await wait_for_subscribers(observed, joined + 1)
        assert value(scrape(observed), "incidentgraph_subscribers") == 1
        await client.execute(ACKNOWLEDGE, {"input": {"id": incident["id"], "to": "IN_PROGRESS"}})
        pushed = await sub.next_data()
        assert pushed["incidentUpdated"]["status"] == "IN_PROGRESS"
    finally:
        await sub.close()
        await client.aclose()

    # then each is in its histogram: latency by operation type, and commit-to-push delay
    async def counted() -> dict[str, Any] | None:
        after = scrape(observed)
        return after if value(after, "incidentgraph_subscribers") == 0 else None

    after = await eventually(counted, what="the closed subscription to be uncounted")
    for kind, done in (("query", 1), ("mutation", 2)):
        name = "incidentgraph_graphql_request_duration_seconds_count"
        assert (
            value(after, name, operation_type=kind)
            >= value(before, name, operation_type=kind) + done
        ), kind
    delivered = "incidentgraph_delivery_delay_seconds_count"
    assert (
        value(after, delivered, subscription="incidentUpdated")
        == value(before, delivered, subscription="incidentUpdated") + 1
    )
    requests = "incidentgraph_graphql_http_requests_total"
    assert value(after, requests) >= value(before, requests) + 3


async def test_alert_intake_is_timed(observed: Server) -> None:
    # given an INGEST token
    tenant = create_tenant(observed, tenant_id=f"t{uuid.uuid4().hex[:10]}", name="Timed")
    token = create_token(observed, role="INGEST", name="alerts", tenant=tenant)
    before = scrape(observed)
    # when one alert request is answered
    async with httpx.AsyncClient(base_url=observed.url, timeout=10) as http:
        answer = await http.post(
            "/webhooks/alerts/generic",
            headers={"Authorization": f"Bearer {token}"},
            json={"alerts": [{"source": "nagios", "title": "Disk almost full on db-1"}]},
        )
    assert answer.status_code == 202, answer.text
    # then the intake histogram counts it, and the accepted counter its alert
    after = scrape(observed)
    name = "incidentgraph_alert_intake_duration_seconds_count"
    assert value(after, name) == value(before, name) + 1
    accepted = "incidentgraph_alerts_accepted_total"
    assert value(after, accepted) == value(before, accepted) + 1


async def test_each_request_is_one_json_line_with_its_id_tenant_and_operation(
    observed: Server,
) -> None:
    # when a named query is sent with a request id
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=observed.url, timeout=10) as http:
        answer = await http.post(
            "/graphql",
            headers={"Authorization": f"Bearer {observed.token}", "X-Request-Id": request_id},
            json={"query": "query Dashboard { incidents(first: 1) { totalCount } }"},
        )
        refused = await http.post("/graphql", json={"query": "{ __typename }"})
    assert answer.status_code == 200 and refused.status_code == 401
    # then the answer echoes the id, and a new one is given to a request without
    assert answer.headers["x-request-id"] == request_id
    assert len(refused.headers["x-request-id"]) == 32

    # and the log holds one JSON line for it, with who, what and how long
    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in observed.log().splitlines() if line.startswith("{")]

    def logged(request_id: str) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
        async def check() -> list[dict[str, Any]]:
            return [line for line in lines() if line.get("request_id") == request_id]

        return check

    (line,) = await eventually(logged(request_id), what="the request's log line")
    assert line["logger"] == "incidentgraph.request"
    assert line["status"] == 200 and line["method"] == "POST" and line["path"] == "/graphql"
    assert line["tenant"] == "default"
    assert (line["operation_name"], line["operation_type"]) == ("Dashboard", "query")
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    (unauthenticated,) = await eventually(
        logged(refused.headers["x-request-id"]), what="the refused request's log line"
    )
    assert unauthenticated["status"] == 401 and unauthenticated["tenant"] is None
    # and after the command's banner on stdout (the URLs), every line the server logs is
    # JSON, uvicorn's own included, with no access line of uvicorn's repeating the request
    text = [line for line in observed.log().splitlines() if line.strip()]
    logged_lines = text[next(i for i, line in enumerate(text) if line.startswith("{")) :]
    assert all(line.startswith("{") for line in logged_lines), logged_lines[:5]
    assert not [x for x in lines() if x["logger"] == "uvicorn.access"]


@pytest.mark.integration
async def test_workers_add_up_their_metrics(tmp_path: Path, log_dir: Path) -> None:
    # given two worker processes sharing a Redis broker
    require_real_services()
    backend = Backend("embedded", f"sqlite://{tmp_path / 'workers.db'}", REDIS_URL)
    server = Server(backend, serve_args=("--workers", "2", "--log-level", "warning"))
    server.start(log_dir, timeout=90)  # each worker migrates the new file in turn
    try:
        # when twenty requests, each on a connection of its own, are answered by either
        for _ in range(20):
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                answer = await http.post(
                    "/graphql",
                    headers={"Authorization": f"Bearer {server.token}"},
                    json={"query": "{ __typename }"},
                )
                assert answer.status_code == 200
        # then whichever worker answers a scrape counts all twenty, once
        for _ in range(6):
            samples = scrape(server)
            assert value(samples, "incidentgraph_graphql_http_requests_total") == 20
            assert len(samples["incidentgraph_graphql_http_requests_total"]) == 1
    finally:
        server.stop()


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps every export request's protobuf body."""

    bodies: list[bytes]

    def do_POST(self) -> None:  # noqa: N802 (the handler's naming)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path == "/v1/traces":
            self.server.bodies.append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def spans(collector: ThreadingHTTPServer) -> list[Any]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    found = []
    for body in list(collector.bodies):  # type: ignore[attr-defined]
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                found.extend(scope.spans)
    return found


def system_of(span: Any) -> str | None:
    for attribute in span.attributes:
        if attribute.key == "db.system" or attribute.key == "db.system.name":
            return str(attribute.value.string_value)
    return None


@pytest.mark.integration
async def test_traces_follow_a_request_into_postgresql_and_redis_when_asked_for(
    collector: ThreadingHTTPServer, log_dir: Path
) -> None:
    # given a server on PostgreSQL and Redis with the standard OTEL_* variables set
    require_real_services()
    database = create_pg_database()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    server = Server(
        Backend("postgres", database, REDIS_URL),
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_SERVICE_NAME": "incidentgraph-test",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        },
    )
    server.start(log_dir)
    client = server.client()
    try:
        # when an incident is declared by a caller already inside a trace
        trace_id = uuid.uuid4().hex
        answer = await client.http.post(
            "/graphql",
            json={
                "query": "mutation($i: DeclareIncidentInput!) { declareIncident(input: $i) "
                "{ incident { id } errors { code } } }",
                "variables": {
                    "i": {"title": "Traced", "severity": "SEV3", "impact": "LOW", "urgency": "LOW"}
                },
            },
            headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"},
        )
        assert answer.status_code == 200 and not answer.json().get("errors"), answer.text

        # then the collector receives the request's server span in the caller's trace with
        # its SQL statements inside, and the broker's PUBLISH of the change
        async def traced() -> list[Any] | None:
            everything = spans(collector)
            published = [s for s in everything if s.name.startswith("PUBLISH")]
            found = [s for s in everything if s.trace_id.hex() == trace_id]
            sql = [s for s in found if system_of(s) == "postgresql"]
            return found if published and sql else None

        found = await eventually(traced, timeout=20, what="the request's spans")
        server_spans = [s for s in found if s.kind == s.SPAN_KIND_SERVER]
        assert server_spans and any("/graphql" in s.name for s in server_spans)
        inside = {s.span_id for s in server_spans}
        assert any(s.parent_span_id in inside for s in found if system_of(s) == "postgresql")
    finally:
        await client.aclose()
        server.stop()
        drop_pg_database(database)

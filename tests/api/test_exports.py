"""Exports over real servers: the incidents a caller may see as CSV or NDJSON and an
incident's timeline as NDJSON, streamed from the URLs GraphQL gives, redacted for the caller,
safe to open in a spreadsheet, audited, and refused clearly when asked wrongly."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import Server, create_tenant, create_token, declare, transition

EXPORT_INCIDENTS = """
query($format: ExportFormat!, $filter: IncidentFilter) {
  exportIncidents(format: $format, filter: $filter) { url path mediaType format }
}"""
EXPORT_TIMELINE = """
query($id: ID!, $format: ExportFormat!) {
  exportTimeline(incidentId: $id, format: $format) { url path mediaType format }
}"""
NOTE = """
mutation($input: AddNoteInput!) { addNote(input: $input) { errors { field code } } }
"""
AUDIT = """
query($filter: AuditFilter) {
  auditLog(filter: $filter, first: 50) { edges { node { actor action target changes } } }
}"""


@pytest.fixture
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"exp-{uuid.uuid4().hex[:8]}", name="Exports")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="exp admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="exp r", tenant=tenant_id),
        "VIEWER": create_token(server, role="VIEWER", name="exp v", tenant=tenant_id),
        "STAKEHOLDER": create_token(server, role="STAKEHOLDER", name="exp s", tenant=tenant_id),
    }


def download(url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, timeout=30)


async def link(client: Any, **variables: Any) -> dict[str, Any]:
    data = await client.execute(EXPORT_INCIDENTS, variables)
    return data["exportIncidents"]  # type: ignore[no-any-return]


async def resolved(admin: Any, title: str, **fields: Any) -> dict[str, Any]:
    incident = await declare(admin, title=title, **fields)
    await transition(admin, incident["id"], "IN_PROGRESS")
    done = await transition(
        admin,
        incident["id"],
        "RESOLVED",
        resolutionSummary="rolled back",
        rootCause="pool exhausted by customer 4711",
    )
    assert done["errors"] == [], done
    return incident


async def test_incidents_export_as_csv_redacted_for_the_caller_and_audited(api, server, tenant):
    # given three incidents: a resolved one, one whose title a spreadsheet would run, and a
    # RESTRICTED one
    admin = api("ADMIN")
    first = await resolved(admin, "Checkout down")
    await declare(admin, title='=HYPERLINK("http://evil.example","click")')
    await declare(admin, title="Executive mailbox breach", classification="RESTRICTED")

    # when a VIEWER exports them as CSV from the link GraphQL gives
    viewer = api("VIEWER")
    given = await link(viewer, format="CSV")
    assert given["path"] == "/exports/incidents?format=csv"
    assert given["url"] == server.url + given["path"]
    response = download(given["url"], tenant["VIEWER"])

    # then it streams CSV with a header row and one row per incident the viewer may see
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["number"] for r in rows] == ["1", "2"]
    assert rows[0]["id"] == first["id"]
    assert rows[0]["status"] == "RESOLVED" and rows[0]["resolutionSummary"] == "rolled back"
    # the root cause is CONFIDENTIAL: above a viewer's clearance
    assert rows[0]["rootCause"] == "[REDACTED]"
    assert "customer 4711" not in response.text and "Executive mailbox" not in response.text
    # and the formula is text, not a formula
    assert rows[1]["title"] == "'" + '=HYPERLINK("http://evil.example","click")'

    # and an ADMIN sees the restricted one and the root cause
    everything = list(csv.DictReader(io.StringIO(download(given["url"], tenant["ADMIN"]).text)))
    assert len(everything) == 3 and everything[0]["rootCause"] == "pool exhausted by customer 4711"

    # and each download is in the audit log
    log = await admin.execute(AUDIT, {"filter": {"action": "export.incidents"}})
    assert len(log["auditLog"]["edges"]) == 2


async def test_incidents_export_as_ndjson_with_the_api_s_filter(api, tenant):
    admin = api("ADMIN")
    major = await declare(admin, title="Major one", severity="SEV1", impact="HIGH", urgency="HIGH")
    await declare(admin, title="Minor one", severity="SEV4", impact="LOW", urgency="LOW")

    given = await link(admin, format="NDJSON", filter={"priority": ["P1"], "status": ["OPEN"]})
    assert given["mediaType"] == "application/x-ndjson"
    response = download(given["url"], tenant["ADMIN"])
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["title"] for line in lines] == ["Major one"]
    assert lines[0]["priority"] == major["priority"] == "P1"
    assert lines[0]["isMajor"] is False and lines[0]["status"] == "OPEN"


async def test_a_timeline_exports_as_ndjson_cloudevents(api, tenant):
    admin = api("ADMIN")
    incident = await declare(admin, title="Timeline export")
    for body, level in [("public note", "INTERNAL"), ("secret note", "CONFIDENTIAL")]:
        data = await admin.execute(
            NOTE,
            {"input": {"incidentId": incident["id"], "body": body, "classification": level}},
        )
        assert data["addNote"]["errors"] == []

    viewer = api("VIEWER")
    given = (await viewer.execute(EXPORT_TIMELINE, {"id": incident["id"], "format": "NDJSON"}))[
        "exportTimeline"
    ]
    response = download(given["url"], tenant["VIEWER"])
    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.text.splitlines()]
    assert [e["sequence"] for e in events] == ["1", "2", "3"]
    assert all(e["specversion"] == "1.0" for e in events)
    assert {e["subject"] for e in events} == {f"incidents/{incident['id']}"}
    assert events[1]["data"]["body"] == "public note"
    assert "secret note" not in response.text


async def test_bad_export_requests_are_refused_clearly(api, server, tenant):
    admin = api("ADMIN")
    secret = await declare(admin, title="Restricted", classification="RESTRICTED")
    base = f"{server.url}/exports/incidents"
    for query, field in [
        ("?format=xml", "format"),
        ("?filter=not-json", "filter"),
        ('?filter={"colour":["red"]}', "filter.colour"),
        ('?filter={"status":["SLEEPING"]}', "filter.status"),
        ('?filter={"isMajor":"yes"}', "filter.isMajor"),
        ('?filter={"assignedUserIds":["inc_x"]}', "filter.assignedUserIds"),
    ]:
        response = download(base + query, tenant["ADMIN"])
        assert response.status_code == 400, (query, response.text)
        assert response.json()["code"] == "VALIDATION"
        assert response.json()["field"] == field, query
    assert download(base, None).status_code == 401
    assert download(base, tenant["STAKEHOLDER"]).status_code == 403
    # a timeline that does not exist for the caller, or is not an incident's id
    hidden = download(f"{base}/{secret['id']}/timeline", tenant["RESPONDER"])
    assert hidden.status_code == 404 and hidden.json()["code"] == "NOT_FOUND"
    assert download(f"{base}/nope/timeline", tenant["ADMIN"]).status_code == 404
    assert (
        download(f"{base}/{secret['id']}/timeline?format=csv", tenant["ADMIN"]).status_code == 400
    )
    # and in GraphQL
    refused = await api("RESPONDER").post(EXPORT_TIMELINE, {"id": secret["id"], "format": "NDJSON"})
    assert refused.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    csv_timeline = await admin.post(EXPORT_TIMELINE, {"id": secret["id"], "format": "CSV"})
    assert csv_timeline.json()["errors"][0]["extensions"]["field"] == "format"

"""Incident reports over real servers: the same report from GraphQL and from
GET /incidents/{id}/report, in text, Markdown and self-contained HTML, holding the story of
the incident, escaped for its format and redacted for whoever asks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.test_communications import START, log
from tests.support import Server, create_tenant, create_token, declare, transition

REPORT = """
query($id: ID!, $format: ReportFormat!) { incident(id: $id) { report(format: $format) } }
"""
NOTE = """
mutation($input: AddNoteInput!) { addNote(input: $input) { errors { field code } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"rep-{uuid.uuid4().hex[:8]}", name="Reports")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="rep admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="rep r", tenant=tenant_id),
        "VIEWER": create_token(server, role="VIEWER", name="rep v", tenant=tenant_id),
        "INGEST": create_token(server, role="INGEST", name="rep i", tenant=tenant_id),
    }


def get_report(server: Server, token: str, incident_id: str, fmt: str | None) -> httpx.Response:
    query = f"?format={fmt}" if fmt is not None else ""
    return httpx.get(
        f"{server.url}/incidents/{incident_id}/report{query}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def without_footer(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "Generated " not in line)


async def resolved_incident(responder: Any) -> dict[str, Any]:
    """A resolved incident with a note, a logged call and a started review."""
    incident = await declare(responder, title="Checkout <b>502</b> for *EU* shoppers")
    await responder.execute(
        NOTE,
        {
            "input": {
                "incidentId": incident["id"],
                "body": "Rolled back release 4.2",
                "kind": "MITIGATION",
            }
        },
    )
    await log(responder, incident["id"], recipient="+44 20 7946 0000")
    await transition(responder, incident["id"], "IN_PROGRESS")
    await transition(
        responder,
        incident["id"],
        "RESOLVED",
        resolutionSummary="Release 4.2 rolled back",
        rootCause="Connection pool exhausted by a retry storm",
    )
    started = await responder.execute(START, {"input": {"incidentId": incident["id"]}})
    assert started["startReview"]["errors"] == []
    return incident


async def test_a_report_tells_the_story_in_each_format_and_the_endpoint_agrees(api, server, tenant):
    responder = api("RESPONDER")
    incident = await resolved_incident(responder)

    reports = {
        fmt: (await responder.execute(REPORT, {"id": incident["id"], "format": fmt}))["incident"][
            "report"
        ]
        for fmt in ("TEXT", "MARKDOWN", "HTML")
    }

    text = reports["TEXT"]
    for expected in (
        f"INC-{incident['number']}: Checkout <b>502</b> for *EU* shoppers",
        "Status:          RESOLVED",
        "IMPACT",
        "state change: IN_PROGRESS -> RESOLVED",
        "MITIGATION:",
        "Rolled back release 4.2",
        "PHONE",
        "Connection pool exhausted by a retry storm",
        "Version 1, DRAFT",
    ):
        assert expected in text, expected
    # Markdown shows the title as written, not as markup
    assert r"Checkout \<b\>502\</b\> for \*EU\* shoppers" in reports["MARKDOWN"]
    assert "## Timeline" in reports["MARKDOWN"] and "### MITIGATION" in reports["MARKDOWN"]
    # HTML is escaped, self-contained and printable
    html = reports["HTML"]
    assert "Checkout &lt;b&gt;502&lt;/b&gt;" in html and "<b>502</b>" not in html
    assert "@media print" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html

    for fmt, name in (("TEXT", "text"), ("MARKDOWN", "markdown"), ("HTML", "html")):
        response = get_report(server, tenant["RESPONDER"], incident["id"], name)
        assert response.status_code == 200
        assert without_footer(response.text) == without_footer(reports[fmt])
    html_response = get_report(server, tenant["RESPONDER"], incident["id"], "html")
    assert html_response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in html_response.headers["content-security-policy"]
    assert html_response.headers["cache-control"] == "no-store"
    default = get_report(server, tenant["RESPONDER"], incident["id"], None)
    assert default.headers["content-type"].startswith("text/markdown")


async def test_a_report_is_redacted_for_whoever_reads_it(api, server, tenant):
    incident = await resolved_incident(api("RESPONDER"))

    viewer = (await api("VIEWER").execute(REPORT, {"id": incident["id"], "format": "TEXT"}))[
        "incident"
    ]["report"]

    # a viewer (INTERNAL clearance) does not read the CONFIDENTIAL root cause
    assert "Connection pool exhausted" not in viewer
    assert "rootCause" in viewer and "[REDACTED]" in viewer
    over_http = get_report(server, tenant["VIEWER"], incident["id"], "text").text
    assert "Connection pool exhausted" not in over_http

    # a RESTRICTED incident does not exist for them at all
    secret = await declare(api("ADMIN"), title="Insider case", classification="RESTRICTED")
    assert get_report(server, tenant["VIEWER"], secret["id"], "text").status_code == 404
    hidden = await api("VIEWER").raw(REPORT, {"id": secret["id"], "format": "TEXT"})
    assert hidden["data"] is None or hidden["data"]["incident"] is None


async def test_bad_report_requests_get_clear_refusals(api, server, tenant):
    incident = await declare(api("RESPONDER"), title="Report refusals")

    pdf = get_report(server, tenant["RESPONDER"], incident["id"], "pdf")
    unknown = get_report(server, tenant["RESPONDER"], str(uuid.uuid4()), "text")
    malformed = get_report(server, tenant["RESPONDER"], "nope", "text")
    ingest = get_report(server, tenant["INGEST"], incident["id"], "text")
    anonymous = httpx.get(f"{server.url}/incidents/{incident['id']}/report", timeout=10)

    assert (pdf.status_code, pdf.json()["code"], pdf.json()["field"]) == (
        400,
        "VALIDATION",
        "format",
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "NOT_FOUND")
    assert (malformed.status_code, malformed.json()["code"]) == (404, "NOT_FOUND")
    assert (ingest.status_code, ingest.json()["code"]) == (403, "FORBIDDEN")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "UNAUTHENTICATED")

"""Report rendering from a hand-written API answer: durations, Markdown escaping, HTML
autoescaping, notes grouped by kind, and redacted events said to be redacted."""

from __future__ import annotations

from datetime import UTC, datetime

from app.services.comms.report import ReportFormat, duration, markdown_escape, render

INCIDENT = {
    "reference": "INC-7",
    "title": "<img src=x onerror=alert(1)> *bold*",
    "status": "RESOLVED",
    "severity": "SEV1",
    "impact": "HIGH",
    "urgency": "HIGH",
    "priority": "P1",
    "isMajor": True,
    "category": None,
    "subcategory": None,
    "service": "checkout",
    "commander": None,
    "assignee": None,
    "declaredBy": "alice",
    "classification": "INTERNAL",
    "redactedFields": ["rootCause"],
    "assignedUser": {"name": "Alice Example"},
    "assignedTeam": None,
    "affectedServices": [{"name": "checkout"}],
    "createdAt": "2026-12-04T10:00:00Z",
    "acknowledgedAt": "2026-12-04T10:04:30Z",
    "resolvedAt": "2026-12-05T12:35:00Z",
    "closedAt": None,
    "slaResponseBreached": False,
    "slaResolveBreached": True,
    "description": None,
    "publicSummary": None,
    "resolutionSummary": "Rolled back",
    "rootCause": "[REDACTED]",
    "timeline": {"totalCount": 3},
    "communications": {"edges": []},
    "connectedTickets": [],
    "alerts": {"edges": []},
    "review": None,
}
EVENTS = [
    {
        "time": "2026-12-04T10:00:00Z",
        "type": "com.incidents.declared.v1",
        "actor": "alice",
        "actorUser": {"name": "Alice Example"},
        "data": {},
        "redacted": False,
    },
    {
        "time": "2026-12-04T10:10:00Z",
        "type": "com.incidents.note_added.v1",
        "actor": "bob",
        "actorUser": None,
        "data": {"kind": "MITIGATION", "body": "Failed over"},
        "redacted": False,
    },
    {
        "time": "2026-12-04T10:20:00Z",
        "type": "com.incidents.note_added.v1",
        "actor": "bob",
        "actorUser": None,
        "data": {"kind": "REDACTED", "body": "[REDACTED]"},
        "redacted": True,
    },
]
AT = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)


def test_durations_read_as_people_say_them():
    assert duration("2026-12-04T10:00:00Z", "2026-12-04T10:04:30Z") == "4 min"
    assert duration("2026-12-04T10:00:00Z", "2026-12-04T12:05:00Z") == "2 h 05 min"
    assert duration("2026-12-04T10:00:00Z", "2026-12-05T12:35:00Z") == "1 d 2 h 35 min"
    assert duration("2026-12-04T10:00:00Z", None) == ""


def test_markdown_markup_is_escaped():
    assert markdown_escape("*a* [b](c) <d> `e` #f") == r"\*a\* \[b\]\(c\) \<d\> \`e\` \#f"


def test_html_is_escaped_and_notes_are_grouped_by_kind():
    html = render(ReportFormat.HTML, INCIDENT, events=EVENTS, generated_at=AT)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "<h3>MITIGATION</h3>" in html and "Failed over" in html
    assert "(details redacted)" in html and "<h3>REDACTED</h3>" not in html
    assert "after 4 min" in html and "after 1 d 2 h 35 min" in html


def test_text_names_the_actor_and_counts_events_left_out():
    text = render(
        ReportFormat.TEXT, INCIDENT, events=EVENTS[:1], generated_at=AT, events_left_out=2
    )
    assert "declared  [Alice Example]" in text
    assert "... and 2 later events not shown." in text
    assert "redacted for you: rootCause" in text

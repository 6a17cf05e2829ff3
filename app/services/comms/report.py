"""An incident's report in text, Markdown or HTML, rendered by Jinja2 from what the caller
may read of it (the API's own answer, already redacted): header, impact, timeline, notes
by kind, communications, tickets, alerts and the post-incident review.

HTML is autoescaped and self-contained (inline styles, a print stylesheet, no scripts, no
external resources); Markdown escapes the characters that would turn text into markup;
plain text is as written. Nothing here reads the database.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

NOTE_ADDED = "com.incidents.note_added.v1"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+|!~])")


class ReportFormat(StrEnum):
    TEXT = "TEXT"
    MARKDOWN = "MARKDOWN"
    HTML = "HTML"


TEMPLATES = {
    ReportFormat.TEXT: "report.txt.j2",
    ReportFormat.MARKDOWN: "report.md.j2",
    ReportFormat.HTML: "report.html.j2",
}
MEDIA_TYPES = {
    ReportFormat.TEXT: "text/plain; charset=utf-8",
    ReportFormat.MARKDOWN: "text/markdown; charset=utf-8",
    ReportFormat.HTML: "text/html; charset=utf-8",
}


def event_line(type: str, data: Mapping[str, Any] | None) -> str:
    """What an event says, in a few words: `status changed: OPEN -> ACKNOWLEDGED`."""
    kind = type.removeprefix("com.incidents.").removesuffix(".v1").replace("_", " ")
    data = data or {}
    if "from" in data and "to" in data and isinstance(data.get("to"), str):
        kind += f": {data['from']} -> {data['to']}"
    elif isinstance(data.get("body"), str):
        body = data["body"].strip().splitlines()[0] if data["body"].strip() else ""
        kind += f": {body[:120]}"
    return kind


def markdown_escape(value: object) -> str:
    """Text that Markdown shows as written: markup characters backslash-escaped."""
    if value is None:
        return ""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value))


def when(value: str | None) -> str:
    """An API timestamp as `2026-12-04 14:05 UTC`; an empty string for none."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def duration(start: str | None, end: str | None) -> str:
    """`2 h 05 min` between two API timestamps; empty when either is missing."""
    if not start or not end:
        return ""
    seconds = int(
        (
            datetime.fromisoformat(end.replace("Z", "+00:00"))
            - datetime.fromisoformat(start.replace("Z", "+00:00"))
        ).total_seconds()
    )
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes = rest // 60
    if hours >= 24:
        return f"{hours // 24} d {hours % 24} h {minutes:02d} min"
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("app.services.comms", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = markdown_escape
    env.filters["when"] = when
    return env


def model(incident: Mapping[str, Any], *, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the templates show, from the API's answer about the incident and its events."""
    timeline = []
    notes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        redacted = bool(event.get("redacted"))
        line = event_line(event["type"], None if redacted else event.get("data"))
        if redacted:
            line += " (details redacted)"
        actor = (event.get("actorUser") or {}).get("name") or event.get("actor")
        timeline.append({"time": event["time"], "actor": actor, "line": line})
        if event["type"] == NOTE_ADDED and not redacted:
            data = event.get("data") or {}
            notes[str(data.get("kind") or "NOTE")].append(
                {"time": event["time"], "actor": actor, "body": data.get("body")}
            )
    return {
        "incident": incident,
        "durations": {
            "acknowledge": duration(incident.get("createdAt"), incident.get("acknowledgedAt")),
            "resolve": duration(incident.get("createdAt"), incident.get("resolvedAt")),
        },
        "timeline": timeline,
        "notes": dict(sorted(notes.items())),
        "communications": [e["node"] for e in incident["communications"]["edges"]],
        "tickets": incident["connectedTickets"],
        "alerts": [e["node"] for e in incident["alerts"]["edges"]],
        "review": incident.get("review"),
    }


def render(
    format: ReportFormat,
    incident: Mapping[str, Any],
    *,
    events: Sequence[Mapping[str, Any]],
    generated_at: datetime,
    events_left_out: int = 0,
) -> str:
    template = _environment().get_template(TEMPLATES[format])
    return template.render(
        **model(incident, events=events),
        generated_at=f"{generated_at:%Y-%m-%d %H:%M} UTC",
        events_left_out=events_left_out,
    )

"""Exports in GraphQL: where to download them (the download itself streams over HTTP)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import strawberry

from app.schema.incident import IncidentFilter

# The filter's JSON names, by the input's attribute names.
FILTER_FIELDS = {
    "status": "status",
    "severity": "severity",
    "priority": "priority",
    "isMajor": "is_major",
    "text": "text",
    "assignedUserIds": "assigned_user_ids",
    "assignedTeamIds": "assigned_team_ids",
    "category": "category",
    "detectionSource": "detection_source",
}


@strawberry.enum(description="CSV (RFC 4180, a header row) or NDJSON (a JSON object a line).")
class ExportFormat(StrEnum):
    CSV = "CSV"
    NDJSON = "NDJSON"


@strawberry.type(
    description="An export to download: GET `url` with the same Bearer token. It streams, is "
    "redacted for that token and audited when downloaded."
)
class ExportLink:
    url: str = strawberry.field(description="Absolute when the request said where it came to.")
    path: str = strawberry.field(description="The URL's path and query.")
    media_type: str
    format: ExportFormat


def filter_json(filter: IncidentFilter | None) -> str | None:
    """The filter input as the JSON `GET /exports/incidents?filter=` reads."""
    if filter is None:
        return None
    found: dict[str, Any] = {}
    for key, attribute in FILTER_FIELDS.items():
        value = getattr(filter, attribute)
        if value is None:
            continue
        if isinstance(value, list):
            value = [getattr(v, "value", v) for v in value]
        found[key] = value
    return json.dumps(found, separators=(",", ":"))

"""Exports in GraphQL: where to download them (the download itself streams over HTTP)."""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

import strawberry
from strawberry.schema.name_converter import NameConverter

from app.schema.incident_filter import IncidentFilter


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
    """The filter input as the JSON `GET /exports/incidents?filter=` reads: the GraphQL
    input value itself, every field and combinator, by their GraphQL names."""
    if filter is None:
        return None
    return json.dumps(input_json(filter), separators=(",", ":"))


_NAMES = NameConverter()


def input_json(value: Any) -> Any:
    """A GraphQL input value (Strawberry inputs, enums, times, lists) as JSON."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [input_json(v) for v in value]
    definition = getattr(type(value), "__strawberry_definition__", None)
    if definition is None:
        return value
    found: dict[str, Any] = {}
    for field in definition.fields:
        item = getattr(value, field.python_name)
        if item is not None:
            found[_NAMES.get_graphql_name(field)] = input_json(item)
    return found

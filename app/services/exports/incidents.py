"""Incidents as rows for an export: the columns, read page by page as plain values (no model
instances), each text field [REDACTED] above the caller's clearance, as the API reads it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from enum import Enum
from typing import Any

from app.models import Classification
from app.services.access.caller import Caller
from app.services.access.classification import REDACTED, field_readable
from app.services.feed.subjects import global_id
from app.services.incidents.search import IncidentFilter, visible_incidents

BATCH = 1000

# (column, model field): the export's columns, in order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("number", "number"),
    ("title", "title"),
    ("status", "status"),
    ("severity", "severity"),
    ("impact", "impact"),
    ("urgency", "urgency"),
    ("priority", "priority"),
    ("isMajor", "is_major"),
    ("classification", "classification"),
    ("category", "category"),
    ("detectionSource", "detection_source"),
    ("service", "service"),
    ("assignee", "assignee"),
    ("commander", "commander"),
    ("declaredBy", "declared_by"),
    ("createdAt", "created_at"),
    ("acknowledgedAt", "acknowledged_at"),
    ("resolvedAt", "resolved_at"),
    ("closedAt", "closed_at"),
    ("slaResponseDue", "sla_response_due"),
    ("slaResolveDue", "sla_resolve_due"),
    ("resolutionSummary", "resolution_summary"),
    ("rootCause", "root_cause"),
    ("description", "description"),
)
_FIELDS = tuple(field for _, field in COLUMNS)
# A spreadsheet runs a cell that begins with one of these as a formula.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return str(value)
    return value


async def rows(*, caller: Caller, filter: IncidentFilter | None) -> AsyncIterator[dict[str, Any]]:
    """The incidents the caller may see and the filter takes, by number, as the caller may
    read them: one query per `BATCH` incidents, nothing held but the page in hand."""
    query = visible_incidents(caller, filter)
    after = 0
    while True:
        page = await query.filter(number__gt=after).order_by("number").limit(BATCH).values(*_FIELDS)
        for values in page:
            level = Classification(values["classification"])
            values["id"] = global_id("incident", values["id"])
            yield {
                column: (
                    _plain(values[field])
                    if field_readable(caller.clearance, level, field) or values[field] is None
                    else REDACTED
                )
                for column, field in COLUMNS
            }
        if len(page) < BATCH:
            return
        after = int(page[-1]["number"])


def csv_header() -> str:
    return _csv_line([column for column, _ in COLUMNS])


def csv_line(row: dict[str, Any]) -> str:
    return _csv_line(_cell(row[column]) for column, _ in COLUMNS)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _csv_line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(list(cells))
    return buffer.getvalue()


def ndjson_line(row: dict[str, Any]) -> str:
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n"

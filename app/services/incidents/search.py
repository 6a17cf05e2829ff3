"""Finding incidents: filters, ordering and keyset (cursor) pagination.

The same filter runs as SQL for queries and in memory for live feeds (`matches`), so a
dashboard sees in its subscription exactly what its query would return.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from app.core.pagination import page_size
from app.core.text import storable
from app.errors import ValidationFailed
from app.models import (
    Classification,
    DetectionSource,
    Incident,
    IncidentCategory,
    IncidentStatus,
    Priority,
    Severity,
)
from app.services.access.caller import Caller
from app.services.access.classification import (
    field_searchable_levels,
    incident_visible,
    text_searchable_levels,
    visible_incident_levels,
)
from app.services.incidents.snapshot import IncidentSnapshot

TEXT_FILTER_MAX = 255


class OrderField(StrEnum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    PRIORITY = "PRIORITY"
    SEVERITY = "SEVERITY"
    NUMBER = "NUMBER"


class Direction(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


# What a cursor may hold per ordering: a forged one must not reach the database as a value
# it cannot compare (an integer beyond its column, a string that is no priority).
_INT_MAX = 2**31 - 1
_ENUM = {OrderField.PRIORITY: Priority, OrderField.SEVERITY: Severity}

_COLUMN = {
    OrderField.CREATED_AT: "created_at",
    OrderField.UPDATED_AT: "updated_at",
    OrderField.PRIORITY: "priority",
    OrderField.SEVERITY: "severity",
    OrderField.NUMBER: "number",
}


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    status: frozenset[IncidentStatus] | None = None
    severity: frozenset[Severity] | None = None
    priority: frozenset[Priority] | None = None
    is_major: bool | None = None
    text: str | None = None
    # Assigned to any of these users / teams (ids).
    assigned_users: frozenset[str] | None = None
    assigned_teams: frozenset[str] | None = None
    category: frozenset[IncidentCategory] | None = None
    detection_source: frozenset[DetectionSource] | None = None

    def __post_init__(self) -> None:
        if self.text is not None and len(self.text) > TEXT_FILTER_MAX:
            raise ValidationFailed(
                f"filter.text must be at most {TEXT_FILTER_MAX} characters", field="filter.text"
            )
        if self.text is not None:
            storable(self.text, field="filter.text")

    def q(self, clearance: Classification) -> Q:
        q = Q()
        if self.status is not None:
            q &= Q(status__in=list(self.status))
        if self.severity is not None:
            q &= Q(severity__in=list(self.severity))
        if self.priority is not None:
            q &= Q(priority__in=list(self.priority))
        if self.is_major is not None:
            q &= Q(is_major=self.is_major)
        if self.category is not None:
            q &= Q(category__in=list(self.category))
        if self.detection_source is not None:
            q &= Q(detection_source__in=list(self.detection_source))
        if self.assigned_users is not None or self.assigned_teams is not None:
            # Only where the caller may read the assignment: a match would reveal it.
            q &= Q(classification__in=field_searchable_levels(clearance, "assignee"))
        if self.assigned_users is not None:
            q &= Q(assigned_user_id__in=sorted(self.assigned_users))
        if self.assigned_teams is not None:
            q &= Q(assigned_team_id__in=sorted(self.assigned_teams))
        if self.text:
            # Only where the caller may read title and description: a match would reveal them.
            q &= Q(classification__in=text_searchable_levels(clearance))
            q &= Q(title__icontains=self.text) | Q(description__icontains=self.text)
        return q

    def matches(self, incident: IncidentSnapshot, clearance: Classification) -> bool:
        if self.status is not None and incident.status not in self.status:
            return False
        if self.severity is not None and incident.severity not in self.severity:
            return False
        if self.priority is not None and incident.priority not in self.priority:
            return False
        if self.is_major is not None and incident.is_major != self.is_major:
            return False
        if self.category is not None and incident.category not in self.category:
            return False
        if (
            self.detection_source is not None
            and incident.detection_source not in self.detection_source
        ):
            return False
        if (self.assigned_users is not None or self.assigned_teams is not None) and (
            incident.classification not in field_searchable_levels(clearance, "assignee")
        ):
            return False
        if self.assigned_users is not None and incident.assigned_user_id not in self.assigned_users:
            return False
        if self.assigned_teams is not None and incident.assigned_team_id not in self.assigned_teams:
            return False
        if self.text:
            if incident.classification not in text_searchable_levels(clearance):
                return False
            needle = self.text.casefold()
            haystack = f"{incident.title}\n{incident.description or ''}".casefold()
            if needle not in haystack:
                return False
        return True


@dataclass(frozen=True, slots=True)
class IncidentOrder:
    field: OrderField = OrderField.CREATED_AT
    direction: Direction = Direction.DESC


@dataclass(frozen=True, slots=True)
class IncidentPage:
    items: list[tuple[str, IncidentSnapshot]]  # (cursor, incident)
    has_next_page: bool
    has_previous_page: bool


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    return value


def encode_cursor(order: IncidentOrder, incident: IncidentSnapshot) -> str:
    column = _COLUMN[order.field]
    raw = json.dumps([order.field.value, _encode_value(getattr(incident, column)), incident.number])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(order: IncidentOrder, cursor: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        field, value, number = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if field != order.field.value:
            raise ValueError("cursor is for another ordering")
        if not _is_int(number):
            raise ValueError("bad cursor number")
        if order.field in (OrderField.CREATED_AT, OrderField.UPDATED_AT):
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError("cursor time without a UTC offset")
            value = value.astimezone(UTC)
        elif order.field is OrderField.NUMBER:
            if not _is_int(value):
                raise ValueError("bad cursor number")
        else:
            value = _ENUM[order.field](value)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("malformed cursor for this ordering", field="after") from exc
    return value, number


def _is_int(value: Any) -> bool:
    return type(value) is int and 0 <= value <= _INT_MAX


def visible(incident: IncidentSnapshot, clearance: Classification) -> bool:
    return incident_visible(clearance, incident.classification)


def _query(
    tenant_id: str, clearance: Classification, filter: IncidentFilter | None
) -> QuerySet[Incident]:
    query = Incident.filter(
        tenant_id=tenant_id, classification__in=visible_incident_levels(clearance)
    )
    return query.filter(filter.q(clearance)) if filter is not None else query


async def list_incidents(
    *,
    caller: Caller,
    filter: IncidentFilter | None = None,
    order: IncidentOrder | None = None,
    first: int | None = None,
    after: str | None = None,
) -> IncidentPage:
    tenant_id, clearance = caller.tenant_id, caller.clearance
    order = order or IncidentOrder()
    size = page_size(first)
    column = _COLUMN[order.field]
    query = _query(tenant_id, clearance, filter)
    if after is not None:
        value, number = decode_cursor(order, after)
        op = "gt" if order.direction is Direction.ASC else "lt"
        query = query.filter(
            Q(**{f"{column}__{op}": value}) | Q(**{column: value, f"number__{op}": number})
        )
    prefix = "" if order.direction is Direction.ASC else "-"
    ordering = [f"{prefix}{column}"] + ([f"{prefix}number"] if column != "number" else [])
    rows = await query.order_by(*ordering).limit(size + 1)
    snapshots = [IncidentSnapshot.from_model(r) for r in rows[:size]]
    return IncidentPage(
        items=[(encode_cursor(order, s), s) for s in snapshots],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
    )


async def count_incidents(*, caller: Caller, filter: IncidentFilter | None = None) -> int:
    tenant_id, clearance = caller.tenant_id, caller.clearance
    count: int = await _query(tenant_id, clearance, filter).count()
    return count


async def changed_since(
    *,
    tenant_id: str,
    clearance: Classification,
    since: datetime,
    filter: IncidentFilter | None,
    limit: int = 1000,
) -> Sequence[IncidentSnapshot]:
    """Incidents changed after `since`, oldest change first: what a live feed missed."""
    query = _query(tenant_id, clearance, filter).filter(updated_at__gt=since)
    rows = await query.order_by("updated_at").limit(limit)
    return [IncidentSnapshot.from_model(r) for r in rows]

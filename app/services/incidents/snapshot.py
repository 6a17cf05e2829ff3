"""The incident read model: the snapshot API readers and subscribers see, and how to load it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from app.core.ids import parse_uuid, uuid_key
from app.errors import NotFound
from app.models import (
    Classification,
    DetectionSource,
    Impact,
    Incident,
    IncidentCategory,
    IncidentStatus,
    Priority,
    Severity,
    Urgency,
)
from app.services.access.caller import Caller
from app.services.access.classification import incident_visible
from app.services.incidents import rows, sla


@dataclass(frozen=True, slots=True)
class IncidentSnapshot:
    """The incident as API readers and subscribers see it; travels inside broker messages."""

    id: str
    tenant_id: str
    number: int
    title: str
    description: str | None
    service: str | None
    severity: Severity
    impact: Impact
    urgency: Urgency
    priority: Priority
    status: IncidentStatus
    is_major: bool
    assignee: str | None
    declared_by: str | None
    resolution_summary: str | None
    root_cause: str | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    sla_response_due: datetime | None
    sla_resolve_due: datetime | None
    sla_paused_since: datetime | None
    version: int
    last_seq: int
    classification: Classification = Classification.INTERNAL
    commander: str | None = None
    last_public_update_at: datetime | None = None
    public_summary: str | None = None
    # The incident this one was merged into (it is then CANCELLED).
    merged_into_id: str | None = None
    assigned_user_id: str | None = None
    assigned_team_id: str | None = None
    category: IncidentCategory | None = None
    subcategory: str | None = None
    detection_source: DetectionSource | None = None
    derived_priority: Priority | None = None
    priority_override_reason: str | None = None
    is_drill: bool = False
    drill_scenario: str | None = None
    drill_scope: str | None = None
    drill_outcome: str | None = None
    escalation_level: int = 0
    escalated_at: datetime | None = None
    escalation_next_at: datetime | None = None
    escalation_due_reason: str | None = None
    # Kept from purging whatever the retention (set apart from commands: never written back).
    legal_hold: bool = False

    def response_due(self, now: datetime) -> datetime | None:
        paused = self.sla_paused_since if self.acknowledged_at is None else None
        return sla.effective_due(self.sla_response_due, paused, now)

    def resolve_due(self, now: datetime) -> datetime | None:
        return sla.effective_due(self.sla_resolve_due, self.sla_paused_since, now)

    def response_breached(self, now: datetime) -> bool:
        stopped = self.acknowledged_at or self.cancelled_at
        return sla.breached(self.sla_response_due, stopped, self.sla_paused_since, now)

    def resolve_breached(self, now: datetime) -> bool:
        stopped = self.resolved_at or self.cancelled_at
        return sla.breached(self.sla_resolve_due, stopped, self.sla_paused_since, now)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> IncidentSnapshot:
        values = dict(raw)
        for name in DATETIME_FIELDS:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        for name, enum in ENUM_FIELDS.items():
            if values.get(name) is not None:
                values[name] = enum(values[name])
        return cls(**values)

    @classmethod
    def from_model(cls, row: Incident) -> IncidentSnapshot:
        values = {name: getattr(row, name) for name in MODEL_FIELDS}
        for name in UUID_FIELDS:
            if values[name] is not None:
                values[name] = str(values[name])
        return cls(id=str(row.id), tenant_id=row.tenant_id, **values)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> IncidentSnapshot:
        """From a `values_list(*SNAPSHOT_COLUMNS)` row (rows.fetch): no model instance."""
        values = list(row)
        if len(values) != len(_CONVERTERS):
            raise ValueError(f"a snapshot row has {len(_CONVERTERS)} columns, not {len(values)}")
        for index, convert in _CONVERTED:
            values[index] = convert(values[index])
        return cls(*values)


DATETIME_FIELDS = tuple(f.name for f in fields(IncidentSnapshot) if "datetime" in str(f.type))
ENUM_FIELDS: dict[str, Any] = {
    "severity": Severity,
    "impact": Impact,
    "urgency": Urgency,
    "priority": Priority,
    "status": IncidentStatus,
    "classification": Classification,
    "category": IncidentCategory,
    "detection_source": DetectionSource,
    "derived_priority": Priority,
}
UUID_FIELDS = ("merged_into_id", "assigned_user_id", "assigned_team_id")
MODEL_FIELDS = tuple(f.name for f in fields(IncidentSnapshot) if f.name not in ("id", "tenant_id"))
# The incident's columns in the snapshot's field order, and how each is read from a row.
SNAPSHOT_COLUMNS = tuple(f.name for f in fields(IncidentSnapshot))


def _converter(name: str, annotation: str) -> Callable[[Any], Any]:
    if name == "id" or name in UUID_FIELDS:
        return rows.text
    if name in ENUM_FIELDS:
        return rows.member(ENUM_FIELDS[name])
    if name in DATETIME_FIELDS:
        return rows.utc
    if annotation == "bool":
        return rows.boolean
    return rows.same


_CONVERTERS = tuple(_converter(f.name, str(f.type)) for f in fields(IncidentSnapshot))
# The columns a row does not hold as the snapshot does (the others are taken as they come).
_CONVERTED = tuple((i, c) for i, c in enumerate(_CONVERTERS) if c is not rows.same)


def parse_incident_id(value: str) -> uuid.UUID:
    return uuid_key(value, noun="incident")


async def get_incident(*, tenant_id: str, incident_id: str) -> IncidentSnapshot:
    row = await Incident.get_or_none(tenant_id=tenant_id, id=parse_incident_id(incident_id))
    if row is None:
        raise NotFound(f"no incident with id {incident_id!r}", field="id")
    return IncidentSnapshot.from_model(row)


async def get_visible_incident(
    *, caller: Caller, incident_id: str, field: str = "incidentId"
) -> IncidentSnapshot:
    """The incident, when it exists for the caller; NOT_FOUND on `field` otherwise (an
    incident above their clearance does not exist for them)."""
    key = parse_uuid(incident_id)
    row = await Incident.get_or_none(tenant_id=caller.tenant_id, id=key) if key else None
    if row is None or not incident_visible(caller.clearance, row.classification):
        raise NotFound(f"no incident with id {incident_id!r}", field=field)
    return IncidentSnapshot.from_model(row)


async def get_incidents(
    *, tenant_id: str, incident_ids: Sequence[str]
) -> dict[str, IncidentSnapshot]:
    ids: list[uuid.UUID] = []
    for value in incident_ids:
        key = parse_uuid(value)
        if key is not None:
            ids.append(key)
    if not ids:
        return {}
    rows = await Incident.filter(tenant_id=tenant_id, id__in=ids)
    return {str(row.id): IncidentSnapshot.from_model(row) for row in rows}

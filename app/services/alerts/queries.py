"""Stored alerts as API readers see them: views, filters, pages and counts.

An alert is as visible as its incident: one linked to an incident the caller may not see is
not found, exactly like an unknown id.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from app.core.ids import is_uuid, uuid_key
from app.core.pagination import page_size
from app.core.text import storable
from app.errors import ValidationFailed
from app.models import Alert, AlertStatus, Classification, Incident
from app.services import filtering
from app.services.access.caller import Caller
from app.services.access.classification import (
    alert_classification,
    alert_searchable_levels,
    incident_visible,
    visible_incident_levels,
)
from app.services.filtering import TimeRange

FILTER_VALUES_MAX = 100


TEXT_FILTER_MAX = 255
# What the alert processor owes an alert it links: an ALERTS_LINKED event.


@dataclass(frozen=True, slots=True)
class AlertView:
    id: str
    incident_id: str | None
    source: str
    fingerprint: str
    status: AlertStatus
    alertname: str | None
    service: str | None
    severity: str | None
    title: str
    description: str | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    url: str | None
    starts_at: datetime
    ends_at: datetime | None
    first_received_at: datetime
    last_received_at: datetime
    count: int
    # Its own, or its incident's when higher: who may read its text (ALERT_TEXT_FIELDS).
    classification: Classification

    @classmethod
    def of(cls, row: Alert, *, incident: Classification | None) -> AlertView:
        """The alert; `incident` is its incident's classification (None: not linked)."""
        return cls(
            id=str(row.id),
            incident_id=str(row.incident_id) if row.incident_id is not None else None,
            source=row.source,
            fingerprint=row.fingerprint,
            status=row.status,
            alertname=row.alertname,
            service=row.service,
            severity=row.severity,
            title=row.title,
            description=row.description,
            labels=dict(row.labels or {}),
            annotations=dict(row.annotations or {}),
            url=row.url,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            first_received_at=row.first_received_at,
            last_received_at=row.last_received_at,
            count=row.count,
            classification=alert_classification(incident),
        )

    def summary(self) -> dict[str, Any]:
        """How an alert appears in a timeline event's data."""
        return {
            "id": self.id,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "service": self.service,
            "severity": self.severity,
            "title": self.title,
            "status": self.status.value,
        }


@dataclass(frozen=True, slots=True)
class AlertFilter:
    status: frozenset[AlertStatus] | None = None
    source: frozenset[str] | None = None
    service: frozenset[str] | None = None
    incident_id: str | None = None
    linked: bool | None = None
    text: str | None = None
    received: TimeRange | None = None
    and_: tuple[AlertFilter, ...] = ()
    or_: tuple[AlertFilter, ...] = ()
    not_: AlertFilter | None = None

    def __post_init__(self) -> None:
        for name in ("source", "service"):
            values = getattr(self, name)
            if values is not None:
                if len(values) > FILTER_VALUES_MAX:
                    raise ValidationFailed(
                        f"filter.{name} may list at most {FILTER_VALUES_MAX} values",
                        field=f"filter.{name}",
                    )
                for value in values:
                    storable(value, field=f"filter.{name}")
        if self.text is not None:
            if len(self.text) > TEXT_FILTER_MAX:
                raise ValidationFailed(
                    f"filter.text must be at most {TEXT_FILTER_MAX} characters",
                    field="filter.text",
                )
            storable(self.text, field="filter.text")

    def q(self, tenant_id: str, clearance: Classification) -> Q | None:
        """Every part as SQL; `and_`/`or_`/`not_` combine (app/services/filtering.py)."""
        filtering.check_shape(self)
        return filtering.to_q(self, lambda f: f._own_q(tenant_id, clearance))

    def _own_q(self, tenant_id: str, clearance: Classification) -> Q | None:
        q = Q()
        if self.status is not None:
            q &= Q(status__in=list(self.status))
        if self.source is not None:
            q &= filtering.in_("source", self.source)
        if self.service is not None:
            q &= filtering.in_("service", self.service)
        if self.incident_id is not None:
            q &= Q(incident_id=self.incident_id, incident_id__isnull=False)
        if self.linked is not None:
            q &= Q(incident_id__isnull=not self.linked)
        if self.received is not None:
            q &= self.received.q("last_received_at")
        if self.text:
            q &= (
                Q(title__isnull=False, title__icontains=self.text)
                | Q(alertname__isnull=False, alertname__icontains=self.text)
                | Q(description__isnull=False, description__icontains=self.text)
            )
            # Only where the caller may read that text: a match would reveal it.
            unsearchable = [
                c for c in Classification if c not in alert_searchable_levels(clearance)
            ]
            if unsearchable:
                hidden = Incident.filter(
                    tenant_id=tenant_id, classification__in=unsearchable
                ).values("id")
                q &= Q(incident_id__isnull=True) | ~Q(incident_id__in=Subquery(hidden))
        return q if q.filters or q.children else None


@dataclass(frozen=True, slots=True)
class AlertPage:
    items: list[tuple[str, AlertView]]  # (cursor, alert)
    has_next_page: bool
    has_previous_page: bool


def _visible(tenant_id: str, clearance: Classification) -> QuerySet[Alert]:
    """The tenant's alerts the caller may know of: unlinked ones, or linked to a visible
    incident."""
    hidden = [c for c in Classification if c not in visible_incident_levels(clearance)]
    query = Alert.filter(tenant_id=tenant_id)
    if hidden:
        invisible = Incident.filter(tenant_id=tenant_id, classification__in=hidden).values("id")
        query = query.filter(Q(incident_id__isnull=True) | ~Q(incident_id__in=Subquery(invisible)))
    return query


def _filtered(
    tenant_id: str, clearance: Classification, filter: AlertFilter | None
) -> QuerySet[Alert]:
    query = _visible(tenant_id, clearance)
    q = filter.q(tenant_id, clearance) if filter is not None else None
    return query.filter(q) if q is not None else query


def encode_cursor(alert: AlertView) -> str:
    raw = json.dumps(["alert", alert.last_received_at.astimezone(UTC).isoformat(), alert.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, field: str = "after") -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, when, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if kind != "alert" or not isinstance(when, str) or not isinstance(key, str):
            raise ValueError("not an alert cursor")
        time = datetime.fromisoformat(when)
        if time.tzinfo is None:
            raise ValueError("cursor time without a UTC offset")
        return time.astimezone(UTC), uuid.UUID(key)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("malformed cursor", field=field) from exc


async def list_alerts(
    *,
    caller: Caller,
    filter: AlertFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> AlertPage:
    """Newest first (by the last notification received; ties by id)."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    size = page_size(first)
    query = _filtered(tenant_id, clearance, filter)
    if after is not None:
        time, key = decode_cursor(after)
        query = query.filter(Q(last_received_at__lt=time) | Q(last_received_at=time, id__lt=key))
    rows = await query.order_by("-last_received_at", "-id").limit(size + 1)
    views = await views_of(tenant_id, rows[:size])
    return AlertPage(
        items=[(encode_cursor(v), v) for v in views],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
    )


async def count_alerts(*, caller: Caller, filter: AlertFilter | None = None) -> int:
    tenant_id, clearance = caller.tenant_id, caller.clearance
    query = _filtered(tenant_id, clearance, filter)
    count: int = await query.count()
    return count


@dataclass(frozen=True, slots=True)
class IncidentPageKey:
    """One page of one incident's alerts: up to `size` after the cursor position `after`."""

    incident_id: str
    size: int
    after: tuple[datetime, uuid.UUID] | None = None


@dataclass(frozen=True, slots=True)
class IncidentPage:
    alert_ids: list[str]
    has_next_page: bool


# Numbering each incident's alerts in list order after the cursor keeps only each incident's
# page (and one more row, for hasNextPage) in the answer, whatever their number of alerts.


_PAGES_SQL = (
    "SELECT id, incident_id FROM (SELECT id, incident_id, ROW_NUMBER() OVER ("
    "PARTITION BY incident_id ORDER BY last_received_at DESC, id DESC) AS rn FROM alert "
    "WHERE tenant_id = {p1} AND incident_id IN {incidents}{cursor}) ranked "
    "WHERE rn <= {p3} ORDER BY incident_id, rn"
)


_PAGES_CURSOR = " AND (last_received_at < {p4} OR (last_received_at = {p4} AND id < {p5}))"


async def incident_pages(
    *, tenant_id: str, keys: Sequence[IncidentPageKey]
) -> dict[IncidentPageKey, IncidentPage]:
    """Pages of many incidents' alerts (newest first): one query per distinct page size and
    cursor, so a list of incidents costs the same whatever its length."""
    found = {k: IncidentPage([], False) for k in keys}
    alike: dict[tuple[int, tuple[datetime, uuid.UUID] | None], list[IncidentPageKey]] = {}
    for key in keys:
        if key.size > 0 and is_uuid(key.incident_id):
            alike.setdefault((key.size, key.after), []).append(key)
    conn = Alert._meta.db
    sqlite = conn.capabilities.dialect == "sqlite"
    for (size, after), group in alike.items():
        incidents = sorted({str(uuid.UUID(k.incident_id)) for k in group})
        args: list[Any] = [tenant_id, None, size + 1]
        if sqlite:
            marks = {f"p{n}": f"?{n}" for n in range(1, 6)}
            args[1] = json.dumps(incidents)
            in_list = "(SELECT value FROM json_each(?2))"
        else:
            marks = {f"p{n}": f"${n}" for n in range(1, 6)}
            args[1] = [uuid.UUID(i) for i in incidents]
            in_list = "(SELECT unnest($2::uuid[]))"
        cursor = ""
        if after is not None:
            time, last_id = after
            # As each backend stores them, so that equal instants and ids compare equal.
            args += [time.isoformat(" "), str(last_id)] if sqlite else [time, last_id]
            cursor = _PAGES_CURSOR.format(**marks)
        sql = _PAGES_SQL.format(incidents=in_list, cursor=cursor, **marks)
        pages: dict[str, list[str]] = {}
        for row in await conn.execute_query_dict(sql, args):
            pages.setdefault(str(row["incident_id"]), []).append(str(row["id"]))
        for k in group:
            ids = pages.get(str(uuid.UUID(k.incident_id)), [])
            found[k] = IncidentPage(ids[:size], has_next_page=len(ids) > size)
    return found


async def count_by_incident(*, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, int]:
    """How many alerts each incident has, in one grouped query."""
    keys = [k for k in incident_ids if is_uuid(k)]
    found = dict.fromkeys(incident_ids, 0)
    if not keys:
        return found
    rows = (
        await Alert.filter(tenant_id=tenant_id, incident_id__in=keys)
        .annotate(n=Count("id"))
        .group_by("incident_id")
        .values("incident_id", "n")
    )
    by_key = {str(uuid.UUID(str(r["incident_id"]))): int(r["n"]) for r in rows}
    for k in keys:
        found[k] = by_key.get(str(uuid.UUID(k)), 0)
    return found


async def get_alerts(*, tenant_id: str, alert_ids: Sequence[str]) -> dict[str, AlertView]:
    keys = [k for k in alert_ids if is_uuid(k)]
    if not keys:
        return {}
    rows = await Alert.filter(tenant_id=tenant_id, id__in=keys)
    return {view.id: view for view in await views_of(tenant_id, rows)}


async def views_of(tenant_id: str, rows: Sequence[Alert]) -> list[AlertView]:
    """The alerts as views, their incidents' classifications read in one query."""
    linked = {r.incident_id for r in rows if r.incident_id is not None}
    levels: dict[str, Classification] = {}
    if linked:
        found = await Incident.filter(tenant_id=tenant_id, id__in=list(linked)).values_list(
            "id", "classification"
        )
        levels = {str(key): Classification(level) for key, level in found}
    return [
        AlertView.of(r, incident=None if r.incident_id is None else _level(levels, r.incident_id))
        for r in rows
    ]


def _level(levels: dict[str, Classification], incident_id: Any) -> Classification:
    # An incident not found (deleted meanwhile) leaves its alerts at the highest level.
    return levels.get(str(incident_id), Classification.RESTRICTED)


async def alert_visible(alert: Alert, clearance: Classification) -> bool:
    if alert.incident_id is None:
        return True
    incident = await Incident.get_or_none(id=alert.incident_id).only("id", "classification")
    return incident is None or incident_visible(clearance, incident.classification)


def key_of(value: str, field: str) -> uuid.UUID:
    return uuid_key(value, noun="incident" if field == "incidentId" else "alert", field=field)

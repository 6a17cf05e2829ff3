"""Phase B of the alert processor: incidents declared for the groups that ask for one, and
the timeline events owed for alerts linked or resolved, one per incident for many alerts.

Each declaration and each event is a transaction of its own, driven by state kept in the
database (a group's `declare_pending`, an alert's `pending_event`): a crash at any point loses
nothing, and the next round finishes the work. Alerts are locked in id order here as in phase
A (app/services/alerts/processor.py), so the two never deadlock.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from tortoise.functions import Max
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from app.config import Settings
from app.core.clock import utcnow
from app.errors import DomainError
from app.models import Alert, AlertGroup, AlertStatus, CorrelationRule, DetectionSource
from app.models import TimelineEvent as TimelineEventRow
from app.services.access.caller import Caller
from app.services.alerts.batch import FIRING, LINKED, aware
from app.services.alerts.correlation import DEFAULT_RULE, Rule, rule_from_model, severity_from_label
from app.services.incidents.commands import append_events, declare_incident
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import EventType, NewEvent

log = logging.getLogger(__name__)

# Who the timeline names as the actor of what the processor does.
ACTOR = "alerts"
# Alerts listed by name in one timeline event; the rest are counted.
EVENT_ALERTS_SHOWN = 20
# Alerts one timeline event accounts for (a bigger backlog takes more than one event).
EVENT_ALERTS_MAX = 10_000
_RESOLVED_EVENT = "resolved"
_EVENT_TYPES = {LINKED: EventType.ALERTS_LINKED, _RESOLVED_EVENT: EventType.ALERTS_RESOLVED}


class Settler:
    """Declares and announces for the processor that holds the lease: `hold` says whether it
    still does, and is asked before each incident."""

    def __init__(self, settings: Settings, hold: Callable[[], Awaitable[bool]]) -> None:
        self._settings = settings
        self._hold = hold

    async def settle(self) -> None:
        """Phase B: declare the incidents groups asked for, then append the owed events."""
        if not await self._hold():
            return
        pending = (
            await AlertGroup.filter(declare_pending=True)
            .order_by("opened_at")
            .values("id", "tenant_id", "rule_id", "generation")
        )
        if pending:
            rule_ids = {r["rule_id"] for r in pending if r["rule_id"] != DEFAULT_RULE.id}
            rules = {
                str(row.id): rule_from_model(row)
                for row in await CorrelationRule.filter(id__in=_uuids(rule_ids))
            }
            for row in pending:
                if not await self._hold():
                    return
                try:
                    await self._declare(row, rules.get(row["rule_id"], DEFAULT_RULE))
                except DomainError:
                    log.exception("could not declare an incident for alert group %s", row["id"])
        await self._announce()

    async def _declare(self, group: Mapping[str, Any], rule: Rule) -> None:
        unlinked = Alert.filter(group_id=group["id"], incident_id__isnull=True)
        first = await unlinked.order_by("first_received_at", "id").first()
        if first is None:
            # Its alerts were linked by hand meanwhile: nothing left to declare for.
            await AlertGroup.filter(id=group["id"], generation=group["generation"]).update(
                declare_pending=False
            )
            return
        labels: list[Any] = list(await unlinked.distinct().values_list("severity", flat=True))
        # The alerts may be linked by hand between the two reads: the claim below then finds
        # the group no longer pending and declares nothing.
        severity = rule.severity or min(
            (severity_from_label(s) for s in labels), default=severity_from_label(first.severity)
        )
        alert = {
            "alertname": first.alertname,
            "service": first.service,
            "severity": first.severity,
            "source": first.source,
            "title": first.title,
            "labels": first.labels,
        }
        claimed = False

        async def claim(incident: IncidentSnapshot) -> None:
            nonlocal claimed
            claimed = True
            await _claim(group, uuid.UUID(incident.id), require_alerts=True)

        try:
            declared = await declare_incident(
                caller=Caller.system(group["tenant_id"], actor=ACTOR),
                title=rule.title_for(alert),
                severity=severity,
                impact=rule.impact,
                urgency=rule.urgency,
                description=first.description,
                service=first.service,
                detection_source=DetectionSource.AUTOMATED_ALERT,
                # The same id on a retry after a crash: the incident is declared once.
                event_id=f"alert-group:{group['id']}:{group['generation']}",
                # The group is claimed and its alerts linked in the declaration's transaction,
                # so an incident never exists without them: a hand-made link or a merge that
                # took the group meanwhile rolls the declaration back.
                also=claim,
            )
        except _NotPending:
            return
        except _NoAlerts:
            await AlertGroup.filter(id=group["id"], generation=group["generation"]).update(
                declare_pending=False
            )
            return
        if not claimed:
            # Declared before by a run that stopped short of claiming the group (when the
            # claim still came in a transaction of its own): claim it for that incident.
            with contextlib.suppress(_NotPending):
                async with in_transaction():
                    await _claim(group, uuid.UUID(declared.incident.id), require_alerts=False)

    async def _announce(self) -> None:
        """One event per incident for all its alerts owed one, at most one per window."""
        owed = (
            await Alert.filter(pending_event__in=list(_EVENT_TYPES), incident_id__isnull=False)
            .distinct()
            .values_list("tenant_id", "incident_id")
        )
        if not owed:
            return
        now = utcnow()
        window = timedelta(seconds=self._settings.alert_coalesce_seconds)
        recent: dict[str, datetime] = {}
        if window:
            latest = (
                await TimelineEventRow.filter(
                    incident_id__in=[i for _, i in owed], type__in=list(_EVENT_TYPES.values())
                )
                .annotate(last=Max("time"))
                .group_by("incident_id")
                .values("incident_id", "last")
            )
            recent = {str(r["incident_id"]): aware(r["last"]) for r in latest}
        for tenant_id, incident_id in owed:
            last = recent.get(str(incident_id))
            if last is not None and now - last < window:
                continue
            if not await self._hold():
                return
            try:
                await self._announce_to(tenant_id, str(incident_id))
            except (DomainError, _Raced):
                log.info("alert events for incident %s wait for the next round", incident_id)

    async def _announce_to(self, tenant_id: str, incident_id: str) -> None:
        rows = (
            await Alert.filter(incident_id=incident_id, pending_event__in=list(_EVENT_TYPES))
            .order_by("first_received_at", "id")
            .limit(EVENT_ALERTS_MAX)
            .values(*_SHOWN_FIELDS, "status", "pending_event")
        )
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_kind.setdefault(row["pending_event"], []).append(row)
        events = [
            NewEvent(type=_EVENT_TYPES[kind], data=_event_data(by_kind[kind]))
            for kind in (LINKED, _RESOLVED_EVENT)
            if kind in by_kind
        ]

        async def clear(_: IncidentSnapshot) -> None:
            # Locked in id order first, as phase A locks the alerts it updates.
            # Whole rows (of one column): a values_list() query would drop the FOR UPDATE.
            await _lock_alerts(Alert.filter(id__in=[r["id"] for r in rows]))
            as_read: dict[tuple[str, str], list[Any]] = {}
            for row in rows:
                as_read.setdefault((row["pending_event"], _status(row)), []).append(row["id"])
            for (kind, status), ids in as_read.items():
                # Only alerts still as this event shows them: one resolved meanwhile keeps
                # its pending event, so the next round announces it resolved.
                cleared = await Alert.filter(
                    id__in=ids,
                    pending_event=kind,
                    incident_id=incident_id,
                    status=AlertStatus(status),
                ).update(pending_event=None)
                if cleared != len(ids):
                    # Announced by someone else meanwhile (this event would count them twice),
                    # moved to another incident by a merge or by hand, or resolved meanwhile.
                    raise _Raced

        if not events:
            return
        await append_events(
            caller=Caller.system(tenant_id, actor=ACTOR),
            incident_id=incident_id,
            events=events,
            also=clear,
        )


class _Raced(Exception):
    pass


class _NotPending(Exception):
    """The group no longer asks for a declaration (linked by hand, merged, started over)."""


class _NoAlerts(Exception):
    """The group has no unlinked alert left to declare an incident for."""


async def _claim(group: Mapping[str, Any], incident_id: uuid.UUID, *, require_alerts: bool) -> None:
    """Inside a transaction: the group's incident is `incident_id`, and so is that of each of
    its alerts not linked yet, each owed a linked event."""
    mine = await AlertGroup.filter(
        id=group["id"], generation=group["generation"], declare_pending=True
    ).update(incident_id=incident_id, declare_pending=False)
    if not mine:
        raise _NotPending
    unlinked = Alert.filter(group_id=group["id"], incident_id__isnull=True)
    # Locked in id order first, as phase A and the announcements lock them.
    await _lock_alerts(unlinked)
    linked = await unlinked.update(
        incident_id=incident_id, pending_event=LINKED, updated_at=utcnow()
    )
    if not linked and require_alerts:
        raise _NoAlerts


async def _lock_alerts(alerts: QuerySet[Alert]) -> None:
    """Inside a transaction on PostgreSQL: the alerts' rows locked, in id order (SQLite
    locks the whole file for the transaction's first write)."""
    if Alert._meta.db.capabilities.dialect == "postgres":
        await alerts.order_by("id").select_for_update().only("id")


_SHOWN_FIELDS = ("id", "source", "fingerprint", "alertname", "service", "severity", "title")


def _event_data(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    shown = [
        {
            **{name: row[name] for name in _SHOWN_FIELDS},
            "id": str(row["id"]),
            "status": _status(row),
        }
        for row in rows[:EVENT_ALERTS_SHOWN]
    ]
    return {
        "count": len(rows),
        "firing": sum(1 for r in rows if _status(r) == FIRING),
        "alerts": shown,
        "more": len(rows) - len(shown),
    }


def _status(row: Mapping[str, Any]) -> str:
    status = row["status"]
    return str(status.value if isinstance(status, AlertStatus) else status)


def _uuids(values: set[str]) -> list[uuid.UUID]:
    found = []
    for value in values:
        with contextlib.suppress(ValueError):
            found.append(uuid.UUID(value))
    return found

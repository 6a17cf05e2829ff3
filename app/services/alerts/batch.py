"""One batch of the alert processor in memory: the notifications taken from the intake,
the stored alerts they repeat or create, and the groups those fall into.

Deduplication and correlation decide here, with no I/O; services/alerts/sql.py reads and
writes what they decide, services/alerts/processor.py drives both.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.models import AlertStatus, IncidentStatus
from app.services.alerts.correlation import (
    Rule,
    alert_labels,
)
from app.services.incidents.lifecycle import ENDED

FIRING = AlertStatus.FIRING.value
RESOLVED = AlertStatus.RESOLVED.value
# The pending timeline event of an alert just linked to an incident.
LINKED = "linked"


@dataclass(slots=True)
class Note:
    """One intake row: a notification about an alert."""

    tenant_id: str
    source: str
    fingerprint: str
    firing: bool
    # The sender's start, else the time received (`starts_given` False): such a notification
    # cannot name its lifetime, so a resolution of it belongs to the latest one.
    starts_at: datetime
    starts_given: bool
    ends_at: datetime | None
    received_at: datetime
    payload: dict[str, Any]

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.source, self.fingerprint)

    @property
    def active_key(self) -> str:
        return active_key(self.tenant_id, self.source, self.fingerprint)


def active_key(tenant_id: str, source: str, fingerprint: str) -> str:
    """The unique key of an alert while it fires: `4:acme|10:prometheus|fingerprint`.

    Tenant and source are prefixed with their length, so no two identities share a key
    whatever they contain (joined with a bare separator, source "a|b" with id "c" and source
    "a" with id "b|c" were one key). Migration 0012 rewrote the keys stored before; its SQL
    builds the same text, with lengths counted in characters as here."""
    return f"{len(tenant_id)}:{tenant_id}|{len(source)}:{source}|{fingerprint}"


def parse_note(row: Mapping[str, Any]) -> Note:
    """The intake row as a notification; ValueError when it is not one (the intake validates
    what it stores, so such a row was written by something else: it is quarantined)."""
    try:
        payload = row["payload"]
        if isinstance(payload, str | bytes):
            payload = json.loads(payload)
        status = payload["status"]
        if status not in (FIRING, RESOLVED):
            raise ValueError(f"unknown status {status!r}")
        received = aware(row["received_at"])
        ends = payload.get("endsAt")
        starts = parse_time(payload.get("startsAt"))
        return Note(
            tenant_id=row["tenant_id"],
            source=str(payload["source"])[:128],
            fingerprint=str(payload["fingerprint"])[:255],
            firing=status == FIRING,
            starts_at=starts or received,
            starts_given=starts is not None,
            ends_at=parse_time(ends) if ends else None,
            received_at=received,
            payload=payload,
        )
    except KeyError as exc:
        raise ValueError(f"malformed alert: no {exc}") from None
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise ValueError(f"malformed alert: {exc}") from None


@dataclass(slots=True)
class BatchAlert:
    """A stored alert this batch touches (`new`: one it creates)."""

    id: str
    tenant_id: str
    source: str
    fingerprint: str
    status: str
    starts_at: datetime
    first_received_at: datetime
    last_received_at: datetime
    new: bool = False
    added: int = 0
    resolves: bool = False
    ends_at: datetime | None = None
    # The notification whose labels and annotations the stored alert takes (None: it keeps
    # its own); encoded once at the write, however often the batch repeats the alert.
    refreshed: dict[str, Any] | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    group_id: str | None = None
    incident_id: str | None = None
    pending_event: str | None = None
    match_labels: dict[str, str] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        return self.added > 0

    @property
    def active_key(self) -> str | None:
        if self.status != FIRING:
            return None
        return active_key(self.tenant_id, self.source, self.fingerprint)

    def repeat(self, note: Note, *, refresh: bool) -> None:
        self.added += 1
        self.last_received_at = max(self.last_received_at, note.received_at)
        if refresh:
            self.refreshed = note.payload

    def stored_labels(self) -> tuple[str | None, str | None]:
        """The labels and annotations to store, as JSON text; None for those kept as stored."""
        if self.refreshed is None:
            return None, None
        return (
            json_text(self.refreshed.get("labels") or {}),
            json_text(self.refreshed.get("annotations") or {}),
        )

    def resolve(self, note: Note) -> None:
        self.repeat(note, refresh=False)
        self.status = RESOLVED
        self.resolves = True
        self.ends_at = note.ends_at or note.received_at


@dataclass(slots=True)
class Batch:
    now: datetime
    # Stored alerts the batch touched, by id.
    stored: dict[str, BatchAlert] = field(default_factory=dict)
    # Alerts the batch creates, in arrival order, and those of them that group.
    fresh: list[BatchAlert] = field(default_factory=list)
    correlated: list[BatchAlert] = field(default_factory=list)
    groups: list[BatchGroup] = field(default_factory=list)

    def deduplicate(self, notes: Sequence[Note], found: Sequence[Mapping[str, Any]]) -> None:
        firing: dict[tuple[str, str, str], BatchAlert] = {}
        ended: dict[tuple[str, str, str, datetime], BatchAlert] = {}
        # Each fingerprint's latest resolved lifetime, for resolutions that give no start.
        latest: dict[tuple[str, str, str], BatchAlert] = {}
        for row in found:
            alert = BatchAlert(
                id=str(row["id"]),
                tenant_id=row["tenant_id"],
                source=row["source"],
                fingerprint=row["fingerprint"],
                status=row["status"],
                starts_at=aware(row["starts_at"]),
                first_received_at=self.now,
                last_received_at=aware(row["last_received_at"]),
            )
            alert = self.stored.setdefault(alert.id, alert)
            identity = (alert.tenant_id, alert.source, alert.fingerprint)
            if alert.status == FIRING:
                firing[identity] = alert
            elif row["latest"]:
                latest[identity] = alert
            else:
                ended.setdefault((*identity, alert.starts_at), alert)
        for note in notes:
            current = firing.get(note.identity)
            if note.starts_given:
                again = ended.get((*note.identity, note.starts_at))
            elif current is None and not note.firing:
                again = latest.get(note.identity)
            else:
                # A firing notification without a start, and nothing firing: the alert fires
                # again, a new lifetime (its sender has no other way to say so).
                again = None
            if note.firing and current is not None:
                current.repeat(note, refresh=True)
                if current.new:
                    current.payload = note.payload
            elif again is not None:
                # A repeated resolution, or a late firing of a lifetime already over.
                again.repeat(note, refresh=False)
            elif current is not None:
                current.resolve(note)
                del firing[note.identity]
                ended[(*note.identity, current.starts_at)] = current
                latest[note.identity] = current
            else:
                alert = self._create(note)
                if note.firing:
                    firing[note.identity] = alert
                else:
                    ended[(*note.identity, alert.starts_at)] = alert
                    latest[note.identity] = alert

    def _create(self, note: Note) -> BatchAlert:
        alert = BatchAlert(
            id=str(uuid.uuid4()),
            tenant_id=note.tenant_id,
            source=note.source,
            fingerprint=note.fingerprint,
            status=FIRING if note.firing else RESOLVED,
            starts_at=note.starts_at,
            first_received_at=note.received_at,
            last_received_at=note.received_at,
            new=True,
            ends_at=None if note.firing else (note.ends_at or note.received_at),
            refreshed=note.payload,
            payload=note.payload,
        )
        if note.firing:
            # Only alerts that fire are correlated: one that arrives resolved declares nothing.
            alert.match_labels = alert_labels(note.payload)
            self.correlated.append(alert)
        self.fresh.append(alert)
        return alert


@dataclass(slots=True)
class BatchGroup:
    id: str
    tenant_id: str
    key: str
    rule_id: str
    generation: int
    incident_id: str | None
    incident_live: bool
    declare_pending: bool
    opened_at: datetime
    last_alert_at: datetime
    alert_count: int
    changed: bool = False
    restarted: bool = False
    stored: bool = True

    @classmethod
    def from_row(cls, row: Mapping[str, Any], incident: Mapping[str, Any] | None) -> BatchGroup:
        incident_id, status = row["incident_id"], None
        if incident is not None:
            status = incident["status"]
            if incident["merged_into_id"] is not None and incident["merged_status"] is not None:
                # Its incident was merged into another: the alerts follow to the survivor.
                incident_id, status = incident["merged_into_id"], incident["merged_status"]
        return cls(
            id=str(row["id"]),
            tenant_id=row["tenant_id"],
            key=row["key"],
            rule_id=row["rule_id"],
            generation=int(row["generation"]),
            incident_id=None if incident_id is None else str(incident_id),
            incident_live=status is not None and IncidentStatus(status) not in ENDED,
            declare_pending=bool(row["declare_pending"]),
            opened_at=aware(row["opened_at"]),
            last_alert_at=aware(row["last_alert_at"]),
            alert_count=int(row["alert_count"]),
        )

    @classmethod
    def new(cls, tenant_id: str, key: str, rule_id: str, at: datetime) -> BatchGroup:
        return cls(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            key=key,
            rule_id=rule_id,
            generation=1,
            incident_id=None,
            incident_live=False,
            declare_pending=False,
            opened_at=at,
            last_alert_at=at,
            alert_count=0,
            stored=False,
        )

    def is_open(self, at: datetime, rule: Rule) -> bool:
        if self.incident_id is not None:
            # While its incident is worked on, the group stays open however long it has been
            # quiet (its alerts may fire on for hours, repeats only): the same failure links
            # to that incident instead of declaring a second one.
            return self.incident_live
        # A declaration on its way keeps the group open: its alerts belong to that incident.
        return self.declare_pending or at - self.last_alert_at <= timedelta(
            seconds=rule.window_seconds
        )

    def take(self, alert: BatchAlert, rule: Rule) -> None:
        at = alert.first_received_at
        if not self.is_open(at, rule):
            self.generation += 1
            self.incident_id = None
            self.incident_live = False
            self.declare_pending = False
            self.alert_count = 0
            self.opened_at = at
            self.restarted = self.restarted or self.stored
        self.changed = True
        self.rule_id = rule.id
        self.last_alert_at = max(self.last_alert_at, at)
        self.alert_count += 1
        alert.group_id = self.id
        if self.incident_id is not None:
            alert.incident_id = self.incident_id
            alert.pending_event = LINKED
        elif rule.auto_declare and self.alert_count >= rule.min_alerts:
            self.declare_pending = True


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return aware(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)

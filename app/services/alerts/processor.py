"""The alert processor: one per process; one at a time across processes (a lease).

It takes accepted alerts from the intake table in batches and, in one transaction per batch,
deduplicates them into stored alerts, groups them by the tenant's correlation rules and
deletes the intake rows. Then, outside that transaction, it declares the incidents that
groups asked for and appends the owed timeline events, one per incident for many alerts.
Both steps are driven by state kept in the database, so a crash at any point loses nothing
and a restart finishes the work.

A batch costs a constant number of statements whatever its size: the intake rows, the
stored alerts they may repeat (one query), the groups of the new ones and their incidents
(two queries), then one statement each to write groups, lock and count repeated alerts, add
new alerts and delete the intake rows.
PostgreSQL gets whole columns as arrays (`unnest`); SQLite, in-process, runs executemany.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Max
from tortoise.transactions import in_transaction

from app.config import Settings
from app.errors import DomainError
from app.models import Alert, AlertGroup, AlertStatus, CorrelationRule, IncidentStatus
from app.models import TimelineEvent as TimelineEventRow
from app.services import alerts, lease
from app.services.alerts.correlation import (
    DEFAULT_RULE,
    Rule,
    alert_labels,
    load_rules_for,
    match,
    rule_from_model,
    severity_from_label,
)
from app.services.incident import append_events, declare_incident
from app.services.incident_snapshot import IncidentSnapshot
from app.services.timeline import EventType, NewEvent

log = logging.getLogger(__name__)

LEASE_NAME = "alerts-processor"
# Who the timeline names as the actor of what the processor does.
ACTOR = "alerts"
# Long enough for a batch and its declarations; renewed before each step.
_LEASE_SECONDS = 30.0
# Alerts listed by name in one timeline event; the rest are counted.
EVENT_ALERTS_SHOWN = 20
# Alerts one timeline event accounts for (a bigger backlog takes more than one event).
EVENT_ALERTS_MAX = 10_000
# Bytes of intake JSON one batch takes, whatever its count: one alert may be a megabyte, and
# a batch that cannot fit in memory would fail the same way on every restart.
BATCH_MAX_BYTES = 16 * 1024 * 1024
_ENDED = frozenset({IncidentStatus.RESOLVED, IncidentStatus.CLOSED, IncidentStatus.CANCELLED})
_FIRING = AlertStatus.FIRING.value
_RESOLVED = AlertStatus.RESOLVED.value
_LINKED = "linked"
_RESOLVED_EVENT = "resolved"
_EVENT_TYPES = {_LINKED: EventType.ALERTS_LINKED, _RESOLVED_EVENT: EventType.ALERTS_RESOLVED}


class AlertProcessor:
    def __init__(
        self, settings: Settings, *, use_row_locks: bool, batch_max_bytes: int = BATCH_MAX_BYTES
    ) -> None:
        self._settings = settings
        self._batch_max_bytes = batch_max_bytes
        self._use_row_locks = use_row_locks
        self._wakeup = asyncio.Event()
        self._settle_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Its own owner name, so two processors in one process exclude each other too.
        self.owner = f"{lease.OWNER}:{uuid.uuid4().hex[:8]}"

    def wake(self) -> None:
        self._wakeup.set()

    async def start(self) -> None:
        alerts.set_waker(self.wake)
        # Phase A and phase B run side by side: storing the next batch does not wait for the
        # last one's declarations and events, which take one transaction per incident, and
        # while phase B is busy more alerts pile up for its next, coalesced, round.
        self._tasks = [
            asyncio.create_task(self._loop(), name="alert-processor"),
            asyncio.create_task(self._settle_loop(), name="alert-processor-settle"),
        ]

    async def stop(self) -> None:
        alerts.set_waker(None)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # Another process takes over at once instead of after the lease expires.
        with contextlib.suppress(Exception):
            await lease.release(LEASE_NAME, owner=self.owner)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.alert_poll_seconds)
            self._wakeup.clear()
            try:
                while await self.store_batch():
                    self._settle_wakeup.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert processing failed; retrying on the next poll")

    async def _settle_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._settle_wakeup.wait(), self._settings.alert_poll_seconds
                )
            self._settle_wakeup.clear()
            try:
                await self.settle()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("declaring incidents for alerts failed; retrying on the next poll")

    async def run_once(self) -> int:
        """Process one batch, both phases in turn; returns how many intake rows it took (0:
        nothing to do). The running processor does the same with the phases side by side."""
        taken = await self.store_batch()
        await self.settle()
        return taken

    # --- phase A: deduplicate and correlate, one transaction per batch ----------------------

    async def store_batch(self) -> int:
        """Phase A: one batch of intake rows into alerts and groups, in one transaction.

        Returns how many intake rows it took; 0 when there were none or when this processor
        no longer holds the lease (checked and renewed inside the transaction, whose row lock
        keeps any other processor out until it commits)."""
        if not await lease.acquire(LEASE_NAME, seconds=_LEASE_SECONDS, owner=self.owner):
            return 0
        async with in_transaction() as conn:
            sql = _sql_for(conn)
            now = datetime.now(UTC)
            held, _ = await conn.execute_query(
                sql.renew_lease, [now + timedelta(seconds=_LEASE_SECONDS), LEASE_NAME, self.owner]
            )
            if not held:
                return 0
            rows = await conn.execute_query_dict(
                sql.take_intake, [self._settings.alert_batch_size, self._batch_max_bytes]
            )
            if not rows:
                return 0
            notes = [n for n in (_note(row) for row in rows) if n is not None]
            batch = _Batch(now)
            if notes:
                batch.deduplicate(notes, await self._stored_alerts(conn, sql, notes))
                if batch.correlated:
                    await self._correlate(conn, sql, batch)
                await self._write(conn, sql, batch)
            await conn.execute_query(sql.delete_intake, [sql.array([r["id"] for r in rows])])
        return len(rows)

    async def _stored_alerts(
        self, conn: BaseDBAsyncClient, sql: _Sql, notes: Sequence[_Note]
    ) -> list[dict[str, Any]]:
        """The firing alerts these notifications may repeat, the resolved ones with the
        same start (a late or repeated notification of a lifetime already over) and, for a
        resolution that gives no start, its fingerprint's latest resolved lifetime."""
        active = sorted({n.active_key for n in notes})
        ended = sorted(
            {
                (n.tenant_id, n.source, n.fingerprint, sql.time(n.starts_at))
                for n in notes
                if n.starts_given
            }
        )
        latest = sorted({n.identity for n in notes if not n.starts_given and not n.firing})
        return await conn.execute_query_dict(
            sql.stored_alerts, sql.stored_alerts_args(active, ended, latest)
        )

    async def _correlate(self, conn: BaseDBAsyncClient, sql: _Sql, batch: _Batch) -> None:
        rules = await load_rules_for(tenant_ids={a.tenant_id for a in batch.correlated})
        placed: list[tuple[_Alert, Rule, str]] = []
        for alert in batch.correlated:
            # `rules` is the default rule alone for a tenant with no enabled rule of its own;
            # otherwise an alert no rule matches is stored, ungrouped and unlinked.
            rule = match(rules[alert.tenant_id], alert.match_labels)
            if rule is not None:
                placed.append((alert, rule, rule.group_key(alert.match_labels)))
        keys = sorted({(a.tenant_id, key) for a, _, key in placed})
        found = await conn.execute_query_dict(sql.groups, sql.groups_args(keys))
        # The incidents are read once the groups are locked, in a statement of their own: a
        # group whose incident was set while this waited for its lock then finds it.
        incident_ids = sorted({str(r["incident_id"]) for r in found if r["incident_id"]})
        incidents = {
            str(row["id"]): row
            for row in (
                await conn.execute_query_dict(sql.incidents, [sql.array(incident_ids)])
                if incident_ids
                else []
            )
        }
        groups = {
            (row["tenant_id"], row["key"]): _Group.from_row(
                row, incidents.get(str(row["incident_id"]))
            )
            for row in found
        }
        for alert, rule, key in placed:
            group = groups.get((alert.tenant_id, key))
            if group is None:
                group = groups[(alert.tenant_id, key)] = _Group.new(
                    alert.tenant_id, key, rule.id, alert.first_received_at
                )
            group.take(alert, rule)
        batch.groups = [g for g in groups.values() if g.changed]

    async def _write(self, conn: BaseDBAsyncClient, sql: _Sql, batch: _Batch) -> None:
        restarted = [g.id for g in batch.groups if g.restarted]
        if restarted:
            # Alerts of a past generation that never reached an incident stay out of the new
            # one's declaration.
            await conn.execute_query(sql.detach_alerts, [sql.array(restarted)])
        if batch.groups:
            await sql.upsert_groups(conn, batch.groups)
        counted = [a for a in batch.stored.values() if a.counted]
        if counted:
            # Before the inserts: a new lifetime takes the active_key its predecessor frees.
            await sql.update_alerts(conn, counted, batch.now)
        if batch.fresh:
            await sql.insert_alerts(conn, batch.fresh, batch.now)

    # --- phase B: declare incidents and announce alerts ------------------------------------

    async def settle(self) -> None:
        """Phase B: declare the incidents groups asked for, then append the owed events."""
        if not await lease.acquire(LEASE_NAME, seconds=_LEASE_SECONDS, owner=self.owner):
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
                if not await lease.acquire(LEASE_NAME, seconds=_LEASE_SECONDS, owner=self.owner):
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
                tenant_id=group["tenant_id"],
                actor=ACTOR,
                title=rule.title_for(alert),
                severity=severity,
                impact=rule.impact,
                urgency=rule.urgency,
                description=first.description,
                service=first.service,
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
        now = datetime.now(UTC)
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
            recent = {str(r["incident_id"]): _aware(r["last"]) for r in latest}
        for tenant_id, incident_id in owed:
            last = recent.get(str(incident_id))
            if last is not None and now - last < window:
                continue
            if not await lease.acquire(LEASE_NAME, seconds=_LEASE_SECONDS, owner=self.owner):
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
            for kind in (_LINKED, _RESOLVED_EVENT)
            if kind in by_kind
        ]

        async def clear(_: IncidentSnapshot) -> None:
            # Locked in id order first, as phase A locks the alerts it updates.
            await (
                Alert.filter(id__in=sorted(str(r["id"]) for r in rows))
                .order_by("id")
                .select_for_update()
                .values_list("id", flat=True)
            )
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
            tenant_id=tenant_id, incident_id=incident_id, actor=ACTOR, events=events, also=clear
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
    linked = await Alert.filter(group_id=group["id"], incident_id__isnull=True).update(
        incident_id=incident_id, pending_event=_LINKED, updated_at=datetime.now(UTC)
    )
    if not linked and require_alerts:
        raise _NoAlerts


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
        "firing": sum(1 for r in rows if _status(r) == _FIRING),
        "alerts": shown,
        "more": len(rows) - len(shown),
    }


# --- the batch in memory --------------------------------------------------------------------


@dataclass(slots=True)
class _Note:
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
        return f"{self.tenant_id}|{self.source}|{self.fingerprint}"


def _note(row: Mapping[str, Any]) -> _Note | None:
    try:
        payload = row["payload"]
        if isinstance(payload, str | bytes):
            payload = json.loads(payload)
        status = payload["status"]
        if status not in (_FIRING, _RESOLVED):
            raise ValueError(f"unknown status {status!r}")
        received = _aware(row["received_at"])
        ends = payload.get("endsAt")
        starts = _parse_time(payload.get("startsAt"))
        return _Note(
            tenant_id=row["tenant_id"],
            source=str(payload["source"])[:128],
            fingerprint=str(payload["fingerprint"])[:255],
            firing=status == _FIRING,
            starts_at=starts or received,
            starts_given=starts is not None,
            ends_at=_parse_time(ends) if ends else None,
            received_at=received,
            payload=payload,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        # Never stored by the intake (it validates); skipping it keeps the queue moving.
        log.error("alert intake row %s is malformed and was dropped: %r", row.get("id"), row)
        return None


@dataclass(slots=True)
class _Alert:
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
    labels: str | None = None
    annotations: str | None = None
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
        return (
            f"{self.tenant_id}|{self.source}|{self.fingerprint}" if self.status == _FIRING else None
        )

    def repeat(self, note: _Note, *, refresh: bool) -> None:
        self.added += 1
        self.last_received_at = max(self.last_received_at, note.received_at)
        if refresh:
            self.labels = _json(note.payload.get("labels") or {})
            self.annotations = _json(note.payload.get("annotations") or {})

    def resolve(self, note: _Note) -> None:
        self.repeat(note, refresh=False)
        self.status = _RESOLVED
        self.resolves = True
        self.ends_at = note.ends_at or note.received_at


@dataclass(slots=True)
class _Batch:
    now: datetime
    # Stored alerts the batch touched, by id.
    stored: dict[str, _Alert] = field(default_factory=dict)
    # Alerts the batch creates, in arrival order, and those of them that group.
    fresh: list[_Alert] = field(default_factory=list)
    correlated: list[_Alert] = field(default_factory=list)
    groups: list[_Group] = field(default_factory=list)

    def deduplicate(self, notes: Sequence[_Note], found: Sequence[Mapping[str, Any]]) -> None:
        firing: dict[tuple[str, str, str], _Alert] = {}
        ended: dict[tuple[str, str, str, datetime], _Alert] = {}
        # Each fingerprint's latest resolved lifetime, for resolutions that give no start.
        latest: dict[tuple[str, str, str], _Alert] = {}
        for row in found:
            alert = _Alert(
                id=str(row["id"]),
                tenant_id=row["tenant_id"],
                source=row["source"],
                fingerprint=row["fingerprint"],
                status=row["status"],
                starts_at=_aware(row["starts_at"]),
                first_received_at=self.now,
                last_received_at=_aware(row["last_received_at"]),
            )
            alert = self.stored.setdefault(alert.id, alert)
            identity = (alert.tenant_id, alert.source, alert.fingerprint)
            if alert.status == _FIRING:
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

    def _create(self, note: _Note) -> _Alert:
        alert = _Alert(
            id=str(uuid.uuid4()),
            tenant_id=note.tenant_id,
            source=note.source,
            fingerprint=note.fingerprint,
            status=_FIRING if note.firing else _RESOLVED,
            starts_at=note.starts_at,
            first_received_at=note.received_at,
            last_received_at=note.received_at,
            new=True,
            ends_at=None if note.firing else (note.ends_at or note.received_at),
            labels=_json(note.payload.get("labels") or {}),
            annotations=_json(note.payload.get("annotations") or {}),
            payload=note.payload,
        )
        if note.firing:
            # Only alerts that fire are correlated: one that arrives resolved declares nothing.
            alert.match_labels = alert_labels(note.payload)
            self.correlated.append(alert)
        self.fresh.append(alert)
        return alert


@dataclass(slots=True)
class _Group:
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
    def from_row(cls, row: Mapping[str, Any], incident: Mapping[str, Any] | None) -> _Group:
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
            incident_live=status is not None and IncidentStatus(status) not in _ENDED,
            declare_pending=bool(row["declare_pending"]),
            opened_at=_aware(row["opened_at"]),
            last_alert_at=_aware(row["last_alert_at"]),
            alert_count=int(row["alert_count"]),
        )

    @classmethod
    def new(cls, tenant_id: str, key: str, rule_id: str, at: datetime) -> _Group:
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

    def take(self, alert: _Alert, rule: Rule) -> None:
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
            alert.pending_event = _LINKED
        elif rule.auto_declare and self.alert_count >= rule.min_alerts:
            self.declare_pending = True


# --- SQL per backend ------------------------------------------------------------------------

_ALERT_COLUMNS = (
    "id, tenant_id, source, fingerprint, active_key, status, alertname, service, severity, "
    "title, description, labels, annotations, url, starts_at, ends_at, first_received_at, "
    "last_received_at, count, group_id, incident_id, pending_event, created_at, updated_at"
)
_GROUP_COLUMNS = (
    "id, tenant_id, key, rule_id, generation, incident_id, declare_pending, opened_at, "
    "last_alert_at, alert_count"
)
_STORED_COLUMNS = "id, tenant_id, source, fingerprint, status, starts_at, last_received_at"
_GROUP_SELECT = ", ".join("g." + c for c in _GROUP_COLUMNS.split(", "))
_STORED_SELECT = ", ".join("a." + c for c in _STORED_COLUMNS.split(", "))
# An incident's status, and its survivor's when it was merged into another.
_INCIDENT_SELECT = (
    "SELECT i.id, i.status, i.merged_into_id, m.status AS merged_status FROM incident i "
    "LEFT JOIN incident m ON m.id = i.merged_into_id "
)
_GROUP_UPSERT_SET = (
    "rule_id = excluded.rule_id, generation = excluded.generation, "
    "incident_id = excluded.incident_id, declare_pending = excluded.declare_pending, "
    "opened_at = excluded.opened_at, last_alert_at = excluded.last_alert_at, "
    "alert_count = excluded.alert_count"
)


class _Sql:
    renew_lease: str
    take_intake: str
    delete_intake: str
    stored_alerts: str
    groups: str
    incidents: str
    detach_alerts: str

    def array(self, values: Sequence[Any]) -> Any:
        raise NotImplementedError

    def time(self, moment: datetime) -> Any:
        return moment

    def stored_alerts_args(
        self,
        active: Sequence[str],
        ended: Sequence[tuple[str, str, str, Any]],
        latest: Sequence[tuple[str, str, str]],
    ) -> list[Any]:
        raise NotImplementedError

    def groups_args(self, keys: Sequence[tuple[str, str]]) -> list[Any]:
        raise NotImplementedError

    async def upsert_groups(self, conn: BaseDBAsyncClient, groups: Sequence[_Group]) -> None:
        raise NotImplementedError

    async def update_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[_Alert], now: datetime
    ) -> None:
        raise NotImplementedError

    async def insert_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[_Alert], now: datetime
    ) -> None:
        raise NotImplementedError


def _new_alert_values(alert: _Alert) -> list[Any]:
    p = alert.payload
    return [
        alert.id,
        alert.tenant_id,
        alert.source,
        alert.fingerprint,
        alert.active_key,
        alert.status,
        _clip(p.get("alertname"), 255),
        _clip(p.get("service"), 255),
        _clip(p.get("severity"), 64),
        _clip(p.get("title"), 255) or alert.fingerprint[:255],
        p.get("description"),
        alert.labels,
        alert.annotations,
        _clip(p.get("url"), 2048),
        alert.starts_at,
        alert.ends_at,
        alert.first_received_at,
        alert.last_received_at,
        1 + alert.added,
        alert.group_id,
        alert.incident_id,
        alert.pending_event,
    ]


class _Postgres(_Sql):
    renew_lease = "UPDATE lease SET expires_at = $1 WHERE name = $2 AND owner = $3"
    # The oldest rows up to the batch's count, and up to its bytes (always at least one):
    # rows past the budget are measured by the server and never sent.
    take_intake = (
        "SELECT id, tenant_id, payload, received_at FROM (SELECT id, tenant_id, payload, "
        "received_at, octet_length(payload) AS size, "
        "sum(octet_length(payload)) OVER (ORDER BY id) AS upto FROM (SELECT id, tenant_id, "
        "payload::text AS payload, received_at FROM alert_intake ORDER BY id LIMIT $1) t) b "
        "WHERE upto <= $2 OR upto = size ORDER BY id"
    )
    delete_intake = "DELETE FROM alert_intake WHERE id = ANY($1::bigint[])"
    stored_alerts = (
        f"SELECT {_STORED_COLUMNS}, FALSE AS latest FROM alert "
        "WHERE active_key = ANY($1::text[]) "
        f"UNION ALL SELECT {_STORED_SELECT}, FALSE "
        "FROM alert a JOIN unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) "
        "AS k(tenant_id, source, fingerprint, starts_at) ON a.tenant_id = k.tenant_id "
        "AND a.source = k.source AND a.fingerprint = k.fingerprint "
        "AND a.starts_at = k.starts_at WHERE a.status = 'RESOLVED' "
        f"UNION ALL SELECT {_STORED_SELECT}, TRUE "
        "FROM unnest($6::text[], $7::text[], $8::text[]) AS k(tenant_id, source, fingerprint) "
        f"JOIN LATERAL (SELECT {_STORED_COLUMNS} FROM alert b WHERE b.tenant_id = k.tenant_id "
        "AND b.source = k.source AND b.fingerprint = k.fingerprint AND b.status = 'RESOLVED' "
        "ORDER BY b.first_received_at DESC, b.id DESC LIMIT 1) a ON TRUE"
    )
    # The groups' rows stay locked until the batch commits, so a hand-made link of one of
    # their alerts waits instead of being overwritten. Locked in id order, so that two
    # writers locking several of them cannot deadlock.
    groups = (
        f"SELECT {_GROUP_SELECT} FROM alert_group g "
        "JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, key) "
        "ON g.tenant_id = k.tenant_id AND g.key = k.key ORDER BY g.id FOR UPDATE OF g"
    )
    incidents = _INCIDENT_SELECT + "WHERE i.id = ANY($1::uuid[])"
    detach_alerts = (
        "UPDATE alert SET group_id = NULL WHERE group_id = ANY($1::uuid[]) AND incident_id IS NULL"
    )

    def array(self, values: Sequence[Any]) -> Any:
        return list(values)

    def stored_alerts_args(
        self,
        active: Sequence[str],
        ended: Sequence[tuple[str, str, str, Any]],
        latest: Sequence[tuple[str, str, str]],
    ) -> list[Any]:
        return [list(active), *_columns(ended, 4), *_columns(latest, 3)]

    def groups_args(self, keys: Sequence[tuple[str, str]]) -> list[Any]:
        return [list(column) for column in _columns(keys, 2)]

    async def upsert_groups(self, conn: BaseDBAsyncClient, groups: Sequence[_Group]) -> None:
        await conn.execute_query(
            f"INSERT INTO alert_group ({_GROUP_COLUMNS}) SELECT * FROM unnest("
            "$1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::uuid[], "
            "$7::bool[], $8::timestamptz[], $9::timestamptz[], $10::int[]) "
            f"ON CONFLICT (tenant_id, key) DO UPDATE SET {_GROUP_UPSERT_SET}",
            [list(column) for column in _columns([_group_values(g) for g in groups], 10)],
        )

    async def update_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[_Alert], now: datetime
    ) -> None:
        rows = [
            (a.id, a.added, a.last_received_at, a.labels, a.annotations, a.resolves, a.ends_at)
            for a in alerts
        ]
        # Locked in id order first, as phase B locks the alerts it announces: one join's
        # order is the plan's, and two writers locking rows in different orders can deadlock.
        await conn.execute_query(
            "SELECT id FROM alert WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
            [[a.id for a in alerts]],
        )
        await conn.execute_query(
            "UPDATE alert AS a SET count = a.count + u.added, "
            "last_received_at = GREATEST(a.last_received_at, u.last_received_at), "
            "labels = COALESCE(u.labels::jsonb, a.labels), "
            "annotations = COALESCE(u.annotations::jsonb, a.annotations), "
            "status = CASE WHEN u.resolves THEN 'RESOLVED' ELSE a.status END, "
            "active_key = CASE WHEN u.resolves THEN NULL ELSE a.active_key END, "
            "ends_at = CASE WHEN u.resolves THEN u.ends_at ELSE a.ends_at END, "
            # A linked alert that stops firing is owed a resolved event, unless its link
            # has not been announced yet: that event will show it resolved.
            "pending_event = CASE WHEN u.resolves AND a.incident_id IS NOT NULL "
            "AND a.pending_event IS NULL THEN 'resolved' ELSE a.pending_event END, "
            "updated_at = $8 "
            "FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[], $5::text[], "
            "$6::bool[], $7::timestamptz[]) "
            "AS u(id, added, last_received_at, labels, annotations, resolves, ends_at) "
            "WHERE a.id = u.id",
            [*(list(column) for column in _columns(rows, 7)), now],
        )

    async def insert_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[_Alert], now: datetime
    ) -> None:
        columns = _columns([_new_alert_values(a) for a in alerts], 22)
        await conn.execute_query(
            f"INSERT INTO alert ({_ALERT_COLUMNS}) SELECT u.id, u.tenant_id, u.source, "
            "u.fingerprint, u.active_key, u.status, u.alertname, u.service, u.severity, "
            "u.title, u.description, u.labels::jsonb, u.annotations::jsonb, u.url, "
            "u.starts_at, u.ends_at, u.first_received_at, u.last_received_at, u.count, "
            "u.group_id, u.incident_id, u.pending_event, $23, $23 FROM unnest("
            "$1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
            "$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], "
            "$13::text[], $14::text[], $15::timestamptz[], $16::timestamptz[], "
            "$17::timestamptz[], $18::timestamptz[], $19::int[], $20::uuid[], $21::uuid[], "
            "$22::text[]) AS u(id, tenant_id, source, fingerprint, active_key, status, "
            "alertname, service, severity, title, description, labels, annotations, url, "
            "starts_at, ends_at, first_received_at, last_received_at, count, group_id, "
            "incident_id, pending_event)",
            [*(list(column) for column in columns), now],
        )


class _Sqlite(_Sql):
    renew_lease = "UPDATE lease SET expires_at = ? WHERE name = ? AND owner = ?"
    take_intake = (
        "SELECT id, tenant_id, payload, received_at FROM (SELECT id, tenant_id, payload, "
        "received_at, length(CAST(payload AS BLOB)) AS size, "
        "sum(length(CAST(payload AS BLOB))) OVER (ORDER BY id) AS upto FROM (SELECT id, "
        "tenant_id, payload, received_at FROM alert_intake ORDER BY id LIMIT ?)) "
        "WHERE upto <= ? OR upto = size ORDER BY id"
    )
    delete_intake = "DELETE FROM alert_intake WHERE id IN (SELECT value FROM json_each(?))"
    stored_alerts = (
        f"SELECT {_STORED_COLUMNS}, 0 AS latest FROM alert "
        "WHERE active_key IN (SELECT value FROM json_each(?)) "
        f"UNION ALL SELECT {_STORED_SELECT}, 0 "
        "FROM alert a JOIN (SELECT json_extract(value, '$[0]') AS tenant_id, "
        "json_extract(value, '$[1]') AS source, json_extract(value, '$[2]') AS fingerprint, "
        "json_extract(value, '$[3]') AS starts_at FROM json_each(?)) k "
        "ON a.tenant_id = k.tenant_id AND a.source = k.source "
        "AND a.fingerprint = k.fingerprint AND a.starts_at = k.starts_at "
        "WHERE a.status = 'RESOLVED' "
        f"UNION ALL SELECT {_STORED_SELECT}, 1 FROM alert a WHERE a.id IN (SELECT (SELECT b.id "
        "FROM alert b WHERE b.tenant_id = json_extract(value, '$[0]') "
        "AND b.source = json_extract(value, '$[1]') "
        "AND b.fingerprint = json_extract(value, '$[2]') AND b.status = 'RESOLVED' "
        "ORDER BY b.first_received_at DESC, b.id DESC LIMIT 1) FROM json_each(?))"
    )
    groups = (
        f"SELECT {_GROUP_SELECT} FROM alert_group g "
        "JOIN (SELECT json_extract(value, '$[0]') AS tenant_id, "
        "json_extract(value, '$[1]') AS key FROM json_each(?)) k "
        "ON g.tenant_id = k.tenant_id AND g.key = k.key"
    )
    incidents = _INCIDENT_SELECT + "WHERE i.id IN (SELECT value FROM json_each(?))"
    detach_alerts = (
        "UPDATE alert SET group_id = NULL WHERE group_id IN (SELECT value FROM json_each(?)) "
        "AND incident_id IS NULL"
    )

    def array(self, values: Sequence[Any]) -> Any:
        return _json(list(values))

    def time(self, moment: datetime) -> Any:
        # As Tortoise's sqlite adapter stores it, so that equal instants compare equal.
        return moment.isoformat(" ")

    def stored_alerts_args(
        self,
        active: Sequence[str],
        ended: Sequence[tuple[str, str, str, Any]],
        latest: Sequence[tuple[str, str, str]],
    ) -> list[Any]:
        return [
            _json(list(active)),
            _json([list(e) for e in ended]),
            _json([list(k) for k in latest]),
        ]

    def groups_args(self, keys: Sequence[tuple[str, str]]) -> list[Any]:
        return [_json([list(k) for k in keys])]

    async def upsert_groups(self, conn: BaseDBAsyncClient, groups: Sequence[_Group]) -> None:
        await conn.execute_many(
            f"INSERT INTO alert_group ({_GROUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (tenant_id, key) DO UPDATE SET {_GROUP_UPSERT_SET}",
            [_group_values(g) for g in groups],
        )

    async def update_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[_Alert], now: datetime
    ) -> None:
        await conn.execute_many(
            "UPDATE alert SET count = count + ?1, last_received_at = ?2, "
            "labels = COALESCE(?3, labels), annotations = COALESCE(?4, annotations), "
            "status = CASE WHEN ?5 THEN 'RESOLVED' ELSE status END, "
            "active_key = CASE WHEN ?5 THEN NULL ELSE active_key END, "
            "ends_at = CASE WHEN ?5 THEN ?6 ELSE ends_at END, "
            "pending_event = CASE WHEN ?5 AND incident_id IS NOT NULL "
            "AND pending_event IS NULL THEN 'resolved' ELSE pending_event END, "
            "updated_at = ?7 WHERE id = ?8",
            [
                [a.added, a.last_received_at, a.labels, a.annotations, a.resolves, a.ends_at]
                + [now, a.id]
                for a in alerts
            ],
        )

    async def insert_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[_Alert], now: datetime
    ) -> None:
        await conn.execute_many(
            f"INSERT INTO alert ({_ALERT_COLUMNS}) VALUES ({', '.join(['?'] * 24)})",
            [[*_new_alert_values(a), now, now] for a in alerts],
        )


_POSTGRES = _Postgres()
_SQLITE = _Sqlite()


def _sql_for(conn: BaseDBAsyncClient) -> _Sql:
    return _SQLITE if conn.capabilities.dialect == "sqlite" else _POSTGRES


# --- helpers --------------------------------------------------------------------------------


def _group_values(group: _Group) -> list[Any]:
    return [
        group.id,
        group.tenant_id,
        group.key,
        group.rule_id,
        group.generation,
        group.incident_id,
        group.declare_pending,
        group.opened_at,
        group.last_alert_at,
        group.alert_count,
    ]


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _clip(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _status(row: Mapping[str, Any]) -> str:
    status = row["status"]
    return str(status.value if isinstance(status, AlertStatus) else status)


def _uuids(values: set[str]) -> list[uuid.UUID]:
    found = []
    for value in values:
        with contextlib.suppress(ValueError):
            found.append(uuid.UUID(value))
    return found


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return _aware(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def _aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)

"""The immutable audit log: who did what to which object, from which request.

`record` is called inside a command's transaction, so the audit record and the change commit
together or not at all. The request's origin (actor, token, request id) is set once per
request by the API layer (`set_origin`), and read here, so every command records it without
passing it through every call.

Reads of restricted incidents are recorded once per reader (actor and token), incident and
field in each window of `ReadWindow.seconds` (INCIDENTGRAPH_AUDIT_READ_WINDOW_SECONDS), per
process: a dashboard polling every few seconds leaves one record a window, not one a poll,
and the first read of each window is still recorded before it is answered.

Records of an incident carry its data (field deltas), so they are read as the incident is
(`list_records`): those of an incident that does not exist for the reader are not listed, and
field values above the reader's clearance on that incident read as redacted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pypika_tortoise.functions import Cast
from tortoise.expressions import Function, Q, Subquery

from app.core.clock import utcnow
from app.core.pagination import page_size
from app.core.text import storable
from app.errors import ValidationFailed
from app.models import AuditRecord, Classification, Incident
from app.services.access.caller import Caller
from app.services.access.classification import field_readable, incident_visible, redact_json


@dataclass(frozen=True, slots=True)
class Origin:
    actor: str | None
    token_id: str | None = None
    request_id: str | None = None


SYSTEM = Origin(actor="system")
READ_ACTION = "incident.read"
_origin: ContextVar[Origin] = ContextVar("audit_origin", default=SYSTEM)


def set_origin(origin: Origin) -> None:
    """For the rest of the current task (a request's or a connection's)."""
    _origin.set(origin)


async def record(
    *, tenant_id: str, action: str, target: str | None, changes: Mapping[str, Any]
) -> None:
    """Write an audit record; call inside the transaction of the change it records."""
    origin = _origin.get()
    await AuditRecord.create(
        tenant_id=tenant_id,
        time=utcnow(),
        actor=origin.actor,
        token_id=origin.token_id,
        request_id=origin.request_id,
        action=action,
        target=target,
        changes=dict(changes),
    )


def current_origin() -> Origin:
    """Who is acting in the current task."""
    return _origin.get()


Read = tuple[str, str, str]  # (tenant, incident, via)


class ReadWindow:
    """When each reader last had each read recorded, to record it once per window."""

    # Forget what was recorded longer ago than the window once this many are remembered.
    _SWEEP_AT = 10_000

    def __init__(self, seconds: float = 300.0) -> None:
        self.seconds = seconds
        self._recorded: dict[tuple[str | None, str | None, Read], float] = {}

    def take(self, reads: Sequence[Read], origin: Origin, now: float) -> list[Read]:
        """The reads `origin` has no record of within the window, now counted as recorded."""
        if self.seconds <= 0 or origin.actor is None:
            return list(reads)
        if len(self._recorded) >= self._SWEEP_AT:
            horizon = now - self.seconds
            self._recorded = {k: t for k, t in self._recorded.items() if t > horizon}
        due = []
        for read in reads:
            key = (origin.actor, origin.token_id, read)
            last = self._recorded.get(key)
            if last is None or now - last >= self.seconds:
                self._recorded[key] = now
                due.append(read)
        return due

    def forget(self, reads: Sequence[Read], origin: Origin) -> None:
        """Their write failed: the next read records them."""
        for read in reads:
            self._recorded.pop((origin.actor, origin.token_id, read), None)


READ_WINDOW = ReadWindow()


async def record_reads(*, tenant_id: str, targets: Sequence[str], via: str) -> None:
    """Audit reads of restricted incidents; the caller fails when this does.

    While a read is made once for several readers (`SharedReads.collecting`), it is kept for
    each of them to record as their own instead.
    """
    if not targets:
        return
    shared = _shared_reads.get()
    if shared is not None:
        shared.add(tenant_id=tenant_id, targets=targets, via=via)
        return
    await _write_reads([(tenant_id, target, via) for target in targets], [_origin.get()])


async def _write_reads(reads: Sequence[Read], origins: Sequence[Origin]) -> None:
    """One record per origin and read not recorded within the window, all in one write."""
    now = utcnow()
    moment = time.monotonic()
    due = [
        (origin, READ_WINDOW.take(list(dict.fromkeys(reads)), origin, moment)) for origin in origins
    ]
    records = [
        AuditRecord(
            tenant_id=tenant_id,
            time=now,
            actor=origin.actor,
            token_id=origin.token_id,
            request_id=origin.request_id,
            action=READ_ACTION,
            target=target,
            changes={"via": via},
        )
        for origin, taken in due
        for tenant_id, target, via in taken
    ]
    if not records:
        return
    try:
        await AuditRecord.bulk_create(records)
    except BaseException:
        for origin, taken in due:
            READ_WINDOW.forget(taken, origin)
        raise


_shared_reads: ContextVar[SharedReads | None] = ContextVar("audit_shared_reads", default=None)


class SharedReads:
    """Restricted reads made once on behalf of several readers, recorded for each of them.

    A live event is executed once for every subscriber with the same document and view
    (app/schema/execution.py): reads made during that execution (`collecting`) are kept here,
    not written for whichever subscriber happened to execute it. Each reader then records them
    as its own (`record_for`) before it is answered; readers recording in the same turn of
    the event loop share one write.
    """

    def __init__(self) -> None:
        self._reads: dict[Read, None] = {}
        self._batch: list[Origin] = []
        self._flush: asyncio.Future[None] | None = None

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Within: reads are kept here, in this task and in the tasks it starts."""
        token = _shared_reads.set(self)
        try:
            yield
        finally:
            _shared_reads.reset(token)

    @property
    def empty(self) -> bool:
        return not self._reads

    def add(self, *, tenant_id: str, targets: Sequence[str], via: str) -> None:
        self._reads.update(dict.fromkeys((tenant_id, target, via) for target in targets))

    async def record_for(self, origin: Origin) -> None:
        """Record the reads as `origin`'s; fails when the write does."""
        if not self._reads:
            return
        self._batch.append(origin)
        if self._flush is None:
            self._flush = asyncio.ensure_future(self._write())
            # Its readers may all be gone by the time it fails: the failure is theirs only.
            self._flush.add_done_callback(_retrieve)
        await asyncio.shield(self._flush)

    async def _write(self) -> None:
        # Started on the next turn of the loop: the readers woken with this one have joined.
        origins, self._batch, self._flush = self._batch, [], None
        await _write_reads(list(self._reads), origins)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str | None = None
    actor: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A record as one reader may see it: `redacted` when some of its values were hidden."""

    time: datetime
    actor: str | None
    token_id: str | None
    request_id: str | None
    action: str
    target: str | None
    changes: dict[str, Any]
    redacted: bool


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[tuple[str, AuditEntry]]
    has_next_page: bool


INCIDENT_ACTIONS = "incident."
# Incident fields whose value names another incident.
_REFERENCES = frozenset({"merged_into_id"})


class _AsText(Function):
    """CAST(field AS VARCHAR): an incident's UUID as audit records name their target."""

    database_func = Cast

    def __init__(self, field: str) -> None:
        super().__init__(field, "VARCHAR")


def _key(value: Any) -> str | None:
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def shown(
    row: AuditRecord,
    *,
    clearance: Classification,
    incidents: Mapping[str, Classification],
) -> AuditEntry:
    """The record as a reader with `clearance` may see it; `incidents` holds the
    classification of every incident it names (one not there is taken as RESTRICTED).

    The deltas of an incident's fields are redacted as the incident's own fields are, and a
    reference to an incident the reader may not know of reads null.
    """
    changes = dict(row.changes)
    redacted = False
    fields = changes.get("fields")
    if row.action.startswith(INCIDENT_ACTIONS) and isinstance(fields, Mapping):
        level = incidents.get(row.target or "", Classification.RESTRICTED)
        visible: dict[str, Any] = {}
        for name, delta in fields.items():
            if not field_readable(clearance, level, name):
                visible[name] = redact_json(delta)
            elif name in _REFERENCES and isinstance(delta, Mapping):
                visible[name] = {
                    side: value
                    if value is None
                    or incident_visible(
                        clearance, incidents.get(_key(value) or "", Classification.RESTRICTED)
                    )
                    else None
                    for side, value in delta.items()
                }
            else:
                visible[name] = delta
            redacted = redacted or visible[name] != delta
        changes["fields"] = visible
    return AuditEntry(
        time=row.time,
        actor=row.actor,
        token_id=row.token_id,
        request_id=row.request_id,
        action=row.action,
        target=row.target,
        changes=changes,
        redacted=redacted,
    )


def _named_incidents(rows: Sequence[AuditRecord]) -> set[str]:
    named: set[str] = set()
    for row in rows:
        if not row.action.startswith(INCIDENT_ACTIONS):
            continue
        named.add(_key(row.target) or "")
        fields = row.changes.get("fields")
        if isinstance(fields, Mapping):
            for name in _REFERENCES:
                delta = fields.get(name)
                if isinstance(delta, Mapping):
                    named.update(_key(v) or "" for v in delta.values())
    named.discard("")
    return named


async def _classifications(tenant_id: str, keys: set[str]) -> dict[str, Classification]:
    if not keys:
        return {}
    rows = await Incident.filter(tenant_id=tenant_id, id__in=sorted(keys)).values_list(
        "id", "classification"
    )
    return {str(key): Classification(level) for key, level in rows}


# A cursor names a position by the tenant's own data only: the time of the last record seen
# and how many records of exactly that time were seen. A row id would count every tenant's
# records and tell one tenant how busy the others are.
def _cursor(time: datetime, seen_at_time: int) -> str:
    raw = f"audit:{time.astimezone(UTC).isoformat()}|{seen_at_time}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        kind, _, rest = text.partition(":")
        when, _, seen = rest.partition("|")
        if kind != "audit" or not seen.isdigit() or len(seen) > 9:
            raise ValueError(cursor)
        time = datetime.fromisoformat(when)
        if time.tzinfo is None:
            raise ValueError(cursor)
        return time.astimezone(UTC), int(seen)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("malformed cursor", field="after") from exc


async def list_records(
    *,
    caller: Caller,
    filter: AuditFilter,
    first: int,
    after: str | None,
) -> AuditPage:
    """Newest first (by time; records of the same time in the order they were written), as a
    reader with `clearance` may see them: records of an incident that does not exist for it
    are left out (in the query, so pages stay full), the others redacted (`shown`)."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    page_size(first)
    for field in ("action", "actor", "target"):
        value = getattr(filter, field)
        if value is not None:
            storable(value, field=f"filter.{field}")
    query = AuditRecord.filter(tenant_id=tenant_id)
    if filter.action:
        query = query.filter(action=filter.action)
    if filter.actor:
        query = query.filter(actor=filter.actor)
    if filter.target:
        query = query.filter(target=filter.target)
    if filter.since:
        query = query.filter(time__gte=filter.since)
    if filter.until:
        query = query.filter(time__lt=filter.until)
    hidden = [c for c in Classification if not incident_visible(clearance, c)]
    if hidden:
        invisible = (
            Incident.filter(tenant_id=tenant_id, classification__in=hidden)
            .annotate(key=_AsText("id"))
            .values("key")
        )
        query = query.filter(Q(target__isnull=True) | ~Q(target__in=Subquery(invisible)))
    skip, last_time = 0, None
    if after is not None:
        last_time, skip = _after(after)
        query = query.filter(time__lte=last_time)
    rows = await query.order_by("-time", "-id").offset(skip).limit(first + 1)
    page = rows[:first]
    incidents = await _classifications(tenant_id, _named_incidents(page))
    items: list[tuple[str, AuditEntry]] = []
    for row in page:
        skip = skip + 1 if row.time == last_time else 1
        last_time = row.time
        items.append(
            (_cursor(row.time, skip), shown(row, clearance=clearance, incidents=incidents))
        )
    return AuditPage(items, has_next_page=len(rows) > first)

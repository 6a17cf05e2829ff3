"""The immutable audit log: who did what to which object, from which request.

`record` is called inside a command's transaction, so the audit record and the change commit
together or not at all. The request's origin (actor, token, request id) is set once per
request by the API layer (`set_origin`), and read here, so every command records it without
passing it through every call.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.errors import ValidationFailed
from app.models import AuditRecord
from app.services.incident_validation import storable


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
        time=datetime.now(UTC),
        actor=origin.actor,
        token_id=origin.token_id,
        request_id=origin.request_id,
        action=action,
        target=target,
        changes=dict(changes),
    )


async def record_reads(*, tenant_id: str, targets: Sequence[str], via: str) -> None:
    """Audit reads of restricted incidents; the caller fails when this does."""
    if not targets:
        return
    origin = _origin.get()
    now = datetime.now(UTC)
    await AuditRecord.bulk_create(
        [
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
            for target in dict.fromkeys(targets)
        ]
    )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str | None = None
    actor: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[tuple[str, AuditRecord]]
    has_next_page: bool


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
    *, tenant_id: str, filter: AuditFilter, first: int, after: str | None
) -> AuditPage:
    """Newest first (by time; records of the same time in the order they were written)."""
    if not 0 <= first <= 500:
        raise ValidationFailed("first must be between 0 and 500", field="first")
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
    skip, last_time = 0, None
    if after is not None:
        last_time, skip = _after(after)
        query = query.filter(time__lte=last_time)
    rows = await query.order_by("-time", "-id").offset(skip).limit(first + 1)
    items: list[tuple[str, AuditRecord]] = []
    for row in rows[:first]:
        skip = skip + 1 if row.time == last_time else 1
        last_time = row.time
        items.append((_cursor(row.time, skip), row))
    return AuditPage(items, has_next_page=len(rows) > first)

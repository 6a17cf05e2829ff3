"""The immutable audit log: who did what to which object, from which request.

`record` is called inside a command's transaction, so the audit record and the change commit
together or not at all. The request's origin (actor, token, request id) is set once per
request by the API layer (`set_origin`), and read here, so every command records it without
passing it through every call.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
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


def _cursor(record_id: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{record_id}".encode()).decode().rstrip("=")


def _after(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        kind, _, number = text.partition(":")
        if kind != "audit" or not number.isdigit() or len(number) > 18:
            raise ValueError(cursor)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("malformed cursor", field="after") from exc


async def list_records(
    *, tenant_id: str, filter: AuditFilter, first: int, after: str | None
) -> AuditPage:
    """Newest first."""
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
    if after is not None:
        query = query.filter(id__lt=_after(after))
    rows = await query.order_by("-id").limit(first + 1)
    return AuditPage([(_cursor(r.id), r) for r in rows[:first]], has_next_page=len(rows) > first)

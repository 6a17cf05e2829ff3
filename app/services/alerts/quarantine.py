"""Intake rows the alert processor could not store, as their tenant's admins read them.

The processor moves such a row here (services/alerts/processor.py) so that it holds up no
other alert; the row keeps its payload as accepted and the error that stopped it. An admin
sends rows back to the intake (once what stopped them is fixed) or discards them; either
takes a set of rows whole or not at all, so a row is never both retried and kept, nor
queued twice by two admins at once.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from app.core.pagination import page_size
from app.errors import Conflict, NotFound, ValidationFailed
from app.models import AlertIntake, AlertQuarantine
from app.services import alerts

log = logging.getLogger(__name__)

# Rows one retry or discard may name.
ACTION_MAX = 500


@dataclass(frozen=True, slots=True)
class QuarantinedView:
    id: int
    payload: dict[str, Any]
    received_at: datetime
    quarantined_at: datetime
    error: str

    @property
    def source(self) -> str | None:
        return _text(self.payload.get("source"))

    @property
    def fingerprint(self) -> str | None:
        return _text(self.payload.get("fingerprint"))


@dataclass(frozen=True, slots=True)
class QuarantinePage:
    items: list[tuple[str, QuarantinedView]]  # (cursor, row)
    has_next_page: bool
    has_previous_page: bool


async def list_quarantined(
    *, tenant_id: str, first: int | None = None, after: str | None = None
) -> QuarantinePage:
    """The tenant's quarantined rows, newest first."""
    size = page_size(first)
    query = AlertQuarantine.filter(tenant_id=tenant_id)
    if after is not None:
        query = query.filter(id__lt=_decode_cursor(after))
    rows = await query.order_by("-id").limit(size + 1)
    views = [
        QuarantinedView(
            id=int(row.id),
            payload=row.payload if isinstance(row.payload, dict) else {"payload": row.payload},
            received_at=row.received_at,
            quarantined_at=row.quarantined_at,
            error=row.error,
        )
        for row in rows[:size]
    ]
    return QuarantinePage(
        items=[(_encode_cursor(v.id), v) for v in views],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
    )


async def count_quarantined(*, tenant_id: str) -> int:
    count: int = await AlertQuarantine.filter(tenant_id=tenant_id).count()
    return count


async def retry_quarantined(*, tenant_id: str, ids: Sequence[int]) -> int:
    """The rows back into the intake, behind what is queued there, as they were accepted;
    the processor takes them as any other (one that fails again is quarantined again)."""
    wanted = _action_ids(ids)
    async with in_transaction() as conn:
        rows = await _take(tenant_id, wanted, conn)
        for row in rows:
            await AlertIntake.create(
                tenant_id=tenant_id,
                payload=row.payload,
                received_at=row.received_at,
                using_db=conn,
            )
    alerts.intake_written.send(None)
    log.info("%d quarantined alerts of tenant %s sent back to the intake", len(rows), tenant_id)
    return len(rows)


async def discard_quarantined(*, tenant_id: str, ids: Sequence[int]) -> int:
    """The rows deleted for good."""
    wanted = _action_ids(ids)
    async with in_transaction() as conn:
        rows = await _take(tenant_id, wanted, conn)
    log.info("%d quarantined alerts of tenant %s discarded", len(rows), tenant_id)
    return len(rows)


def _action_ids(ids: Sequence[int]) -> list[int]:
    wanted = sorted(set(ids))
    if not wanted:
        raise ValidationFailed("name at least one quarantined alert", field="ids")
    if len(wanted) > ACTION_MAX:
        raise ValidationFailed(f"at most {ACTION_MAX} quarantined alerts at once", field="ids")
    return wanted


async def _take(tenant_id: str, ids: list[int], conn: Any) -> list[AlertQuarantine]:
    """The tenant's rows of these ids, deleted in the caller's transaction: all of them, or
    an error that rolls the transaction back."""
    rows: list[AlertQuarantine] = (
        await AlertQuarantine.filter(tenant_id=tenant_id, id__in=ids).using_db(conn).order_by("id")
    )
    missing = sorted(set(ids) - {int(row.id) for row in rows})
    if missing:
        raise NotFound(
            f"{len(missing)} of these ids name no quarantined alert of this tenant", field="ids"
        )
    deleted = await AlertQuarantine.filter(tenant_id=tenant_id, id__in=ids).using_db(conn).delete()
    if deleted != len(ids):
        # Another admin took some of them between our read and our delete.
        raise Conflict(
            "some of these quarantined alerts were just retried or discarded", field="ids"
        )
    return rows


def _encode_cursor(row_id: int) -> str:
    raw = json.dumps(["quarantine", row_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if kind != "quarantine" or not isinstance(row_id, int) or isinstance(row_id, bool):
            raise ValueError("not a quarantine cursor")
        return row_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("malformed cursor", field="after") from exc


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None

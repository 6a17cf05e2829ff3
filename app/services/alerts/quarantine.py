"""Intake rows the alert processor could not store, as their tenant's admins read them.

The processor moves such a row here (services/alerts/processor.py) so that it holds up no
other alert; the row keeps its payload as accepted and the error that stopped it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.errors import ValidationFailed
from app.models import AlertQuarantine

PAGE_DEFAULT = 50
PAGE_MAX = 500


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
    size = _page_size(first)
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


def _page_size(first: int | None) -> int:
    if first is None:
        return PAGE_DEFAULT
    if not 0 <= first <= PAGE_MAX:
        raise ValidationFailed(f"first must be between 0 and {PAGE_MAX}", field="first")
    return first


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

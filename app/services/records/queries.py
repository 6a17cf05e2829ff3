"""The reads the records around the incident share: what a clearance may see, pages by
number (newest first), rows by id, and the common filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q, Subquery

from app.core.ids import parse_uuid
from app.core.pagination import decode_key_cursor, encode_key_cursor, page_size
from app.core.text import filter_text
from app.errors import ValidationFailed
from app.models import Classification
from app.services.access.caller import Caller
from app.services.access.classification import text_searchable_levels, visible_incident_levels


def visible_levels(clearance: Classification) -> list[Classification]:
    """The classifications of the records a reader of `clearance` may see: as incidents, all
    but RESTRICTED ones above the clearance (their text fields may still read [REDACTED])."""
    return visible_incident_levels(clearance)


def readable_text_levels(clearance: Classification) -> list[Classification]:
    """The classifications of the records whose text (title, description, body) a reader
    of `clearance` may read, so also search: a match would reveal the text."""
    return text_searchable_levels(clearance)


def text_q(text: str | None, clearance: Classification) -> Q | None:
    """In title or description, case-insensitive, among the records whose text the caller
    may read."""
    clean = filter_text(text) if text is not None else ""
    if not clean:
        return None
    return Q(classification__in=readable_text_levels(clearance)) & (
        Q(title__icontains=clean) | Q(description__isnull=False, description__icontains=clean)
    )


def service_q(service_id: str | None, links: Any, column: str) -> Q | None:
    """Concerning this service: the record's id among `links` rows naming it (`column` is
    the links' record column), as a subquery so that `not` reads "no link to it"."""
    if service_id is None:
        return None
    key = parse_uuid(service_id)
    if key is None:
        return Q(id=None)
    return Q(id__in=Subquery(links.filter(service_id=key).values(column)))


def common_q(filter: Any, *, clearance: Classification, links: Any, column: str) -> list[Q | None]:
    """The conditions every record filter has: text, service, created and updated."""
    return [
        text_q(filter.text, clearance),
        service_q(filter.service_id, links, column),
        filter.created.q("created_at") if filter.created is not None else None,
        filter.updated.q("updated_at") if filter.updated is not None else None,
    ]


@dataclass(frozen=True, slots=True)
class NumberedPage:
    rows: list[tuple[str, Any]]  # (cursor, row)
    has_next_page: bool
    has_previous_page: bool
    total: int


async def numbered_page(
    model: Any, *, caller: Caller, q: Q, kind: str, first: int | None, after: str | None
) -> NumberedPage:
    """The records of `model` the caller may see matching `q`, newest number first."""
    size = page_size(first)
    query = model.filter(q, tenant_id=caller.tenant_id).filter(
        classification__in=visible_levels(caller.clearance)
    )
    total = await query.count()
    if after is not None:
        number = decode_key_cursor(kind, after)
        if not number.isdigit():
            raise ValidationFailed("malformed cursor", field="after")
        query = query.filter(number__lt=int(number))
    rows = await query.order_by("-number").limit(size + 1)
    return NumberedPage(
        [(encode_key_cursor(kind, str(r.number)), r) for r in rows[:size]],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
        total=total,
    )


async def by_ids(
    model: Any, *, tenant_id: str, ids: Sequence[str], clearance: Classification
) -> list[Any]:
    """The rows among `ids` a reader of `clearance` may see."""
    keys = [k for k in (parse_uuid(i) for i in ids) if k is not None]
    if not keys:
        return []
    return list(
        await model.filter(
            tenant_id=tenant_id, id__in=keys, classification__in=visible_levels(clearance)
        )
    )

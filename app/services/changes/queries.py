"""Reading changes: pages with filters, and their links, each for many at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import Q

from app.core.ids import parse_uuid
from app.models import (
    Change,
    ChangeLink,
    ChangeService,
    ChangeStatus,
    ChangeType,
    Classification,
)
from app.services import filtering
from app.services.access.caller import Caller
from app.services.changes.commands import ChangeView
from app.services.filtering import TimeRange
from app.services.records import queries as records


@dataclass(frozen=True, slots=True)
class ChangeFilter:
    """Which changes: every field given must hold; `and_`/`or_`/`not_` combine whole filters
    (app/services/filtering.py)."""

    status: frozenset[ChangeStatus] | None = None
    type: frozenset[ChangeType] | None = None
    text: str | None = None
    service_id: str | None = None
    created: TimeRange | None = None
    updated: TimeRange | None = None
    and_: tuple[ChangeFilter, ...] = ()
    or_: tuple[ChangeFilter, ...] = ()
    not_: ChangeFilter | None = None

    def q(self, clearance: Classification) -> Q | None:
        filtering.check_shape(self)
        return filtering.to_q(self, lambda f: f._own_q(clearance))

    def _own_q(self, clearance: Classification) -> Q | None:
        return filtering.all_of(
            Q(status__in=list(self.status)) if self.status is not None else None,
            Q(type__in=list(self.type)) if self.type is not None else None,
            *records.common_q(self, clearance=clearance, links=ChangeService, column="change_id"),
        )


@dataclass(frozen=True, slots=True)
class ChangePage:
    items: list[tuple[str, ChangeView]]
    has_next_page: bool
    has_previous_page: bool
    total: int = field(default=0)


@dataclass(frozen=True, slots=True)
class LinkView:
    change_id: str
    incident_id: str | None
    problem_id: str | None
    relation: str


async def list_changes(
    *,
    caller: Caller,
    filter: ChangeFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> ChangePage:
    """The changes the caller may see, newest first."""
    q = filter.q(caller.clearance) if filter is not None else None
    page = await records.numbered_page(
        Change, caller=caller, q=q or Q(), kind="change", first=first, after=after
    )
    return ChangePage(
        [(cursor, ChangeView.of(row)) for cursor, row in page.rows],
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        total=page.total,
    )


async def get_changes(
    *, tenant_id: str, change_ids: Sequence[str], clearance: Classification
) -> dict[str, ChangeView]:
    rows = await records.by_ids(Change, tenant_id=tenant_id, ids=change_ids, clearance=clearance)
    return {str(r.id): ChangeView.of(r) for r in rows}


async def links_of(
    *, tenant_id: str, change_ids: Sequence[str] = (), incident_ids: Sequence[str] = (),
    problem_ids: Sequence[str] = (),
) -> list[LinkView]:  # fmt: skip
    """The links of these changes, or to these incidents or problems, oldest first."""

    def keys(ids: Sequence[str]) -> list[Any]:
        return [k for k in (parse_uuid(i) for i in ids) if k is not None]

    wanted = [
        Q(change_id__in=keys(change_ids)),
        Q(incident_id__in=keys(incident_ids)),
        Q(problem_id__in=keys(problem_ids)),
    ]
    given = [
        q for q, ids in zip(wanted, (change_ids, incident_ids, problem_ids), strict=True) if ids
    ]
    if not given:
        return []
    q = Q(*given, join_type=Q.OR)
    rows = await ChangeLink.filter(q, tenant_id=tenant_id).order_by("linked_at", "id")
    return [
        LinkView(
            change_id=str(r.change_id),
            incident_id=str(r.incident_id) if r.incident_id else None,
            problem_id=str(r.problem_id) if r.problem_id else None,
            relation=r.relation.value,
        )
        for r in rows
    ]


async def services_of_changes(*, change_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = await ChangeService.filter(change_id__in=list(change_ids)).values(
        "change_id", "service_id"
    )
    found: dict[str, list[str]] = {c: [] for c in change_ids}
    for row in rows:
        found.setdefault(str(row["change_id"]), []).append(str(row["service_id"]))
    return found

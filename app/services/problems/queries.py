"""Reading problems: pages with filters, and the links between problems, incidents and
services, each for many at once (the loaders' batches)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tortoise.expressions import Q

from app.core.ids import parse_uuid
from app.core.pagination import decode_key_cursor, encode_key_cursor, page_size
from app.core.text import filter_text
from app.errors import ValidationFailed
from app.models import Classification, Problem, ProblemIncident, ProblemService, ProblemStatus
from app.services.access.caller import Caller
from app.services.access.classification import reaches
from app.services.problems.commands import ProblemView


@dataclass(frozen=True, slots=True)
class ProblemFilter:
    status: frozenset[ProblemStatus] | None = None
    known_error: bool | None = None
    text: str | None = None
    service_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProblemPage:
    items: list[tuple[str, ProblemView]]
    has_next_page: bool
    has_previous_page: bool
    total: int = field(default=0)


def _visible(clearance: Classification) -> list[Classification]:
    return [c for c in Classification if reaches(clearance, c)]


async def list_problems(
    *,
    caller: Caller,
    filter: ProblemFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> ProblemPage:
    """The problems the caller may see, newest first."""
    size = page_size(first)
    query = Problem.filter(
        tenant_id=caller.tenant_id, classification__in=_visible(caller.clearance)
    )
    if filter is not None:
        query = query.filter(_filter_q(filter))
    total = await query.count()
    if after is not None:
        number = decode_key_cursor("problem", after)
        if not number.isdigit():
            raise ValidationFailed("malformed cursor", field="after")
        query = query.filter(number__lt=int(number))
    rows = await query.order_by("-number").limit(size + 1)
    items = [(encode_key_cursor("problem", str(r.number)), ProblemView.of(r)) for r in rows[:size]]
    return ProblemPage(
        items, has_next_page=len(rows) > size, has_previous_page=after is not None, total=total
    )


def _filter_q(filter: ProblemFilter) -> Q:
    q = Q()
    if filter.status is not None:
        q &= Q(status__in=list(filter.status))
    if filter.known_error is not None:
        q &= Q(known_error=filter.known_error)
    if filter.text is not None:
        text = filter_text(filter.text)
        if text:
            q &= Q(title__icontains=text) | Q(description__icontains=text)
    if filter.service_id is not None:
        key = parse_uuid(filter.service_id)
        q &= Q(service_links__service_id=key) if key is not None else Q(id=None)
    return q


async def get_problems(
    *, tenant_id: str, problem_ids: Sequence[str], clearance: Classification
) -> dict[str, ProblemView]:
    keys = [k for k in (parse_uuid(p) for p in problem_ids) if k is not None]
    rows = (
        await Problem.filter(
            tenant_id=tenant_id, id__in=keys, classification__in=_visible(clearance)
        )
        if keys
        else []
    )
    return {str(r.id): ProblemView.of(r) for r in rows}


async def problems_of_incidents(
    *, tenant_id: str, incident_ids: Sequence[str]
) -> dict[str, list[str]]:
    keys = [k for k in (parse_uuid(i) for i in incident_ids) if k is not None]
    rows = (
        await ProblemIncident.filter(tenant_id=tenant_id, incident_id__in=keys)
        .order_by("linked_at", "id")
        .values("incident_id", "problem_id")
        if keys
        else []
    )
    found: dict[str, list[str]] = {i: [] for i in incident_ids}
    for row in rows:
        found.setdefault(str(row["incident_id"]), []).append(str(row["problem_id"]))
    return found


async def incidents_of_problems(*, problem_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = (
        await ProblemIncident.filter(problem_id__in=list(problem_ids))
        .order_by("linked_at", "id")
        .values("incident_id", "problem_id")
    )
    found: dict[str, list[str]] = {p: [] for p in problem_ids}
    for row in rows:
        found.setdefault(str(row["problem_id"]), []).append(str(row["incident_id"]))
    return found


async def services_of_problems(*, problem_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = await ProblemService.filter(problem_id__in=list(problem_ids)).values(
        "problem_id", "service_id"
    )
    found: dict[str, list[str]] = {p: [] for p in problem_ids}
    for row in rows:
        found.setdefault(str(row["problem_id"]), []).append(str(row["service_id"]))
    return found

"""Reading problems: pages with filters, and the links between problems, incidents and
services, each for many at once (the loaders' batches)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tortoise.expressions import Q

from app.core.ids import parse_uuid
from app.models import Classification, Problem, ProblemIncident, ProblemService, ProblemStatus
from app.services.access.caller import Caller
from app.services.problems.view import ProblemView
from app.services.records import queries as records


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


async def list_problems(
    *,
    caller: Caller,
    filter: ProblemFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> ProblemPage:
    """The problems the caller may see, newest first."""
    q = Q()
    if filter is not None:
        if filter.status is not None:
            q &= Q(status__in=list(filter.status))
        if filter.known_error is not None:
            q &= Q(known_error=filter.known_error)
        q &= records.text_q(filter.text, caller.clearance) & records.service_q(filter.service_id)
    page = await records.numbered_page(
        Problem, caller=caller, q=q, kind="problem", first=first, after=after
    )
    return ProblemPage(
        [(cursor, ProblemView.of(row)) for cursor, row in page.rows],
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        total=page.total,
    )


async def get_problems(
    *, tenant_id: str, problem_ids: Sequence[str], clearance: Classification
) -> dict[str, ProblemView]:
    rows = await records.by_ids(Problem, tenant_id=tenant_id, ids=problem_ids, clearance=clearance)
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

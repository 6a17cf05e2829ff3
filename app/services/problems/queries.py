"""Reading problems: pages with filters, and the links between problems, incidents and
services, each for many at once (the loaders' batches)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tortoise.expressions import Q

from app.core.ids import parse_uuid
from app.models import Classification, Problem, ProblemIncident, ProblemService, ProblemStatus
from app.services import filtering
from app.services.access.caller import Caller
from app.services.filtering import TimeRange
from app.services.problems.view import ProblemView
from app.services.records import queries as records


@dataclass(frozen=True, slots=True)
class ProblemFilter:
    """Which problems: every field given must hold; `and_`/`or_`/`not_` combine whole filters
    (app/services/filtering.py)."""

    status: frozenset[ProblemStatus] | None = None
    known_error: bool | None = None
    text: str | None = None
    service_id: str | None = None
    created: TimeRange | None = None
    updated: TimeRange | None = None
    and_: tuple[ProblemFilter, ...] = ()
    or_: tuple[ProblemFilter, ...] = ()
    not_: ProblemFilter | None = None

    def q(self, clearance: Classification) -> Q | None:
        filtering.check_shape(self)
        return filtering.to_q(self, lambda f: f._own_q(clearance))

    def _own_q(self, clearance: Classification) -> Q | None:
        return filtering.all_of(
            Q(status__in=list(self.status)) if self.status is not None else None,
            Q(known_error=self.known_error) if self.known_error is not None else None,
            *records.common_q(self, clearance=clearance, links=ProblemService, column="problem_id"),
        )


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
    q = filter.q(caller.clearance) if filter is not None else None
    page = await records.numbered_page(
        Problem, caller=caller, q=q or Q(), kind="problem", first=first, after=after
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

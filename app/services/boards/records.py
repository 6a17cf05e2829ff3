"""What the boards show of the records around the incident: known-error workarounds for
responders, change success and open problems for executives. Each is a fixed number of
queries, whatever the number of incidents on the board."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from app.core.ids import parse_uuid
from app.models import (
    Change,
    ChangeLink,
    ChangeRelation,
    ChangeStatus,
    Classification,
    IncidentService,
    Problem,
    ProblemIncident,
    ProblemService,
    ProblemStatus,
    Service,
)
from app.services.access.classification import record_field_readable, visible_incident_levels
from app.services.changes.lifecycle import FINISHED

CHANGE_WINDOW = timedelta(days=30)
OPEN_PROBLEMS = (ProblemStatus.NEW, ProblemStatus.UNDER_INVESTIGATION, ProblemStatus.KNOWN_ERROR)


def _workaround_levels(clearance: Classification) -> list[Classification]:
    """The problems whose workaround the reader may read."""
    return [
        c for c in Classification if record_field_readable(clearance, c, "problem", "workaround")
    ]


async def known_workarounds(
    tenant_id: str, clearance: Classification, incident_ids: Sequence[str]
) -> dict[str, str]:
    """For each incident, the workaround of a known error among its problems (the most
    recently updated one), as far as the reader may read the problem's workaround."""
    keys = [k for k in (parse_uuid(i) for i in incident_ids) if k is not None]
    if not keys:
        return {}
    links = await ProblemIncident.filter(tenant_id=tenant_id, incident_id__in=keys).values(
        "incident_id", "problem_id"
    )
    problems = {
        str(p.id): p
        for p in await Problem.filter(
            tenant_id=tenant_id,
            id__in=list({link["problem_id"] for link in links}),
            known_error=True,
            status__in=list(OPEN_PROBLEMS),
            classification__in=_workaround_levels(clearance),
        )
    }
    found: dict[str, tuple[datetime, str]] = {}
    for link in links:
        problem = problems.get(str(link["problem_id"]))
        if problem is None or problem.workaround is None:
            continue
        incident = str(link["incident_id"])
        if incident not in found or found[incident][0] < problem.updated_at:
            found[incident] = (problem.updated_at, problem.workaround)
    return {incident: text for incident, (_, text) in found.items()}


async def records_summary(
    tenant_id: str, clearance: Classification, now: datetime
) -> dict[str, Any]:
    """The executive board's change success rate (30 days) and open problems by service."""
    # Counted as incidents are: every record that exists for the reader.
    levels = visible_incident_levels(clearance)
    finished = await Change.filter(
        tenant_id=tenant_id,
        status__in=[*FINISHED, ChangeStatus.CLOSED],
        finished_at__gte=now - CHANGE_WINDOW,
        classification__in=levels,
    ).values("id", "outcome")
    caused = {
        str(c)
        for c in await ChangeLink.filter(
            tenant_id=tenant_id,
            change_id__in=[c["id"] for c in finished],
            relation=ChangeRelation.CAUSED_BY,
        ).values_list("change_id", flat=True)
    }
    failed = {ChangeStatus.FAILED, ChangeStatus.ROLLED_BACK}
    good = [c for c in finished if c["outcome"] not in failed and str(c["id"]) not in caused]
    problems = await Problem.filter(
        tenant_id=tenant_id, status__in=list(OPEN_PROBLEMS), classification__in=levels
    ).values_list("id", flat=True)
    service_ids = await ProblemService.filter(problem_id__in=list(problems)).values_list(
        "service_id", flat=True
    )
    counts = Counter(str(s) for s in service_ids)
    names = {
        str(r["id"]): r["name"]
        for r in await Service.filter(id__in=list(counts)).values("id", "name")
    }
    by_service = sorted(
        ((names[s], n) for s, n in counts.items() if s in names),
        key=lambda pair: (-pair[1], pair[0]),
    )
    return {
        "change_success_rate_30d": len(good) / len(finished) if finished else None,
        "changes_finished_30d": len(finished),
        "open_problems_by_service": by_service,
    }


async def affected_service_names(
    tenant_id: str, incident_ids: Sequence[str]
) -> dict[str, list[str]]:
    """The names of the services each incident affects (the customer board's rows)."""
    keys = [k for k in (parse_uuid(i) for i in incident_ids) if k is not None]
    if not keys:
        return {}
    rows = await IncidentService.filter(tenant_id=tenant_id, incident_id__in=keys).values(
        "incident_id", "service__name"
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(str(row["incident_id"]), []).append(row["service__name"])
    return {incident: sorted(names) for incident, names in found.items()}

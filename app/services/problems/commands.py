"""Problem commands. Each is one transaction: the problem's row, its timeline events, its
audit record, and for a link the incident's timeline event too.

Problems are classified like incidents: a caller sees, links and changes only problems and
incidents their clearance reaches, and classifies nothing above it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.errors import Duplicate, InvalidTransition, ValidationFailed
from app.models import (
    ArticleKind,
    Classification,
    IncidentService,
    Problem,
    ProblemIncident,
    ProblemService,
    ProblemStatus,
)
from app.services.access.caller import Caller
from app.services.catalog import queries as catalog
from app.services.incidents import validation
from app.services.knowledge import commands as articles
from app.services.problems import lifecycle
from app.services.problems.duplicates import duplicates_of
from app.services.problems.view import ProblemView
from app.services.records import commands as records
from app.services.records.timeline import RecordEventView

RECORD = "problem"
# A problem's global id is this prefix and its UUID's hex, as the API shows it.
GLOBAL_PREFIX = "prb_"
SERVICES_MAX = 50
TEXT_MAX = 20_000


class ProblemEvent:
    CREATED = "com.incidents.problem.created.v1"
    STATE_CHANGE = "com.incidents.problem.state_change.v1"
    WORKAROUND = "com.incidents.problem.workaround_recorded.v1"
    INCIDENT_LINKED = "com.incidents.problem.incident_linked.v1"
    INCIDENT_UNLINKED = "com.incidents.problem.incident_unlinked.v1"


@dataclass(frozen=True, slots=True)
class ProblemResult:
    problem: ProblemView
    events: list[RecordEventView]


def _text(value: str | None, *, field: str) -> str | None:
    text = validation.text(value, field=field)
    if text is not None and len(text) > TEXT_MAX:
        raise ValidationFailed(f"{field} must be at most {TEXT_MAX} characters", field=field)
    return text


async def create_problem(
    *,
    caller: Caller,
    title: str,
    description: str | None = None,
    service_ids: Sequence[str] = (),
    incident_ids: Sequence[str] = (),
    classification: Classification = Classification.INTERNAL,
    force: bool = False,
) -> ProblemResult:
    """Open a problem, with the services it concerns and the incidents it explains.

    A likely duplicate of an active problem (services shared, title alike) is refused with
    DUPLICATE naming the candidates, unless `force`. The services of the incidents given
    count among the problem's services.
    """
    clean_title = validation.title(title)
    text = _text(description, field="description")
    records.require_clearance(caller, classification)
    services = await catalog.service_keys(caller.tenant_id, service_ids, most=SERVICES_MAX)
    incidents = await records.visible_incidents(caller, incident_ids, field="incidentIds")
    incident_services = await IncidentService.filter(
        tenant_id=caller.tenant_id, incident_id__in=[i.id for i in incidents]
    ).values_list("service_id", flat=True)
    services = list(dict.fromkeys([*services, *(uuid.UUID(str(s)) for s in incident_services)]))
    if not force:
        candidates = await duplicates_of(
            caller=caller, title=clean_title, service_ids=[str(s) for s in services]
        )
        if candidates:
            listed = ", ".join(f"{p.reference} {p.title!r}" for p, _ in candidates[:5])
            raise Duplicate(
                f"this looks like an active problem: {listed}; pass force: true to open it anyway",
                candidates=[p.id for p, _ in candidates],
                field="title",
            )
    row, events = await records.create_numbered(
        Problem,
        caller,
        record_type=RECORD,
        values={
            "title": clean_title,
            "description": text,
            "classification": classification,
            "created_by": caller.actor,
        },
        event=(
            ProblemEvent.CREATED,
            {
                "title": clean_title,
                "services": [str(s) for s in services],
                "classification": classification.value,
            },
        ),
        action="problem.create",
        prefix="PRB",
        also=lambda row: _add_services(caller.tenant_id, row, services),
    )
    view = ProblemView.of(row)
    for incident in incidents:
        await link_incident(caller=caller, problem_id=view.id, incident_id=incident.id)
    return ProblemResult(await get_problem(caller=caller, problem_id=view.id), events)


async def get_problem(*, caller: Caller, problem_id: str, field: str = "id") -> ProblemView:
    return ProblemView.of(await records.load(Problem, caller, problem_id, noun=RECORD, field=field))


async def _add_services(tenant_id: str, row: Problem, services: Sequence[uuid.UUID]) -> None:
    await ProblemService.bulk_create(
        [ProblemService(tenant_id=tenant_id, problem_id=row.id, service_id=s) for s in services]
    )


async def _apply(
    *,
    caller: Caller,
    problem_id: str,
    decide: Callable[[Problem, datetime], records.NewEvents],
    action: str,
    fields: Sequence[str],
    version: int | None = None,
) -> ProblemResult:
    row, events = await records.apply(
        Problem,
        caller,
        problem_id,
        record_type=RECORD,
        decide=decide,
        action=action,
        fields=fields,
        version=version,
    )
    return ProblemResult(ProblemView.of(row), events)


async def transition_problem(
    *,
    caller: Caller,
    problem_id: str,
    to: ProblemStatus,
    stability_window: timedelta,
    root_cause: str | None = None,
    evidence: str | None = None,
    version: int | None = None,
) -> ProblemResult:
    """Move the problem along its lifecycle. RESOLVED needs `evidence` (what shows it is
    fixed); CLOSED waits out the stability window."""
    cause = _text(root_cause, field="rootCause")
    proof = _text(evidence, field="evidence")

    def decide(row: Problem, now: datetime) -> list[tuple[str, Mapping[str, Any]]]:
        current = row.status
        if not lifecycle.can_transition(current, to):
            allowed = ", ".join(s.value for s in lifecycle.allowed_targets(current)) or "none"
            raise InvalidTransition(
                f"a {current.value} problem cannot become {to.value} (allowed: {allowed})",
                field="to",
            )
        if to is ProblemStatus.RESOLVED:
            if proof is None:
                raise ValidationFailed(
                    "resolving a problem needs evidence that it is fixed", field="evidence"
                )
            row.resolution_evidence, row.resolved_at = proof, now
            if cause is not None:
                row.root_cause = cause
        if to is ProblemStatus.CLOSED:
            assert row.resolved_at is not None
            ready = lifecycle.closable_at(row.resolved_at, row.last_incident_at, stability_window)
            if now < ready:
                raise InvalidTransition(
                    f"the problem may close at {ready.isoformat()}, after a stability window of "
                    f"{stability_window} with no new incident",
                    field="to",
                )
            row.closed_at = now
        if to is ProblemStatus.UNDER_INVESTIGATION and current is ProblemStatus.RESOLVED:
            row.resolved_at = None
        row.status = to
        data: dict[str, Any] = {"from": current.value, "to": to.value}
        if to is ProblemStatus.RESOLVED:
            data["evidence"] = proof
        return [(ProblemEvent.STATE_CHANGE, data)]

    return await _apply(
        caller=caller,
        problem_id=problem_id,
        decide=decide,
        action="problem.close" if to is ProblemStatus.CLOSED else "problem.update",
        fields=("status", "resolution_evidence", "resolved_at", "root_cause", "closed_at"),
        version=version,
    )


async def record_workaround(
    *,
    caller: Caller,
    problem_id: str,
    workaround: str,
    article_title: str | None = None,
    version: int | None = None,
) -> ProblemResult:
    """Record how to live with the problem until it is fixed: it becomes a KNOWN_ERROR.

    With `article_title`, the workaround also becomes a WORKAROUND article, linked to the
    problem and submitted for review in the same step (someone else publishes it: nobody
    publishes what they wrote).
    """
    text = _text(workaround, field="workaround")
    if text is None:
        raise ValidationFailed("workaround must not be empty", field="workaround")
    title = validation.title(article_title) if article_title is not None else None
    if title is not None:
        problem = await get_problem(caller=caller, problem_id=problem_id)
        if problem.status not in lifecycle.WORKAROUND_FROM:
            raise InvalidTransition(
                f"a {problem.status.value} problem takes no workaround", field="id"
            )
        draft = await articles.create_article(
            caller=caller,
            title=title,
            body=text,
            kind=ArticleKind.WORKAROUND,
            classification=problem.classification,
            problem_id=problem.id,
        )
        await articles.submit_article(caller=caller, article_id=draft.article.id)

    def decide(row: Problem, now: datetime) -> list[tuple[str, Mapping[str, Any]]]:
        if row.status not in lifecycle.WORKAROUND_FROM:
            raise InvalidTransition(f"a {row.status.value} problem takes no workaround", field="id")
        if row.workaround == text and row.status is ProblemStatus.KNOWN_ERROR:
            return []
        before = row.status
        row.workaround, row.known_error, row.status = text, True, ProblemStatus.KNOWN_ERROR
        return [
            (
                ProblemEvent.WORKAROUND,
                {"workaround": text, "from": before.value, "to": ProblemStatus.KNOWN_ERROR.value},
            )
        ]

    return await _apply(
        caller=caller,
        problem_id=problem_id,
        decide=decide,
        action="problem.update",
        fields=("workaround", "known_error", "status"),
        version=version,
    )


async def link_incident(*, caller: Caller, problem_id: str, incident_id: str) -> ProblemResult:
    """Link an incident the problem explains: an event on both timelines, one transaction."""
    return await _link(caller=caller, problem_id=problem_id, incident_id=incident_id, linked=True)


async def unlink_incident(*, caller: Caller, problem_id: str, incident_id: str) -> ProblemResult:
    return await _link(caller=caller, problem_id=problem_id, incident_id=incident_id, linked=False)


async def _link(
    *, caller: Caller, problem_id: str, incident_id: str, linked: bool
) -> ProblemResult:
    row = await records.load(Problem, caller, problem_id, noun=RECORD, field="problemId")
    problem = ProblemView.of(row)
    incident = (await records.visible_incidents(caller, [incident_id], field="incidentId"))[0]
    if problem.status is ProblemStatus.CLOSED:
        raise InvalidTransition("a CLOSED problem takes no new links", field="problemId")
    if await ProblemIncident.exists(problem_id=row.id, incident_id=incident.id) == linked:
        return ProblemResult(problem, [])

    async def write_link(current: Problem, now: datetime) -> dict[str, Any]:
        if not linked:
            await ProblemIncident.filter(problem_id=current.id, incident_id=incident.id).delete()
            return {}
        await ProblemIncident.create(
            tenant_id=caller.tenant_id,
            problem_id=current.id,
            incident_id=incident.id,
            linked_at=now,
        )
        return {"last_incident_at": now}

    kind = ProblemEvent.INCIDENT_LINKED if linked else ProblemEvent.INCIDENT_UNLINKED
    events = await records.link_incident(
        Problem,
        caller,
        row,
        incident,
        record_type=RECORD,
        global_id=GLOBAL_PREFIX + uuid.UUID(problem.id).hex,
        reference=problem.reference,
        linked=linked,
        event=(kind, {"incident": incident.id, "reference": f"INC-{incident.number}"}),
        write_link=write_link,
        action="problem.link" if linked else "problem.unlink",
    )
    return ProblemResult(await get_problem(caller=caller, problem_id=problem.id), events)

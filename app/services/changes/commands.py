"""Change commands: request, approve or reject (never your own), move along the lifecycle,
link to incidents and problems. Each is one transaction with its timeline events and
audit record; a link to an incident writes the incident's timeline too."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.errors import Conflict, InvalidTransition, SeparationOfDuties, ValidationFailed
from app.models import (
    Change,
    ChangeLink,
    ChangeRelation,
    ChangeService,
    ChangeStatus,
    ChangeType,
    Classification,
    Problem,
    Risk,
)
from app.services.access.caller import Caller
from app.services.access.classification import incident_visible
from app.services.catalog import queries as catalog
from app.services.changes import lifecycle
from app.services.incidents import validation
from app.services.records import commands as records
from app.services.records.timeline import RecordEventView

# On the problem's timeline when a change is linked to it.
PROBLEM_CHANGE_LINKED = "com.incidents.problem.change_linked.v1"

RECORD = "change"
GLOBAL_PREFIX = "chg_"
SERVICES_MAX = 50
TEXT_MAX = 20_000


class ChangeEvent:
    REQUESTED = "com.incidents.change.requested.v1"
    APPROVED = "com.incidents.change.approved.v1"
    REJECTED = "com.incidents.change.rejected.v1"
    STATE_CHANGE = "com.incidents.change.state_change.v1"
    LINKED = "com.incidents.change.linked.v1"


@dataclass(frozen=True, slots=True)
class ChangeView:
    id: str
    tenant_id: str
    number: int
    title: str
    description: str | None
    type: ChangeType
    risk: Risk
    status: ChangeStatus
    classification: Classification
    requested_by: str | None
    approved_by: str | None
    approved_at: datetime | None
    planned_start: datetime | None
    planned_end: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @property
    def reference(self) -> str:
        return f"CHG-{self.number}"

    @property
    def approved(self) -> bool:
        return self.approved_at is not None or self.type is ChangeType.STANDARD

    def approval_overdue(self, now: datetime) -> bool:
        return lifecycle.approval_overdue(self.type, self.approved, self.started_at, now)

    @classmethod
    def of(cls, row: Change) -> ChangeView:
        return cls(
            id=str(row.id),
            tenant_id=row.tenant_id,
            number=row.number,
            title=row.title,
            description=row.description,
            type=row.type,
            risk=row.risk,
            status=row.status,
            classification=row.classification,
            requested_by=row.requested_by,
            approved_by=row.approved_by,
            approved_at=row.approved_at,
            planned_start=row.planned_start,
            planned_end=row.planned_end,
            started_at=row.started_at,
            finished_at=row.finished_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


@dataclass(frozen=True, slots=True)
class ChangeResult:
    change: ChangeView
    events: list[RecordEventView]


def _window(
    start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    for name, moment in (("plannedStart", start), ("plannedEnd", end)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationFailed(f"{name} needs a UTC offset", field=name)
    if (start is None) != (end is None):
        raise ValidationFailed(
            "give both plannedStart and plannedEnd, or neither", field="plannedEnd"
        )
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("plannedEnd must be after plannedStart", field="plannedEnd")
    return start, end


async def request_change(
    *,
    caller: Caller,
    title: str,
    type: ChangeType,
    risk: Risk,
    description: str | None = None,
    planned_start: datetime | None = None,
    planned_end: datetime | None = None,
    service_ids: Sequence[str] = (),
    classification: Classification = Classification.INTERNAL,
) -> ChangeResult:
    """Request a change; a STANDARD one is pre-approved. Whoever requests it is recorded,
    and may not approve it."""
    clean_title = validation.title(title)
    text = validation.text(description, field="description")
    if text is not None and len(text) > TEXT_MAX:
        raise ValidationFailed(
            f"description must be at most {TEXT_MAX} characters", field="description"
        )
    start, end = _window(planned_start, planned_end)
    records.require_clearance(caller, classification)
    services = await catalog.service_keys(caller.tenant_id, service_ids, most=SERVICES_MAX)
    status = lifecycle.initial_status(type)

    async def add_services(row: Change) -> None:
        await ChangeService.bulk_create(
            [
                ChangeService(tenant_id=caller.tenant_id, change_id=row.id, service_id=s)
                for s in services
            ]
        )

    row, events = await records.create_numbered(
        Change,
        caller,
        record_type=RECORD,
        values={
            "title": clean_title,
            "description": text,
            "type": type,
            "risk": risk,
            "status": status,
            "classification": classification,
            "requested_by": caller.actor,
            "planned_start": start,
            "planned_end": end,
        },
        event=(
            ChangeEvent.REQUESTED,
            {
                "title": clean_title,
                "type": type.value,
                "risk": risk.value,
                "status": status.value,
                "services": [str(s) for s in services],
            },
        ),
        action="change.create",
        prefix="CHG",
        also=add_services,
    )
    return ChangeResult(ChangeView.of(row), events)


async def get_change(*, caller: Caller, change_id: str, field: str = "id") -> ChangeView:
    return ChangeView.of(await records.load(Change, caller, change_id, noun=RECORD, field=field))


async def _apply(
    caller: Caller, change_id: str, decide: Any, *, action: str, fields: Sequence[str],
    version: int | None,
) -> ChangeResult:  # fmt: skip
    row, events = await records.apply(
        Change, caller, change_id, record_type=RECORD, decide=decide, action=action,
        fields=fields, version=version,
    )  # fmt: skip
    return ChangeResult(ChangeView.of(row), events)


def _refuse_own(caller: Caller, row: Change, what: str) -> None:
    if caller.actor is not None and row.requested_by == caller.actor:
        raise SeparationOfDuties(
            f"whoever requested a change cannot {what} it (separation of duties)", field="id"
        )


async def approve_change(
    *, caller: Caller, change_id: str, comment: str | None = None, version: int | None = None
) -> ChangeResult:
    note = validation.text(comment, field="comment")

    def decide(row: Change, now: datetime) -> records.NewEvents:
        _refuse_own(caller, row, "approve")
        approved = row.approved_at is not None or row.type is ChangeType.STANDARD
        if not lifecycle.may_be_approved(row.type, row.status, approved):
            raise InvalidTransition(
                f"a {row.status.value} {row.type.value} change cannot be approved", field="id"
            )
        row.approved_by, row.approved_at = caller.actor, now
        retrospective = row.status is not ChangeStatus.REQUESTED
        if not retrospective:
            row.status = ChangeStatus.APPROVED
        return [
            (
                ChangeEvent.APPROVED,
                {"by": caller.actor, "comment": note, "retrospective": retrospective},
            )
        ]

    return await _apply(
        caller, change_id, decide, action="change.approve",
        fields=("approved_by", "approved_at", "status"), version=version,
    )  # fmt: skip


async def reject_change(
    *, caller: Caller, change_id: str, reason: str, version: int | None = None
) -> ChangeResult:
    why = validation.text(reason, field="reason")
    if why is None:
        raise ValidationFailed("say why the change is rejected", field="reason")

    def decide(row: Change, now: datetime) -> records.NewEvents:
        _refuse_own(caller, row, "reject")
        if row.status is not ChangeStatus.REQUESTED:
            raise InvalidTransition(f"a {row.status.value} change cannot be rejected", field="id")
        row.status = ChangeStatus.REJECTED
        return [(ChangeEvent.REJECTED, {"by": caller.actor, "reason": why})]

    return await _apply(
        caller, change_id, decide, action="change.reject", fields=("status",), version=version
    )


async def transition_change(
    *, caller: Caller, change_id: str, to: ChangeStatus, version: int | None = None
) -> ChangeResult:
    def decide(row: Change, now: datetime) -> records.NewEvents:
        allowed = lifecycle.allowed_targets(row.type, row.status)
        if to not in allowed:
            listed = ", ".join(s.value for s in allowed) or "none"
            hint = ""
            if to in (ChangeStatus.APPROVED, ChangeStatus.REJECTED):
                hint = "; use approveChange or rejectChange"
            raise InvalidTransition(
                f"a {row.status.value} {row.type.value} change cannot become {to.value} "
                f"(allowed: {listed}){hint}",
                field="to",
            )
        before = row.status
        row.status = to
        if to is ChangeStatus.IN_PROGRESS:
            row.started_at = now
        if to in lifecycle.FINISHED:
            row.finished_at, row.outcome = now, to
        return [(ChangeEvent.STATE_CHANGE, {"from": before.value, "to": to.value})]

    action = "change.close" if to is ChangeStatus.CLOSED else "change.update"
    return await _apply(
        caller, change_id, decide, action=action,
        fields=("status", "started_at", "finished_at", "outcome"), version=version,
    )  # fmt: skip


async def link_change(
    *,
    caller: Caller,
    change_id: str,
    relation: ChangeRelation,
    incident_id: str | None = None,
    problem_id: str | None = None,
) -> ChangeResult:
    """Link the change to an incident or a problem it FIXES, or that was CAUSED_BY it."""
    if (incident_id is None) == (problem_id is None):
        raise ValidationFailed("give incidentId or problemId (one of them)", field="incidentId")
    row = await records.load(Change, caller, change_id, noun=RECORD, field="changeId")
    change = ChangeView.of(row)
    if not lifecycle.may_link(relation, change.type, change.approved):
        raise ValidationFailed(
            f"a {change.type.value} change FIXES something only once approved", field="relation"
        )
    if change.status in (ChangeStatus.REJECTED, ChangeStatus.CANCELLED):
        raise InvalidTransition(f"a {change.status.value} change takes no links", field="changeId")
    data: dict[str, Any] = {"relation": relation.value}
    if incident_id is not None:
        incident = (await records.visible_incidents(caller, [incident_id], field="incidentId"))[0]
        if await ChangeLink.exists(change_id=row.id, incident_id=incident.id):
            raise Conflict("the change is already linked to this incident", field="incidentId")
        data |= {"incident": incident.id, "reference": f"INC-{incident.number}"}

        async def write_link(current: Change, now: datetime) -> dict[str, Any]:
            await ChangeLink.create(
                tenant_id=caller.tenant_id, change_id=current.id, incident_id=incident.id,
                relation=relation, linked_at=now,
            )  # fmt: skip
            return {}

        events = await records.link_incident(
            Change, caller, row, incident, record_type=RECORD,
            global_id=GLOBAL_PREFIX + uuid.UUID(change.id).hex, reference=change.reference,
            linked=True, event=(ChangeEvent.LINKED, data), write_link=write_link,
            action="change.link",
        )  # fmt: skip
        return ChangeResult(await get_change(caller=caller, change_id=change.id), events)
    assert problem_id is not None
    problem = await records.load(Problem, caller, problem_id, noun="problem", field="problemId")
    if await ChangeLink.exists(change_id=row.id, problem_id=problem.id):
        raise Conflict("the change is already linked to this problem", field="problemId")
    data |= {"problem": str(problem.id), "reference": f"PRB-{problem.number}"}

    async def write_problem_link(now: datetime) -> None:
        await ChangeLink.create(
            tenant_id=caller.tenant_id, change_id=row.id, problem_id=problem.id,
            relation=relation, linked_at=now,
        )  # fmt: skip

    problem_event = {"change": change.id, "reference": change.reference, "relation": relation.value}
    events = await records.link_records(
        caller,
        (Change, row, RECORD, (ChangeEvent.LINKED, data)),
        (Problem, problem, "problem", (PROBLEM_CHANGE_LINKED, problem_event)),
        write_link=write_problem_link,
        action="change.link",
        audit_changes=data,
    )
    return ChangeResult(await get_change(caller=caller, change_id=change.id), events)


async def conflicts_of(*, caller: Caller, change: ChangeView) -> list[ChangeView]:
    """Open changes the caller may see on a service of this one, whose planned windows
    overlap its: reported, never refused."""
    if change.planned_start is None:
        return []
    services = await ChangeService.filter(change_id=change.id).values_list("service_id", flat=True)
    if not services:
        return []
    others = (
        await Change.filter(
            tenant_id=caller.tenant_id,
            status__in=list(lifecycle.OPEN),
            service_links__service_id__in=list(services),
        )
        .exclude(id=change.id)
        .distinct()
    )
    window = (change.planned_start, change.planned_end)
    return [
        ChangeView.of(o)
        for o in sorted(others, key=lambda o: o.number)
        if lifecycle.windows_overlap(window, (o.planned_start, o.planned_end))
        and incident_visible(caller.clearance, o.classification)
    ]

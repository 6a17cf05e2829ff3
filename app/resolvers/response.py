"""Roles and tasks on an incident: given and changed by whoever may assign or update it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.core.ids import uuid_key
from app.errors import DomainError, ValidationFailed
from app.resolvers.catalog import service_key
from app.resolvers.incident import incident_key, run_command
from app.resolvers.people import team_key, user_key
from app.schema.authorization import authorize
from app.schema.common import PageInfo, UserError, from_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.incident_commands import IncidentPayload
from app.schema.response import (
    PLAYBOOK_PREFIX,
    TASK_PREFIX,
    AddTaskInput,
    ApplyPlaybookInput,
    CreatePlaybookInput,
    EngageVendorInput,
    EscalateIncidentInput,
    EscalationPath,
    EscalationPolicyPayload,
    Playbook,
    PlaybookConnection,
    PlaybookEdge,
    PlaybookPayload,
    RecordDrillOutcomeInput,
    RecordToolUsageInput,
    RoleInput,
    Task,
    TaskPayload,
    TransitionTaskInput,
    UpdateEscalationPolicyInput,
    UpdatePlaybookInput,
    UpdateTaskInput,
)
from app.services.access.caller import Caller
from app.services.access.classification import field_readable
from app.services.access.permissions import Action
from app.services.incidents.commands import CommandResult
from app.services.response import activity, escalation, roles, tasks, vendors
from app.services.response import playbooks as playbook_service
from app.services.response.playbooks import PlaybookView
from app.services.response.tasks import TaskResult


def task_key(value: str, *, field: str = "id") -> str:
    key = from_global_id(TASK_PREFIX, value)
    return key if key is not None else str(uuid_key(value, noun="task", field=field))


async def assign_role(info: Info[Context, Any], input: RoleInput) -> IncidentPayload:
    principal = authorize(info, Action.ASSIGN)
    return await run_command(
        principal,
        lambda: roles.assign_role(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            role=input.role,
            user_id=user_key(input.user_id, field="userId"),
        ),
    )


async def unassign_role(info: Info[Context, Any], input: RoleInput) -> IncidentPayload:
    principal = authorize(info, Action.ASSIGN)
    return await run_command(
        principal,
        lambda: roles.unassign_role(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            role=input.role,
            user_id=user_key(input.user_id, field="userId"),
        ),
    )


async def _task_command(
    info: Info[Context, Any], command: Callable[[Caller], Awaitable[TaskResult]]
) -> TaskPayload:
    principal = authorize(info, Action.UPDATE)
    try:
        result = await command(Caller.of(principal))
    except DomainError as error:
        return TaskPayload(task=None, errors=[UserError.of(error)])
    readable = field_readable(principal.clearance, result.incident.classification, "title")
    return TaskPayload(task=Task.of(result.task, readable=readable), errors=[])


def _dependencies(ids: list[strawberry.ID]) -> list[str]:
    return [task_key(i, field="dependsOn") for i in ids]


async def add_task(info: Info[Context, Any], input: AddTaskInput) -> TaskPayload:
    return await _task_command(
        info,
        lambda caller: tasks.add_task(
            caller=caller,
            incident_id=incident_key(input.incident_id, field="incidentId"),
            title=input.title,
            description=input.description,
            group=input.group,
            position=input.order,
            owner_id=user_key(input.owner_id, field="ownerId") if input.owner_id else None,
            due_at=input.due_at,
            estimated_hours=input.estimated_hours,
            depends_on=_dependencies(input.depends_on),
        ),
    )


def _task_changes(input: UpdateTaskInput) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for api, name in (
        ("title", "title"),
        ("description", "description"),
        ("group", "group"),
        ("order", "position"),
        ("due_at", "due_at"),
        ("estimated_hours", "estimated_hours"),
    ):
        value = getattr(input, api)
        if value is not strawberry.UNSET:
            changes[name] = value
    if changes.get("title", "") is None:
        raise ValidationFailed("title must not be empty", field="title")
    if input.owner_id is not strawberry.UNSET:
        owner = input.owner_id
        changes["owner_id"] = user_key(owner, field="ownerId") if owner else None
    if input.depends_on is not strawberry.UNSET:
        changes["depends_on"] = _dependencies(input.depends_on or [])
    return changes


async def update_task(info: Info[Context, Any], input: UpdateTaskInput) -> TaskPayload:
    return await _task_command(
        info,
        lambda caller: tasks.update_task(
            caller=caller,
            task_id=task_key(input.id),
            changes=_task_changes(input),
            version=input.version,
        ),
    )


async def transition_task(info: Info[Context, Any], input: TransitionTaskInput) -> TaskPayload:
    return await _task_command(
        info,
        lambda caller: tasks.transition_task(
            caller=caller, task_id=task_key(input.id), to=input.to
        ),
    )


# --- playbooks ------------------------------------------------------------------------------


def playbook_key(value: str, *, field: str = "id") -> str:
    key = from_global_id(PLAYBOOK_PREFIX, value)
    return key if key is not None else str(uuid_key(value, noun="playbook", field=field))


async def playbooks(
    info: Info[Context, Any], first: int | None = None, after: str | None = None
) -> PlaybookConnection:
    principal = authorize(info, Action.READ_INCIDENTS)
    try:
        page = await playbook_service.list_playbooks(
            tenant_id=principal.tenant_id, first=first, after=after
        )
    except DomainError as error:
        raise graphql_error(error) from None
    edges = [PlaybookEdge(cursor=c, node=Playbook.of(v)) for c, v in page.items]
    return PlaybookConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        total_count=page.total,
    )


async def _playbook_command(
    info: Info[Context, Any], command: Callable[[Caller], Awaitable[PlaybookView]]
) -> PlaybookPayload:
    principal = authorize(info, Action.MANAGE_PLAYBOOKS)
    try:
        view = await command(Caller.of(principal))
    except DomainError as error:
        return PlaybookPayload(playbook=None, errors=[UserError.of(error)])
    return PlaybookPayload(playbook=Playbook.of(view), errors=[])


def _services(ids: list[strawberry.ID]) -> list[str]:
    return [service_key(i, field="matchServiceIds") for i in ids]


async def create_playbook(info: Info[Context, Any], input: CreatePlaybookInput) -> PlaybookPayload:
    return await _playbook_command(
        info,
        lambda caller: playbook_service.create_playbook(
            tenant_id=caller.tenant_id,
            actor=caller.actor,
            name=input.name,
            description=input.description,
            tasks=[t.to_domain(n) for n, t in enumerate(input.tasks)],
            match_categories=input.match_categories,
            match_severities=input.match_severities,
            match_service_ids=_services(input.match_service_ids),
            auto_apply=input.auto_apply,
        ),
    )


def _playbook_changes(input: UpdatePlaybookInput) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("name", "description", "match_categories", "match_severities"):
        value = getattr(input, name)
        if value is not strawberry.UNSET:
            changes[name] = value if value is not None or name == "description" else []
    for name in ("auto_apply", "active"):
        value = getattr(input, name)
        if value is not strawberry.UNSET and value is not None:
            changes[name] = value
    if input.name is None:
        raise ValidationFailed("name must not be empty", field="name")
    if input.tasks is not strawberry.UNSET:
        changes["tasks"] = [t.to_domain(n) for n, t in enumerate(input.tasks or [])]
    if input.match_service_ids is not strawberry.UNSET:
        changes["match_service_ids"] = _services(input.match_service_ids or [])
    return changes


async def update_playbook(info: Info[Context, Any], input: UpdatePlaybookInput) -> PlaybookPayload:
    return await _playbook_command(
        info,
        lambda caller: playbook_service.update_playbook(
            tenant_id=caller.tenant_id,
            actor=caller.actor,
            playbook_id=playbook_key(input.id),
            changes=_playbook_changes(input),
        ),
    )


async def apply_playbook(info: Info[Context, Any], input: ApplyPlaybookInput) -> IncidentPayload:
    principal = authorize(info, Action.UPDATE)

    async def command() -> CommandResult:
        result, _ = await playbook_service.apply_playbook(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            playbook_id=playbook_key(input.playbook_id, field="playbookId"),
        )
        return result

    return await run_command(principal, command)


# --- escalation -----------------------------------------------------------------------------


async def escalation_policy(info: Info[Context, Any]) -> list[EscalationPath]:
    principal = authorize(info, Action.READ_POLICY)
    found = await escalation.get_policies(tenant_id=principal.tenant_id)
    return [EscalationPath.of(found[p]) for p in sorted(found)]


async def update_escalation_policy(
    info: Info[Context, Any], input: UpdateEscalationPolicyInput
) -> EscalationPolicyPayload:
    principal = authorize(info, Action.MANAGE_POLICY)
    try:
        levels = [
            escalation.Level(
                team_id=team_key(lv.team_id, field=f"levels[{n}].teamId") if lv.team_id else None,
                tier=lv.tier,
                ack_timeout_minutes=lv.ack_timeout_minutes,
            )
            for n, lv in enumerate(input.levels)
        ]
        view = await escalation.update_policy(
            tenant_id=principal.tenant_id,
            priority=input.priority,
            levels=levels,
            escalate_on_breach=input.escalate_on_breach,
        )
    except DomainError as error:
        return EscalationPolicyPayload(path=None, errors=[UserError.of(error)])
    return EscalationPolicyPayload(path=EscalationPath.of(view), errors=[])


async def escalate_incident(
    info: Info[Context, Any], input: EscalateIncidentInput
) -> IncidentPayload:
    principal = authorize(info, Action.ASSIGN)
    return await run_command(
        principal,
        lambda: escalation.escalate(
            caller=Caller.of(principal),
            incident_id=incident_key(input.id),
            reason=input.reason,
            team_id=team_key(input.team_id, field="teamId") if input.team_id else None,
            tier=input.tier,
        ),
    )


# --- tools and drills -----------------------------------------------------------------------


async def record_tool_usage(
    info: Info[Context, Any], input: RecordToolUsageInput
) -> IncidentPayload:
    principal = authorize(info, Action.ADD_NOTE)
    return await run_command(
        principal,
        lambda: activity.record_tool_usage(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            tool=input.tool,
            summary=input.summary,
            outcome=input.outcome,
        ),
    )


async def record_drill_outcome(
    info: Info[Context, Any], input: RecordDrillOutcomeInput
) -> IncidentPayload:
    principal = authorize(info, Action.RUN_DRILLS)
    return await run_command(
        principal,
        lambda: activity.record_drill_outcome(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            outcome=input.outcome,
            passed=input.passed,
        ),
    )


async def engage_vendor(info: Info[Context, Any], input: EngageVendorInput) -> IncidentPayload:
    principal = authorize(info, Action.TRANSITION)
    return await run_command(
        principal,
        lambda: vendors.engage_vendor(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            vendor=input.vendor,
            method=input.contact_method,
            reference=input.reference,
        ),
    )

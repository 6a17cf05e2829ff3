"""Roles and tasks on an incident: given and changed by whoever may assign or update it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.core.ids import uuid_key
from app.errors import DomainError, ValidationFailed
from app.resolvers.incident import incident_key, run_command
from app.resolvers.people import user_key
from app.schema.authorization import authorize
from app.schema.common import UserError, from_global_id
from app.schema.context import Context
from app.schema.incident import IncidentPayload
from app.schema.response import (
    TASK_PREFIX,
    AddTaskInput,
    RoleInput,
    Task,
    TaskPayload,
    TransitionTaskInput,
    UpdateTaskInput,
)
from app.services.access.caller import Caller
from app.services.access.classification import field_readable
from app.services.access.permissions import Action
from app.services.response import roles, tasks
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

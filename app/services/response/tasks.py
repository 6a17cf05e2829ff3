"""Tasks: the pieces of an incident's response, TASK-<n> within it, with owners, due times,
estimates and dependencies on each other.

Every change is an event on the incident's timeline (`com.incidents.task.added.v1`,
`...task.updated.v1`, `...task.state_change.v1`), written with the task's rows in the
incident's own transaction: the incident's sequence orders every change to its tasks, so
what a command checked (a task's number, its dependencies' statuses) still holds when it
commits, or the command reads again. A task cannot be DONE while one it depends on is not
DONE or SKIPPED; a dependency that would close a cycle is refused.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.clock import utcnow
from app.core.graph import cycle_through
from app.core.ids import parse_uuid
from app.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from app.models import Task, TaskDependency, TaskStatus
from app.services.access.caller import Caller, user_actor
from app.services.incidents import commands as incident_commands
from app.services.incidents import validation
from app.services.incidents.snapshot import IncidentSnapshot, get_visible_incident
from app.services.incidents.timeline import EventRecord, NewEvent
from app.services.people import users
from app.services.response.progress import blocking

TASK_ADDED = "com.incidents.task.added.v1"
TASK_UPDATED = "com.incidents.task.updated.v1"
TASK_STATE_CHANGE = "com.incidents.task.state_change.v1"

# A task's global id is this prefix and its UUID's hex, as the API shows it.
GLOBAL_PREFIX = "task_"
# An incident's tasks at most: a response, not a project plan (playbooks stay far below).
TASKS_MAX = 500
DEPENDENCIES_MAX = 50
GROUP_MAX = 64
ESTIMATE_MAX_HOURS = 10_000.0
POSITION_MAX = 1_000_000


@dataclass(frozen=True, slots=True)
class TaskView:
    id: str
    tenant_id: str
    incident_id: str
    number: int
    title: str
    description: str | None
    group: str | None
    position: int
    owner_id: str | None
    status: TaskStatus
    due_at: datetime | None
    estimated_hours: float | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    depends_on: tuple[str, ...] = field(default=())

    @property
    def reference(self) -> str:
        return f"TASK-{self.number}"

    @classmethod
    def of(cls, row: Task, depends_on: Sequence[str] = ()) -> TaskView:
        return cls(
            id=str(row.id),
            tenant_id=row.tenant_id,
            incident_id=str(row.incident_id),
            number=row.number,
            title=row.title,
            description=row.description,
            group=row.group,
            position=row.position,
            owner_id=str(row.owner_id) if row.owner_id is not None else None,
            status=row.status,
            due_at=row.due_at,
            estimated_hours=row.estimated_hours,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            depends_on=tuple(depends_on),
        )


@dataclass(frozen=True, slots=True)
class TaskResult:
    task: TaskView
    incident: IncidentSnapshot
    events: list[EventRecord]


def global_id(task_id: str) -> str:
    return GLOBAL_PREFIX + uuid.UUID(task_id).hex


# --- validation -----------------------------------------------------------------------------


def group_of(value: str | None) -> str | None:
    group = validation.name(value, field="group")
    if group is not None and len(group) > GROUP_MAX:
        raise ValidationFailed(f"group must be at most {GROUP_MAX} characters", field="group")
    return group


def estimate_of(value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0 or value > ESTIMATE_MAX_HOURS:
        raise ValidationFailed(
            f"estimatedHours must be above 0 and at most {ESTIMATE_MAX_HOURS:g}",
            field="estimatedHours",
        )
    return value


def position_of(value: int) -> int:
    if not 0 <= value <= POSITION_MAX:
        raise ValidationFailed(f"order must be 0 to {POSITION_MAX}", field="order")
    return value


async def _owner(tenant_id: str, owner_id: str | None) -> str | None:
    if owner_id is None:
        return None
    user = await users.active_user(tenant_id=tenant_id, user_id=owner_id, field="ownerId")
    return user.id


async def _visible_incident(caller: Caller, incident_id: str) -> IncidentSnapshot:
    return await get_visible_incident(caller=caller, incident_id=incident_id)


async def _task(caller: Caller, task_id: str) -> Task:
    """The task, when its incident exists for the caller; NOT_FOUND (id) otherwise."""
    key = parse_uuid(task_id.removeprefix(GLOBAL_PREFIX))
    row = await Task.get_or_none(tenant_id=caller.tenant_id, id=key) if key else None
    if row is not None:
        try:
            await _visible_incident(caller, str(row.incident_id))
        except NotFound:
            row = None
    if row is None:
        raise NotFound(f"no task with id {task_id!r}", field="id")
    return row


async def _edges(incident: uuid.UUID) -> dict[str, list[str]]:
    """Every dependency between the incident's tasks: task id -> the ids it depends on."""
    rows = await TaskDependency.filter(task__incident_id=incident).values(
        "task_id", "depends_on_id"
    )
    edges: dict[str, list[str]] = {}
    for row in rows:
        edges.setdefault(str(row["task_id"]), []).append(str(row["depends_on_id"]))
    return edges


async def _dependencies(
    tenant_id: str, incident: uuid.UUID, given: Sequence[str], *, task: str | None
) -> list[Task]:
    """The tasks named, each of the same incident and not the task itself."""
    if len(given) > DEPENDENCIES_MAX:
        raise ValidationFailed(
            f"a task depends on at most {DEPENDENCIES_MAX} others", field="dependsOn"
        )
    found: list[Task] = []
    for value in dict.fromkeys(given):
        key = parse_uuid(value.removeprefix(GLOBAL_PREFIX))
        row = (
            await Task.get_or_none(tenant_id=tenant_id, incident_id=incident, id=key)
            if key
            else None
        )
        if row is None:
            raise NotFound(f"no task {value!r} on this incident", field="dependsOn")
        if str(row.id) == task:
            raise ValidationFailed("a task cannot depend on itself", field="dependsOn")
        found.append(row)
    return found


# --- commands -------------------------------------------------------------------------------


async def add_task(
    *,
    caller: Caller,
    incident_id: str,
    title: str,
    description: str | None = None,
    group: str | None = None,
    position: int | None = None,
    owner_id: str | None = None,
    due_at: datetime | None = None,
    estimated_hours: float | None = None,
    depends_on: Sequence[str] = (),
    playbook_id: str | None = None,
) -> TaskResult:
    """A new TODO task on the incident (not CLOSED or CANCELLED); `position` defaults to
    after the others."""
    snapshot = await _visible_incident(caller, incident_id)
    key = uuid.UUID(snapshot.id)
    values: dict[str, Any] = {
        "title": validation.title(title),
        "description": validation.text(description, field="description"),
        "group": group_of(group),
        "owner_id": await _owner(caller.tenant_id, owner_id),
        "due_at": due_at,
        "estimated_hours": estimate_of(estimated_hours),
    }
    dependencies = await _dependencies(caller.tenant_id, key, depends_on, task=None)
    task_id = uuid.uuid4()
    plan: dict[str, int] = {}

    async def decide(incident: IncidentSnapshot) -> list[NewEvent]:
        count = await Task.filter(incident_id=key).count()
        if count >= TASKS_MAX:
            raise ValidationFailed(
                f"an incident has at most {TASKS_MAX} tasks; group the work into fewer",
                field="incidentId",
            )
        last = await Task.filter(incident_id=key).order_by("-number").first()
        plan["number"] = last.number + 1 if last is not None else 1
        plan["position"] = position_of(position) if position is not None else count
        return [
            NewEvent(
                type=TASK_ADDED,
                data={
                    "task": GLOBAL_PREFIX + task_id.hex,
                    "number": plan["number"],
                    "title": values["title"],
                    "group": values["group"],
                    "order": plan["position"],
                    "owner": user_actor(values["owner_id"]) if values["owner_id"] else None,
                    "dueAt": due_at.isoformat() if due_at else None,
                    "estimatedHours": values["estimated_hours"],
                    "dependsOn": [global_id(str(d.id)) for d in dependencies],
                    "status": TaskStatus.TODO.value,
                },
            )
        ]

    async def write(incident: IncidentSnapshot) -> None:
        now = utcnow()
        await Task.create(
            id=task_id,
            tenant_id=caller.tenant_id,
            incident_id=key,
            number=plan["number"],
            position=plan["position"],
            status=TaskStatus.TODO,
            playbook_id=parse_uuid(playbook_id) if playbook_id else None,
            created_by=caller.actor,
            created_at=now,
            updated_at=now,
            **values,
        )
        await TaskDependency.bulk_create(
            [
                TaskDependency(tenant_id=caller.tenant_id, task_id=task_id, depends_on_id=d.id)
                for d in dependencies
            ]
        )

    return await _record(caller, snapshot.id, task_id, decide, write)


# The fields updateTask changes, by the names the commands use.
UPDATABLE = (
    "title",
    "description",
    "group",
    "position",
    "owner_id",
    "due_at",
    "estimated_hours",
    "depends_on",
)
_API_NAMES = {
    "position": "order",
    "owner_id": "owner",
    "due_at": "dueAt",
    "estimated_hours": "estimatedHours",
    "depends_on": "dependsOn",
}


async def update_task(
    *, caller: Caller, task_id: str, changes: Mapping[str, Any], version: int | None = None
) -> TaskResult:
    """Change the fields given in `changes` (any of UPDATABLE; a None clears an optional
    one). Nothing that differs: nothing is written."""
    row = await _task(caller, task_id)
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValidationFailed(f"cannot change {sorted(unknown)}", field="input")
    wanted: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "title":
            wanted[name] = validation.title(value)
        elif name == "description":
            wanted[name] = validation.text(value, field="description")
        elif name == "group":
            wanted[name] = group_of(value)
        elif name == "position":
            wanted[name] = position_of(value if value is not None else 0)
        elif name == "owner_id":
            wanted[name] = await _owner(caller.tenant_id, value)
        elif name == "estimated_hours":
            wanted[name] = estimate_of(value)
        elif name == "due_at":
            wanted[name] = value
    new_dependencies: list[str] | None = None
    if "depends_on" in changes:
        found = await _dependencies(
            caller.tenant_id, row.incident_id, changes["depends_on"] or (), task=str(row.id)
        )
        new_dependencies = [str(d.id) for d in found]
    plan: dict[str, TaskView] = {}

    async def decide(incident: IncidentSnapshot) -> list[NewEvent]:
        current = plan["seen"] = await _view(row.id)
        if version is not None and current.version != version:
            raise Conflict(f"task is at version {current.version}, not {version}", field="version")
        diff = _diff(current, wanted, new_dependencies)
        if not diff:
            return []
        if new_dependencies is not None:
            edges = await _edges(row.incident_id)
            edges.pop(current.id, None)
            cycle = cycle_through(edges, current.id, new_dependencies)
            if cycle is not None:
                numbers = await _numbers(cycle)
                raise ValidationFailed(
                    "that would make a dependency cycle: "
                    + " -> ".join(f"TASK-{numbers[t]}" for t in cycle),
                    field="dependsOn",
                )
        return [
            NewEvent(
                type=TASK_UPDATED,
                data={"task": global_id(current.id), "number": current.number, "changes": diff},
            )
        ]

    async def write(incident: IncidentSnapshot) -> None:
        seen = plan["seen"]
        changed = {k: v for k, v in wanted.items() if getattr(seen, k) != v}
        await Task.filter(id=row.id).update(
            **changed, updated_at=utcnow(), version=seen.version + 1
        )
        if new_dependencies is not None:
            await TaskDependency.filter(task_id=row.id).delete()
            await TaskDependency.bulk_create(
                [
                    TaskDependency(
                        tenant_id=caller.tenant_id, task_id=row.id, depends_on_id=uuid.UUID(d)
                    )
                    for d in new_dependencies
                ]
            )

    return await _record(caller, str(row.incident_id), row.id, decide, write)


async def transition_task(*, caller: Caller, task_id: str, to: TaskStatus) -> TaskResult:
    """Move the task to `to`; DONE only once every task it depends on is DONE or SKIPPED."""
    row = await _task(caller, task_id)
    plan: dict[str, TaskView] = {}

    async def decide(incident: IncidentSnapshot) -> list[NewEvent]:
        current = plan["seen"] = await _view(row.id)
        if current.status is to:
            raise InvalidTransition(f"task is already {to.value}", field="to")
        if to is TaskStatus.DONE:
            keys = [uuid.UUID(d) for d in current.depends_on]
            statuses = {str(t.id): t.status for t in await Task.filter(id__in=keys)}
            open_ = blocking(current.depends_on, statuses)
            if open_:
                numbers = await _numbers(open_)
                raise InvalidTransition(
                    "cannot be DONE before "
                    + ", ".join(f"TASK-{numbers[t]}" for t in open_)
                    + " (DONE or SKIPPED)",
                    field="to",
                )
        return [
            NewEvent(
                type=TASK_STATE_CHANGE,
                data={
                    "task": global_id(current.id),
                    "number": current.number,
                    "from": current.status.value,
                    "to": to.value,
                },
            )
        ]

    async def write(incident: IncidentSnapshot) -> None:
        seen = plan["seen"]
        await Task.filter(id=row.id).update(
            status=to, updated_at=utcnow(), version=seen.version + 1
        )

    return await _record(caller, str(row.incident_id), row.id, decide, write)


async def _record(
    caller: Caller,
    incident_id: str,
    task_id: uuid.UUID,
    decide: Callable[[IncidentSnapshot], Awaitable[list[NewEvent]]],
    write: Callable[[IncidentSnapshot], Awaitable[None]],
) -> TaskResult:
    """The task change `decide` makes, written by `write` with its event on the incident
    (not CLOSED or CANCELLED); the task as it is after."""
    result = await incident_commands.append_events(
        caller=caller, incident_id=incident_id, events=decide, also=write, open_only=True
    )
    return TaskResult(await _view(task_id), result.incident, result.events)


def _diff(
    current: TaskView, wanted: Mapping[str, Any], dependencies: list[str] | None
) -> dict[str, dict[str, Any]]:
    diff: dict[str, dict[str, Any]] = {}
    for name, value in wanted.items():
        old = getattr(current, name)
        if old != value:
            diff[_API_NAMES.get(name, name)] = {
                "from": _plain(name, old),
                "to": _plain(name, value),
            }
    if dependencies is not None and set(dependencies) != set(current.depends_on):
        diff["dependsOn"] = {
            "from": [global_id(d) for d in current.depends_on],
            "to": [global_id(d) for d in dependencies],
        }
    return diff


def _plain(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "owner_id":
        return user_actor(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def _numbers(task_ids: Sequence[str]) -> dict[str, int]:
    rows = await Task.filter(id__in=[uuid.UUID(t) for t in set(task_ids)]).values("id", "number")
    return {str(r["id"]): r["number"] for r in rows}


# --- reads ----------------------------------------------------------------------------------


async def _view(task_id: uuid.UUID | str) -> TaskView:
    key = task_id if isinstance(task_id, uuid.UUID) else uuid.UUID(task_id)
    row = await Task.get(id=key)
    depends_on = await TaskDependency.filter(task_id=key).values_list("depends_on_id", flat=True)
    return TaskView.of(row, [str(d) for d in depends_on])


async def tasks_of(*, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, list[TaskView]]:
    """Each incident's tasks in order (then by number), with their dependencies: two
    statements for any number of incidents."""
    keys = [k for k in (parse_uuid(i) for i in incident_ids) if k is not None]
    rows = await Task.filter(tenant_id=tenant_id, incident_id__in=keys) if keys else []
    deps = await _depends_on([r.id for r in rows])
    found: dict[str, list[TaskView]] = {i: [] for i in incident_ids}
    for row in sorted(rows, key=lambda r: (r.position, r.number)):
        found.setdefault(str(row.incident_id), []).append(
            TaskView.of(row, deps.get(str(row.id), []))
        )
    return found


async def get_tasks(*, tenant_id: str, task_ids: Sequence[str]) -> dict[str, TaskView]:
    """The tasks by id (global or raw), whatever their incident; the caller checks that."""
    keys = [k for k in (parse_uuid(t.removeprefix(GLOBAL_PREFIX)) for t in task_ids) if k]
    rows = await Task.filter(tenant_id=tenant_id, id__in=keys) if keys else []
    deps = await _depends_on([r.id for r in rows])
    return {str(r.id): TaskView.of(r, deps.get(str(r.id), [])) for r in rows}


async def _depends_on(task_ids: Sequence[uuid.UUID]) -> dict[str, list[str]]:
    if not task_ids:
        return {}
    rows = await TaskDependency.filter(task_id__in=list(task_ids)).values(
        "task_id", "depends_on_id"
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(str(row["task_id"]), []).append(str(row["depends_on_id"]))
    return found

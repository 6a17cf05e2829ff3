"""Playbooks: a tenant's templates of tasks for kinds of incident, applied by hand or by
themselves when an incident they match is declared.

A playbook holds its tasks in order, each with a group, an order, an estimate, a due time
relative to the application and dependencies by position; every change to it makes a new
`version`. Applying a version to an incident adds its tasks and one
`com.incidents.playbook.applied.v1` event (with the task count) in the incident's own
transaction; applying the same version again adds nothing. An incident declared with the
category, severity and services a playbook with `autoApply` matches gets it: the
declaration's transaction records the application as owed, and the worker of any server
makes it (so a crash right after the declaration loses nothing).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.core.clock import utcnow
from app.core.graph import cycle_through
from app.core.ids import parse_uuid
from app.core.pagination import decode_key_cursor, encode_key_cursor, page_size
from app.core.tasks import cancel_and_wait
from app.errors import DomainError, NotFound, ValidationFailed
from app.models import (
    IncidentCategory,
    IncidentService,
    Playbook,
    PlaybookApplication,
    Severity,
    Task,
    TaskDependency,
    TaskStatus,
)
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.incidents import commands as incident_commands
from app.services.incidents import validation
from app.services.incidents.commands import CommandResult
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import NewEvent
from app.services.response import tasks as task_rules
from app.services.writer import Change

log = logging.getLogger(__name__)

PLAYBOOK_APPLIED = "com.incidents.playbook.applied.v1"
GLOBAL_PREFIX = "pb_"
TEMPLATE_TASKS_MAX = 100
DUE_IN_MINUTES_MAX = 366 * 24 * 60
MATCH_SERVICES_MAX = 50
# Seconds between the worker's looks for owed applications (it is woken at once by this
# process's declarations).
WORKER_INTERVAL = 2.0


@dataclass(frozen=True, slots=True)
class TemplateTask:
    title: str
    description: str | None = None
    group: str | None = None
    order: int = 0
    estimated_hours: float | None = None
    due_in_minutes: float | None = None
    depends_on: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "group": self.group,
            "order": self.order,
            "estimatedHours": self.estimated_hours,
            "dueInMinutes": self.due_in_minutes,
            "dependsOn": list(self.depends_on),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TemplateTask:
        return cls(
            title=raw["title"],
            description=raw.get("description"),
            group=raw.get("group"),
            order=int(raw.get("order") or 0),
            estimated_hours=raw.get("estimatedHours"),
            due_in_minutes=raw.get("dueInMinutes"),
            depends_on=tuple(raw.get("dependsOn") or ()),
        )


def template_tasks(given: Sequence[TemplateTask]) -> list[TemplateTask]:
    """The tasks of a playbook, checked: 1 to TEMPLATE_TASKS_MAX, each valid, dependencies
    on other positions of the list (from 0) and no cycle; `order` defaults to position."""
    if not 1 <= len(given) <= TEMPLATE_TASKS_MAX:
        raise ValidationFailed(f"a playbook has 1 to {TEMPLATE_TASKS_MAX} tasks", field="tasks")
    found: list[TemplateTask] = []
    for n, task in enumerate(given):
        where = f"tasks[{n}]"
        due = task.due_in_minutes
        if due is not None and (not math.isfinite(due) or not 0 < due <= DUE_IN_MINUTES_MAX):
            raise ValidationFailed(
                f"{where}.dueInMinutes must be above 0 and at most {DUE_IN_MINUTES_MAX}",
                field=f"{where}.dueInMinutes",
            )
        for other in task.depends_on:
            if not 0 <= other < len(given) or other == n:
                raise ValidationFailed(
                    f"{where}.dependsOn names positions of the other tasks (0 to {len(given) - 1})",
                    field=f"{where}.dependsOn",
                )
        try:
            found.append(
                TemplateTask(
                    title=validation.title(task.title),
                    description=validation.text(task.description, field="description"),
                    group=task_rules.group_of(task.group),
                    order=task_rules.position_of(task.order),
                    estimated_hours=task_rules.estimate_of(task.estimated_hours),
                    due_in_minutes=due,
                    depends_on=tuple(dict.fromkeys(task.depends_on)),
                )
            )
        except ValidationFailed as error:
            inner = f"{where}.{error.field}" if error.field else where
            raise ValidationFailed(f"{where}: {error.message}", field=inner) from None
    edges = {str(n): [str(d) for d in t.depends_on] for n, t in enumerate(found)}
    for n in range(len(found)):
        others = {k: v for k, v in edges.items() if k != str(n)}
        cycle = cycle_through(others, str(n), edges[str(n)])
        if cycle is not None:
            raise ValidationFailed(
                "the tasks' dependencies make a cycle: " + " -> ".join(cycle),
                field="tasks",
            )
    return found


@dataclass(frozen=True, slots=True)
class PlaybookView:
    id: str
    tenant_id: str
    name: str
    description: str | None
    version: int
    tasks: tuple[TemplateTask, ...]
    match_categories: frozenset[IncidentCategory]
    match_severities: frozenset[Severity]
    match_service_ids: frozenset[str]
    auto_apply: bool
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Playbook) -> PlaybookView:
        return cls(
            id=str(row.id),
            tenant_id=row.tenant_id,
            name=row.name,
            description=row.description,
            version=row.version,
            tasks=tuple(TemplateTask.from_json(t) for t in row.tasks),
            match_categories=frozenset(IncidentCategory(c) for c in row.match_categories),
            match_severities=frozenset(Severity(s) for s in row.match_severities),
            match_service_ids=frozenset(row.match_service_ids),
            auto_apply=row.auto_apply,
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def matches(
        self, category: IncidentCategory | None, severity: Severity, service_ids: Iterable[str]
    ) -> bool:
        """Whether it applies itself to an incident declared so: active, automatic, and each
        condition it sets met (a category, a severity, a service in common)."""
        if not (self.active and self.auto_apply):
            return False
        if self.match_categories and category not in self.match_categories:
            return False
        if self.match_severities and severity not in self.match_severities:
            return False
        return not self.match_service_ids or bool(self.match_service_ids & set(service_ids))


@dataclass(frozen=True, slots=True)
class PlaybookPage:
    items: list[tuple[str, PlaybookView]]
    has_next_page: bool
    has_previous_page: bool
    total: int = field(default=0)


# --- managing playbooks ---------------------------------------------------------------------


def _name(value: str) -> str:
    name = validation.name(value, field="name")
    if name is None:
        raise ValidationFailed("name must not be empty", field="name")
    return name


async def _service_ids(tenant_id: str, given: Sequence[str]) -> list[str]:
    from app.services.catalog.queries import service_keys

    keys = await service_keys(tenant_id, given, most=MATCH_SERVICES_MAX, field="matchServiceIds")
    return [str(k) for k in keys]


async def _refuse_duplicate(tenant_id: str, name: str, *, except_id: uuid.UUID | None) -> None:
    query = Playbook.filter(tenant_id=tenant_id, name_key=name.lower())
    if except_id is not None:
        query = query.exclude(id=except_id)
    if await query.exists():
        raise ValidationFailed(f"a playbook named {name!r} exists already", field="name")


async def create_playbook(
    *,
    tenant_id: str,
    actor: str | None,
    name: str,
    tasks: Sequence[TemplateTask],
    description: str | None = None,
    match_categories: Iterable[IncidentCategory] = (),
    match_severities: Iterable[Severity] = (),
    match_service_ids: Sequence[str] = (),
    auto_apply: bool = False,
) -> PlaybookView:
    from tortoise.transactions import in_transaction

    clean_name = _name(name)
    checked = template_tasks(tasks)
    services = await _service_ids(tenant_id, match_service_ids)
    now = utcnow()
    async with in_transaction():
        await _refuse_duplicate(tenant_id, clean_name, except_id=None)
        row = await Playbook.create(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            name=clean_name,
            name_key=clean_name.lower(),
            description=validation.text(description, field="description"),
            tasks=[t.to_json() for t in checked],
            match_categories=sorted(c.value for c in match_categories),
            match_severities=sorted(s.value for s in match_severities),
            match_service_ids=services,
            auto_apply=auto_apply,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        await audit.record(
            tenant_id=tenant_id,
            action="playbook.create",
            target=str(row.id),
            changes={"name": clean_name, "version": 1, "tasks": len(checked)},
        )
    return PlaybookView.of(row)


# The playbook fields updatePlaybook changes, by the names the command uses.
UPDATABLE = (
    "name",
    "description",
    "tasks",
    "match_categories",
    "match_severities",
    "match_service_ids",
    "auto_apply",
    "active",
)


async def update_playbook(
    *, tenant_id: str, actor: str | None, playbook_id: str, changes: Mapping[str, Any]
) -> PlaybookView:
    """Change the fields in `changes`; anything that differs makes a new version (the
    incidents it was applied to keep their tasks)."""
    from tortoise.transactions import in_transaction

    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValidationFailed(f"cannot change {sorted(unknown)}", field="input")
    wanted: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "name":
            wanted["name"] = _name(value)
        elif name == "description":
            wanted[name] = validation.text(value, field="description")
        elif name == "tasks":
            wanted[name] = [t.to_json() for t in template_tasks(value)]
        elif name in ("match_categories", "match_severities"):
            wanted[name] = sorted(v.value for v in value)
        elif name == "match_service_ids":
            wanted[name] = await _service_ids(tenant_id, value)
        else:
            wanted[name] = bool(value)
    async with in_transaction():
        row = await _row(tenant_id, playbook_id, lock=True)
        diff = {k: v for k, v in wanted.items() if getattr(row, k) != v}
        if not diff:
            return PlaybookView.of(row)
        if "name" in diff:
            await _refuse_duplicate(tenant_id, diff["name"], except_id=row.id)
            row.name_key = diff["name"].lower()
        for name, value in diff.items():
            setattr(row, name, value)
        row.version += 1
        row.updated_at = utcnow()
        await row.save()
        await audit.record(
            tenant_id=tenant_id,
            action="playbook.update",
            target=str(row.id),
            changes={"fields": sorted(diff), "version": row.version},
        )
    return PlaybookView.of(row)


async def _row(tenant_id: str, playbook_id: str, *, lock: bool = False) -> Playbook:
    key = parse_uuid(playbook_id.removeprefix(GLOBAL_PREFIX))
    query = Playbook.filter(tenant_id=tenant_id, id=key) if key else None
    if query is not None and lock and Playbook._meta.db.capabilities.dialect == "postgres":
        query = query.select_for_update()
    row = await query.first() if query is not None else None
    if row is None:
        raise NotFound(f"no playbook with id {playbook_id!r}", field="id")
    return row


async def list_playbooks(
    *, tenant_id: str, first: int | None = None, after: str | None = None
) -> PlaybookPage:
    size = page_size(first)
    query = Playbook.filter(tenant_id=tenant_id)
    total = await query.count()
    if after is not None:
        query = query.filter(name_key__gt=decode_key_cursor("playbook", after))
    rows = await query.order_by("name_key").limit(size + 1)
    items = [(encode_key_cursor("playbook", r.name_key), PlaybookView.of(r)) for r in rows[:size]]
    return PlaybookPage(items, len(rows) > size, after is not None, total)


async def get_playbooks(*, tenant_id: str, playbook_ids: Sequence[str]) -> dict[str, PlaybookView]:
    keys = [k for k in (parse_uuid(p.removeprefix(GLOBAL_PREFIX)) for p in playbook_ids) if k]
    rows = await Playbook.filter(tenant_id=tenant_id, id__in=keys) if keys else []
    return {str(r.id): PlaybookView.of(r) for r in rows}


# --- applying them --------------------------------------------------------------------------


async def apply_playbook(
    *, caller: Caller, incident_id: str, playbook_id: str
) -> tuple[CommandResult, PlaybookView]:
    """Add the playbook's tasks (its current version) to the incident, not CLOSED or
    CANCELLED, with one event; a version applied already adds nothing."""
    playbook = PlaybookView.of(await _row(caller.tenant_id, playbook_id))
    if not playbook.active:
        raise ValidationFailed(f"playbook {playbook.name!r} is retired", field="playbookId")
    key = parse_uuid(incident_id)
    if key is None:
        raise NotFound(f"no incident with id {incident_id!r}", field="incidentId")
    plan: dict[str, Any] = {}

    async def decide(incident: IncidentSnapshot) -> list[NewEvent]:
        applied = await PlaybookApplication.filter(
            incident_id=key, playbook_id=playbook.id, version=playbook.version
        ).first()
        if applied is not None and applied.applied_at is not None:
            return []
        count = await Task.filter(incident_id=key).count()
        if count + len(playbook.tasks) > task_rules.TASKS_MAX:
            raise ValidationFailed(
                f"the incident has {count} tasks; {len(playbook.tasks)} more would pass "
                f"{task_rules.TASKS_MAX}",
                field="playbookId",
            )
        last = await Task.filter(incident_id=key).order_by("-number").first()
        plan["first"] = (last.number if last is not None else 0) + 1
        plan["count"] = count
        return [
            NewEvent(
                type=PLAYBOOK_APPLIED,
                data={
                    "playbook": GLOBAL_PREFIX + uuid.UUID(playbook.id).hex,
                    "name": playbook.name,
                    "version": playbook.version,
                    "tasks": len(playbook.tasks),
                    "taskNumbers": [plan["first"], plan["first"] + len(playbook.tasks) - 1],
                },
            )
        ]

    async def write(incident: IncidentSnapshot) -> None:
        now = utcnow()
        ids = [uuid.uuid4() for _ in playbook.tasks]
        await Task.bulk_create(
            [
                Task(
                    id=ids[n],
                    tenant_id=caller.tenant_id,
                    incident_id=key,
                    number=plan["first"] + n,
                    title=t.title,
                    description=t.description,
                    group=t.group,
                    position=plan["count"] + t.order,
                    status=TaskStatus.TODO,
                    due_at=now + timedelta(minutes=t.due_in_minutes)
                    if t.due_in_minutes is not None
                    else None,
                    estimated_hours=t.estimated_hours,
                    playbook_id=uuid.UUID(playbook.id),
                    created_by=caller.actor,
                    created_at=now,
                    updated_at=now,
                )
                for n, t in enumerate(playbook.tasks)
            ]
        )
        await TaskDependency.bulk_create(
            [
                TaskDependency(tenant_id=caller.tenant_id, task_id=ids[n], depends_on_id=ids[d])
                for n, t in enumerate(playbook.tasks)
                for d in t.depends_on
            ]
        )
        updated = await PlaybookApplication.filter(
            incident_id=key, playbook_id=playbook.id, version=playbook.version
        ).update(applied_at=now)
        if not updated:
            await PlaybookApplication.create(
                tenant_id=caller.tenant_id,
                incident_id=key,
                playbook_id=uuid.UUID(playbook.id),
                version=playbook.version,
                requested_at=now,
                applied_at=now,
            )

    result = await incident_commands.append_events(
        caller=caller, incident_id=incident_id, events=decide, also=write, open_only=True
    )
    return result, playbook


# --- on declaration -------------------------------------------------------------------------

_owed = asyncio.Event()


async def on_incident_change(change: Change) -> Callable[[], None] | None:
    """A declaration owes the applications of the automatic playbooks it matches: recorded
    in its own transaction, made by the worker once it commits."""
    if change.before is not None:
        return None
    incident = change.after
    playbooks = await Playbook.filter(tenant_id=incident.tenant_id, active=True, auto_apply=True)
    if not playbooks:
        return None
    services = await IncidentService.filter(incident_id=uuid.UUID(incident.id)).values_list(
        "service_id", flat=True
    )
    matching = [
        PlaybookView.of(p)
        for p in playbooks
        if PlaybookView.of(p).matches(incident.category, incident.severity, map(str, services))
    ]
    for playbook in matching:
        await PlaybookApplication.create(
            tenant_id=incident.tenant_id,
            incident_id=uuid.UUID(incident.id),
            playbook_id=uuid.UUID(playbook.id),
            version=playbook.version,
            requested_at=change.now,
        )
    return _owed.set if matching else None


class PlaybookWorker:
    """Makes the applications declarations owe, in every server process; two processes on
    the same one write it once (the incident's sequence decides)."""

    def __init__(self, *, interval: float = WORKER_INTERVAL) -> None:
        self._interval = interval
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name="playbook-worker")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def run_once(self) -> int:
        owed = await PlaybookApplication.filter(applied_at=None, failure=None).limit(50)
        for application in owed:
            try:
                await apply_playbook(
                    caller=Caller.system(application.tenant_id, actor="playbooks"),
                    incident_id=str(application.incident_id),
                    playbook_id=str(application.playbook_id),
                )
            except DomainError as error:
                await PlaybookApplication.filter(id=application.id).update(failure=str(error))
                continue
            # Owed for a version since replaced: the current one was applied instead.
            await PlaybookApplication.filter(id=application.id, applied_at=None).update(
                applied_at=utcnow()
            )
        return len(owed)

    async def _loop(self) -> None:
        while True:
            _owed.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("playbook worker: a pass failed; retrying", exc_info=True)
            try:
                await asyncio.wait_for(_owed.wait(), self._interval)
            except TimeoutError:
                pass

"""GraphQL types of the response around an incident: roles and tasks."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.types import Info

from app import models
from app.schema.catalog import SERVICE_PREFIX
from app.schema.common import Node, PageInfo, UserError, to_global_id
from app.schema.context import Context
from app.schema.incident import IncidentCategory, Priority, Severity
from app.schema.people import EscalationTier
from app.services.access.classification import REDACTED, redact_text
from app.services.response import activity, vendors
from app.services.response import playbooks as playbook_service
from app.services.response.escalation import Level, PolicyView
from app.services.response.playbooks import PlaybookView, TemplateTask
from app.services.response.roles import RoleView
from app.services.response.tasks import GLOBAL_PREFIX, TaskView
from app.services.response.vendors import EngagementView

if TYPE_CHECKING:
    from app.schema.incident import Incident
    from app.schema.people import User

TASK_PREFIX = GLOBAL_PREFIX
PLAYBOOK_PREFIX = playbook_service.GLOBAL_PREFIX

IncidentRole = strawberry.enum(
    models.IncidentRole,
    name="IncidentRole",
    description="A part in an incident's response. One COMMANDER at a time (a new one is a "
    "handover); the others may be held by several people.",
)
TaskStatus = strawberry.enum(models.TaskStatus, name="TaskStatus")


@strawberry.type(description="A user holding a role on an incident, since `assignedAt`.")
class RoleAssignment:
    role: IncidentRole  # type: ignore[valid-type]
    assigned_at: datetime
    assigned_by: str | None = strawberry.field(description="Who gave the role (an actor).")
    view: strawberry.Private[RoleView]

    @strawberry.field(description="Who holds it.")  # type: ignore[untyped-decorator]
    async def user(
        self, info: Info[Context, Any]
    ) -> Annotated[User, strawberry.lazy("app.schema.people")] | None:
        from app.schema.people import User

        return await User.named(info, self.view.user_id)

    @classmethod
    def of(cls, view: RoleView) -> RoleAssignment:
        return cls(
            role=view.role, assigned_at=view.assigned_at, assigned_by=view.assigned_by, view=view
        )


@strawberry.type(description="A piece of an incident's response: TASK-<number> within it.")
class Task(Node):
    id: strawberry.ID
    number: int
    reference: str = strawberry.field(description="TASK-<number>, unique within the incident.")
    title: str
    description: str | None
    group: str | None = strawberry.field(description="A heading to list tasks under.")
    order: int = strawberry.field(description="Where it is listed (then by number).")
    status: TaskStatus  # type: ignore[valid-type]
    due_at: datetime | None
    estimated_hours: float | None = strawberry.field(
        description="What progress weighs it by; none counts one hour."
    )
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="Pass to updateTask to refuse a stale edit.")
    redacted_fields: list[str] = strawberry.field(
        description="The fields redacted for you (text reads [REDACTED]): a task's text is "
        "as classified as its incident's title."
    )
    view: strawberry.Private[TaskView]
    readable: strawberry.Private[bool]

    @strawberry.field(description="Who owns it (null when nobody, or redacted for you).")  # type: ignore[untyped-decorator]
    async def owner(
        self, info: Info[Context, Any]
    ) -> Annotated[User, strawberry.lazy("app.schema.people")] | None:
        from app.schema.people import User

        return await User.named(info, self.view.owner_id, readable=self.readable)

    @strawberry.field(description="The tasks that must be DONE or SKIPPED before this is DONE.")  # type: ignore[untyped-decorator]
    async def depends_on(self, info: Info[Context, Any]) -> list[Task]:
        views = await info.context.loaders.task.load_many(list(self.view.depends_on))
        found = [v for v in views if v is not None]
        return [Task.of(v, readable=self.readable) for v in sorted(found, key=lambda v: v.number)]

    @strawberry.field(description="The incident it belongs to.")  # type: ignore[untyped-decorator]
    async def incident(
        self, info: Info[Context, Any]
    ) -> Annotated[Incident, strawberry.lazy("app.schema.incident")] | None:
        from app.schema.incident import Incident

        return await Incident.named(info, self.view.incident_id)

    @classmethod
    def of(cls, view: TaskView, *, readable: bool) -> Task:
        """The task as a caller may see it: its text [REDACTED] unless `readable`."""
        return cls(
            id=strawberry.ID(to_global_id(TASK_PREFIX, view.id)),
            number=view.number,
            reference=view.reference,
            title=view.title if readable else REDACTED,
            description=view.description if readable else redact_text(view.description),
            group=view.group if readable else redact_text(view.group),
            order=view.position,
            status=view.status,
            due_at=view.due_at,
            estimated_hours=view.estimated_hours,
            created_by=view.created_by if readable else redact_text(view.created_by),
            created_at=view.created_at,
            updated_at=view.updated_at,
            version=view.version,
            redacted_fields=[] if readable else ["title", "description", "group", "owner"],
            view=view,
            readable=readable,
        )


@strawberry.input
class RoleInput:
    incident_id: strawberry.ID
    role: IncidentRole  # type: ignore[valid-type]
    user_id: strawberry.ID


@strawberry.input
class AddTaskInput:
    incident_id: strawberry.ID
    title: str
    description: str | None = None
    group: str | None = None
    order: int | None = strawberry.field(default=None, description="Default: after the others.")
    owner_id: strawberry.ID | None = None
    due_at: datetime | None = None
    estimated_hours: float | None = None
    depends_on: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.input(description="Fields left out stay as they are; null clears an optional one.")
class UpdateTaskInput:
    id: strawberry.ID
    version: int | None = strawberry.field(
        default=None, description="Refuse the edit (CONFLICT) unless the task is at it."
    )
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    group: str | None = strawberry.UNSET
    order: int | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    due_at: datetime | None = strawberry.UNSET
    estimated_hours: float | None = strawberry.UNSET
    depends_on: list[strawberry.ID] | None = strawberry.UNSET


@strawberry.input
class TransitionTaskInput:
    id: strawberry.ID
    to: TaskStatus  # type: ignore[valid-type]


@strawberry.type
class TaskPayload:
    task: Task | None
    errors: list[UserError]


@strawberry.type(
    description="One task of a playbook, made a task of each incident it is applied to."
)
class PlaybookTask:
    title: str
    description: str | None
    group: str | None
    order: int
    estimated_hours: float | None
    due_in_minutes: float | None = strawberry.field(
        description="The task is due this long after the playbook is applied."
    )
    depends_on: list[int] = strawberry.field(
        description="Positions (from 0) of the playbook's tasks this one waits for."
    )

    @classmethod
    def of(cls, task: TemplateTask) -> PlaybookTask:
        return cls(
            title=task.title,
            description=task.description,
            group=task.group,
            order=task.order,
            estimated_hours=task.estimated_hours,
            due_in_minutes=task.due_in_minutes,
            depends_on=list(task.depends_on),
        )


@strawberry.type(description="A template of tasks for a kind of incident.")
class Playbook(Node):
    id: strawberry.ID
    name: str
    description: str | None
    version: int = strawberry.field(description="Every change makes a new version.")
    tasks: list[PlaybookTask]
    match_categories: list[IncidentCategory] = strawberry.field(
        description="Applied to incidents declared in one of these (none: any)."
    )
    match_severities: list[Severity] = strawberry.field(
        description="Applied to incidents declared with one of these (none: any)."
    )
    match_service_ids: list[strawberry.ID] = strawberry.field(
        description="Applied to incidents affecting one of these services (none: any)."
    )
    auto_apply: bool = strawberry.field(
        description="Applies itself to the incidents declared that it matches."
    )
    active: bool = strawberry.field(description="A retired playbook is applied no more.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: PlaybookView) -> Playbook:
        return cls(
            id=strawberry.ID(to_global_id(PLAYBOOK_PREFIX, view.id)),
            name=view.name,
            description=view.description,
            version=view.version,
            tasks=[PlaybookTask.of(t) for t in view.tasks],
            match_categories=sorted(view.match_categories),
            match_severities=sorted(view.match_severities),
            match_service_ids=[
                strawberry.ID(to_global_id(SERVICE_PREFIX, s))
                for s in sorted(view.match_service_ids)
            ],
            auto_apply=view.auto_apply,
            active=view.active,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


@strawberry.type
class PlaybookEdge:
    cursor: str
    node: Playbook


@strawberry.type
class PlaybookConnection:
    edges: list[PlaybookEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class PlaybookTaskInput:
    title: str
    description: str | None = None
    group: str | None = None
    order: int | None = strawberry.field(default=None, description="Default: its position.")
    estimated_hours: float | None = None
    due_in_minutes: float | None = None
    depends_on: list[int] = strawberry.field(
        default_factory=list, description="Positions (from 0) of the tasks it waits for."
    )

    def to_domain(self, position: int) -> TemplateTask:
        return TemplateTask(
            title=self.title,
            description=self.description,
            group=self.group,
            order=self.order if self.order is not None else position,
            estimated_hours=self.estimated_hours,
            due_in_minutes=self.due_in_minutes,
            depends_on=tuple(self.depends_on),
        )


@strawberry.input
class CreatePlaybookInput:
    name: str
    tasks: list[PlaybookTaskInput]
    description: str | None = None
    match_categories: list[IncidentCategory] = strawberry.field(default_factory=list)
    match_severities: list[Severity] = strawberry.field(default_factory=list)
    match_service_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    auto_apply: bool = False


@strawberry.input(description="Fields left out stay as they are. Any change is a new version.")
class UpdatePlaybookInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    tasks: list[PlaybookTaskInput] | None = strawberry.UNSET
    match_categories: list[IncidentCategory] | None = strawberry.UNSET
    match_severities: list[Severity] | None = strawberry.UNSET
    match_service_ids: list[strawberry.ID] | None = strawberry.UNSET
    auto_apply: bool | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.input
class ApplyPlaybookInput:
    incident_id: strawberry.ID
    playbook_id: strawberry.ID


@strawberry.type
class PlaybookPayload:
    playbook: Playbook | None
    errors: list[UserError]


@strawberry.type(description="One step of an escalation path.")
class EscalationLevel:
    team_id: strawberry.ID | None = strawberry.field(
        description="The team the incident is assigned to on reaching it."
    )
    tier: EscalationTier | None
    ack_timeout_minutes: float = strawberry.field(
        description="How long an unacknowledged incident waits here before moving on."
    )

    @classmethod
    def of(cls, level: Level) -> EscalationLevel:
        team = strawberry.ID(to_global_id("team_", level.team_id)) if level.team_id else None
        return cls(team_id=team, tier=level.tier, ack_timeout_minutes=level.ack_timeout_minutes)


@strawberry.type(description="The escalation path of one priority.")
class EscalationPath:
    priority: Priority
    levels: list[EscalationLevel]
    escalate_on_breach: bool = strawberry.field(
        description="A breach of the response SLA moves the incident up a level at once."
    )

    @classmethod
    def of(cls, view: PolicyView) -> EscalationPath:
        return cls(
            priority=view.priority,
            levels=[EscalationLevel.of(lv) for lv in view.levels],
            escalate_on_breach=view.escalate_on_breach,
        )


@strawberry.input
class EscalationLevelInput:
    team_id: strawberry.ID | None = None
    tier: EscalationTier | None = None
    ack_timeout_minutes: float = 15.0


@strawberry.input
class UpdateEscalationPolicyInput:
    priority: Priority
    levels: list[EscalationLevelInput]
    escalate_on_breach: bool = False


@strawberry.type
class EscalationPolicyPayload:
    path: EscalationPath | None
    errors: list[UserError]


@strawberry.input
class EscalateIncidentInput:
    id: strawberry.ID
    reason: str
    team_id: strawberry.ID | None = strawberry.field(
        default=None, description="Instead of the next level's own target."
    )
    tier: EscalationTier | None = None


Tool: TypeAlias = Annotated[
    activity.Tool, strawberry.enum(description="The kinds of tool a response uses.")
]
ToolOutcome: TypeAlias = Annotated[activity.ToolOutcome, strawberry.enum()]


@strawberry.input
class RecordToolUsageInput:
    incident_id: strawberry.ID
    tool: Tool
    summary: str = strawberry.field(description="What was done with it, and what it showed.")
    outcome: ToolOutcome


@strawberry.input
class RecordDrillOutcomeInput:
    incident_id: strawberry.ID
    outcome: str = strawberry.field(description="How the drill went; what to do better.")
    passed: bool


ContactMethod: TypeAlias = Annotated[vendors.ContactMethod, strawberry.enum()]


@strawberry.type(description="A supplier the incident waits on.")
class VendorEngagement:
    vendor: str
    contact_method: ContactMethod
    reference: str | None = strawberry.field(description="The vendor's own case or ticket.")
    engaged_at: datetime
    engaged_by: str | None

    @classmethod
    def of(cls, view: EngagementView) -> VendorEngagement:
        return cls(
            vendor=view.vendor,
            contact_method=view.method,
            reference=view.reference,
            engaged_at=view.engaged_at,
            engaged_by=view.engaged_by,
        )


@strawberry.input
class EngageVendorInput:
    incident_id: strawberry.ID
    vendor: str
    contact_method: ContactMethod
    reference: str | None = None

"""Incident types: the incident, its page and the enums its fields and inputs share."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app import models
from app.core.clock import utcnow
from app.core.pagination import page_size
from app.errors import DomainError, ValidationFailed
from app.schema.common import (
    INCIDENT_PREFIX,
    Classification,
    Node,
    PageInfo,
    to_global_id,
)
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.itsm import ExternalTicket
from app.schema.loaders import Loaders
from app.schema.people import Team, User
from app.schema.report import ReportFormat, build_report
from app.schema.timeline import TimelineEventConnection, TimelineFilter
from app.services.access.caller import Caller
from app.services.access.classification import (
    FIELD_CLASSIFICATION,
    REDACTED,
    api_name,
    field_readable,
    redact_text,
)
from app.services.boards import status_board as board
from app.services.comms.review_rules import review_due, review_required
from app.services.incidents import lifecycle
from app.services.incidents import search as incident_search
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import FilteredRange, SeqRange, seq_window
from app.services.response.progress import progress as response_progress

# The domain's enums as GraphQL enums of the same name: type aliases that mypy accepts as types,
# with Strawberry's enum options as Annotated metadata, read when the schema is built.
Severity: TypeAlias = Annotated[models.Severity, strawberry.enum(description="SEV1 is the worst.")]
Impact: TypeAlias = Annotated[models.Impact, strawberry.enum()]
Urgency: TypeAlias = Annotated[models.Urgency, strawberry.enum()]
Priority: TypeAlias = Annotated[
    models.Priority, strawberry.enum(description="Derived from impact, urgency and severity.")
]
IncidentStatus: TypeAlias = Annotated[models.IncidentStatus, strawberry.enum()]
IncidentCategory: TypeAlias = Annotated[models.IncidentCategory, strawberry.enum()]
DetectionSource: TypeAlias = Annotated[
    models.DetectionSource,
    strawberry.enum(description="How the incident came to be known."),
]
IncidentOrderField: TypeAlias = Annotated[incident_search.OrderField, strawberry.enum()]
OrderDirection: TypeAlias = Annotated[incident_search.Direction, strawberry.enum()]
Persona: TypeAlias = Annotated[
    board.Persona, strawberry.enum(description="Who a status board is designed for.")
]

if TYPE_CHECKING:
    from app.schema.alert import AlertConnection
    from app.schema.board import StatusBoard
    from app.schema.catalog import Service
    from app.schema.change import Change
    from app.schema.comms import (
        CommunicationChannel,
        CommunicationConnection,
        PostIncidentReview,
    )
    from app.schema.knowledge import KnowledgeArticle
    from app.schema.problem import Problem
    from app.schema.response import RoleAssignment, Task, VendorEngagement


def _bad_input(message: str, field: str) -> GraphQLError:
    return graphql_error(ValidationFailed(message, field=field))


@strawberry.type
class Incident(Node):
    id: strawberry.ID
    number: int = strawberry.field(description="Per-tenant sequence number (INC-<number>).")
    reference: str = strawberry.field(description="Human reference, e.g. INC-42.")
    title: str
    description: str | None
    service: str | None
    severity: Severity
    impact: Impact
    urgency: Urgency
    priority: Priority
    status: IncidentStatus
    is_major: bool
    assignee: str | None = strawberry.field(
        description="The assigned user's handle, or free text from an integration.",
        deprecation_reason="Use assignedUser and assignedTeam.",
    )
    commander: str | None = strawberry.field(
        description="Who leads the response: the COMMANDER role's handle, or free text."
    )
    category: IncidentCategory | None
    subcategory: str | None
    detection_source: DetectionSource | None
    derived_priority: Priority = strawberry.field(
        description="What the priority matrix gives; differs from `priority` while a manual "
        "override stands."
    )
    priority_overridden: bool = strawberry.field(
        description="`priority` was set by hand (overridePriority), with a justification."
    )
    priority_override_reason: str | None
    is_drill: bool = strawberry.field(
        description="A response simulation: never on the CUSTOMER board, in ticket sync or in "
        "metrics."
    )
    drill_scenario: str | None
    drill_scope: str | None
    drill_outcome: str | None
    escalation_level: int = strawberry.field(
        description="How far up its priority's escalation path it went (0: not escalated); "
        "apart from isMajor and the ESCALATED status."
    )
    escalated_at: datetime | None
    next_escalation_at: datetime | None = strawberry.field(
        description="When it moves up a level by itself unless acknowledged (null: never)."
    )
    declared_by: str | None
    resolution_summary: str | None
    root_cause: str | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    last_public_update_at: datetime | None = strawberry.field(
        description="When the latest PUBLIC (stakeholder-facing) note was added."
    )
    public_summary: str | None = strawberry.field(
        description="The latest PUBLIC note's body: what stakeholders were last told. Like "
        "every field, no less classified than its incident ([REDACTED] above your clearance)."
    )
    version: int = strawberry.field(description="Pass to updates for optimistic concurrency.")
    classification: Classification = strawberry.field(
        description="RESTRICTED incidents exist only for callers cleared for them; fields above "
        "a caller's clearance come back redacted."
    )
    redacted_fields: list[str] = strawberry.field(
        description="The fields redacted for this caller (text reads [REDACTED])."
    )
    snapshot: strawberry.Private[IncidentSnapshot]
    clearance: strawberry.Private[models.Classification]
    loaders: strawberry.Private[Loaders | None]
    # The broker message's per-event cache when this came from a live feed (execution.py).
    shared: strawberry.Private[dict[str, Any] | None] = None

    # Plain values, read when the incident is built: a resolver per field cost more than
    # the clock arithmetic for every incident of a page.
    sla_response_due: datetime | None = strawberry.field(
        description="When the first response is due (paused while PENDING)."
    )
    sla_resolve_due: datetime | None = strawberry.field(
        description="When resolution is due (paused while PENDING)."
    )
    sla_response_breached: bool
    sla_resolve_breached: bool

    @strawberry.field(description="The statuses transitionIncident accepts from the current one.")  # type: ignore[untyped-decorator]
    def allowed_transitions(self) -> list[IncidentStatus]:
        return lifecycle.allowed_targets(self.snapshot.status)

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Timeline events in seq order, oldest first. `first`/`after` pages forward; "
        "`last`/`before` pages back from the newest."
    )
    async def timeline(
        self,
        info: Info[Context, Any],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: TimelineFilter | None = None,
    ) -> TimelineEventConnection:
        loaders = self.loaders or info.context.loaders
        if filter is not None:
            return await self._filtered_timeline(loaders, filter, first, after, last, before)
        total = self.snapshot.last_seq
        try:
            low, high = seq_window(total=total, first=first, after=after, last=last, before=before)
        except DomainError as error:
            raise graphql_error(error) from None
        records = await loaders.timeline.load(SeqRange(self.snapshot.id, low, high))
        return TimelineEventConnection.of(
            records,
            low=low,
            high=high,
            total=total,
            clearance=self.clearance,
            incident_classification=self.snapshot.classification,
        )

    async def _filtered_timeline(
        self,
        loaders: Loaders,
        filter: TimelineFilter,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
    ) -> TimelineEventConnection:
        try:
            if last is not None or before is not None:
                raise ValidationFailed(
                    "a filtered timeline pages forward: use first/after", field="last"
                )
            wanted = filter.to_domain(
                clearance=self.clearance, incident_classification=self.snapshot.classification
            )
            size = page_size(first)
            low, _ = seq_window(total=self.snapshot.last_seq, first=0, after=after)
        except DomainError as error:
            raise graphql_error(error) from None
        page = await loaders.filtered_timeline.load(
            FilteredRange(self.snapshot.id, wanted, low, size)
        )
        return TimelineEventConnection.of_page(
            page.records,
            has_next=page.has_next,
            has_previous=after is not None,
            total=page.total,
            clearance=self.clearance,
            incident_classification=self.snapshot.classification,
        )

    @strawberry.field(description="Kept from purging whatever the tenant's retention says.")  # type: ignore[untyped-decorator]
    def legal_hold(self) -> bool:
        return self.snapshot.legal_hold

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="ServiceNow and Jira tickets linked to the incident, oldest link first."
    )
    async def connected_tickets(self, info: Info[Context, Any]) -> list[ExternalTicket]:
        from app.schema.authorization import authorize
        from app.services.access.permissions import Action

        authorize(info, Action.READ_INCIDENTS)
        loaders = self.loaders or info.context.loaders
        hidden = frozenset(
            name
            for name in FIELD_CLASSIFICATION
            if not field_readable(self.clearance, self.snapshot.classification, name)
        )
        tickets = await loaders.tickets.load(self.snapshot.id)
        return [ExternalTicket.of(t, hidden=hidden) for t in tickets]

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Alerts linked to the incident, newest first (by the last notification)."
    )
    async def alerts(
        self, info: Info[Context, Any], first: int | None = None, after: str | None = None
    ) -> Annotated[AlertConnection, strawberry.lazy("app.schema.alert")]:
        from app.schema.alert import incident_alerts

        return await incident_alerts(
            info, self.snapshot.id, loaders=self.loaders, first=first, after=after
        )

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="The user it is assigned to; null when nobody is, when it is assigned as "
        "free text, or when the assignee is above your clearance."
    )
    async def assigned_user(self, info: Info[Context, Any]) -> User | None:
        key = self.snapshot.assigned_user_id
        if key is None or not self._assignment_readable():
            return None
        view = await (self.loaders or info.context.loaders).user.load(key)
        return User.of(view) if view is not None else None

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="The team it is assigned to; null when none is or above your clearance."
    )
    async def assigned_team(self, info: Info[Context, Any]) -> Team | None:
        key = self.snapshot.assigned_team_id
        if key is None or not self._assignment_readable():
            return None
        view = await (self.loaders or info.context.loaders).team.load(key)
        return Team.of(view) if view is not None else None

    @strawberry.field(description="The services the incident affects, by name.")  # type: ignore[untyped-decorator]
    async def affected_services(
        self, info: Info[Context, Any]
    ) -> list[Annotated[Service, strawberry.lazy("app.schema.catalog")]]:
        from app.schema.catalog import Service

        loaders = self.loaders or info.context.loaders
        keys = await loaders.incident_services.load(self.snapshot.id)
        views = [v for v in await loaders.service.load_many(keys) if v is not None]
        return [Service.of(v) for v in sorted(views, key=lambda v: v.name.lower())]

    @strawberry.field(description="The problems that explain the incident, that you may see.")  # type: ignore[untyped-decorator]
    async def problems(
        self, info: Info[Context, Any]
    ) -> list[Annotated[Problem, strawberry.lazy("app.schema.problem")]]:
        from app.schema.problem import Problem

        loaders = self.loaders or info.context.loaders
        keys = await loaders.incident_problems.load(self.snapshot.id)
        return [Problem.of(v) for v in await loaders.problem.load_many(keys) if v is not None]

    @strawberry.field(description="Changes linked to the incident, that you may see.")  # type: ignore[untyped-decorator]
    async def changes(
        self, info: Info[Context, Any]
    ) -> list[Annotated[Change, strawberry.lazy("app.schema.change")]]:
        from app.schema.change import Change

        loaders = self.loaders or info.context.loaders
        keys = await loaders.incident_changes.load(self.snapshot.id)
        return [Change.of(v) for v in await loaders.change.load_many(keys) if v is not None]

    @strawberry.field(description="Knowledge articles linked to it, that you may see.")  # type: ignore[untyped-decorator]
    async def knowledge_articles(
        self, info: Info[Context, Any]
    ) -> list[Annotated[KnowledgeArticle, strawberry.lazy("app.schema.knowledge")]]:
        from app.schema.knowledge import KnowledgeArticle

        loaders = self.loaders or info.context.loaders
        keys = await loaders.incident_articles.load(self.snapshot.id)
        views = await loaders.article.load_many(keys)
        return [KnowledgeArticle.of(v) for v in views if v is not None]

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Who holds which role now (role history is on the timeline); empty when "
        "the people on the incident are redacted for you."
    )
    async def roles(
        self, info: Info[Context, Any]
    ) -> list[Annotated[RoleAssignment, strawberry.lazy("app.schema.response")]]:
        from app.schema.response import RoleAssignment

        if not self._assignment_readable():
            return []
        loaders = self.loaders or info.context.loaders
        return [RoleAssignment.of(v) for v in await loaders.incident_roles.load(self.snapshot.id)]

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="The vendors engaged, oldest first (empty when redacted for you)."
    )
    async def vendor_engagements(
        self, info: Info[Context, Any]
    ) -> list[Annotated[VendorEngagement, strawberry.lazy("app.schema.response")]]:
        from app.schema.response import VendorEngagement

        if not field_readable(self.clearance, self.snapshot.classification, "title"):
            return []
        loaders = self.loaders or info.context.loaders
        views = await loaders.incident_vendors.load(self.snapshot.id)
        return [VendorEngagement.of(v) for v in views]

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Its post-incident review (the current version), or null."
    )
    async def review(
        self, info: Info[Context, Any]
    ) -> Annotated[PostIncidentReview, strawberry.lazy("app.schema.comms")] | None:
        from app.schema.comms import PostIncidentReview

        loaders = self.loaders or info.context.loaders
        view = await loaders.incident_review.load(self.snapshot.id)
        readable = field_readable(self.clearance, self.snapshot.classification, "description")
        return PostIncidentReview.of(view, readable=readable) if view else None

    @strawberry.field(description="P1, P2 and major incidents need a published review.")  # type: ignore[untyped-decorator]
    def review_required(self) -> bool:
        return review_required(self.snapshot.priority, self.snapshot.is_major)

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="When a required review is due: 5 working days after the resolution."
    )
    def review_due_at(self) -> datetime | None:
        s = self.snapshot
        if s.resolved_at is None or not review_required(s.priority, s.is_major):
            return None
        return review_due(s.resolved_at)

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Its report as you may read it: header, impact, timeline, notes by kind, "
        "communications, tickets, alerts and review (also GET /incidents/{id}/report)."
    )
    async def report(
        self,
        info: Info[Context, Any],
        format: ReportFormat,
    ) -> str:
        text = await build_report(info.schema, info.context, self.id, format)
        return text or ""

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Every message about it, sent or received, oldest first."
    )
    async def communications(
        self,
        info: Info[Context, Any],
        first: int | None = None,
        after: str | None = None,
        channel: Annotated[CommunicationChannel, strawberry.lazy("app.schema.comms")] | None = None,
    ) -> Annotated[CommunicationConnection, strawberry.lazy("app.schema.comms")]:
        from app.schema.comms import connection_of

        return await connection_of(info, self.snapshot, channel=channel, first=first, after=after)

    @strawberry.field(description="The response's tasks, by order then number.")  # type: ignore[untyped-decorator]
    async def tasks(
        self, info: Info[Context, Any]
    ) -> list[Annotated[Task, strawberry.lazy("app.schema.response")]]:
        from app.schema.response import Task

        loaders = self.loaders or info.context.loaders
        readable = field_readable(self.clearance, self.snapshot.classification, "title")
        views = await loaders.incident_tasks.load(self.snapshot.id)
        return [Task.of(v, readable=readable) for v in views]

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="0-100: the estimated hours of DONE tasks over those of all tasks not "
        "SKIPPED (a task without an estimate counts one hour); 100 once RESOLVED or CLOSED. "
        "Finishing every task resolves nothing."
    )
    async def progress(self, info: Info[Context, Any]) -> int:
        loaders = self.loaders or info.context.loaders
        views = await loaders.incident_tasks.load(self.snapshot.id)
        return response_progress(
            self.snapshot.status, [(v.status, v.estimated_hours) for v in views]
        )

    def _assignment_readable(self) -> bool:
        return field_readable(self.clearance, self.snapshot.classification, "assignee")

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="The incident this one was merged into (it is then CANCELLED)."
    )
    async def merged_into(self, info: Info[Context, Any]) -> Incident | None:
        from app.schema.authorization import audit_reads

        if self.snapshot.merged_into_id is None:
            return None
        loaders = self.loaders or info.context.loaders
        snapshot = await loaders.incident.load(self.snapshot.merged_into_id)
        if snapshot is None:
            return None
        await audit_reads(info, [snapshot], via="mergedInto")
        return Incident.of(snapshot, clearance=self.clearance, loaders=self.loaders)

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="The persona's status board restricted to this incident."
    )
    async def status_board(
        self,
        info: Info[Context, Any],
        persona: Persona,
    ) -> Annotated[StatusBoard, strawberry.lazy("app.schema.board")]:
        from app.schema.board import incident_board

        return await incident_board(
            info, persona, incident_id=self.snapshot.id, loaders=self.loaders
        )

    @classmethod
    async def named(cls, info: Info[Context, Any], incident_id: str) -> Incident | None:
        """The incident an id names (a task's, a message's, a change link's), or null where
        it does not exist for the reader."""
        loaders = info.context.loaders
        snapshot = await loaders.incident.load(incident_id)
        return cls.of(snapshot, clearance=loaders.clearance) if snapshot else None

    @classmethod
    def of(
        cls,
        snapshot: IncidentSnapshot,
        *,
        clearance: models.Classification,
        loaders: Loaders | None = None,
        shared: dict[str, Any] | None = None,
    ) -> Incident:
        """The incident as a caller with `clearance` may see it."""
        hidden = _hidden_fields(clearance, snapshot.classification)
        text: dict[str, str | None] = {
            name: getattr(snapshot, name) for name in FIELD_CLASSIFICATION
        }
        for name in hidden:
            text[name] = redact_text(text[name])
        now = utcnow()
        return cls(
            id=strawberry.ID(to_global_id(INCIDENT_PREFIX, snapshot.id)),
            number=snapshot.number,
            reference=f"INC-{snapshot.number}",
            title=REDACTED if "title" in hidden else snapshot.title,
            description=text["description"],
            service=snapshot.service,
            severity=snapshot.severity,
            impact=snapshot.impact,
            urgency=snapshot.urgency,
            priority=snapshot.priority,
            status=snapshot.status,
            is_major=snapshot.is_major,
            assignee=text["assignee"],
            commander=text["commander"],
            category=snapshot.category,
            subcategory=text["subcategory"],
            detection_source=snapshot.detection_source,
            derived_priority=snapshot.derived_priority or snapshot.priority,
            priority_overridden=snapshot.derived_priority is not None,
            priority_override_reason=text["priority_override_reason"],
            is_drill=snapshot.is_drill,
            drill_scenario=text["drill_scenario"],
            drill_scope=text["drill_scope"],
            drill_outcome=text["drill_outcome"],
            escalation_level=snapshot.escalation_level,
            escalated_at=snapshot.escalated_at,
            next_escalation_at=snapshot.escalation_next_at,
            declared_by=text["declared_by"],
            resolution_summary=text["resolution_summary"],
            root_cause=text["root_cause"],
            created_at=snapshot.created_at,
            updated_at=snapshot.updated_at,
            acknowledged_at=snapshot.acknowledged_at,
            resolved_at=snapshot.resolved_at,
            closed_at=snapshot.closed_at,
            cancelled_at=snapshot.cancelled_at,
            last_public_update_at=snapshot.last_public_update_at,
            public_summary=text["public_summary"],
            version=snapshot.version,
            classification=snapshot.classification,
            redacted_fields=[api_name(name) for name in hidden],
            sla_response_due=snapshot.response_due(now),
            sla_resolve_due=snapshot.resolve_due(now),
            sla_response_breached=snapshot.response_breached(now),
            sla_resolve_breached=snapshot.resolve_breached(now),
            snapshot=snapshot,
            clearance=clearance,
            loaders=loaders,
            shared=shared,
        )


@functools.cache
def _hidden_fields(
    clearance: models.Classification, classification: models.Classification
) -> tuple[str, ...]:
    """The fields of an incident classified `classification` redacted for `clearance`."""
    return tuple(
        name for name in FIELD_CLASSIFICATION if not field_readable(clearance, classification, name)
    )


@strawberry.type
class IncidentEdge:
    cursor: str
    node: Incident


@strawberry.type
class IncidentConnection:
    edges: list[IncidentEdge]
    page_info: PageInfo
    caller: strawberry.Private[Caller]
    filter: strawberry.Private[incident_search.IncidentFilter | None]
    order: strawberry.Private[incident_search.IncidentOrder | None] = None

    @strawberry.field(description="How many incidents match the filter, across all pages.")  # type: ignore[untyped-decorator]
    async def total_count(self) -> int:
        return await incident_search.count_incidents(
            caller=self.caller, filter=self.filter, order=self.order
        )


async def incident_connection(
    info: Info[Context, Any],
    caller: Caller,
    *,
    filter: incident_search.IncidentFilter | None,
    order: incident_search.IncidentOrder | None = None,
    first: int | None = None,
    after: str | None = None,
) -> IncidentConnection:
    """A page of the incidents `caller` may see, restricted ones' reads audited."""
    from app.schema.authorization import audit_reads

    try:
        page = await incident_search.list_incidents(
            caller=caller, filter=filter, order=order, first=first, after=after
        )
    except DomainError as error:
        raise graphql_error(error) from None
    await audit_reads(info, [s for _, s in page.items], via="incidents")
    edges = [
        IncidentEdge(cursor=cursor, node=Incident.of(s, clearance=caller.clearance))
        for cursor, s in page.items
    ]
    return IncidentConnection(
        edges=edges,
        page_info=PageInfo.of_page([e.cursor for e in edges], page),
        caller=caller,
        filter=filter,
        order=order,
    )

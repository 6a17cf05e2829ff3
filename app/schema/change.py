"""Changes as the API shows them, with their inputs and payloads."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.types import Info

from app import models
from app.core.clock import utcnow
from app.schema import redaction
from app.schema.common import (
    COMBINATOR_FIELDS,
    Classification,
    Node,
    PageInfo,
    TimeRange,
    UserError,
    record_key,
    time_range,
    to_global_id,
)
from app.schema.context import Context
from app.schema.problem import RecordEvent
from app.services import filtering
from app.services.catalog.queries import GLOBAL_PREFIX as SERVICE_PREFIX
from app.services.changes import lifecycle
from app.services.changes import queries as change_queries
from app.services.changes.commands import GLOBAL_PREFIX, ChangeView

if TYPE_CHECKING:
    from app.schema.catalog import Service
    from app.schema.incident import Incident
    from app.schema.problem import Problem

ChangeType: TypeAlias = Annotated[
    models.ChangeType,
    strawberry.enum(
        description="STANDARD is pre-approved; NORMAL needs approval first; EMERGENCY may go "
        "ahead first and is approved within 24 hours."
    ),
]
Risk: TypeAlias = Annotated[models.Risk, strawberry.enum()]
ChangeStatus: TypeAlias = Annotated[models.ChangeStatus, strawberry.enum()]
ChangeRelation: TypeAlias = Annotated[
    models.ChangeRelation,
    strawberry.enum(description="FIXES the incident or problem, or the incident was CAUSED_BY it."),
]

CHANGE_PREFIX = GLOBAL_PREFIX
_KIND = "change"


@strawberry.type(description="A link from a change to an incident or a problem.")
class ChangeLinkEdge:
    relation: ChangeRelation
    incident_key: strawberry.Private[str | None]
    problem_key: strawberry.Private[str | None]

    @strawberry.field
    async def incident(
        self, info: Info[Context, Any]
    ) -> Annotated[Incident, strawberry.lazy("app.schema.incident")] | None:
        from app.schema.incident import Incident

        if self.incident_key is None:
            return None
        return await Incident.named(info, self.incident_key)

    @strawberry.field
    async def problem(
        self, info: Info[Context, Any]
    ) -> Annotated[Problem, strawberry.lazy("app.schema.problem")] | None:
        from app.schema.problem import Problem

        if self.problem_key is None:
            return None
        view = await info.context.loaders.problem.load(self.problem_key)
        return Problem.of(view) if view else None


@strawberry.type(description="A change to production: CHG-<number>.")
class Change(Node):
    id: strawberry.ID
    number: int
    reference: str
    title = redaction.required_text(_KIND, "title")
    description = redaction.optional_text(_KIND, "description")
    type: ChangeType
    risk: Risk
    status: ChangeStatus
    classification: Classification = strawberry.field(
        description="RESTRICTED changes exist only for callers cleared for them; text above "
        "your clearance reads [REDACTED]."
    )
    requested_by = redaction.optional_text(_KIND, "requested_by")
    approved_by = redaction.optional_text(_KIND, "approved_by")
    redacted_fields = redaction.redacted_fields(_KIND)
    approved_at: datetime | None
    planned_start: datetime | None
    planned_end: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    view: strawberry.Private[ChangeView]

    @strawberry.field(description="The statuses transitionChange accepts from this one.")  # type: ignore[untyped-decorator]
    def allowed_transitions(self) -> list[ChangeStatus]:
        return lifecycle.allowed_targets(self.view.type, self.view.status)

    @strawberry.field(description="An EMERGENCY change unapproved 24 hours after work began.")  # type: ignore[untyped-decorator]
    def approval_overdue(self) -> bool:
        return self.view.approval_overdue(utcnow())

    @strawberry.field(description="Incidents and problems linked to the change.")  # type: ignore[untyped-decorator]
    async def links(self, info: Info[Context, Any]) -> list[ChangeLinkEdge]:
        links = await info.context.loaders.change_links.load(self.view.id)
        return [
            ChangeLinkEdge(relation=models.ChangeRelation(link.relation),
                           incident_key=link.incident_id, problem_key=link.problem_id)
            for link in links
        ]  # fmt: skip

    @strawberry.field(description="The services the change touches, by name.")  # type: ignore[untyped-decorator]
    async def services(
        self, info: Info[Context, Any]
    ) -> list[Annotated[Service, strawberry.lazy("app.schema.catalog")]]:
        from app.schema.catalog import Service

        loaders = info.context.loaders
        keys = await loaders.change_services.load(self.view.id)
        views = [v for v in await loaders.service.load_many(keys) if v is not None]
        return [Service.of(v) for v in sorted(views, key=lambda v: v.name.lower())]

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Open changes on a service of this one whose planned windows overlap its."
    )
    async def conflicts(self, info: Info[Context, Any]) -> list[Change]:
        from app.services.access.caller import Caller
        from app.services.changes.commands import conflicts_of

        caller = Caller.of(info.context.require_principal())
        return [Change.of(v) for v in await conflicts_of(caller=caller, change=self.view)]

    @strawberry.field(description="The change's own timeline, oldest first.")  # type: ignore[untyped-decorator]
    async def timeline(self, info: Info[Context, Any]) -> list[RecordEvent]:
        events = await info.context.loaders.record_events.load(self.view.id)
        return RecordEvent.of_record(info, events, subject=f"changes/{self.id}", record=self.view)

    @classmethod
    def of(cls, view: ChangeView) -> Change:
        return cls(
            id=strawberry.ID(to_global_id(CHANGE_PREFIX, view.id)),
            number=view.number,
            reference=view.reference,
            type=view.type,
            risk=view.risk,
            status=view.status,
            classification=view.classification,
            approved_at=view.approved_at,
            planned_start=view.planned_start,
            planned_end=view.planned_end,
            started_at=view.started_at,
            finished_at=view.finished_at,
            created_at=view.created_at,
            updated_at=view.updated_at,
            version=view.version,
            view=view,
        )


@strawberry.type
class ChangeEdge:
    cursor: str
    node: Change


@strawberry.type
class ChangeConnection:
    edges: list[ChangeEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(
    description="Which changes: every field given must hold; `and`, `or` and `not` combine "
    "whole filters (at most 5 levels deep and 50 filters in all)."
)
class ChangeFilter:
    status: list[ChangeStatus] | None = None
    type: list[ChangeType] | None = None
    text: str | None = None
    service_id: strawberry.ID | None = None
    created: TimeRange | None = None
    updated: TimeRange | None = strawberry.field(
        default=None, description="Last changed in this range."
    )
    and_: list[ChangeFilter] | None = strawberry.field(
        default=None, name="and", description=COMBINATOR_FIELDS["and"]
    )
    or_: list[ChangeFilter] | None = strawberry.field(
        default=None, name="or", description=COMBINATOR_FIELDS["or"]
    )
    not_: ChangeFilter | None = strawberry.field(
        default=None, name="not", description=COMBINATOR_FIELDS["not"]
    )

    def to_domain(self, *, checked: bool = False) -> change_queries.ChangeFilter:
        if not checked:
            filtering.check_shape(self)
        return change_queries.ChangeFilter(
            status=frozenset(self.status) if self.status is not None else None,
            type=frozenset(self.type) if self.type is not None else None,
            text=self.text,
            service_id=(
                record_key(
                    SERVICE_PREFIX, self.service_id, noun="service", field="filter.serviceId"
                )
                if self.service_id
                else None
            ),
            created=time_range(self.created, "filter.created"),
            updated=time_range(self.updated, "filter.updated"),
            and_=tuple(f.to_domain(checked=True) for f in self.and_ or ()),
            or_=tuple(f.to_domain(checked=True) for f in self.or_ or ()),
            not_=self.not_.to_domain(checked=True) if self.not_ is not None else None,
        )


@strawberry.input
class RequestChangeInput:
    title: str
    type: ChangeType
    risk: Risk
    description: str | None = None
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    service_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    classification: Classification = strawberry.field(default=models.Classification.INTERNAL)


@strawberry.input
class ApproveChangeInput:
    id: strawberry.ID
    comment: str | None = None
    version: int | None = None


@strawberry.input
class RejectChangeInput:
    id: strawberry.ID
    reason: str
    version: int | None = None


@strawberry.input
class TransitionChangeInput:
    id: strawberry.ID
    to: ChangeStatus
    version: int | None = None


@strawberry.input
class LinkChangeInput:
    change_id: strawberry.ID
    relation: ChangeRelation
    incident_id: strawberry.ID | None = None
    problem_id: strawberry.ID | None = None


@strawberry.type
class ChangePayload:
    change: Change | None
    conflicts: list[Change] = strawberry.field(
        description="Open changes on the same services with overlapping planned windows: "
        "reported, not refused."
    )
    errors: list[UserError]

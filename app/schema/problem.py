"""Problems as the API shows them, with the record timeline they share with the other
records around the incident."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app import models
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
from app.services import filtering
from app.services.access.classification import record_event_readable, redact_json, redact_text
from app.services.catalog.queries import GLOBAL_PREFIX as SERVICE_PREFIX
from app.services.problems import lifecycle
from app.services.problems import queries as problem_queries
from app.services.problems.commands import GLOBAL_PREFIX
from app.services.problems.view import ProblemView
from app.services.records.timeline import RecordEventView

if TYPE_CHECKING:
    from app.schema.catalog import Service
    from app.schema.incident import Incident
    from app.schema.knowledge import KnowledgeArticle

ProblemStatus: TypeAlias = Annotated[
    models.ProblemStatus,
    strawberry.enum(description="NEW -> UNDER_INVESTIGATION -> KNOWN_ERROR -> RESOLVED -> CLOSED."),
]

# Global ids: "prb_<32 hex>", "rev_<32 hex>".
PROBLEM_PREFIX = GLOBAL_PREFIX
RECORD_EVENT_PREFIX = "rev_"
_KIND = "problem"


@strawberry.type(description="One event on a record's timeline: a CloudEvents v1.0 envelope.")
class RecordEvent:
    id: strawberry.ID
    seq: int = strawberry.field(description="Position on the record's timeline, from 1, no gaps.")
    type: str
    time: datetime
    actor: str | None
    data: JSON
    cloud_event: JSON
    redacted: bool = strawberry.field(
        description="True when `actor`, `data` and `cloudEvent.data` were redacted for you: "
        "a record's events carry its fields, and are as classified as INTERNAL or the "
        "record, whichever is higher."
    )

    @classmethod
    def of(cls, view: RecordEventView, *, subject: str, readable: bool = True) -> RecordEvent:
        """The event as a caller may see it: `readable` unless redacted for them."""
        envelope = view.cloud_event(subject)
        if not readable:
            envelope["data"] = redact_json(envelope.get("data"))
        return cls(
            id=strawberry.ID(to_global_id(RECORD_EVENT_PREFIX, view.id)),
            seq=view.seq,
            type=view.type,
            time=view.time,
            actor=view.actor if readable else redact_text(view.actor),
            data=JSON(dict(view.data) if readable else redact_json(view.data)),
            cloud_event=JSON(envelope),
            redacted=not readable,
        )

    @classmethod
    def of_record(
        cls, info: Info[Context, Any], events: list[RecordEventView], *, subject: str, record: Any
    ) -> list[RecordEvent]:
        """`events` of `record` (a view with a classification), as the caller may see them."""
        readable = record_event_readable(info.context.loaders.clearance, record.classification)
        return [cls.of(e, subject=subject, readable=readable) for e in events]


@strawberry.type(description="The cause behind incidents (ITIL problem management).")
class Problem(Node):
    id: strawberry.ID
    number: int
    reference: str = strawberry.field(description="Human reference, e.g. PRB-7.")
    title = redaction.required_text(_KIND, "title")
    description = redaction.optional_text(_KIND, "description")
    status: ProblemStatus
    known_error: bool = strawberry.field(description="A workaround is recorded.")
    workaround = redaction.optional_text(_KIND, "workaround")
    root_cause = redaction.optional_text(_KIND, "root_cause")
    resolution_evidence = redaction.optional_text(_KIND, "resolution_evidence")
    classification: Classification = strawberry.field(
        description="RESTRICTED problems exist only for callers cleared for them; text above "
        "your clearance reads [REDACTED]."
    )
    created_by = redaction.optional_text(_KIND, "created_by")
    redacted_fields = redaction.redacted_fields(_KIND)
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    version: int
    view: strawberry.Private[ProblemView]

    @strawberry.field(description="The statuses transitionProblem accepts from this one.")  # type: ignore[untyped-decorator]
    def allowed_transitions(self) -> list[ProblemStatus]:
        return lifecycle.allowed_targets(self.view.status)

    @strawberry.field(description="The incidents the problem explains, that you may see.")  # type: ignore[untyped-decorator]
    async def incidents(
        self, info: Info[Context, Any]
    ) -> list[Annotated[Incident, strawberry.lazy("app.schema.incident")]]:
        from app.schema.authorization import audit_reads
        from app.schema.incident import Incident

        loaders = info.context.loaders
        keys = await loaders.problem_incidents.load(self.view.id)
        snapshots = [s for s in await loaders.incident.load_many(keys) if s is not None]
        await audit_reads(info, snapshots, via="Problem.incidents")
        return [Incident.of(s, clearance=loaders.clearance, loaders=loaders) for s in snapshots]

    @strawberry.field(description="The services the problem concerns, by name.")  # type: ignore[untyped-decorator]
    async def services(
        self, info: Info[Context, Any]
    ) -> list[Annotated[Service, strawberry.lazy("app.schema.catalog")]]:
        from app.schema.catalog import Service

        loaders = info.context.loaders
        keys = await loaders.problem_services.load(self.view.id)
        views = [v for v in await loaders.service.load_many(keys) if v is not None]
        return [Service.of(v) for v in sorted(views, key=lambda v: v.name.lower())]

    @strawberry.field(description="Knowledge articles linked to it, that you may see.")  # type: ignore[untyped-decorator]
    async def knowledge_articles(
        self, info: Info[Context, Any]
    ) -> list[Annotated[KnowledgeArticle, strawberry.lazy("app.schema.knowledge")]]:
        from app.schema.knowledge import KnowledgeArticle

        loaders = info.context.loaders
        keys = await loaders.problem_articles.load(self.view.id)
        views = await loaders.article.load_many(keys)
        return [KnowledgeArticle.of(v) for v in views if v is not None]

    @strawberry.field(description="The problem's own timeline, oldest first.")  # type: ignore[untyped-decorator]
    async def timeline(self, info: Info[Context, Any]) -> list[RecordEvent]:
        events = await info.context.loaders.record_events.load(self.view.id)
        return RecordEvent.of_record(info, events, subject=f"problems/{self.id}", record=self.view)

    @classmethod
    def of(cls, view: ProblemView) -> Problem:
        return cls(
            id=strawberry.ID(to_global_id(PROBLEM_PREFIX, view.id)),
            number=view.number,
            reference=view.reference,
            status=view.status,
            known_error=view.known_error,
            classification=view.classification,
            created_at=view.created_at,
            updated_at=view.updated_at,
            resolved_at=view.resolved_at,
            closed_at=view.closed_at,
            version=view.version,
            view=view,
        )


@strawberry.type
class ProblemEdge:
    cursor: str
    node: Problem


@strawberry.type
class ProblemConnection:
    edges: list[ProblemEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(
    description="Which problems: every field given must hold; `and`, `or` and `not` combine "
    "whole filters (at most 5 levels deep and 50 filters in all)."
)
class ProblemFilter:
    status: list[ProblemStatus] | None = None
    known_error: bool | None = None
    text: str | None = strawberry.field(default=None, description="In title or description.")
    service_id: strawberry.ID | None = None
    created: TimeRange | None = None
    updated: TimeRange | None = strawberry.field(
        default=None, description="Last changed in this range."
    )
    and_: list[ProblemFilter] | None = strawberry.field(
        default=None, name="and", description=COMBINATOR_FIELDS["and"]
    )
    or_: list[ProblemFilter] | None = strawberry.field(
        default=None, name="or", description=COMBINATOR_FIELDS["or"]
    )
    not_: ProblemFilter | None = strawberry.field(
        default=None, name="not", description=COMBINATOR_FIELDS["not"]
    )

    def to_domain(self, *, checked: bool = False) -> problem_queries.ProblemFilter:
        if not checked:
            filtering.check_shape(self)
        return problem_queries.ProblemFilter(
            status=frozenset(self.status) if self.status is not None else None,
            known_error=self.known_error,
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
class CreateProblemInput:
    title: str
    description: str | None = None
    service_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    incident_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Incidents the problem explains (linked at once)."
    )
    classification: Classification = strawberry.field(default=models.Classification.INTERNAL)
    force: bool = strawberry.field(
        default=False,
        description="Open it even when it looks like an active problem (DUPLICATE otherwise).",
    )


@strawberry.input
class TransitionProblemInput:
    id: strawberry.ID
    to: ProblemStatus
    evidence: str | None = strawberry.field(
        default=None, description="Required to resolve: what shows the problem is fixed."
    )
    root_cause: str | None = None
    version: int | None = None


@strawberry.input
class ProblemIncidentInput:
    problem_id: strawberry.ID
    incident_id: strawberry.ID


@strawberry.input
class RecordWorkaroundInput:
    id: strawberry.ID
    workaround: str
    article_title: str | None = strawberry.field(
        default=None,
        description="Also write the workaround up as a WORKAROUND article with this title, "
        "linked to the problem and submitted for review (someone else publishes it).",
    )
    version: int | None = None


@strawberry.type
class ProblemPayload:
    problem: Problem | None
    errors: list[UserError]


@strawberry.type
class CreateProblemPayload:
    problem: Problem | None
    duplicates: list[Problem] = strawberry.field(
        description="With a DUPLICATE error: the active problems this one looks like, most "
        "alike first."
    )
    errors: list[UserError]

"""Status board types: a union of one typed board per persona."""

from __future__ import annotations

import math
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeAlias

import strawberry
from strawberry.types import Info

from app import models
from app.core.clock import utcnow
from app.schema.authorization import authorize
from app.schema.common import INCIDENT_PREFIX, to_global_id
from app.schema.context import Context
from app.schema.incident import Impact, IncidentStatus, Persona, Priority, Severity
from app.schema.loaders import Loaders
from app.schema.metrics import IncidentMetrics
from app.schema.timeline import TimelineEvent
from app.services.access.caller import Caller
from app.services.access.classification import REDACTED, field_readable, redact_text
from app.services.access.permissions import Action
from app.services.boards import status_board as domain
from app.services.catalog import graph
from app.services.incidents import metrics as metrics_service

ServiceHealth: TypeAlias = Annotated[
    graph.ServiceHealth,
    strawberry.enum(
        description="A service's status from the worst active incident affecting it that you "
        "may see: a P1 is a major outage, a P2 a partial one, a P3 degrades it."
    ),
]


def _seconds_left(due: datetime | None, stopped: bool, paused: bool, now: datetime) -> int | None:
    if due is None or stopped or paused:
        return None
    # Floored, so a clock past its deadline by any fraction of a second reads negative.
    return math.floor((due - now).total_seconds())


@strawberry.type(description="Who holds a role on an incident, by handle (responder boards).")
class BoardRole:
    role: str
    handle: str


@strawberry.type(description="An incident's tasks by status (responder boards).")
class BoardTasks:
    todo: int
    in_progress: int
    blocked: int
    done: int
    skipped: int


@strawberry.type(description="An incident as a status board shows it.")
class BoardIncident:
    id: strawberry.ID
    reference: str
    title: str
    priority: Priority
    status: IncidentStatus
    severity: Severity
    service: str | None
    assignee: str | None
    commander: str | None
    is_major: bool
    age_seconds: int
    customer_impact: Impact
    sla_response_due: datetime | None
    sla_resolve_due: datetime | None
    response_seconds_left: int | None = strawberry.field(
        description="Negative once breached; null when the clock is stopped or paused."
    )
    resolve_seconds_left: int | None = strawberry.field(
        description="Negative once breached; null when the clock is stopped or paused."
    )
    recent_events: list[TimelineEvent] = strawberry.field(
        description="The last few timeline events, newest first (responder boards)."
    )
    known_workaround: str | None = strawberry.field(
        description="How to live with it: the workaround of a known error among its "
        "problems (responder boards)."
    )
    progress: int = strawberry.field(
        description="0-100 from its tasks (responder boards; see Incident.progress)."
    )
    tasks: BoardTasks = strawberry.field(description="Its tasks by status (responder boards).")
    roles: list[BoardRole] = strawberry.field(
        description="Who holds which role (responder boards; empty when redacted for you)."
    )
    escalation_level: int
    next_escalation_at: datetime | None = strawberry.field(
        description="When it moves up its escalation path unless acknowledged."
    )

    @classmethod
    def of(
        cls, item: domain.BoardIncident, *, clearance: models.Classification, now: datetime
    ) -> BoardIncident:
        s = item.incident

        def text(name: str) -> str | None:
            value: str | None = getattr(s, name)
            readable = field_readable(clearance, s.classification, name)
            return value if readable else redact_text(value)

        paused = s.sla_paused_since is not None
        return cls(
            id=strawberry.ID(to_global_id(INCIDENT_PREFIX, s.id)),
            reference=f"INC-{s.number}",
            title=text("title") or REDACTED,
            priority=s.priority,
            status=s.status,
            severity=s.severity,
            service=s.service,
            assignee=text("assignee"),
            commander=text("commander"),
            is_major=s.is_major,
            age_seconds=int((now - s.created_at).total_seconds()),
            customer_impact=s.impact,
            sla_response_due=s.response_due(now),
            sla_resolve_due=s.resolve_due(now),
            response_seconds_left=_seconds_left(
                s.response_due(now), bool(s.acknowledged_at or s.cancelled_at), paused, now
            ),
            resolve_seconds_left=_seconds_left(
                s.resolve_due(now), bool(s.resolved_at or s.cancelled_at), paused, now
            ),
            recent_events=[
                TimelineEvent.of(e, clearance=clearance, incident_classification=s.classification)
                for e in item.recent_events
            ],
            known_workaround=item.workaround,
            progress=item.progress,
            tasks=BoardTasks(
                todo=item.tasks.get(models.TaskStatus.TODO, 0),
                in_progress=item.tasks.get(models.TaskStatus.IN_PROGRESS, 0),
                blocked=item.tasks.get(models.TaskStatus.BLOCKED, 0),
                done=item.tasks.get(models.TaskStatus.DONE, 0),
                skipped=item.tasks.get(models.TaskStatus.SKIPPED, 0),
            ),
            roles=[BoardRole(role=r.value, handle=h) for r, h in item.roles]
            if field_readable(clearance, s.classification, "commander")
            else [],
            escalation_level=s.escalation_level,
            next_escalation_at=s.escalation_next_at,
        )


@strawberry.type
class PriorityCount:
    priority: Priority
    count: int


@strawberry.type
class StatusCount:
    status: IncidentStatus
    count: int


@strawberry.type(
    description="Fraction of SLA clocks met among those that stopped or breached in the "
    "window (null when none did), and how many that was."
)
class SlaCompliance:
    today: float | None
    seven_days: float | None
    measured_today: int
    measured_seven_days: int


@strawberry.type
class ServiceProblemCount:
    service: str
    count: int


@strawberry.enum(description="A trend's period: the last 7, 30 or 90 days.")
class TrendPeriod(Enum):
    WEEK = "WEEK"
    MONTH = "MONTH"
    QUARTER = "QUARTER"


_TREND_DAYS = {TrendPeriod.WEEK: 7, TrendPeriod.MONTH: 30, TrendPeriod.QUARTER: 90}


@strawberry.type(description="A period's metrics and the same length of time before it.")
class MetricsTrend:
    period: TrendPeriod
    current: IncidentMetrics
    previous: IncidentMetrics


@strawberry.type(description="Open incidents at a glance, SLA compliance, MTTA and MTTR.")
class ExecutiveBoard:
    persona: Persona
    generated_at: datetime
    open_by_priority: list[PriorityCount]
    open_by_status: list[StatusCount]
    major_incidents: list[BoardIncident] = strawberry.field(
        description="Active incidents that are major or P1."
    )
    sla_compliance: SlaCompliance
    mtta_seconds_7d: float | None = strawberry.field(
        name="mttaSeconds7d", description="Mean time to acknowledge, last 7 days."
    )
    mttr_seconds_7d: float | None = strawberry.field(
        name="mttrSeconds7d", description="Mean time to resolve, last 7 days."
    )
    change_success_rate_30d: float | None = strawberry.field(
        name="changeSuccessRate30d",
        description="Changes finished in the last 30 days that neither failed, were rolled "
        "back nor caused an incident, over all finished (null when none finished).",
    )
    changes_finished_30d: int = strawberry.field(name="changesFinished30d")
    open_problems_by_service: list[ServiceProblemCount] = strawberry.field(
        description="Open problems (not resolved or closed) by service, most first."
    )
    reviews_overdue: int = strawberry.field(
        description="P1, P2 and major incidents resolved in the last 90 days whose review was "
        "not published within 5 working days."
    )
    shared: strawberry.Private[dict[str, Any] | None] = None

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="The last period's incident metrics beside the period before, for trends "
        "(recomputed at most once a minute)."
    )
    async def trend(
        self, info: Info[Context, Any], period: TrendPeriod = TrendPeriod.WEEK
    ) -> MetricsTrend:
        principal = info.context.require_principal()
        days = _TREND_DAYS[period]
        current, previous = await metrics_service.trend(caller=Caller.of(principal), days=days)
        return MetricsTrend(
            period=period,
            current=IncidentMetrics.of(current),
            previous=IncidentMetrics.of(previous),
        )


@strawberry.type(description="Active incidents, most urgent first, with their SLA clocks.")
class ResponderBoard:
    persona: Persona
    generated_at: datetime
    incidents: list[BoardIncident]
    shared: strawberry.Private[dict[str, Any] | None] = None


@strawberry.type(description="An active incident whose stakeholders are due a public update.")
class CommunicationsItem:
    incident: BoardIncident
    cadence_minutes: int
    last_public_update_at: datetime | None
    public_summary: str | None
    overdue_seconds: int


@strawberry.type(description="Incidents whose last PUBLIC note is older than their cadence.")
class CommunicationsBoard:
    persona: Persona
    generated_at: datetime
    overdue: list[CommunicationsItem]
    shared: strawberry.Private[dict[str, Any] | None] = None


@strawberry.type
class PublicUpdate:
    time: datetime
    body: str


@strawberry.type
class ServiceStatus:
    service: str
    status: ServiceHealth
    updates: list[PublicUpdate] = strawberry.field(description="PUBLIC notes, newest first.")


@strawberry.type(description="Only what is safe to publish: affected services, PUBLIC notes.")
class CustomerBoard:
    persona: Persona
    generated_at: datetime
    services: list[ServiceStatus]
    shared: strawberry.Private[dict[str, Any] | None] = None


StatusBoard: TypeAlias = Annotated[
    ExecutiveBoard | ResponderBoard | CommunicationsBoard | CustomerBoard,
    strawberry.union("StatusBoard", description="One persona's board."),
]
AnyBoard = ExecutiveBoard | ResponderBoard | CommunicationsBoard | CustomerBoard


def board_of(board: domain.Board, *, shared: dict[str, Any] | None = None) -> AnyBoard:
    """The API form of a board, redacted for the clearance it was built with."""
    now = utcnow()
    clearance = board.clearance
    content = board.content

    def incident(item: domain.BoardIncident) -> BoardIncident:
        return BoardIncident.of(item, clearance=clearance, now=now)

    if isinstance(content, domain.ExecutiveBoard):
        sla = content.sla_compliance
        return ExecutiveBoard(
            persona=board.persona,
            generated_at=board.generated_at,
            open_by_priority=[
                PriorityCount(priority=p, count=n) for p, n in content.open_by_priority.items()
            ],
            open_by_status=[
                StatusCount(status=st, count=n) for st, n in content.open_by_status.items()
            ],
            major_incidents=[incident(i) for i in content.major_incidents],
            sla_compliance=SlaCompliance(
                today=sla.today,
                seven_days=sla.seven_days,
                measured_today=sla.measured_today,
                measured_seven_days=sla.measured_seven_days,
            ),
            mtta_seconds_7d=content.mtta_seconds_7d,
            mttr_seconds_7d=content.mttr_seconds_7d,
            change_success_rate_30d=content.change_success_rate_30d,
            changes_finished_30d=content.changes_finished_30d,
            open_problems_by_service=[
                ServiceProblemCount(service=name, count=n)
                for name, n in content.open_problems_by_service
            ],
            reviews_overdue=content.reviews_overdue,
            shared=shared,
        )
    if isinstance(content, domain.ResponderBoard):
        return ResponderBoard(
            persona=board.persona,
            generated_at=board.generated_at,
            incidents=[incident(i) for i in content.incidents],
            shared=shared,
        )
    if isinstance(content, domain.CommunicationsBoard):
        return CommunicationsBoard(
            persona=board.persona,
            generated_at=board.generated_at,
            overdue=[
                CommunicationsItem(
                    incident=incident(item.incident),
                    cadence_minutes=item.cadence_minutes,
                    last_public_update_at=item.last_public_update_at,
                    public_summary=(
                        item.public_summary
                        if field_readable(
                            clearance, item.incident.incident.classification, "public_summary"
                        )
                        else redact_text(item.public_summary)
                    ),
                    overdue_seconds=item.overdue_seconds,
                )
                for item in content.overdue
            ],
            shared=shared,
        )
    return CustomerBoard(
        persona=board.persona,
        generated_at=board.generated_at,
        services=[
            ServiceStatus(
                service=st.service,
                status=st.status,
                updates=[PublicUpdate(time=u.time, body=u.body) for u in st.updates],
            )
            for st in content.services
        ],
        shared=shared,
    )


async def incident_board(
    info: Info[Context, Any], persona: Persona, *, incident_id: str, loaders: Loaders | None
) -> AnyBoard:
    """Incident.statusBoard: reached only through an incident the caller could already read.
    A page of incidents asking for their boards shares one build (a DataLoader)."""
    authorize(info, Action.READ_BOARDS)
    board = await (loaders or info.context.loaders).incident_board.load((persona, incident_id))
    if board.restricted_ids:
        info.context.mark_uncacheable()
        await info.context.loaders.incident_board_read.load_many(list(board.restricted_ids))
    return board_of(board)

"""GraphQL types of incident metrics over a period."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeAlias

import strawberry

from app.schema.common import TEAM_PREFIX, to_global_id
from app.services.incidents import metrics

MetricsGroupBy: TypeAlias = Annotated[
    metrics.GroupBy,
    strawberry.enum(
        name="MetricsGroupBy",
        description="What to group by: DAY, WEEK (from Monday) and MONTH are UTC; TEAM is the "
        "assigned team's id; SERVICE the incident's service.",
    ),
]


@strawberry.type(description="How many incidents had one value (a status, a severity, a day).")
class MetricCount:
    key: str
    count: int


@strawberry.type(
    description="The measures of a set of incidents. Rates are 0..1, null when "
    "there was nothing to measure."
)
class MetricFigures:
    total: int
    mtta_seconds: float | None = strawberry.field(description="Declared to acknowledged, mean.")
    mttr_seconds: float | None = strawberry.field(description="Declared to resolved, mean.")
    mttr_p50_seconds: float | None = strawberry.field(description="Nearest-rank median.")
    mttr_p90_seconds: float | None
    sla_response_compliance: float | None = strawberry.field(
        description="Response clocks met over those met or breached (running ones count neither)."
    )
    sla_resolve_compliance: float | None
    escalation_rate: float | None = strawberry.field(
        description="Escalated up their priority's path, over all."
    )

    @classmethod
    def of(cls, f: metrics.Figures) -> MetricFigures:
        return cls(
            total=f.total,
            mtta_seconds=f.mtta_seconds,
            mttr_seconds=f.mttr_seconds,
            mttr_p50_seconds=f.mttr_p50_seconds,
            mttr_p90_seconds=f.mttr_p90_seconds,
            sla_response_compliance=f.sla_response_compliance,
            sla_resolve_compliance=f.sla_resolve_compliance,
            escalation_rate=f.escalation_rate,
        )


@strawberry.type(description="One group's key (the groupings asked for) and figures.")
class MetricsGroup:
    severity: str | None
    priority: str | None
    service: str | None
    category: str | None
    team_id: strawberry.ID | None
    day: str | None
    week: str | None
    month: str | None
    figures: MetricFigures

    @classmethod
    def of(cls, group: metrics.Group) -> MetricsGroup:
        key = group.key
        team = key.get("team")
        return cls(
            severity=key.get("severity"),
            priority=key.get("priority"),
            service=key.get("service"),
            category=key.get("category"),
            team_id=strawberry.ID(to_global_id(TEAM_PREFIX, team)) if team else None,
            day=key.get("day"),
            week=key.get("week"),
            month=key.get("month"),
            figures=MetricFigures.of(group.figures),
        )


def _counts(values: dict[str, int]) -> list[MetricCount]:
    return [MetricCount(key=k, count=v) for k, v in values.items()]


@strawberry.type(description="Incidents declared in [from, to) that you may see, drills never.")
class IncidentMetrics:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    total: int
    mtta_seconds: float | None
    mttr_seconds: float | None
    mttr_p50_seconds: float | None
    mttr_p90_seconds: float | None
    sla_response_compliance: float | None
    sla_resolve_compliance: float | None
    escalation_rate: float | None
    reopen_rate: float | None = strawberry.field(
        description="Moved from RESOLVED back to work, over those ever RESOLVED."
    )
    known_error_reuse_rate: float | None = strawberry.field(
        description="Linked to a problem that is a known error, over all."
    )
    change_success_rate: float | None = strawberry.field(
        description="Changes finished in the period IMPLEMENTED, over all finished."
    )
    review_completion: float | None = strawberry.field(
        description="P1, P2 and major incidents resolved with a published review, over those "
        "resolved."
    )
    action_items_overdue: int = strawberry.field(
        description="Their review action items open or in progress past their due time."
    )
    by_status: list[MetricCount]
    by_severity: list[MetricCount]
    by_priority: list[MetricCount]
    by_day: list[MetricCount] = strawberry.field(description="By UTC day, oldest first.")
    groups: list[MetricsGroup] = strawberry.field(description="By `groupBy`, in key order.")

    @classmethod
    def of(cls, view: metrics.MetricsView) -> IncidentMetrics:
        f = view.figures
        return cls(
            from_=view.start,
            to=view.end,
            total=f.total,
            mtta_seconds=f.mtta_seconds,
            mttr_seconds=f.mttr_seconds,
            mttr_p50_seconds=f.mttr_p50_seconds,
            mttr_p90_seconds=f.mttr_p90_seconds,
            sla_response_compliance=f.sla_response_compliance,
            sla_resolve_compliance=f.sla_resolve_compliance,
            escalation_rate=f.escalation_rate,
            reopen_rate=view.reopen_rate,
            known_error_reuse_rate=view.known_error_reuse_rate,
            change_success_rate=view.change_success_rate,
            review_completion=view.review_completion,
            action_items_overdue=view.action_items_overdue,
            by_status=_counts(view.by_status),
            by_severity=_counts(view.by_severity),
            by_priority=_counts(view.by_priority),
            by_day=_counts(view.by_day),
            groups=[MetricsGroup.of(g) for g in view.groups],
        )

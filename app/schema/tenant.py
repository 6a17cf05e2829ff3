"""The tenant's policy: priority matrix, severity floors, SLA targets."""

from __future__ import annotations

import strawberry

from app import models
from app.schema.common import UserError
from app.schema.incident import Impact, Priority, Severity, Urgency
from app.services.access import quotas
from app.services.incidents.policy import TenantPolicy as DomainPolicy
from app.services.retention import policy as retention


@strawberry.type(description="Impact x urgency gives this priority.")
class PriorityCell:
    impact: Impact
    urgency: Urgency
    priority: Priority


@strawberry.type(description="An incident of this severity is at least this priority.")
class SeverityFloor:
    severity: Severity
    priority: Priority


@strawberry.type
class SlaTarget:
    priority: Priority
    response_minutes: float
    resolve_minutes: float


@strawberry.type(
    description="How often stakeholders expect a public update (a PUBLIC note) on an active "
    "incident of this priority; null: no expectation."
)
class UpdateCadence:
    priority: Priority
    minutes: float | None


@strawberry.type
class TenantPolicy:
    matrix: list[PriorityCell]
    severity_floor: list[SeverityFloor]
    sla: list[SlaTarget]
    update_cadence: list[UpdateCadence]
    clear_override_on_change: bool = strawberry.field(
        description="A later change of severity, impact or urgency clears a manual priority "
        "override (false: the override stays)."
    )

    @classmethod
    def of(cls, policy: DomainPolicy) -> TenantPolicy:
        return cls(
            matrix=[
                PriorityCell(impact=i, urgency=u, priority=p)
                for i, row in policy.matrix.items()
                for u, p in row.items()
            ],
            severity_floor=[
                SeverityFloor(severity=s, priority=p) for s, p in policy.severity_floor.items()
            ],
            sla=[
                SlaTarget(
                    priority=p,
                    response_minutes=t.response.total_seconds() / 60,
                    resolve_minutes=t.resolve.total_seconds() / 60,
                )
                for p, t in policy.sla.items()
            ],
            update_cadence=[
                UpdateCadence(priority=p, minutes=m) for p, m in policy.update_cadence.items()
            ],
            clear_override_on_change=policy.clear_override_on_change,
        )


@strawberry.input
class PriorityCellInput:
    impact: Impact
    urgency: Urgency
    priority: Priority


@strawberry.input
class SeverityFloorInput:
    severity: Severity
    priority: Priority | None = strawberry.field(description="null removes the floor.")


@strawberry.input
class SlaTargetInput:
    priority: Priority
    response_minutes: float
    resolve_minutes: float


@strawberry.input
class UpdateCadenceInput:
    priority: Priority
    minutes: float | None = strawberry.field(description="Minutes; null for none.")


@strawberry.input(description="Only what is given changes; the rest of the policy stays.")
class UpdateTenantPolicyInput:
    matrix: list[PriorityCellInput] = strawberry.field(default_factory=list)
    severity_floor: list[SeverityFloorInput] = strawberry.field(default_factory=list)
    sla: list[SlaTargetInput] = strawberry.field(default_factory=list)
    update_cadence: list[UpdateCadenceInput] = strawberry.field(default_factory=list)
    clear_override_on_change: bool | None = None


@strawberry.type
class TenantPolicyPayload:
    policy: TenantPolicy | None
    errors: list[UserError]


Plan = strawberry.enum(
    models.Plan,
    description="FREE (5 active incidents), TEAM (50), ENTERPRISE (no limits); a tenant may "
    "have limits of its own over its plan's.",
)


@strawberry.type(description="Null: no limit.")
class TenantLimits:
    active_incidents: int | None = strawberry.field(
        description="Incidents neither RESOLVED, CLOSED nor CANCELLED."
    )
    users: int | None = strawberry.field(description="Active users.")
    webhook_endpoints: int | None
    events_per_month: int | None = strawberry.field(
        description="Events a calendar month (UTC) from API changes; the system's own work "
        "is counted but never refused."
    )

    @classmethod
    def of(cls, limits: quotas.Limits | quotas.Usage) -> TenantLimits:
        return cls(
            active_incidents=limits.active_incidents,
            users=limits.users,
            webhook_endpoints=limits.webhook_endpoints,
            events_per_month=limits.events_per_month,
        )


@strawberry.type(description="How long the tenant keeps what has ended.")
class TenantRetention:
    read_only_after_days: int | None = strawberry.field(
        description="A CLOSED incident takes no change this many days after closing; null: never."
    )
    purge_after_days: int = strawberry.field(
        description="A CLOSED or CANCELLED incident, and all that names it, is purged this "
        "many days after it ended (2557: seven years), unless on legal hold."
    )
    legal_hold: bool = strawberry.field(description="Nothing of the tenant's is purged.")

    @classmethod
    def of(cls, view: retention.Retention) -> TenantRetention:
        return cls(
            read_only_after_days=view.readonly_after_days,
            purge_after_days=view.purge_after_days,
            legal_hold=view.legal_hold,
        )


@strawberry.input(description="Omitted fields are kept; readOnlyAfterDays: null is never.")
class UpdateRetentionInput:
    read_only_after_days: int | None = strawberry.UNSET
    purge_after_days: int | None = strawberry.UNSET
    legal_hold: bool | None = strawberry.UNSET


@strawberry.type
class TenantRetentionPayload:
    retention: TenantRetention | None
    errors: list[UserError]


@strawberry.input
class SetLegalHoldInput:
    incident_id: strawberry.ID
    hold: bool
    reason: str = strawberry.field(description="Why: it goes to the audit log.")


@strawberry.type
class LegalHoldPayload:
    incident_id: strawberry.ID | None
    legal_hold: bool | None
    errors: list[UserError]


@strawberry.type(description="The tenant you act in: its plan, its limits and what it holds.")
class Tenant:
    id: str
    name: str
    plan: Plan  # type: ignore[valid-type]
    limits: TenantLimits
    usage: TenantLimits = strawberry.field(description="What the tenant holds now.")
    retention: TenantRetention

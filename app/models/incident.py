from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields, models

from app.models.classification import Classification

if TYPE_CHECKING:
    from app.models.tenant import Tenant


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class Impact(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Urgency(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"


class IncidentStatus(StrEnum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    PENDING = "PENDING"
    ESCALATED = "ESCALATED"
    MITIGATED = "MITIGATED"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"


class IncidentCategory(StrEnum):
    HARDWARE = "HARDWARE"
    SOFTWARE = "SOFTWARE"
    NETWORK = "NETWORK"
    SECURITY = "SECURITY"
    PERFORMANCE = "PERFORMANCE"
    OTHER = "OTHER"


class DetectionSource(StrEnum):
    USER_REPORT = "USER_REPORT"  # someone told us
    MONITORING_TOOL = "MONITORING_TOOL"  # someone saw it on a dashboard or a check
    AUTOMATED_ALERT = "AUTOMATED_ALERT"  # declared by alert correlation


class Incident(models.Model):
    # The projection of the incident's timeline, written in the same transaction as its events.

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="incidents"
    )
    tenant_id: str
    number = fields.IntField()
    title = fields.CharField(max_length=255)
    # TextField is typed str whatever null says: the nullable ones are annotated str | None.
    description: str | None = fields.TextField(null=True)
    service = fields.CharField(max_length=255, null=True)
    severity = fields.CharEnumField(Severity, max_length=16, description="Severity")
    impact = fields.CharEnumField(Impact, max_length=16, description="Impact")
    urgency = fields.CharEnumField(Urgency, max_length=16, description="Urgency")
    priority = fields.CharEnumField(Priority, max_length=16, description="Priority")
    status = fields.CharEnumField(
        IncidentStatus, max_length=32, default=IncidentStatus.OPEN, description="IncidentStatus"
    )
    is_major = fields.BooleanField(default=False)
    # The handle of the assigned user, or free text from an integration.
    assignee = fields.CharField(max_length=255, null=True)
    # The user and the team it is assigned to (users and teams are never deleted).
    assigned_user_id = fields.UUIDField(null=True)
    assigned_team_id = fields.UUIDField(null=True)
    # Who leads the response (the incident commander); a name, like assignee.
    commander = fields.CharField(max_length=255, null=True)
    # What kind of incident it is, and how it came to be known.
    category = fields.CharEnumField(IncidentCategory, max_length=16, null=True)
    subcategory = fields.CharField(max_length=128, null=True)
    detection_source = fields.CharEnumField(DetectionSource, max_length=32, null=True)
    # A manual priority override: the priority the matrix gives (kept beside it) and why.
    derived_priority: Priority | None = fields.CharEnumField(  # type: ignore[assignment]
        Priority, max_length=16, null=True
    )
    priority_override_reason: str | None = fields.TextField(null=True)
    # A response simulation: never on the CUSTOMER board, in ticket sync or in metrics.
    is_drill = fields.BooleanField(default=False, db_default=False)
    drill_scenario: str | None = fields.TextField(null=True)
    drill_scope: str | None = fields.TextField(null=True)
    drill_outcome: str | None = fields.TextField(null=True)
    declared_by = fields.CharField(max_length=255, null=True)
    resolution_summary: str | None = fields.TextField(null=True)
    root_cause: str | None = fields.TextField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    acknowledged_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    # Kept whatever the tenant's retention says, until the hold is lifted.
    legal_hold = fields.BooleanField(default=False, db_default=False)
    # SLA clocks: deadlines as if never paused, plus the pause bookkeeping.
    sla_response_due = fields.DatetimeField(null=True)
    sla_resolve_due = fields.DatetimeField(null=True)
    sla_paused_since = fields.DatetimeField(null=True)
    sla_paused_seconds = fields.FloatField(default=0.0)
    # The SLA marks written (warnings and breaches, a bit each) and when the next one falls
    # (app/services/incidents/sla_marks.py).
    sla_fired = fields.IntField(default=0, db_default=0)
    sla_next_at = fields.DatetimeField(null=True)
    # The next stakeholder update due and not yet announced, and the last one announced
    # (app/services/incidents/cadence.py).
    update_due_at = fields.DatetimeField(null=True)
    update_due_noted = fields.DatetimeField(null=True)
    # The escalation path (app/services/response/escalation.py): the level reached, when,
    # and when (and why) the next step is due unless someone acts.
    # Times it was moved from RESOLVED back to work (the reopen rate of metrics).
    reopen_count = fields.IntField(default=0, db_default=0)
    escalation_level = fields.IntField(default=0, db_default=0)
    escalated_at = fields.DatetimeField(null=True)
    escalation_next_at = fields.DatetimeField(null=True)
    escalation_due_reason = fields.CharField(max_length=64, null=True)
    # RESTRICTED incidents are invisible to callers without that clearance.
    classification = fields.CharEnumField(
        Classification,
        max_length=16,
        default=Classification.INTERNAL,
        db_default=Classification.INTERNAL,
        description="Classification",
    )
    # The latest stakeholder-facing (PUBLIC) note: when, and its body.
    last_public_update_at = fields.DatetimeField(null=True)
    public_summary: str | None = fields.TextField(null=True)
    # Set when this incident was merged into another (it is then CANCELLED).
    merged_into_id = fields.UUIDField(null=True)
    # Optimistic concurrency on the projection's fields.
    version = fields.IntField(default=1)
    # seq of the newest timeline event; seqs are contiguous from 1.
    last_seq = fields.IntField(default=0)

    class Meta:
        table = "incident"
        unique_together = (("tenant", "number"),)
        indexes = (
            ("tenant_id", "created_at"),
            ("tenant_id", "status"),
            ("tenant_id", "updated_at"),
            ("tenant_id", "assigned_user_id"),
            # Integrators' filters (bench/filters.py): by team, and by resolution time.
            ("tenant_id", "assigned_team_id"),
            ("tenant_id", "resolved_at"),
            ("sla_next_at",),
            ("escalation_next_at",),
            ("update_due_at",),
        )

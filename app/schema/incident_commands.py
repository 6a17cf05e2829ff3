"""The incident commands' inputs and payloads."""

from __future__ import annotations

import strawberry

from app import models
from app.schema.common import Classification, UserError
from app.schema.incident import (
    DetectionSource,
    Impact,
    Incident,
    IncidentCategory,
    IncidentStatus,
    Priority,
    Severity,
    Urgency,
)


@strawberry.input
class DeclareIncidentInput:
    title: str
    severity: Severity
    impact: Impact
    urgency: Urgency
    description: str | None = None
    service: str | None = None
    assignee: str | None = None
    category: IncidentCategory | None = None
    subcategory: str | None = strawberry.field(
        default=None, description="A free refinement of the category, e.g. 'TLS certificate'."
    )
    detection_source: DetectionSource | None = strawberry.field(
        default=None, description="Incidents declared by alert correlation say AUTOMATED_ALERT."
    )
    is_drill: bool = strawberry.field(
        default=False,
        description="A response simulation (INCIDENT_MANAGER and ADMIN), with its scenario.",
    )
    drill_scenario: str | None = None
    drill_scope: str | None = None
    event_id: str | None = strawberry.field(
        default=None, description="Idempotency key: declaring twice with it creates one incident."
    )
    classification: Classification = strawberry.field(
        default=models.Classification.INTERNAL,
        description="RESTRICTED for incidents only cleared callers may know of (security "
        "incidents, say). Never above your own clearance.",
    )


@strawberry.input
class UpdateIncidentInput:
    id: strawberry.ID
    version: int | None = strawberry.field(
        default=None, description="When given, a stale version is refused with CONFLICT."
    )
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    service: str | None = strawberry.UNSET
    severity: Severity | None = strawberry.UNSET
    impact: Impact | None = strawberry.UNSET
    urgency: Urgency | None = strawberry.UNSET
    is_major: bool | None = strawberry.UNSET
    commander: str | None = strawberry.field(
        default=strawberry.UNSET, description="Who leads the response; null clears it."
    )
    category: IncidentCategory | None = strawberry.field(
        default=strawberry.UNSET, description="Null clears it."
    )
    subcategory: str | None = strawberry.field(
        default=strawberry.UNSET, description="Null clears it."
    )
    detection_source: DetectionSource | None = strawberry.field(
        default=strawberry.UNSET, description="Null clears it."
    )
    classification: Classification | None = strawberry.field(
        default=strawberry.UNSET,
        description="Reclassify; RESTRICTED hides the incident from callers not cleared for it. "
        "Never above your own clearance.",
    )


@strawberry.input
class OverridePriorityInput:
    id: strawberry.ID
    priority: Priority | None = strawberry.field(
        description="The priority to hold; null gives the matrix's back."
    )
    justification: str | None = strawberry.field(
        default=None, description="Why; required to override."
    )
    version: int | None = None


@strawberry.input
class TransitionIncidentInput:
    id: strawberry.ID
    to: IncidentStatus
    version: int | None = None
    reason: str | None = None
    resolution_summary: str | None = None
    root_cause: str | None = None


@strawberry.input
class AssignIncidentInput:
    id: strawberry.ID
    user_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="The user who takes it (their handle becomes `assignee`); null to "
        "unassign. Left out: unchanged.",
    )
    team_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="The team that takes it; null to clear. Left out: unchanged.",
    )
    assignee: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Free text (an integration's name for someone), instead of userId; null "
        "to unassign. Left out: unchanged.",
    )
    version: int | None = None


@strawberry.type
class IncidentPayload:
    incident: Incident | None
    errors: list[UserError]


@strawberry.input
class MergeIncidentsInput:
    source_id: strawberry.ID = strawberry.field(
        description="The incident merged away: it becomes CANCELLED, pointing at the target."
    )
    target_id: strawberry.ID = strawberry.field(
        description="The incident that takes the source's alerts, tickets and timeline."
    )
    reason: str | None = None


@strawberry.type
class MergeIncidentsPayload:
    source: Incident | None
    target: Incident | None
    errors: list[UserError]

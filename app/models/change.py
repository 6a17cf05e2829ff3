from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields, models

from app.models.classification import Classification

if TYPE_CHECKING:
    from app.models.tenant import Tenant


class ChangeType(StrEnum):
    STANDARD = "STANDARD"  # pre-approved: no approval step
    NORMAL = "NORMAL"  # needs approval before it is scheduled
    EMERGENCY = "EMERGENCY"  # may go ahead first; approved within 24 hours after


class Risk(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class ChangeStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    IMPLEMENTED = "IMPLEMENTED"
    FAILED = "FAILED"
    ROLLED_BACK = "ROLLED_BACK"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"


class ChangeRelation(StrEnum):
    FIXES = "FIXES"  # the change fixes the incident or problem
    CAUSED_BY = "CAUSED_BY"  # the incident was caused by the change


class Change(models.Model):
    """A change to production (ITIL change enablement): CHG-<number>."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="changes"
    )
    tenant_id: str
    number = fields.IntField()
    title = fields.CharField(max_length=255)
    description: str | None = fields.TextField(null=True)
    type = fields.CharEnumField(ChangeType, max_length=16)
    risk = fields.CharEnumField(Risk, max_length=16)
    status = fields.CharEnumField(ChangeStatus, max_length=16)
    classification = fields.CharEnumField(
        Classification, max_length=16, default=Classification.INTERNAL
    )
    requested_by = fields.CharField(max_length=255, null=True)
    approved_by = fields.CharField(max_length=255, null=True)
    approved_at = fields.DatetimeField(null=True)
    planned_start = fields.DatetimeField(null=True)
    planned_end = fields.DatetimeField(null=True)
    # When work began (IN_PROGRESS) and ended (IMPLEMENTED, FAILED or ROLLED_BACK).
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    # How the work ended (IMPLEMENTED, FAILED or ROLLED_BACK), kept once it is CLOSED.
    outcome = fields.CharEnumField(ChangeStatus, max_length=16, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    version = fields.IntField(default=1)
    last_seq = fields.IntField(default=0)

    class Meta:
        table = "change"
        unique_together = (("tenant_id", "number"),)
        indexes = (("tenant_id", "status"),)


class ChangeService(models.Model):
    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    change: fields.ForeignKeyRelation[Change] = fields.ForeignKeyField(
        "models.Change", related_name="service_links", on_delete=fields.CASCADE
    )
    change_id: str
    service_id = fields.UUIDField()

    class Meta:
        table = "change_service"
        unique_together = (("change_id", "service_id"),)
        indexes = (("tenant_id", "service_id"),)


class ChangeLink(models.Model):
    """A change linked to an incident or a problem, and how."""

    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    change: fields.ForeignKeyRelation[Change] = fields.ForeignKeyField(
        "models.Change", related_name="links", on_delete=fields.CASCADE
    )
    change_id: str
    incident_id = fields.UUIDField(null=True)
    problem_id = fields.UUIDField(null=True)
    relation = fields.CharEnumField(ChangeRelation, max_length=16)
    linked_at = fields.DatetimeField()

    class Meta:
        table = "change_link"
        unique_together = (("change_id", "incident_id", "problem_id"),)
        indexes = (("tenant_id", "incident_id"), ("tenant_id", "problem_id"))

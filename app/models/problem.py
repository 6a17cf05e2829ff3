from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields, models

from app.models.classification import Classification

if TYPE_CHECKING:
    from app.models.tenant import Tenant


class ProblemStatus(StrEnum):
    NEW = "NEW"
    UNDER_INVESTIGATION = "UNDER_INVESTIGATION"
    KNOWN_ERROR = "KNOWN_ERROR"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


class Problem(models.Model):
    """The cause behind one or more incidents (ITIL problem management): PRB-<number>."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="problems"
    )
    tenant_id: str
    number = fields.IntField()
    title = fields.CharField(max_length=255)
    description: str | None = fields.TextField(null=True)
    status = fields.CharEnumField(ProblemStatus, max_length=32, default=ProblemStatus.NEW)
    known_error = fields.BooleanField(default=False)
    workaround: str | None = fields.TextField(null=True)
    root_cause: str | None = fields.TextField(null=True)
    resolution_evidence: str | None = fields.TextField(null=True)
    classification = fields.CharEnumField(
        Classification, max_length=16, default=Classification.INTERNAL
    )
    created_by = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    # When an incident was last linked: the stability window before closing counts from it.
    last_incident_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)
    # seq of the newest event on the problem's own timeline.
    last_seq = fields.IntField(default=0)

    class Meta:
        table = "problem"
        unique_together = (("tenant_id", "number"),)
        indexes = (("tenant_id", "status"),)


class ProblemIncident(models.Model):
    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    problem: fields.ForeignKeyRelation[Problem] = fields.ForeignKeyField(
        "models.Problem", related_name="incident_links", on_delete=fields.CASCADE
    )
    problem_id: str
    incident_id = fields.UUIDField()
    linked_at = fields.DatetimeField()

    class Meta:
        table = "problem_incident"
        unique_together = (("problem_id", "incident_id"),)
        indexes = (("tenant_id", "incident_id"),)


class ProblemService(models.Model):
    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    problem: fields.ForeignKeyRelation[Problem] = fields.ForeignKeyField(
        "models.Problem", related_name="service_links", on_delete=fields.CASCADE
    )
    problem_id: str
    service_id = fields.UUIDField()

    class Meta:
        table = "problem_service"
        unique_together = (("problem_id", "service_id"),)


class RecordEvent(models.Model):
    """One CloudEvents v1.0 event on the timeline of a record around the incident (a problem,
    a change, an article): seq from 1 per record, no gaps. Append-only."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    record_type = fields.CharField(max_length=32)
    record_id = fields.UUIDField()
    seq = fields.IntField()
    type = fields.CharField(max_length=128)
    source = fields.CharField(max_length=255)
    event_id = fields.CharField(max_length=255)
    time = fields.DatetimeField()
    actor = fields.CharField(max_length=255, null=True)
    data: dict[str, Any] = fields.JSONField(default=dict)

    class Meta:
        table = "record_event"
        unique_together = (("record_id", "seq"), ("tenant_id", "source", "event_id"))

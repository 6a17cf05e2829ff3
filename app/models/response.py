"""Response coordination around an incident: who holds which role, and the tasks."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields, models

from app.models.people import User


class IncidentRole(StrEnum):
    COMMANDER = "COMMANDER"  # one at a time: a new one is a handover
    COMMUNICATIONS_LEAD = "COMMUNICATIONS_LEAD"
    SCRIBE = "SCRIBE"
    LIAISON = "LIAISON"
    SUBJECT_MATTER_EXPERT = "SUBJECT_MATTER_EXPERT"


class RoleAssignment(models.Model):
    """A user holds a role on an incident from `assigned_at` until `ended_at` (null: now).
    Ended rows stay: they are the role's history beside its timeline events."""

    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    incident_id = fields.UUIDField()
    role = fields.CharEnumField(IncidentRole, max_length=32)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="incident_roles", on_delete=fields.CASCADE
    )
    user_id: str
    assigned_by = fields.CharField(max_length=255, null=True)
    assigned_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "incident_role"
        indexes = (("tenant_id", "incident_id"), ("tenant_id", "user_id"))


class TaskStatus(StrEnum):
    TODO = "TODO"
    IN_PROGRESS = "IN_PROGRESS"
    BLOCKED = "BLOCKED"
    DONE = "DONE"
    SKIPPED = "SKIPPED"


class Task(models.Model):
    """A piece of the response to an incident: TASK-<number> within the incident."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    incident_id = fields.UUIDField()
    number = fields.IntField()
    title = fields.CharField(max_length=255)
    description: str | None = fields.TextField(null=True)
    group = fields.CharField(max_length=64, null=True)
    position = fields.IntField(default=0)
    owner: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tasks", null=True, on_delete=fields.SET_NULL
    )
    owner_id: str | None
    status = fields.CharEnumField(TaskStatus, max_length=16, default=TaskStatus.TODO)
    due_at = fields.DatetimeField(null=True)
    estimated_hours = fields.FloatField(null=True)
    # The playbook (and its version) that made it, if any.
    playbook_id = fields.UUIDField(null=True)
    created_by = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    version = fields.IntField(default=1)

    class Meta:
        table = "task"
        unique_together = (("incident_id", "number"),)
        # By status: the incidents with open tasks (IncidentFilter.has_open_tasks).
        indexes = (
            ("tenant_id", "incident_id"),
            ("tenant_id", "owner_id"),
            ("tenant_id", "status", "incident_id"),
        )


class TaskDependency(models.Model):
    """`task` cannot be DONE before `depends_on` is DONE or SKIPPED (same incident)."""

    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="dependencies", on_delete=fields.CASCADE
    )
    task_id: str
    depends_on: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="dependents", on_delete=fields.CASCADE
    )
    depends_on_id: str

    class Meta:
        table = "task_dependency"
        unique_together = (("task_id", "depends_on_id"),)


class Playbook(models.Model):
    """A tenant's template of tasks for a kind of incident, applied by hand or on
    declaration when it matches. Every change makes a new `version`."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    name = fields.CharField(max_length=255)
    name_key = fields.CharField(max_length=255)
    description: str | None = fields.TextField(null=True)
    version = fields.IntField(default=1)
    # [{title, description, group, order, estimatedHours, dueInMinutes, dependsOn: [index]}]
    tasks: list[dict[str, Any]] = fields.JSONField(default=list)
    # What declared incidents it applies itself to (empty: any); auto_apply off: by hand only.
    match_categories: list[str] = fields.JSONField(default=list)
    match_severities: list[str] = fields.JSONField(default=list)
    match_service_ids: list[str] = fields.JSONField(default=list)
    auto_apply = fields.BooleanField(default=False)
    active = fields.BooleanField(default=True)
    created_by = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "playbook"
        unique_together = (("tenant_id", "name_key"),)


class PlaybookApplication(models.Model):
    """A playbook's version applied to an incident, once: `applied_at` null while a
    declaration's automatic application waits for the worker."""

    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    incident_id = fields.UUIDField()
    playbook: fields.ForeignKeyRelation[Playbook] = fields.ForeignKeyField(
        "models.Playbook", related_name="applications", on_delete=fields.CASCADE
    )
    playbook_id: str
    version = fields.IntField()
    requested_at = fields.DatetimeField()
    applied_at = fields.DatetimeField(null=True)
    # Why an automatic application could not be made (the incident was closed, say).
    failure: str | None = fields.TextField(null=True)

    class Meta:
        table = "playbook_application"
        unique_together = (("incident_id", "playbook_id", "version"),)
        indexes = (("applied_at",),)


class EscalationPolicy(models.Model):
    """A tenant's escalation path for incidents of one priority: the levels in turn, each a
    team or a tier with how long an unacknowledged incident waits before moving on."""

    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    priority = fields.CharField(max_length=4)
    # [{"teamId": uuid | None, "tier": EscalationTier | None, "ackTimeoutMinutes": float}]
    levels: list[dict[str, Any]] = fields.JSONField(default=list)
    # A breach of the response SLA moves the incident up a level at once.
    escalate_on_breach = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "escalation_policy"
        unique_together = (("tenant_id", "priority"),)

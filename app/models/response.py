"""Response coordination around an incident: who holds which role, and the tasks."""

from __future__ import annotations

from enum import StrEnum

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
        indexes = (("tenant_id", "incident_id"), ("tenant_id", "owner_id"))


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

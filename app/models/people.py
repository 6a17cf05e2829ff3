from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields, models

if TYPE_CHECKING:
    from app.models.tenant import Tenant


class EscalationTier(StrEnum):
    SERVICE_DESK = "SERVICE_DESK"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    INCIDENT_MANAGEMENT = "INCIDENT_MANAGEMENT"
    CHANGE_MANAGEMENT = "CHANGE_MANAGEMENT"
    DEVOPS = "DEVOPS"
    FACILITIES = "FACILITIES"


class TeamRole(StrEnum):
    MEMBER = "MEMBER"
    LEAD = "LEAD"
    MANAGER = "MANAGER"


class User(models.Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="users"
    )
    tenant_id: str
    # Unique per tenant, lower case: what @mentions and `assignee` name.
    handle = fields.CharField(max_length=64)
    name = fields.CharField(max_length=255)
    # Lower case; unique per tenant.
    email = fields.CharField(max_length=320)
    time_zone = fields.CharField(max_length=64, default="UTC")
    phone = fields.CharField(max_length=32, null=True)
    # Chat ids by system, e.g. {"slack": "U024BE7LH"}.
    chat_ids: dict[str, Any] = fields.JSONField(default=dict)
    active = fields.BooleanField(default=True)
    # SCIM: the identity provider's userName (when it is not the handle, e.g. an e-mail)
    # and its own id for the user.
    user_name = fields.CharField(max_length=320, null=True)
    external_id = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "app_user"
        unique_together = (("tenant_id", "handle"), ("tenant_id", "email"))
        indexes = (("tenant_id", "active"),)


class Team(models.Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="teams"
    )
    tenant_id: str
    name = fields.CharField(max_length=255)
    # Lower-cased name: unique per tenant, whatever the case it was given in.
    name_key = fields.CharField(max_length=255)
    tier = fields.CharEnumField(EscalationTier, max_length=32, null=True, description="Tier")
    # SCIM: the identity provider's id for the group.
    external_id = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "team"
        unique_together = (("tenant_id", "name_key"),)


class TeamMember(models.Model):
    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="members", on_delete=fields.CASCADE
    )
    team_id: str
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="memberships", on_delete=fields.CASCADE
    )
    user_id: str
    role = fields.CharEnumField(TeamRole, max_length=16, default=TeamRole.MEMBER)
    added_at = fields.DatetimeField()

    class Meta:
        table = "team_member"
        unique_together = (("team_id", "user_id"),)


class UserIdentity(models.Model):
    """A user as an identity provider knows them: the subject of its tokens."""

    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    issuer = fields.CharField(max_length=255)
    subject = fields.CharField(max_length=255)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="identities", on_delete=fields.CASCADE
    )
    user_id: str
    created_at = fields.DatetimeField()

    class Meta:
        table = "user_identity"
        unique_together = (("tenant_id", "issuer", "subject"),)


class Mention(models.Model):
    """A user @mentioned in a note: what waits for them, and what notifications follow."""

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="mentions", on_delete=fields.CASCADE
    )
    user_id: str
    incident_id = fields.UUIDField()
    # The note's timeline event: its seq on the incident and its id.
    seq = fields.IntField()
    event_id = fields.UUIDField()
    # Who wrote the note (a timeline actor).
    actor = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "mention"
        indexes = (("tenant_id", "user_id", "id"),)


class Rotation(models.Model):
    """A team's on-call rotation: layers of participants handing over on a schedule."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="rotations", on_delete=fields.CASCADE
    )
    team_id: str
    name = fields.CharField(max_length=255)
    # [{participants: [user id], shiftDays, shiftHours, handoff: "HH:MM", timeZone,
    #   startDate: "YYYY-MM-DD"}], lowest layer first (services/people/oncall.py).
    layers: list[dict[str, Any]] = fields.JSONField(default=list)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "rotation"
        indexes = (("tenant_id", "team_id"),)


class RotationOverride(models.Model):
    """Someone else on call in a rotation for a period."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    rotation: fields.ForeignKeyRelation[Rotation] = fields.ForeignKeyField(
        "models.Rotation", related_name="overrides", on_delete=fields.CASCADE
    )
    rotation_id: str
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="overrides", on_delete=fields.CASCADE
    )
    user_id: str
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "rotation_override"
        indexes = (("rotation_id", "ends_at"),)

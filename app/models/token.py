from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields, models

from app.models.classification import Classification

if TYPE_CHECKING:
    from app.models.people import User
    from app.models.tenant import Tenant


class Role(StrEnum):
    VIEWER = "VIEWER"
    STAKEHOLDER = "STAKEHOLDER"
    RESPONDER = "RESPONDER"
    INCIDENT_MANAGER = "INCIDENT_MANAGER"
    ADMIN = "ADMIN"
    INGEST = "INGEST"
    # An identity provider provisioning users and teams over SCIM 2.0.
    SCIM = "SCIM"


class ApiToken(models.Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="tokens"
    )
    tenant_id: str
    name = fields.CharField(max_length=255)
    # The person the token acts as; null for a service token, which acts under its name.
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", null=True, on_delete=fields.RESTRICT
    )
    user_id: str | None
    role = fields.CharEnumField(Role, max_length=32, description="Role")
    # The highest classification the token may read; null means its role's default.
    clearance = fields.CharEnumField(
        Classification, max_length=16, null=True, description="Classification"
    )
    # SHA-256 of the secret; the secret itself is shown once and never stored.
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"

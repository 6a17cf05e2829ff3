from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields, models

if TYPE_CHECKING:
    from app.models.people import Team
    from app.models.tenant import Tenant


class ServiceTier(StrEnum):
    TIER_1 = "TIER_1"  # most critical
    TIER_2 = "TIER_2"
    TIER_3 = "TIER_3"


class Service(models.Model):
    """A business or technical service incidents affect (the service catalog)."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="services"
    )
    tenant_id: str
    name = fields.CharField(max_length=255)
    # Lower-cased name: unique per tenant, and what an incident's `service` text matches.
    name_key = fields.CharField(max_length=255)
    description: str | None = fields.TextField(null=True)
    tier = fields.CharEnumField(ServiceTier, max_length=16, default=ServiceTier.TIER_3)
    owner: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="services", null=True, on_delete=fields.SET_NULL
    )
    owner_id: str | None
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    # seq of the newest event on the service's own timeline.
    last_seq = fields.IntField(default=0, db_default=0)

    class Meta:
        table = "service"
        unique_together = (("tenant_id", "name_key"),)


class ServiceDependency(models.Model):
    """`service` depends on `depends_on`: an outage of the second may cause one of the first."""

    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    service: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="dependencies", on_delete=fields.CASCADE
    )
    service_id: str
    depends_on: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="dependents", on_delete=fields.CASCADE
    )
    depends_on_id: str

    class Meta:
        table = "service_dependency"
        unique_together = (("service_id", "depends_on_id"),)


class IncidentService(models.Model):
    """An incident affects a service."""

    id = fields.IntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    incident_id = fields.UUIDField()
    service: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="incident_links", on_delete=fields.CASCADE
    )
    service_id: str

    class Meta:
        table = "incident_service"
        unique_together = (("incident_id", "service_id"),)
        indexes = (("tenant_id", "service_id"),)

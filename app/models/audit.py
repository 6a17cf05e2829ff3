from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields, models

if TYPE_CHECKING:
    from app.models.tenant import Tenant


class AuditRecord(models.Model):
    # Who did what to which object, written in the transaction of the change itself.
    # Immutable: no code path updates or deletes a record, and on PostgreSQL a trigger
    # rejects UPDATE and DELETE on the table.
    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="audit_records"
    )
    tenant_id: str
    time = fields.DatetimeField()
    actor = fields.CharField(max_length=255, null=True)
    token_id = fields.CharField(max_length=64, null=True)
    request_id = fields.CharField(max_length=128, null=True)
    action = fields.CharField(max_length=64)
    target = fields.CharField(max_length=255, null=True)
    changes: dict[str, Any] = fields.JSONField(default=dict)

    class Meta:
        table = "audit_record"
        indexes = (("tenant_id", "time"), ("tenant_id", "action"), ("tenant_id", "target"))

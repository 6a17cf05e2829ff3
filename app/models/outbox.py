from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields, models

if TYPE_CHECKING:
    from app.models.tenant import Tenant


class OutboxMessage(models.Model):
    # A message committed with the change it announces. The relay publishes it after commit.

    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="outbox_messages"
    )
    tenant_id: str
    payload = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)

    class Meta:
        table = "outbox_message"
        indexes = (("sent_at", "id"),)

from __future__ import annotations

from typing import Any

from tortoise import fields, models


class Tenant(models.Model):
    id = fields.CharField(max_length=64, primary_key=True)
    name = fields.CharField(max_length=255)
    # Priority matrix, severity floors and SLA targets (shape: services/incidents/policy.py).
    policy: dict[str, Any] = fields.JSONField(default=dict)
    # Last human incident number handed out (INC-1, INC-2, ...).
    incident_counter = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tenant"

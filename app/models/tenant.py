from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields, models


class Plan(StrEnum):
    """What a tenant may hold (services/access/quotas.py has the limits)."""

    FREE = "FREE"
    TEAM = "TEAM"
    ENTERPRISE = "ENTERPRISE"


class Tenant(models.Model):
    id = fields.CharField(max_length=64, primary_key=True)
    name = fields.CharField(max_length=255)
    # Priority matrix, severity floors and SLA targets (shape: services/incidents/policy.py).
    policy: dict[str, Any] = fields.JSONField(default=dict)
    # Last human incident number handed out (INC-1, INC-2, ...).
    incident_counter = fields.IntField(default=0)
    plan = fields.CharEnumField(
        Plan, max_length=16, default=Plan.ENTERPRISE, db_default=Plan.ENTERPRISE, description="Plan"
    )
    # Limits of this tenant's own, over its plan's: {"activeIncidents": 20, ...}.
    limits: dict[str, Any] | None = fields.JSONField(null=True)
    # Retention: CLOSED incidents become read-only this many days after closing (None:
    # never), and are purged this many days after closing or cancelling, unless held.
    readonly_after_days = fields.IntField(null=True)
    purge_after_days = fields.IntField(default=2557, db_default=2557)
    legal_hold = fields.BooleanField(default=False, db_default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tenant"

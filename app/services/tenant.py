"""Tenants and their policy: the priority matrix, severity floors and SLA targets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.transactions import in_transaction

from app.errors import NotFound
from app.models import Tenant
from app.services.policy import TenantPolicy


async def get_policy(*, tenant_id: str) -> TenantPolicy:
    tenant = await Tenant.get_or_none(id=tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
    return TenantPolicy.from_json(tenant.policy)


async def update_policy(*, tenant_id: str, changes: Mapping[str, Any]) -> TenantPolicy:
    """Merge changes into the tenant's policy; the whole result is validated before it is saved.

    Existing incidents keep their priority until their next change re-derives it.
    """
    async with in_transaction():
        tenant = await Tenant.select_for_update().get_or_none(id=tenant_id)
        if tenant is None:
            raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
        merged = TenantPolicy.from_json(tenant.policy).to_json()
        for cell in changes.get("matrix", ()):
            merged["matrix"][cell["impact"]][cell["urgency"]] = cell["priority"]
        for floor in changes.get("severityFloor", ()):
            if floor["priority"] is None:
                merged["severityFloor"].pop(floor["severity"], None)
            else:
                merged["severityFloor"][floor["severity"]] = floor["priority"]
        for target in changes.get("sla", ()):
            merged["sla"][target["priority"]] = {
                "responseMinutes": target["responseMinutes"],
                "resolveMinutes": target["resolveMinutes"],
            }
        policy = TenantPolicy.from_json(merged)
        tenant.policy = policy.to_json()
        await tenant.save(update_fields=["policy"])
    return policy

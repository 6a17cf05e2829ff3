"""Tenants and their policy: priority matrix, severity floors, SLA targets, update cadence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.errors import Conflict, NotFound, ValidationFailed
from app.models import Plan, Tenant
from app.services.access import audit, quotas
from app.services.comms import rules
from app.services.incidents.policy import TenantPolicy

_TENANT_ID = re.compile(r"[a-z0-9-]{1,64}")


async def create_tenant(*, tenant_id: str, name: str) -> Tenant:
    """A new tenant with the default policy; its id is permanent and appears in every token."""
    if not _TENANT_ID.fullmatch(tenant_id):
        raise ValidationFailed(
            "tenant id must be 1 to 64 lowercase letters, digits or '-'", field="id"
        )
    name = name.strip()
    if not name or len(name) > 255:
        raise ValidationFailed("tenant name must be 1 to 255 characters", field="name")
    if await Tenant.exists(id=tenant_id):
        raise Conflict(f"tenant {tenant_id!r} already exists", field="id")
    try:
        async with in_transaction():
            tenant = await Tenant.create(id=tenant_id, name=name)
            await rules.add_default_rules(tenant_id=tenant_id)
            return tenant
    except IntegrityError:  # created meanwhile by someone else
        raise Conflict(f"tenant {tenant_id!r} already exists", field="id") from None


async def get_tenant(*, tenant_id: str) -> Tenant:
    tenant = await Tenant.get_or_none(id=tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
    return tenant


async def set_plan(
    *, tenant_id: str, plan: Plan, limits: Mapping[str, Any] | None = None
) -> Tenant:
    """The tenant's plan, and limits of its own over the plan's (None: the plan's alone).
    Holdings over a lowered limit stay; only what would add to them is refused."""
    own = quotas.check_limits(limits) if limits else None
    async with in_transaction():
        tenant = await Tenant.select_for_update().get_or_none(id=tenant_id)
        if tenant is None:
            raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
        before = {"plan": tenant.plan.value, "limits": tenant.limits}
        tenant.plan, tenant.limits = plan, own
        await tenant.save(update_fields=["plan", "limits"])
        await audit.record(
            tenant_id=tenant_id,
            action="tenant.plan_changed",
            target=tenant_id,
            changes={"from": before, "to": {"plan": plan.value, "limits": own}},
        )
    return tenant


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
        for cadence in changes.get("updateCadence", ()):
            merged["updateCadence"][cadence["priority"]] = cadence["minutes"]
        if changes.get("clearOverrideOnChange") is not None:
            merged["clearOverrideOnChange"] = bool(changes["clearOverrideOnChange"])
        policy = TenantPolicy.from_json(merged)
        before = tenant.policy
        tenant.policy = policy.to_json()
        await tenant.save(update_fields=["policy"])
        await audit.record(
            tenant_id=tenant_id,
            action="tenant.policy_updated",
            target=tenant_id,
            changes={"policy": {"from": before, "to": tenant.policy}},
        )
    return policy

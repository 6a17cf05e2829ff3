"""The tenant's policy."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.errors import DomainError
from app.resolvers.incident import incident_key
from app.schema.authorization import authorize
from app.schema.common import UserError
from app.schema.context import Context
from app.schema.tenant import (
    LegalHoldPayload,
    SetLegalHoldInput,
    Tenant,
    TenantLimits,
    TenantPolicy,
    TenantPolicyPayload,
    TenantRetention,
    TenantRetentionPayload,
    UpdateRetentionInput,
    UpdateTenantPolicyInput,
)
from app.services.access import quotas
from app.services.access import tenants as service
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.retention import policy as retention


async def tenant_policy(info: Info[Context, Any]) -> TenantPolicy:
    return TenantPolicy.of(
        await service.get_policy(tenant_id=authorize(info, Action.READ_POLICY).tenant_id)
    )


async def update_tenant_policy(
    info: Info[Context, Any], input: UpdateTenantPolicyInput
) -> TenantPolicyPayload:
    changes = {
        "matrix": [
            {"impact": c.impact.value, "urgency": c.urgency.value, "priority": c.priority.value}
            for c in input.matrix
        ],
        "severityFloor": [
            {"severity": f.severity.value, "priority": f.priority.value if f.priority else None}
            for f in input.severity_floor
        ],
        "sla": [
            {
                "priority": t.priority.value,
                "responseMinutes": t.response_minutes,
                "resolveMinutes": t.resolve_minutes,
            }
            for t in input.sla
        ],
        "updateCadence": [
            {"priority": c.priority.value, "minutes": c.minutes} for c in input.update_cadence
        ],
        "clearOverrideOnChange": input.clear_override_on_change,
    }
    try:
        policy = await service.update_policy(
            tenant_id=authorize(info, Action.MANAGE_POLICY).tenant_id, changes=changes
        )
    except DomainError as error:
        return TenantPolicyPayload(policy=None, errors=[UserError.of(error)])
    return TenantPolicyPayload(policy=TenantPolicy.of(policy), errors=[])


async def tenant(info: Info[Context, Any]) -> Tenant:
    tenant_id = authorize(info, Action.READ_POLICY).tenant_id
    row = await service.get_tenant(tenant_id=tenant_id)
    limits = quotas.limits_for(row.plan, row.limits)
    return Tenant(
        id=row.id,
        name=row.name,
        plan=row.plan,
        limits=TenantLimits.of(limits),
        usage=TenantLimits.of(await quotas.usage(tenant_id)),
        retention=TenantRetention.of(retention.Retention.of(row)),
    )


async def update_retention(
    info: Info[Context, Any], input: UpdateRetentionInput
) -> TenantRetentionPayload:
    tenant_id = authorize(info, Action.MANAGE_RETENTION).tenant_id
    try:
        current = await retention.get_retention(tenant_id=tenant_id)
        unset = strawberry.UNSET
        readonly = input.read_only_after_days
        purge_days = input.purge_after_days
        hold = input.legal_hold
        view = await retention.update_retention(
            tenant_id=tenant_id,
            readonly_after_days=current.readonly_after_days if readonly is unset else readonly,
            purge_after_days=current.purge_after_days
            if purge_days is unset or purge_days is None
            else purge_days,
            legal_hold=current.legal_hold if hold is unset or hold is None else bool(hold),
        )
    except DomainError as error:
        return TenantRetentionPayload(retention=None, errors=[UserError.of(error)])
    return TenantRetentionPayload(retention=TenantRetention.of(view), errors=[])


async def set_legal_hold(info: Info[Context, Any], input: SetLegalHoldInput) -> LegalHoldPayload:
    principal = authorize(info, Action.MANAGE_RETENTION)
    try:
        held = await retention.set_legal_hold(
            caller=Caller.of(principal),
            incident_id=incident_key(input.incident_id, field="incidentId"),
            hold=input.hold,
            reason=input.reason,
        )
    except DomainError as error:
        return LegalHoldPayload(incident_id=None, legal_hold=None, errors=[UserError.of(error)])
    return LegalHoldPayload(incident_id=input.incident_id, legal_hold=held, errors=[])

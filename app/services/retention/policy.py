"""A tenant's retention and legal holds.

A CLOSED incident becomes read-only `readonly_after_days` after it closed (no command may
change it: the writer refuses, FORBIDDEN); a CLOSED or CANCELLED one is purged
`purge_after_days` after it ended (seven years by default) unless the incident or the
whole tenant is on legal hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from app.core.clock import utcnow
from app.core.ids import parse_uuid
from app.errors import Forbidden, NotFound, ValidationFailed
from app.models import Incident, IncidentStatus, Tenant
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.access.classification import incident_visible

DAYS_MAX = 36_500
PURGE_MIN_DAYS = 30
DEFAULT_PURGE_DAYS = 2557


@dataclass(frozen=True, slots=True)
class Retention:
    readonly_after_days: int | None
    purge_after_days: int
    legal_hold: bool

    @classmethod
    def of(cls, tenant: Tenant) -> Retention:
        return cls(tenant.readonly_after_days, tenant.purge_after_days, tenant.legal_hold)


async def get_retention(*, tenant_id: str) -> Retention:
    tenant = await Tenant.get_or_none(id=tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
    return Retention.of(tenant)


async def update_retention(
    *,
    tenant_id: str,
    readonly_after_days: int | None,
    purge_after_days: int,
    legal_hold: bool,
) -> Retention:
    if readonly_after_days is not None and not 1 <= readonly_after_days <= DAYS_MAX:
        raise ValidationFailed(
            f"readOnlyAfterDays must be between 1 and {DAYS_MAX}, or null for never",
            field="readOnlyAfterDays",
        )
    if not PURGE_MIN_DAYS <= purge_after_days <= DAYS_MAX:
        raise ValidationFailed(
            f"purgeAfterDays must be between {PURGE_MIN_DAYS} and {DAYS_MAX}",
            field="purgeAfterDays",
        )
    if readonly_after_days is not None and readonly_after_days > purge_after_days:
        raise ValidationFailed(
            "readOnlyAfterDays may not be after purgeAfterDays", field="readOnlyAfterDays"
        )
    async with in_transaction():
        tenant = await Tenant.select_for_update().get_or_none(id=tenant_id)
        if tenant is None:
            raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
        before = Retention.of(tenant)
        tenant.readonly_after_days = readonly_after_days
        tenant.purge_after_days = purge_after_days
        tenant.legal_hold = legal_hold
        await tenant.save(update_fields=["readonly_after_days", "purge_after_days", "legal_hold"])
        after = Retention.of(tenant)
        await audit.record(
            tenant_id=tenant_id,
            action="tenant.retention_changed",
            target=tenant_id,
            changes={"from": _json(before), "to": _json(after)},
        )
    return after


def _json(retention: Retention) -> dict[str, object]:
    return {
        "readOnlyAfterDays": retention.readonly_after_days,
        "purgeAfterDays": retention.purge_after_days,
        "legalHold": retention.legal_hold,
    }


async def set_legal_hold(*, caller: Caller, incident_id: str, hold: bool, reason: str) -> bool:
    """Put an incident on legal hold, or lift it; the reason goes to the audit log."""
    text = reason.strip()
    if not text or len(text) > 1000:
        raise ValidationFailed("reason must be 1 to 1000 characters", field="reason")
    key = parse_uuid(incident_id)
    row = await Incident.get_or_none(tenant_id=caller.tenant_id, id=key) if key else None
    if row is None or not incident_visible(caller.clearance, row.classification):
        raise NotFound(f"no incident with id {incident_id!r}", field="incidentId")
    async with in_transaction():
        if not await Incident.filter(id=row.id).update(legal_hold=hold):
            raise NotFound(f"no incident with id {incident_id!r}", field="incidentId")
        await audit.record(
            tenant_id=caller.tenant_id,
            action="incident.legal_hold_set" if hold else "incident.legal_hold_lifted",
            target=str(row.id),
            changes={"legalHold": hold, "reason": text},
        )
    return hold


async def require_writable(
    *, tenant_id: str, status: IncidentStatus, closed_at: datetime | None, number: int
) -> None:
    """FORBIDDEN when a CLOSED incident has become read-only under the tenant's retention."""
    if status is not IncidentStatus.CLOSED or closed_at is None:
        return
    tenant = await Tenant.get_or_none(id=tenant_id).only("id", "readonly_after_days")
    limit = tenant.readonly_after_days if tenant is not None else None
    if limit is not None and closed_at < utcnow() - timedelta(days=limit):
        raise Forbidden(
            f"INC-{number} closed more than {limit} days ago and is read-only under the "
            "tenant's retention",
            field="id",
        )

"""The one place the GraphQL layer checks the permission table and the caller's clearance,
and records the reads of restricted incidents before they are answered."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from app.errors import Forbidden
from app.models import Classification
from app.schema.context import Context
from app.schema.domain_errors import DomainGraphQLError
from app.services.access import audit, quotas
from app.services.access.classification import ALERT_CLASSIFICATION, reaches
from app.services.access.permissions import Action, allowed
from app.services.access.tokens import Principal
from app.services.incidents.snapshot import IncidentSnapshot


class PermissionDenied(DomainGraphQLError):
    """FORBIDDEN, raised as a top-level error whether a query or a mutation was refused."""

    error: Forbidden

    def __init__(self, error: Forbidden) -> None:
        super().__init__(error)


def authorize(info: Info[Context, Any], action: Action) -> Principal:
    """The caller, when its role may perform `action`; PermissionDenied otherwise."""
    principal = info.context.require_principal()
    if not allowed(principal.role, action):
        what = action.value.lower().replace("_", " ")
        raise PermissionDenied(Forbidden(f"role {principal.role.value} may not {what}"))
    # What this request writes counts against the tenant's monthly events, and may be refused.
    quotas.meter(principal.tenant_id)
    return principal


def read_alerts(info: Info[Context, Any]) -> Principal:
    """The caller, when it may read alerts: READ_INCIDENTS and a clearance reaching them."""
    return require_alert_clearance(authorize(info, Action.READ_INCIDENTS))


def require_alert_clearance(principal: Principal) -> Principal:
    """The caller, when its clearance reaches alerts (they hold whole payloads)."""
    if not reaches(principal.clearance, ALERT_CLASSIFICATION):
        raise PermissionDenied(
            Forbidden(
                f"alerts are {ALERT_CLASSIFICATION.value}; your clearance is "
                f"{principal.clearance.value}"
            )
        )
    return principal


async def audit_reads(
    info: Info[Context, Any], snapshots: list[IncidentSnapshot], *, via: str
) -> None:
    """Record the reads of restricted incidents before they are answered."""
    restricted = [s.id for s in snapshots if s.classification is Classification.RESTRICTED]
    if restricted:
        principal = info.context.require_principal()
        await audit.record_reads(tenant_id=principal.tenant_id, targets=restricted, via=via)
        info.context.note_audited_reads(principal.tenant_id, restricted, via)

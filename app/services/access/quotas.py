"""Plans and quotas: what a tenant may hold, and refusing what would go over.

A tenant's plan gives its limits (FREE, TEAM, ENTERPRISE: unlimited); `limits` of its own
override them one by one. Over a limit a command is refused with QUOTA_EXCEEDED and writes
nothing:

- active incidents (neither RESOLVED, CLOSED nor CANCELLED): counted when one is declared,
  in the declaration's transaction, after the tenant's row is locked for its number, so
  two declarations cannot both take the last place;
- active users: when one is created (GraphQL, the CLI, SCIM, a first sign-in);
- webhook endpoints: when one is created;
- events a calendar month (UTC): counted as the feed stamps them; a change made through the
  API that would go over is rolled back at its commit. The system's own work (SLA clocks,
  alert processing, ticket sync) is counted but never refused: a tenant over its events
  keeps its clocks and alerts, and can still read everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any

from app.core.clock import utcnow
from app.errors import NotFound, QuotaExceeded, ValidationFailed
from app.models import FeedCounter, Incident, Plan, Tenant, User, WebhookEndpoint
from app.services.incidents.lifecycle import ACTIVE_STATUSES


@dataclass(frozen=True, slots=True)
class Limits:
    """None: unlimited."""

    active_incidents: int | None = None
    users: int | None = None
    webhook_endpoints: int | None = None
    events_per_month: int | None = None


PLANS: dict[Plan, Limits] = {
    Plan.FREE: Limits(active_incidents=5, users=10, webhook_endpoints=2, events_per_month=50_000),
    Plan.TEAM: Limits(
        active_incidents=50, users=250, webhook_endpoints=20, events_per_month=2_000_000
    ),
    Plan.ENTERPRISE: Limits(),
}
# The API's names of the limits.
NAMES = {
    "activeIncidents": "active_incidents",
    "users": "users",
    "webhookEndpoints": "webhook_endpoints",
    "eventsPerMonth": "events_per_month",
}
_WHAT = {
    "active_incidents": "active incidents",
    "users": "active users",
    "webhook_endpoints": "webhook endpoints",
    "events_per_month": "events this month",
}


@dataclass(frozen=True, slots=True)
class Usage:
    active_incidents: int
    users: int
    webhook_endpoints: int
    events_per_month: int


def limits_for(plan: Plan, own: Mapping[str, Any] | None) -> Limits:
    found = PLANS[plan]
    changes = {NAMES[k]: v for k, v in (own or {}).items() if k in NAMES}
    return replace(found, **changes) if changes else found


def check_limits(own: Mapping[str, Any]) -> dict[str, int | None]:
    """A tenant's own limits, by their API names: whole numbers from 0, or null for no
    limit (a name left out keeps the plan's). VALIDATION naming the one that is wrong."""
    checked: dict[str, int | None] = {}
    for key, value in own.items():
        if key not in NAMES:
            raise ValidationFailed(f"unknown limit {key!r}", field=f"limits.{key}")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12
        ):
            raise ValidationFailed(
                f"{key} must be a whole number from 0, or null for no limit",
                field=f"limits.{key}",
            )
        checked[key] = value
    return checked


async def tenant_limits(tenant_id: str) -> tuple[Plan, Limits]:
    tenant = await Tenant.get_or_none(id=tenant_id).only("id", "plan", "limits")
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id!r}", field="tenant")
    return tenant.plan, limits_for(tenant.plan, tenant.limits)


def this_month() -> str:
    return utcnow().strftime("%Y-%m")


async def usage(tenant_id: str) -> Usage:
    counter = await FeedCounter.get_or_none(tenant_id=tenant_id)
    events = (
        int(counter.month_events) if counter is not None and counter.month == this_month() else 0
    )
    return Usage(
        active_incidents=await Incident.filter(
            tenant_id=tenant_id, status__in=ACTIVE_STATUSES
        ).count(),
        users=await User.filter(tenant_id=tenant_id, active=True).count(),
        webhook_endpoints=await WebhookEndpoint.filter(tenant_id=tenant_id).count(),
        events_per_month=events,
    )


def _refuse(name: str, limit: int, plan: Plan) -> QuotaExceeded:
    return QuotaExceeded(
        f"the tenant holds its limit of {limit} {_WHAT[name]} ({plan.value} plan): "
        "nothing was written",
        field=None,
    )


async def require_room(tenant_id: str, name: str) -> None:
    """QUOTA_EXCEEDED when one more of `name` would go over the tenant's limit."""
    plan, limits = await tenant_limits(tenant_id)
    limit = getattr(limits, name)
    if limit is None:
        return
    if name == "active_incidents":
        held = await Incident.filter(tenant_id=tenant_id, status__in=ACTIVE_STATUSES).count()
    elif name == "users":
        held = await User.filter(tenant_id=tenant_id, active=True).count()
    else:
        held = await WebhookEndpoint.filter(tenant_id=tenant_id).count()
    if held >= limit:
        raise _refuse(name, limit, plan)


# The tenant whose API caller the current task acts for: its events are metered.
_metered: ContextVar[str | None] = ContextVar("quota_metered", default=None)


def meter(tenant_id: str) -> None:
    """From now on in this task (an API request's), events of this tenant over its monthly
    limit are refused."""
    _metered.set(tenant_id)


async def check_events(tenant_id: str, month_events: int) -> None:
    """Called with the month's count after a transaction's events were stamped."""
    if _metered.get() != tenant_id:
        return
    plan, limits = await tenant_limits(tenant_id)
    if limits.events_per_month is not None and month_events > limits.events_per_month:
        raise _refuse("events_per_month", limits.events_per_month, plan)


def limits_json(limits: Limits) -> dict[str, int | None]:
    names = {v: k for k, v in NAMES.items()}
    return {names[f.name]: getattr(limits, f.name) for f in fields(limits)}

"""Pure rules of the catalog: a service's health (dependency cycles: app.core.graph)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from app.models import Priority


class ServiceHealth(StrEnum):
    OPERATIONAL = "OPERATIONAL"
    DEGRADED = "DEGRADED"
    PARTIAL_OUTAGE = "PARTIAL_OUTAGE"
    MAJOR_OUTAGE = "MAJOR_OUTAGE"


# What an active incident of each priority does to the services it affects (P4 and P5
# are too small to show on a status page).
_HEALTH = {
    Priority.P1: ServiceHealth.MAJOR_OUTAGE,
    Priority.P2: ServiceHealth.PARTIAL_OUTAGE,
    Priority.P3: ServiceHealth.DEGRADED,
}
HEALTH_RANK = {h: rank for rank, h in enumerate(ServiceHealth)}


def health_of(priorities: Iterable[Priority]) -> ServiceHealth:
    """A service's health from the priorities of the active incidents affecting it: the
    worst of what each does to it; none, it is operational."""
    return max(
        (_HEALTH.get(p, ServiceHealth.OPERATIONAL) for p in priorities),
        key=HEALTH_RANK.__getitem__,
        default=ServiceHealth.OPERATIONAL,
    )

"""Pure rules of the catalog: dependency cycles and a service's health."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def cycle_through(
    edges: Mapping[str, Iterable[str]], service: str, depends_on: Iterable[str]
) -> list[str] | None:
    """The dependency cycle `service` would close by depending on `depends_on`, as a path
    [service, ..., service]; None when there is none. `edges` are the other dependencies."""
    for first in depends_on:
        path = _path(edges, first, service)
        if path is not None:
            return [service, *path]
    return None


def _path(edges: Mapping[str, Iterable[str]], start: str, goal: str) -> list[str] | None:
    """A path of dependencies from `start` to `goal` (both included), depth first."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        if node in seen:
            continue
        seen.add(node)
        stack.extend((nxt, [*path, nxt]) for nxt in edges.get(node, ()))
    return None

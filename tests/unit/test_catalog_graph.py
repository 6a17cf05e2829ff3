"""The catalog's pure rules: dependency cycles, and a service's health from its incidents."""

from __future__ import annotations

from app.core.graph import cycle_through
from app.models import Priority
from app.services.catalog.graph import ServiceHealth, health_of


def test_a_new_dependency_closing_a_loop_is_found_with_its_path():
    # web -> api -> db already; db depending on web would close the loop
    edges = {"web": ["api"], "api": ["db"]}

    assert cycle_through(edges, "db", ["web"]) == ["db", "web", "api", "db"]
    assert cycle_through(edges, "db", ["cache"]) is None
    assert cycle_through(edges, "web", ["db"]) is None  # a second path is not a cycle


def test_a_diamond_is_no_cycle_and_a_long_loop_is_one():
    diamond = {"a": ["b", "c"], "b": ["d"], "c": ["d"]}
    ring = {str(n): [str(n + 1)] for n in range(200)}

    assert cycle_through(diamond, "d", ["e"]) is None
    assert cycle_through(ring, "200", ["0"]) == ["200", *map(str, range(201))]


def test_health_is_the_worst_of_what_each_active_incident_does():
    assert health_of([]) is ServiceHealth.OPERATIONAL
    assert health_of([Priority.P5, Priority.P4]) is ServiceHealth.OPERATIONAL
    assert health_of([Priority.P4, Priority.P3]) is ServiceHealth.DEGRADED
    assert health_of([Priority.P3, Priority.P2]) is ServiceHealth.PARTIAL_OUTAGE
    assert health_of([Priority.P2, Priority.P1, Priority.P5]) is ServiceHealth.MAJOR_OUTAGE

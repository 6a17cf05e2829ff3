"""The Grafana dashboard in docs/ charts only series the service exports."""

from __future__ import annotations

import json
import re

from prometheus_client import REGISTRY

import app.core.metrics  # noqa: F401 (declares the counters and histograms)
from app.services.incidents import gauges
from tests.support import ROOT


def readings() -> set[str]:
    """The gauges the app declares with `metrics.reading` when it is built."""
    return {
        name
        for path in (ROOT / "app").rglob("*.py")
        for name in re.findall(r'reading\(\s*"(incidentgraph_\w+)"', path.read_text())
    }


def exported_series() -> set[str]:
    names = {sample.name for family in REGISTRY.collect() for sample in family.samples}
    # Histograms and readings show every series once observed or declared: name them all.
    for family in REGISTRY.collect():
        if family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum")}
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names | readings() | set(gauges.HELP) | {"process_resident_memory_bytes"}


def test_every_series_the_dashboard_charts_is_exported():
    # given the dashboard's queries
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for q in queries for name in re.findall(r"\b(?:incidentgraph|process)_\w+", q)}
    # then each names a series /metrics has
    assert used and used <= exported_series(), sorted(used - exported_series())
    # and every panel has a title and a unique id
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    assert all(p["title"] for p in dashboard["panels"])

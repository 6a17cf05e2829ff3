"""The key figures of every tenant right now, for Prometheus: open incidents by priority,
open incidents past an SLA, messages waiting or failed, and the last week's MTTA and MTTR.
Four statements whatever the number of tenants (each grouped by tenant); drills aside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from app.core.clock import utcnow
from app.models import DeliveryStatus, Incident
from app.services.incidents.lifecycle import ACTIVE_STATUSES
from app.services.incidents.metrics_sql import Dialect

WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


HELP = {
    "incidentgraph_tenant_open_incidents": "Open incidents (not resolved, closed or cancelled).",
    "incidentgraph_tenant_open_incidents_sla_breached": "Open incidents past an SLA deadline.",
    "incidentgraph_tenant_communications": "Messages waiting to be delivered, and those failed "
    "in the last 24 hours.",
    "incidentgraph_tenant_mtta_seconds_7d": "Mean time to acknowledge, incidents declared in "
    "the last 7 days.",
    "incidentgraph_tenant_mttr_seconds_7d": "Mean time to resolve, incidents declared in the "
    "last 7 days.",
}


async def samples() -> list[Sample]:
    conn = Incident._meta.db
    d = Dialect(conn.capabilities.dialect)
    now = utcnow()
    active = [s.value for s in ACTIVE_STATUSES]
    marks = ", ".join(d.mark(i + 2) for i in range(len(active)))
    at = d.instant(d.mark(1))
    response_due, resolve_due = d.instant('"sla_response_due"'), d.instant('"sla_resolve_due"')
    out: list[Sample] = []
    rows = await conn.execute_query_dict(
        'SELECT "tenant_id", "priority", COUNT(*) AS n, SUM(CASE WHEN '
        f'("acknowledged_at" IS NULL AND "sla_response_due" IS NOT NULL AND {response_due} < {at})'
        f' OR ("sla_resolve_due" IS NOT NULL AND "sla_paused_since" IS NULL AND {resolve_due} < '
        f'{at}) THEN 1 ELSE 0 END) AS breached FROM "incident" '
        f'WHERE "status" IN ({marks}) AND NOT "is_drill" GROUP BY "tenant_id", "priority"',
        [now, *active],
    )
    breached: dict[str, int] = {}
    for r in rows:
        labels = (("tenant", str(r["tenant_id"])), ("priority", str(r["priority"])))
        out.append(Sample("incidentgraph_tenant_open_incidents", labels, r["n"]))
        breached[r["tenant_id"]] = breached.get(r["tenant_id"], 0) + int(r["breached"] or 0)
    out += [
        Sample("incidentgraph_tenant_open_incidents_sla_breached", (("tenant", t),), n)
        for t, n in breached.items()
    ]
    created = d.instant('"created_at"')
    for r in await conn.execute_query_dict(
        'SELECT "tenant_id", "status", COUNT(*) AS n FROM "communication" '
        f'WHERE "status" = {d.mark(1)} OR ("status" = {d.mark(2)} AND {created} >= '
        f'{d.instant(d.mark(3))}) GROUP BY "tenant_id", "status"',
        [DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value, now - timedelta(days=1)],
    ):
        labels = (("tenant", str(r["tenant_id"])), ("status", str(r["status"])))
        out.append(Sample("incidentgraph_tenant_communications", labels, r["n"]))
    tta = d.seconds('"created_at"', '"acknowledged_at"')
    ttr = d.seconds('"created_at"', '"resolved_at"')
    for r in await conn.execute_query_dict(
        f'SELECT "tenant_id", AVG({tta}) AS mtta, AVG({ttr}) AS mttr FROM "incident" '
        f'WHERE {created} >= {at} AND NOT "is_drill" GROUP BY "tenant_id"',
        [now - WEEK],
    ):
        for name, value in (("mtta", r["mtta"]), ("mttr", r["mttr"])):
            if value is not None:
                only = (("tenant", str(r["tenant_id"])),)
                out.append(Sample(f"incidentgraph_tenant_{name}_seconds_7d", only, float(value)))
    return out


def render(found: list[Sample]) -> str:
    """Prometheus' text format, one HELP and TYPE per name."""
    lines: list[str] = []
    for name, help in HELP.items():
        mine = [s for s in found if s.name == name]
        lines += [f"# HELP {name} {help}", f"# TYPE {name} gauge"]
        for s in sorted(mine, key=lambda s: s.labels):
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels)
            lines.append(f"{name}{{{labels}}} {s.value:g}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

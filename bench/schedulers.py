"""(f) What the clock schedulers cost per tick as open incidents grow.

Every server process ticks its SLA scheduler (warnings and breaches) and its escalation
scheduler once a second. A tick reads what is due through the indexes on `sla_next_at` and
`escalation_next_at`, then how long to sleep. This seeds open incidents whose clocks run
(their next marks an hour away, so nothing is due: the cost measured is the tick's own),
then times ticks at each size, in this process against the real database. The figure that
matters is the ratio of the largest size to the smallest: flat means no scan.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from app import database
from app.config import Settings
from app.core.clock import utcnow
from app.models import Impact, Incident, IncidentStatus, Priority, Severity, Tenant, Urgency
from app.services.incidents import sla_marks
from app.services.incidents.lifecycle import ACTIVE_STATUSES
from app.services.incidents.sla_scheduler import SlaScheduler
from app.services.response.escalation import EscalationScheduler
from bench.report import Verdict
from bench.servers import postgres_backend, require_services
from tests.support import SECRET_KEY

SIZES = (100, 1_000, 10_000)
TICKS = 200
SCAN_TICKS = 10
FLAT_RATIO = 2.0


@dataclass(frozen=True, slots=True)
class Tick:
    backend: str
    incidents: int
    sla_ms: float  # median per tick
    escalation_ms: float
    scan_ms: float  # the baseline: reading every open incident to find what is due


@dataclass(frozen=True, slots=True)
class SchedulersResult:
    ticks: list[Tick]

    def ratio(self, backend: str) -> float:
        mine = [t for t in self.ticks if t.backend == backend]
        first, last = mine[0], mine[-1]
        return (last.sla_ms + last.escalation_ms) / (first.sla_ms + first.escalation_ms)


async def run() -> SchedulersResult:
    require_services()
    ticks: list[Tick] = []
    with postgres_backend() as backend:
        ticks += await _measure("PostgreSQL", backend.database_url)
    with tempfile.TemporaryDirectory(prefix="incidentgraph-bench-db-") as path:
        ticks += await _measure("SQLite", f"sqlite://{Path(path) / 'bench.db'}")
    return SchedulersResult(ticks)


async def _measure(name: str, url: str) -> list[Tick]:
    settings = Settings(database_url=url, secret_keys=(SECRET_KEY,))
    await database.migrate(settings)
    found: list[Tick] = []
    async with database.lifespan(settings):
        tenant = f"bench-{uuid.uuid4().hex[:8]}"
        await Tenant.create(id=tenant, name="bench")
        sla, escalation = SlaScheduler(), EscalationScheduler()
        seeded = 0
        for size in SIZES:
            await _seed(tenant, start=seeded, count=size - seeded)
            seeded = size
            found.append(
                Tick(
                    name,
                    size,
                    await _median_ms(sla.run_once, sla._until_next),
                    await _median_ms(escalation.run_once),
                    await _median_ms(_scan, ticks=SCAN_TICKS),
                )
            )
    return found


async def _scan() -> None:
    """What a scheduler without the index would do each tick: read every open incident and
    work out which marks are due."""
    now = utcnow()
    for row in await Incident.filter(status__in=list(ACTIVE_STATUSES)):
        sla_marks.due(row, now)


async def _median_ms(*steps, ticks: int = TICKS) -> float:  # type: ignore[no-untyped-def]
    for step in steps:  # warm the statement caches
        await step()
    samples = []
    for _ in range(ticks):
        started = time.perf_counter()
        for step in steps:
            await step()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def _seed(tenant: str, *, start: int, count: int) -> None:
    """Open P3 incidents declared just now: their first SLA mark and escalation step are an
    hour or more away."""
    now = utcnow()
    rows = []
    for n in range(start, start + count):
        row = Incident(
            id=uuid.uuid4(),
            tenant_id=tenant,
            number=n + 1,
            title=f"Bench clock {n}",
            severity=Severity.SEV3,
            impact=Impact.MEDIUM,
            urgency=Urgency.MEDIUM,
            priority=Priority.P3,
            status=IncidentStatus.OPEN,
            created_at=now,
            updated_at=now,
            sla_response_due=now + timedelta(hours=2),
            sla_resolve_due=now + timedelta(hours=24),
            escalation_next_at=now + timedelta(hours=1, seconds=n % 3600),
            last_seq=0,
        )
        row.sla_next_at = sla_marks.next_at(row)
        rows.append(row)
    await Incident.bulk_create(rows, batch_size=1000)
    # As autovacuum would soon after: the planner's statistics know the new rows.
    if Incident._meta.db.capabilities.dialect == "postgres":
        await Incident._meta.db.execute_script("ANALYZE incident")


def verdict(result: SchedulersResult) -> Verdict:
    ratios = {b: result.ratio(b) for b in dict.fromkeys(t.backend for t in result.ticks)}
    return Verdict(
        f"Clock schedulers: a tick costs the same with {SIZES[-1]:,} open incidents as with "
        f"{SIZES[0]:,} (at most {FLAT_RATIO:g}×)",
        ", ".join(f"{b} {r:.2f}×" for b, r in ratios.items()),
        all(r <= FLAT_RATIO for r in ratios.values()) if ratios else None,
    )


def render(result: SchedulersResult) -> str:
    lines = [
        "## (f) Clock schedulers per tick",
        "",
        "Each server process ticks its SLA scheduler (warnings at 80%, breaches) and its "
        "escalation scheduler every second. Open incidents are seeded with running clocks whose "
        "next mark and step are an hour or more away, so nothing is due and what is timed is "
        f"the tick itself: the indexed read of what is due and of when to wake. Median of "
        f"{TICKS} ticks in this process against the real database.",
        "",
        "The baseline column is what a scheduler without the index would pay each tick: "
        f"read every open incident and work out which marks are due (median of {SCAN_TICKS}).",
        "",
        "| Backend | Open incidents with running clocks | SLA tick (ms) | Escalation tick (ms) "
        "| Baseline: a scan (ms) |",
        "|---|---|---|---|---|",
    ]
    for t in result.ticks:
        lines.append(
            f"| {t.backend} | {t.incidents:,} | {t.sla_ms:.2f} | {t.escalation_ms:.2f} "
            f"| {t.scan_ms:.1f} |"
        )
    for backend in dict.fromkeys(t.backend for t in result.ticks):
        lines.append("")
        lines.append(
            f"{backend}: {SIZES[-1]:,} / {SIZES[0]:,} incidents = **{result.ratio(backend):.2f}×** "
            "the cost per tick."
        )
    lines.append("")
    return "\n".join(lines)

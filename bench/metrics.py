"""(g) Incident metrics over a year of incidents.

Seeds a year of incidents (100,000 by default: declared at random over 365 days, most
acknowledged and resolved after random delays, a few escalated) and asks for the year's
`incidentMetrics`, overall and grouped, in this process against the real database: the
figures are the database's work plus the service's, without HTTP. Every statement Tortoise
sends while a question is answered is counted: the number must not grow with the number of
groups (none, 5 priorities, 53 weeks, 365 days).

The baseline is what the figures cost when computed in Python from the rows: reading the
year's incidents and looping over them (the way a reporting script without SQL would).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app import database
from app.config import Settings
from app.models import (
    Classification,
    Impact,
    Incident,
    IncidentStatus,
    Priority,
    Role,
    Severity,
    Tenant,
    Urgency,
)
from app.services.access.caller import Caller
from app.services.incidents.metrics import GroupBy, incident_metrics
from bench.report import Verdict
from bench.servers import postgres_backend, require_services
from bench.statements import StatementLog
from tests.support import SECRET_KEY

INCIDENTS = 100_000
TARGET_MS = 300.0
REPEATS = 5
START = datetime(2025, 1, 1, tzinfo=UTC)
END = START + timedelta(days=365)
QUESTIONS: tuple[tuple[str, tuple[GroupBy, ...]], ...] = (
    ("the year, overall", ()),
    ("by priority", (GroupBy.PRIORITY,)),
    ("by week", (GroupBy.WEEK,)),
    ("by day", (GroupBy.DAY,)),
    ("by priority and week", (GroupBy.PRIORITY, GroupBy.WEEK)),
)
SERVICES = ("checkout", "payments", "search", "auth", "catalog", "mail", "cdn", "billing")
_PRIORITY = {
    Severity.SEV1: Priority.P1,
    Severity.SEV2: Priority.P2,
    Severity.SEV3: Priority.P3,
    Severity.SEV4: Priority.P4,
}


@dataclass(frozen=True, slots=True)
class Answer:
    backend: str
    question: str
    groups: int
    median_ms: float
    statements: int


@dataclass(frozen=True, slots=True)
class Baseline:
    backend: str
    median_ms: float


@dataclass(frozen=True, slots=True)
class MetricsResult:
    incidents: int
    answers: list[Answer]
    baselines: list[Baseline]


async def run(incidents: int = INCIDENTS) -> MetricsResult:
    require_services()
    answers: list[Answer] = []
    baselines: list[Baseline] = []
    with postgres_backend() as backend:
        found = await _measure("PostgreSQL", backend.database_url, incidents)
        answers += found[0]
        baselines.append(found[1])
    with tempfile.TemporaryDirectory(prefix="incidentgraph-bench-db-") as path:
        found = await _measure("SQLite", f"sqlite://{Path(path) / 'bench.db'}", incidents)
        answers += found[0]
        baselines.append(found[1])
    return MetricsResult(incidents, answers, baselines)


async def _measure(name: str, url: str, incidents: int) -> tuple[list[Answer], Baseline]:
    settings = Settings(database_url=url, secret_keys=(SECRET_KEY,))
    await database.migrate(settings)
    answers = []
    async with database.lifespan(settings):
        tenant = f"bench-{uuid.uuid4().hex[:8]}"
        await Tenant.create(id=tenant, name="bench")
        await _seed(tenant, incidents)
        caller = Caller(tenant, "bench", Role.ADMIN, Classification.RESTRICTED)
        for question, group_by in QUESTIONS:
            view = await incident_metrics(caller=caller, start=START, end=END, group_by=group_by)
            with StatementLog(only_measured=False).attached() as log:
                await incident_metrics(caller=caller, start=START, end=END, group_by=group_by)
            selects = sum(s.upper().startswith(("SELECT", "WITH")) for s in log.statements)
            samples = []
            for _ in range(REPEATS):
                began = time.perf_counter()
                await incident_metrics(caller=caller, start=START, end=END, group_by=group_by)
                samples.append((time.perf_counter() - began) * 1000)
            answers.append(
                Answer(name, question, len(view.groups), statistics.median(samples), selects)
            )
        samples = []
        for _ in range(2):
            began = time.perf_counter()
            await _in_python(tenant)
            samples.append((time.perf_counter() - began) * 1000)
    return answers, Baseline(name, statistics.median(samples))


async def _in_python(tenant: str) -> dict[str, float]:
    """The baseline: the year's rows read and measured in a Python loop."""
    rows = await Incident.filter(tenant_id=tenant, created_at__gte=START, created_at__lt=END)
    by_week: dict[str, list[float]] = {}
    acknowledged = []
    for row in rows:
        if row.acknowledged_at is not None:
            acknowledged.append((row.acknowledged_at - row.created_at).total_seconds())
        if row.resolved_at is not None:
            week = (row.created_at - timedelta(days=row.created_at.weekday())).date().isoformat()
            by_week.setdefault(week, []).append((row.resolved_at - row.created_at).total_seconds())
    return {week: statistics.median(v) for week, v in by_week.items()}


async def _seed(tenant: str, count: int) -> None:
    rng = random.Random(7)
    rows = []
    for n in range(count):
        created = START + timedelta(seconds=rng.uniform(0, 365 * 86_400))
        severity = rng.choices(list(_PRIORITY), weights=(2, 10, 40, 48))[0]
        acknowledged = created + timedelta(seconds=rng.expovariate(1 / 600))
        resolved = acknowledged + timedelta(seconds=rng.expovariate(1 / 14_400))
        done = rng.random() < 0.9
        rows.append(
            Incident(
                id=uuid.uuid4(),
                tenant_id=tenant,
                number=n + 1,
                title=f"Bench incident {n}",
                service=rng.choice(SERVICES),
                severity=severity,
                impact=Impact.MEDIUM,
                urgency=Urgency.MEDIUM,
                priority=_PRIORITY[severity],
                derived_priority=_PRIORITY[severity],
                status=IncidentStatus.RESOLVED if done else IncidentStatus.IN_PROGRESS,
                created_at=created,
                updated_at=created,
                acknowledged_at=acknowledged,
                resolved_at=resolved if done else None,
                sla_response_due=created + timedelta(minutes=15),
                sla_resolve_due=created + timedelta(hours=8),
                escalation_level=1 if rng.random() < 0.05 else 0,
                last_seq=0,
            )
        )
    await Incident.bulk_create(rows, batch_size=2000)
    if Incident._meta.db.capabilities.dialect == "postgres":
        await Incident._meta.db.execute_script("ANALYZE incident")


def verdict(result: MetricsResult) -> Verdict:
    pg = {a.question: a for a in result.answers if a.backend == "PostgreSQL"}
    weekly = pg.get("by week")
    grouped = {}
    for a in result.answers:
        if a.groups:
            grouped.setdefault(a.backend, set()).add(a.statements)
    constant = all(len(counts) == 1 for counts in grouped.values())
    met = weekly is not None and weekly.median_ms <= TARGET_MS and constant
    measured = (
        f"by week {weekly.median_ms:.0f} ms over {result.incidents:,}; statements for 4 to "
        f"{max(a.groups for a in result.answers)} groups: "
        + ", ".join(f"{b} {'/'.join(map(str, sorted(c)))}" for b, c in grouped.items())
        if weekly
        else "not run"
    )
    return Verdict(
        f"A year's incident metrics by week over {result.incidents:,} incidents in at most "
        f"{TARGET_MS:.0f} ms on PostgreSQL, statements constant in the number of groups",
        measured,
        met if weekly else None,
    )


def render(result: MetricsResult) -> str:
    lines = [
        "## (g) Incident metrics over a year",
        "",
        f"{result.incidents:,} incidents declared at random over 2025 (90% resolved), then "
        "`incidentMetrics` for the whole year: counts by status, severity, priority and day, "
        "MTTA, MTTR with p50 and p90, SLA compliance, escalation, reopen, known-error, change "
        "and review rates, overall and by the groups named. Median of "
        f"{REPEATS} answers in this process against the real database (no HTTP); statements "
        "counted from Tortoise's log. On PostgreSQL the period is scanned three times side by "
        "side on three pooled connections (the sums and breakdowns by group; the p50 and p90 "
        "by group and overall, `percentile_disc` over grouping sets; the count by day); the "
        "rest reads only the records around incidents (problem links, reviews, action items, "
        "changes) and looks their incidents up by key. SQLite ranks with window functions "
        "instead, one statement overall and one by group.",
        "",
        "| Backend | Question | Groups | Median (ms) | SQL statements |",
        "|---|---|---|---|---|",
    ]
    for a in result.answers:
        lines.append(
            f"| {a.backend} | {a.question} | {a.groups} | {a.median_ms:.0f} | {a.statements} |"
        )
    lines.append("")
    lines.append(
        "Baseline: the year's rows read through the ORM and MTTR medians by week computed in a "
        "Python loop (one measure where the SQL gives them all):"
    )
    lines.append("")
    for b in result.baselines:
        mine = [a for a in result.answers if a.backend == b.backend and a.question == "by week"]
        ratio = f", **{b.median_ms / mine[0].median_ms:.1f}×** the SQL by week" if mine else ""
        lines.append(f"- {b.backend}: {b.median_ms:,.0f} ms{ratio}")
    lines.append("")
    return "\n".join(lines)

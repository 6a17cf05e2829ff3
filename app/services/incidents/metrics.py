"""Incident metrics over a period, computed by the database: counts, MTTA, MTTR (mean, p50,
p90), SLA compliance, escalation, reopen, known-error reuse, change success, review
completion and overdue action items, for the incidents declared in [from, to) that the
caller may see (drills never count), overall and by any of severity, priority, service,
category, team, day, week or month.

A fixed number of statements whatever the number of groups: one aggregate and one
percentile query overall, the same two by the groups asked for, and one each for the rest.
The period's incidents are selected with the same filter as `incidents(filter:)` (its
SQL, from the ORM, is the WHERE clause of every statement here), so the figures always
describe the list a user sees.

Definitions:
- MTTA: declared to acknowledged; MTTR: declared to resolved (incidents that got there).
  Percentiles are nearest-rank: the value at rank ceil(p * n) of the n sorted durations.
- SLA compliance: met / (met + breached), where met is stopped by the due time and
  breached is stopped after it, or not stopped and past it (a paused clock at its pause);
  clocks still running within their time count neither way.
- Escalation rate: escalated up their priority's path (level > 0) over all.
- Reopen rate: incidents moved from RESOLVED back to work over those ever RESOLVED.
- Known-error reuse: incidents linked to a problem that is a known error, over all.
- Change success: changes finished in the period IMPLEMENTED and not named as the cause of
  an incident, over all finished (as the executive board counts them).
- Review completion: incidents that need a review (P1, P2, major), resolved, with a
  published review, over those resolved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app.core.clock import utcnow
from app.errors import ValidationFailed
from app.models import Incident
from app.services.access.caller import Caller
from app.services.access.classification import visible_incident_levels
from app.services.incidents.metrics_sql import (
    BREAKDOWNS,
    REVIEW_PRIORITIES,
    SUMS,
    Dialect,
    breakdown_sql,
    key_columns,
    key_text,
    sums_sql,
    where_of,
)
from app.services.incidents.metrics_sql import GroupBy as GroupBy
from app.services.incidents.search import IncidentFilter

PERIOD_MAX = timedelta(days=3 * 366)
# PostgreSQL's memory for the sorts of one metrics question (a year of 100,000 incidents
# needs about 10 MB; the default 4 MB spills to disk).
WORK_MEM = "64MB"


@dataclass(frozen=True, slots=True)
class Figures:
    """The measures of one set of incidents (all of the period's, or one group's)."""

    total: int = 0
    mtta_seconds: float | None = None
    mttr_seconds: float | None = None
    mttr_p50_seconds: float | None = None
    mttr_p90_seconds: float | None = None
    sla_response_compliance: float | None = None
    sla_resolve_compliance: float | None = None
    escalation_rate: float | None = None


@dataclass(frozen=True, slots=True)
class Group:
    key: dict[str, str | None]
    figures: Figures


@dataclass(frozen=True, slots=True)
class MetricsView:
    start: datetime
    end: datetime
    figures: Figures
    by_status: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    by_priority: dict[str, int] = field(default_factory=dict)
    by_day: dict[str, int] = field(default_factory=dict)
    reopen_rate: float | None = None
    known_error_reuse_rate: float | None = None
    change_success_rate: float | None = None
    review_completion: float | None = None
    action_items_overdue: int = 0
    groups: list[Group] = field(default_factory=list)


def rate(part: int | None, whole: int | None) -> float | None:
    """part / whole, or None when there is nothing to measure."""
    return None if not whole else (part or 0) / whole


def nearest_rank(percent: int, n: int) -> int:
    """The 1-based rank of the p-th percentile among n sorted values: ceil(p * n / 100)."""
    return max(1, (percent * n + 99) // 100)


@dataclass
class _Measured:
    sums: dict[str, float]
    p50: float | None = None
    p90: float | None = None

    def add(self, row: Mapping[str, Any]) -> None:
        for name in SUMS:
            self.sums[name] = self.sums.get(name, 0) + float(row[name] or 0)
        for column, values in BREAKDOWNS.items():
            for value in values:
                name = f"n_{column}_{value}"
                self.sums[name] = self.sums.get(name, 0) + float(row.get(name) or 0)

    def breakdown(self, column: str) -> dict[str, int]:
        counts = {v: int(self.sums.get(f"n_{column}_{v}", 0)) for v in BREAKDOWNS[column]}
        return {k: n for k, n in counts.items() if n}

    def figures(self) -> Figures:
        s = self.sums
        total = int(s.get("total", 0))
        met, breached = s.get("resp_met", 0), s.get("resp_breached", 0)
        res_met, res_breached = s.get("res_met", 0), s.get("res_breached", 0)
        return Figures(
            total=total,
            mtta_seconds=s["tta_sum"] / s["tta_n"] if s.get("tta_n") else None,
            mttr_seconds=s["ttr_sum"] / s["ttr_n"] if s.get("ttr_n") else None,
            mttr_p50_seconds=self.p50,
            mttr_p90_seconds=self.p90,
            sla_response_compliance=rate(int(met), int(met + breached)),
            sla_resolve_compliance=rate(int(res_met), int(res_met + res_breached)),
            escalation_rate=rate(int(s.get("escalated", 0)), total),
        )


@dataclass(frozen=True, slots=True)
class _Question:
    """The SQL of one metrics question: its WHERE clause and values, and the groupings."""

    d: Dialect
    where: str
    params: list[Any]
    keys: list[tuple[str, str]]

    def key_of(self, row: Mapping[str, Any], keys: list[tuple[str, str]]) -> tuple[Any, ...]:
        return tuple(key_text(row[f"k_{n}"]) for n, _ in keys)

    async def sums(self, conn: Any, now: datetime) -> list[dict[str, Any]]:
        select = "".join(f"{e} AS k_{n}, " for n, e in self.keys)
        group = f" GROUP BY {', '.join(e for _, e in self.keys)}" if self.keys else ""
        now_mark = self.d.mark(len(self.params) + 1)
        rows: list[dict[str, Any]] = await conn.execute_query_dict(
            f"SELECT {select}{sums_sql(self.d, now_mark)}, {breakdown_sql()} "
            f'FROM "incident" WHERE {self.where}{group}',
            [*self.params, now],
        )
        return rows

    async def by_day(self, conn: Any) -> dict[str, int]:
        day = self.d.bucket(GroupBy.DAY)
        rows = await conn.execute_query_dict(
            f'SELECT {day} AS k, COUNT(*) AS n FROM "incident" WHERE {self.where} GROUP BY {day}',
            self.params,
        )
        return {str(key_text(r["k"])): int(r["n"]) for r in rows}

    async def percentiles(self) -> dict[tuple[Any, ...] | None, tuple[float, float]]:
        """p50 and p90 of the time to resolve, overall (key None) and by group."""
        ttr = self.d.seconds('"created_at"', '"resolved_at"')
        found: dict[tuple[Any, ...] | None, tuple[float, float]] = {}
        if not self.d.sqlite:
            exprs = ", ".join(e for _, e in self.keys)
            select = "".join(f"{e} AS k_{n}, " for n, e in self.keys)
            marker = f"GROUPING({self.keys[0][1]}) AS overall, " if self.keys else "1 AS overall, "
            grouping = f" GROUP BY GROUPING SETS (({exprs}), ())" if self.keys else ""
            async with in_transaction() as conn:
                # The sorts of a period's durations, in memory rather than temporary files.
                await conn.execute_script(f"SET LOCAL work_mem = '{WORK_MEM}'")
                rows = await conn.execute_query_dict(
                    f"SELECT {select}{marker}"
                    f"percentile_disc(0.5) WITHIN GROUP (ORDER BY {ttr}) AS p50, "
                    f"percentile_disc(0.9) WITHIN GROUP (ORDER BY {ttr}) AS p90 "
                    f'FROM "incident" WHERE {self.where} AND "resolved_at" IS NOT NULL{grouping}',
                    self.params,
                )
            for row in rows:
                if row["p50"] is None:
                    continue
                key = None if row["overall"] else self.key_of(row, self.keys)
                found[key] = (float(row["p50"]), float(row["p90"]))
            return found
        client = Incident._meta.db
        for keys in ([], self.keys) if self.keys else ([],):
            partition = f"PARTITION BY {', '.join(e for _, e in keys)} " if keys else ""
            outer = "".join(f"k_{n}, " for n, _ in keys)
            inner = "".join(f"{e} AS k_{n}, " for n, e in keys)
            ranked = await client.execute_query_dict(
                f"SELECT {outer}v, rn, n FROM (SELECT {inner}{ttr} AS v, "
                f"ROW_NUMBER() OVER ({partition}ORDER BY {ttr}) AS rn, "
                f"COUNT(*) OVER ({partition.strip()}) AS n "
                f'FROM "incident" WHERE {self.where} AND "resolved_at" IS NOT NULL) s '
                "WHERE rn = (50 * n + 99) / 100 OR rn = (90 * n + 99) / 100",
                self.params,
            )
            for row in ranked:
                key = self.key_of(row, keys) if keys else None
                n, rn = int(row["n"]), int(row["rn"])
                p50, p90 = found.get(key, (0.0, 0.0))
                if rn == nearest_rank(50, n):
                    p50 = float(row["v"])
                if rn == nearest_rank(90, n):
                    p90 = float(row["v"])
                found[key] = (p50, p90)
        return found


async def incident_metrics(
    *,
    caller: Caller,
    start: datetime,
    end: datetime,
    filter: IncidentFilter | None = None,
    group_by: Sequence[GroupBy] = (),
) -> MetricsView:
    if end <= start:
        raise ValidationFailed("to must be after from", field="to")
    if end - start > PERIOD_MAX:
        raise ValidationFailed("a period may be at most three years", field="to")
    group_by = list(dict.fromkeys(group_by))
    query = Incident.filter(
        Q(tenant_id=caller.tenant_id)
        & Q(classification__in=visible_incident_levels(caller.clearance))
        & Q(created_at__gte=start)
        & Q(created_at__lt=end)
        & Q(is_drill=False)
    )
    condition = filter.q(caller.tenant_id, caller.clearance, utcnow()) if filter else None
    if condition is not None:
        query = query.filter(condition)
    conn = Incident._meta.db
    d = Dialect(conn.capabilities.dialect)
    where, params = where_of(query.only("id"), d)
    question = _Question(d, where, params, key_columns(group_by, d))
    now = utcnow()
    # Three scans of the period, side by side on PostgreSQL (each on a connection of its
    # own), one after the other on SQLite's single connection.
    if d.sqlite:
        rows = await question.sums(conn, now)
        percentiles = await question.percentiles()
        by_day = await question.by_day(conn)
    else:
        rows, percentiles, by_day = await asyncio.gather(
            question.sums(conn, now), question.percentiles(), question.by_day(conn)
        )
    overall = _Measured({})
    measured: dict[tuple[Any, ...], _Measured] = {}
    for row in rows:
        if not row["total"]:
            continue
        overall.add(row)
        measured.setdefault(question.key_of(row, question.keys), _Measured({})).add(row)
    overall.p50, overall.p90 = percentiles.get(None, (None, None))
    for key, m in measured.items():
        m.p50, m.p90 = percentiles.get(key, (None, None))
    groups = (
        [
            Group(dict(zip([n for n, _ in question.keys], key, strict=True)), m.figures())
            for key, m in sorted(measured.items(), key=lambda km: tuple(k or "" for k in km[0]))
        ]
        if group_by
        else []
    )
    sums = overall.sums
    extra = await _extra(conn, d, where, params, start, end, now, caller)
    return MetricsView(
        start=start,
        end=end,
        figures=overall.figures(),
        by_status=overall.breakdown("status"),
        by_severity=overall.breakdown("severity"),
        by_priority=overall.breakdown("priority"),
        by_day=dict(sorted(by_day.items())),
        groups=groups,
        reopen_rate=rate(int(sums.get("reopened", 0)), int(sums.get("ever_resolved", 0))),
        known_error_reuse_rate=rate(extra["known"], int(sums.get("total", 0))),
        review_completion=rate(extra["reviewed"], int(sums.get("review_due", 0))),
        change_success_rate=extra["change_success_rate"],
        action_items_overdue=extra["action_items_overdue"],
    )


async def _extra(
    conn: Any,
    d: Dialect,
    where: str,
    params: list[Any],
    start: datetime,
    end: datetime,
    now: datetime,
    caller: Caller,
) -> dict[str, Any]:
    """What reads the records around incidents: each statement walks the (few) records and
    looks their incident up by key, never the period's incidents again."""
    n = len(params)
    tenant = d.mark(n + 1)
    linked, owned = 'pi."incident_id"', 'a."incident_id"'
    known = await conn.execute_query_dict(
        'SELECT COUNT(DISTINCT pi."incident_id") AS n FROM "problem_incident" pi '
        'JOIN "problem" p ON p."id" = pi."problem_id" '
        f'WHERE pi."tenant_id" = {tenant} AND p."known_error" '
        f'AND EXISTS (SELECT 1 FROM "incident" WHERE "id" = {linked} AND {where})',
        [*params, caller.tenant_id],
    )
    review = " OR ".join(f"\"priority\" = '{p}'" for p in REVIEW_PRIORITIES)
    reviewed = await conn.execute_query_dict(
        'SELECT COUNT(DISTINCT r."incident_id") AS n FROM "post_incident_review" r '
        f'WHERE r."tenant_id" = {tenant} AND r."status" = \'PUBLISHED\' AND '
        f'EXISTS (SELECT 1 FROM "incident" WHERE "id" = r."incident_id" AND {where} '
        f'AND "resolved_at" IS NOT NULL AND ({review} OR "is_major"))',
        [*params, caller.tenant_id],
    )
    due = d.instant('a."due_at"')
    overdue = await conn.execute_query_dict(
        'SELECT COUNT(*) AS n FROM "action_item" a WHERE a."tenant_id" = '
        f"{tenant} AND a.\"status\" IN ('OPEN', 'IN_PROGRESS') AND a.\"due_at\" IS NOT NULL "
        f"AND {due} < {d.instant(d.mark(n + 2))} "
        f'AND EXISTS (SELECT 1 FROM "incident" WHERE "id" = {owned} AND {where})',
        [*params, caller.tenant_id, now],
    )
    levels = [c.value for c in visible_incident_levels(caller.clearance)]
    marks = ", ".join(d.mark(i) for i in range(4, 4 + len(levels)))
    finished = d.instant('"finished_at"')
    changes = await conn.execute_query_dict(
        "SELECT SUM(CASE WHEN c.\"outcome\" = 'IMPLEMENTED' AND NOT EXISTS (SELECT 1 FROM "
        '"change_link" l WHERE l."change_id" = c."id" AND l."relation" = \'CAUSED_BY\' '
        'AND l."incident_id" IS NOT NULL) THEN 1 ELSE 0 END) AS ok, '
        f'COUNT(*) AS n FROM "change" c WHERE c."tenant_id" = {d.mark(1)} '
        f'AND "outcome" IS NOT NULL AND {finished} >= {d.instant(d.mark(2))} '
        f'AND {finished} < {d.instant(d.mark(3))} AND "classification" IN ({marks})',
        [caller.tenant_id, start, end, *levels],
    )
    return {
        "known": int(known[0]["n"] or 0),
        "reviewed": int(reviewed[0]["n"] or 0),
        "change_success_rate": rate(changes[0]["ok"], changes[0]["n"]),
        "action_items_overdue": int(overdue[0]["n"] or 0),
    }


# Trends for the executive board, per (tenant, clearance, days): boards are read by every
# wall display of a tenant, so a trend is computed at most once a minute.
TREND_SECONDS = 60.0
_trends: dict[tuple[str, str, int], tuple[float, tuple[MetricsView, MetricsView]]] = {}


async def trend(*, caller: Caller, days: int) -> tuple[MetricsView, MetricsView]:
    """The last `days` days' metrics and the `days` before them."""
    key = (caller.tenant_id, caller.clearance.value, days)
    clock = time.monotonic()
    cached = _trends.get(key)
    if cached is not None and cached[0] > clock:
        return cached[1]
    end = utcnow()
    span = timedelta(days=days)
    current = await incident_metrics(caller=caller, start=end - span, end=end)
    previous = await incident_metrics(caller=caller, start=end - 2 * span, end=end - span)
    if len(_trends) > 10_000:
        _trends.clear()
    _trends[key] = (clock + TREND_SECONDS, (current, previous))
    return current, previous

"""The SQL of incident metrics, for PostgreSQL and SQLite: the groupings, the sums one scan
computes per group, and the few expressions the two databases spell differently."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.models import IncidentStatus, Priority, Severity

REVIEW_PRIORITIES = ("P1", "P2")


class GroupBy(StrEnum):
    SEVERITY = "SEVERITY"
    PRIORITY = "PRIORITY"
    SERVICE = "SERVICE"
    CATEGORY = "CATEGORY"
    TEAM = "TEAM"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


class Dialect:
    """The few expressions PostgreSQL and SQLite spell differently."""

    def __init__(self, name: str) -> None:
        self.sqlite = name == "sqlite"

    def mark(self, n: int) -> str:
        return f"?{n}" if self.sqlite else f"${n}"

    def instant(self, column: str) -> str:
        return f"julianday({column})" if self.sqlite else column

    def seconds(self, start: str, end: str) -> str:
        if self.sqlite:
            return f"((julianday({end}) - julianday({start})) * 86400.0)"
        return f"EXTRACT(EPOCH FROM ({end} - {start}))"

    def bucket(self, unit: GroupBy, column: str = '"created_at"') -> str:
        """The UTC day, week (from Monday) or month a time falls in: text on SQLite, a
        timestamp on PostgreSQL (date_trunc is far cheaper than to_char there)."""
        if self.sqlite:
            return {
                GroupBy.DAY: f"date({column})",
                GroupBy.WEEK: f"date({column}, 'weekday 0', '-6 days')",
                GroupBy.MONTH: f"strftime('%Y-%m-01', {column})",
            }[unit]
        part = {GroupBy.DAY: "day", GroupBy.WEEK: "week", GroupBy.MONTH: "month"}[unit]
        return f"date_trunc('{part}', {column} AT TIME ZONE 'UTC')"


def key_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


def where_of(query: Any, dialect: Dialect) -> tuple[str, list[Any]]:
    """The WHERE clause (numbered placeholders from 1) and its values, of an ORM query
    selecting incidents."""
    query._choose_db_if_not_chosen()
    query._make_query()
    sql, params = query.query.get_parameterized_sql()
    head, found, where = sql.partition(" WHERE ")
    if not found or " JOIN " in head:
        raise AssertionError(f"unexpected incident query: {sql}")
    if dialect.sqlite:
        count = iter(range(1, len(params) + 1))
        where = re.sub(r"\?(?!\d)", lambda _: f"?{next(count)}", where)
    return where, list(params)


def key_columns(group_by: Sequence[GroupBy], dialect: Dialect) -> list[tuple[str, str]]:
    """(name, SQL expression) of each grouping."""
    columns = {
        GroupBy.SEVERITY: '"severity"',
        GroupBy.PRIORITY: '"priority"',
        GroupBy.SERVICE: '"service"',
        GroupBy.CATEGORY: '"category"',
        GroupBy.TEAM: 'CAST("assigned_team_id" AS TEXT)',
    }
    return [
        (unit.value.lower(), columns[unit] if unit in columns else dialect.bucket(unit))
        for unit in group_by
    ]


def clock_sql(d: Dialect, due: str, stopped: str, now_mark: str) -> tuple[str, str]:
    """(met, breached) conditions of one SLA clock, as sla.breached decides."""
    due_at, stop_at = d.instant(f'"{due}"'), d.instant(stopped)
    paused = d.instant('"sla_paused_since"')
    met = f'"{due}" IS NOT NULL AND {stopped} IS NOT NULL AND {stop_at} <= {due_at}'
    breached = (
        f'"{due}" IS NOT NULL AND ('
        f"({stopped} IS NOT NULL AND {stop_at} > {due_at}) OR "
        f'({stopped} IS NULL AND "sla_paused_since" IS NOT NULL AND {paused} > {due_at}) OR '
        f'({stopped} IS NULL AND "sla_paused_since" IS NULL AND {d.instant(now_mark)} > {due_at}))'
    )
    return met, breached


# Summed per group; the overall figures are the groups' sums.
SUMS = (
    "total",
    "tta_sum",
    "tta_n",
    "ttr_sum",
    "ttr_n",
    "resp_met",
    "resp_breached",
    "res_met",
    "res_breached",
    "escalated",
    "ever_resolved",
    "reopened",
    "review_due",
)


def sums_sql(d: Dialect, now_mark: str) -> str:
    resp_met, resp_breached = clock_sql(
        d, "sla_response_due", 'COALESCE("acknowledged_at", "cancelled_at")', now_mark
    )
    res_met, res_breached = clock_sql(
        d, "sla_resolve_due", 'COALESCE("resolved_at", "cancelled_at")', now_mark
    )
    tta = d.seconds('"created_at"', '"acknowledged_at"')
    ttr = d.seconds('"created_at"', '"resolved_at"')
    review = " OR ".join(f"\"priority\" = '{p}'" for p in REVIEW_PRIORITIES)
    return (
        "COUNT(*) AS total, "
        f'SUM({tta}) AS tta_sum, COUNT("acknowledged_at") AS tta_n, '
        f'SUM({ttr}) AS ttr_sum, COUNT("resolved_at") AS ttr_n, '
        f"SUM(CASE WHEN {resp_met} THEN 1 ELSE 0 END) AS resp_met, "
        f"SUM(CASE WHEN {resp_breached} THEN 1 ELSE 0 END) AS resp_breached, "
        f"SUM(CASE WHEN {res_met} THEN 1 ELSE 0 END) AS res_met, "
        f"SUM(CASE WHEN {res_breached} THEN 1 ELSE 0 END) AS res_breached, "
        'SUM(CASE WHEN "escalation_level" > 0 THEN 1 ELSE 0 END) AS escalated, '
        'SUM(CASE WHEN "resolved_at" IS NOT NULL OR "reopen_count" > 0 THEN 1 ELSE 0 END) '
        "AS ever_resolved, "
        'SUM(CASE WHEN "reopen_count" > 0 THEN 1 ELSE 0 END) AS reopened, '
        f'SUM(CASE WHEN "resolved_at" IS NOT NULL AND ({review} OR "is_major") THEN 1 ELSE 0 '
        "END) AS review_due"
    )


# Counted per group in the same scan (each a SUM of a CASE): the breakdowns by status,
# severity and priority.
BREAKDOWNS = {
    "status": [v.value for v in IncidentStatus],
    "severity": [v.value for v in Severity],
    "priority": [v.value for v in Priority],
}


def breakdown_sql() -> str:
    return ", ".join(
        f'SUM(CASE WHEN "{column}" = \'{value}\' THEN 1 ELSE 0 END) AS "n_{column}_{value}"'
        for column, values in BREAKDOWNS.items()
        for value in values
    )

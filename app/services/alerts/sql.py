"""The alert processor's SQL, one class per backend: PostgreSQL gets whole columns as arrays
(`unnest`), SQLite, in-process, runs `json_each` and executemany.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import DBConnectionError

from app.services.alerts.batch import BatchAlert, BatchGroup, json_text

_ALERT_COLUMNS = (
    "id, tenant_id, source, fingerprint, active_key, status, alertname, service, severity, "
    "title, description, labels, annotations, url, starts_at, ends_at, first_received_at, "
    "last_received_at, count, group_id, incident_id, pending_event, created_at, updated_at"
)
_GROUP_COLUMNS = (
    "id, tenant_id, key, rule_id, generation, incident_id, declare_pending, opened_at, "
    "last_alert_at, alert_count"
)
_STORED_COLUMNS = "id, tenant_id, source, fingerprint, status, starts_at, last_received_at"
_GROUP_SELECT = ", ".join("g." + c for c in _GROUP_COLUMNS.split(", "))
_STORED_SELECT = ", ".join("a." + c for c in _STORED_COLUMNS.split(", "))
# An incident's status, and its survivor's when it was merged into another.
_INCIDENT_SELECT = (
    "SELECT i.id, i.status, i.merged_into_id, m.status AS merged_status FROM incident i "
    "LEFT JOIN incident m ON m.id = i.merged_into_id "
)
_GROUP_UPSERT_SET = (
    "rule_id = excluded.rule_id, generation = excluded.generation, "
    "incident_id = excluded.incident_id, declare_pending = excluded.declare_pending, "
    "opened_at = excluded.opened_at, last_alert_at = excluded.last_alert_at, "
    "alert_count = excluded.alert_count"
)


class Sql:
    renew_lease: str
    take_intake: str
    intake_rows: str
    delete_intake: str
    quarantine: str
    stored_alerts: str
    groups: str
    incidents: str
    detach_alerts: str

    def array(self, values: Sequence[Any]) -> Any:
        raise NotImplementedError

    def time(self, moment: datetime) -> Any:
        return moment

    def transient(self, error: BaseException) -> bool:
        """Whether the error says nothing of the rows being stored: the database is away,
        busy or out of resources, and the same rows will go through later."""
        return any(
            isinstance(e, ConnectionError | OSError | TimeoutError | DBConnectionError)
            for e in _chain(error)
        )

    def stored_alerts_args(
        self,
        active: Sequence[str],
        ended: Sequence[tuple[str, str, str, Any]],
        latest: Sequence[tuple[str, str, str]],
    ) -> list[Any]:
        raise NotImplementedError

    def groups_args(self, keys: Sequence[tuple[str, str]]) -> list[Any]:
        raise NotImplementedError

    async def upsert_groups(self, conn: BaseDBAsyncClient, groups: Sequence[BatchGroup]) -> None:
        raise NotImplementedError

    async def update_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[BatchAlert], now: datetime
    ) -> None:
        raise NotImplementedError

    async def insert_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[BatchAlert], now: datetime
    ) -> None:
        raise NotImplementedError


def _new_alert_values(alert: BatchAlert) -> list[Any]:
    p = alert.payload
    return [
        alert.id,
        alert.tenant_id,
        alert.source,
        alert.fingerprint,
        alert.active_key,
        alert.status,
        _clip(p.get("alertname"), 255),
        _clip(p.get("service"), 255),
        _clip(p.get("severity"), 64),
        _clip(p.get("title"), 255) or alert.fingerprint[:255],
        p.get("description"),
        *alert.stored_labels(),
        _clip(p.get("url"), 2048),
        alert.starts_at,
        alert.ends_at,
        alert.first_received_at,
        alert.last_received_at,
        1 + alert.added,
        alert.group_id,
        alert.incident_id,
        alert.pending_event,
    ]


class _Postgres(Sql):
    renew_lease = "UPDATE lease SET expires_at = $1 WHERE name = $2 AND owner = $3"
    # The oldest rows up to the batch's count, and up to its bytes (always at least one):
    # rows past the budget are measured by the server and never sent.
    take_intake = (
        "SELECT id, tenant_id, payload, received_at FROM (SELECT id, tenant_id, payload, "
        "received_at, octet_length(payload) AS size, "
        "sum(octet_length(payload)) OVER (ORDER BY id) AS upto FROM (SELECT id, tenant_id, "
        "payload::text AS payload, received_at FROM alert_intake ORDER BY id LIMIT $1) t) b "
        "WHERE upto <= $2 OR upto = size ORDER BY id"
    )
    intake_rows = (
        "SELECT id, tenant_id, payload::text AS payload, received_at FROM alert_intake "
        "WHERE id = ANY($1::bigint[]) ORDER BY id"
    )
    delete_intake = "DELETE FROM alert_intake WHERE id = ANY($1::bigint[])"
    quarantine = (
        "INSERT INTO alert_quarantine (tenant_id, payload, received_at, quarantined_at, error) "
        "SELECT tenant_id, payload, received_at, $2, $3 FROM alert_intake WHERE id = $1 "
        "RETURNING tenant_id"
    )
    stored_alerts = (
        f"SELECT {_STORED_COLUMNS}, FALSE AS latest FROM alert "
        "WHERE active_key = ANY($1::text[]) "
        f"UNION ALL SELECT {_STORED_SELECT}, FALSE "
        "FROM alert a JOIN unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) "
        "AS k(tenant_id, source, fingerprint, starts_at) ON a.tenant_id = k.tenant_id "
        "AND a.source = k.source AND a.fingerprint = k.fingerprint "
        "AND a.starts_at = k.starts_at WHERE a.status = 'RESOLVED' "
        f"UNION ALL SELECT {_STORED_SELECT}, TRUE "
        "FROM unnest($6::text[], $7::text[], $8::text[]) AS k(tenant_id, source, fingerprint) "
        f"JOIN LATERAL (SELECT {_STORED_COLUMNS} FROM alert b WHERE b.tenant_id = k.tenant_id "
        "AND b.source = k.source AND b.fingerprint = k.fingerprint AND b.status = 'RESOLVED' "
        "ORDER BY b.first_received_at DESC, b.id DESC LIMIT 1) a ON TRUE"
    )
    # The groups' rows stay locked until the batch commits, so a hand-made link of one of
    # their alerts waits instead of being overwritten. Locked in id order, so that two
    # writers locking several of them cannot deadlock.
    groups = (
        f"SELECT {_GROUP_SELECT} FROM alert_group g "
        "JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, key) "
        "ON g.tenant_id = k.tenant_id AND g.key = k.key ORDER BY g.id FOR UPDATE OF g"
    )
    incidents = _INCIDENT_SELECT + "WHERE i.id = ANY($1::uuid[])"
    detach_alerts = (
        "UPDATE alert SET group_id = NULL WHERE group_id = ANY($1::uuid[]) AND incident_id IS NULL"
    )

    def array(self, values: Sequence[Any]) -> Any:
        return list(values)

    def transient(self, error: BaseException) -> bool:
        return super().transient(error) or any(
            (isinstance(e, _POSTGRES_TRANSIENT) and not isinstance(e, asyncpg.QueryCanceledError))
            # Its subclasses are the client refusing a value; itself, a closed connection.
            or type(e) is asyncpg.InterfaceError
            for e in _chain(error)
        )

    def stored_alerts_args(
        self,
        active: Sequence[str],
        ended: Sequence[tuple[str, str, str, Any]],
        latest: Sequence[tuple[str, str, str]],
    ) -> list[Any]:
        return [list(active), *_columns(ended, 4), *_columns(latest, 3)]

    def groups_args(self, keys: Sequence[tuple[str, str]]) -> list[Any]:
        return [list(column) for column in _columns(keys, 2)]

    async def upsert_groups(self, conn: BaseDBAsyncClient, groups: Sequence[BatchGroup]) -> None:
        await conn.execute_query(
            f"INSERT INTO alert_group ({_GROUP_COLUMNS}) SELECT * FROM unnest("
            "$1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::uuid[], "
            "$7::bool[], $8::timestamptz[], $9::timestamptz[], $10::int[]) "
            f"ON CONFLICT (tenant_id, key) DO UPDATE SET {_GROUP_UPSERT_SET}",
            [list(column) for column in _columns([_group_values(g) for g in groups], 10)],
        )

    async def update_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[BatchAlert], now: datetime
    ) -> None:
        rows = [
            (a.id, a.added, a.last_received_at, *a.stored_labels(), a.resolves, a.ends_at)
            for a in alerts
        ]
        # Locked in id order first, as phase B locks the alerts it announces: one join's
        # order is the plan's, and two writers locking rows in different orders can deadlock.
        await conn.execute_query(
            "SELECT id FROM alert WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
            [[a.id for a in alerts]],
        )
        await conn.execute_query(
            "UPDATE alert AS a SET count = a.count + u.added, "
            "last_received_at = GREATEST(a.last_received_at, u.last_received_at), "
            "labels = COALESCE(u.labels::jsonb, a.labels), "
            "annotations = COALESCE(u.annotations::jsonb, a.annotations), "
            "status = CASE WHEN u.resolves THEN 'RESOLVED' ELSE a.status END, "
            "active_key = CASE WHEN u.resolves THEN NULL ELSE a.active_key END, "
            "ends_at = CASE WHEN u.resolves THEN u.ends_at ELSE a.ends_at END, "
            # A linked alert that stops firing is owed a resolved event, unless its link
            # has not been announced yet: that event will show it resolved.
            "pending_event = CASE WHEN u.resolves AND a.incident_id IS NOT NULL "
            "AND a.pending_event IS NULL THEN 'resolved' ELSE a.pending_event END, "
            "updated_at = $8 "
            "FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[], $5::text[], "
            "$6::bool[], $7::timestamptz[]) "
            "AS u(id, added, last_received_at, labels, annotations, resolves, ends_at) "
            "WHERE a.id = u.id",
            [*(list(column) for column in _columns(rows, 7)), now],
        )

    async def insert_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[BatchAlert], now: datetime
    ) -> None:
        columns = _columns([_new_alert_values(a) for a in alerts], 22)
        await conn.execute_query(
            f"INSERT INTO alert ({_ALERT_COLUMNS}) SELECT u.id, u.tenant_id, u.source, "
            "u.fingerprint, u.active_key, u.status, u.alertname, u.service, u.severity, "
            "u.title, u.description, u.labels::jsonb, u.annotations::jsonb, u.url, "
            "u.starts_at, u.ends_at, u.first_received_at, u.last_received_at, u.count, "
            "u.group_id, u.incident_id, u.pending_event, $23, $23 FROM unnest("
            "$1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
            "$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], "
            "$13::text[], $14::text[], $15::timestamptz[], $16::timestamptz[], "
            "$17::timestamptz[], $18::timestamptz[], $19::int[], $20::uuid[], $21::uuid[], "
            "$22::text[]) AS u(id, tenant_id, source, fingerprint, active_key, status, "
            "alertname, service, severity, title, description, labels, annotations, url, "
            "starts_at, ends_at, first_received_at, last_received_at, count, group_id, "
            "incident_id, pending_event)",
            [*(list(column) for column in columns), now],
        )


class _Sqlite(Sql):
    renew_lease = "UPDATE lease SET expires_at = ? WHERE name = ? AND owner = ?"
    take_intake = (
        "SELECT id, tenant_id, payload, received_at FROM (SELECT id, tenant_id, payload, "
        "received_at, length(CAST(payload AS BLOB)) AS size, "
        "sum(length(CAST(payload AS BLOB))) OVER (ORDER BY id) AS upto FROM (SELECT id, "
        "tenant_id, payload, received_at FROM alert_intake ORDER BY id LIMIT ?)) "
        "WHERE upto <= ? OR upto = size ORDER BY id"
    )
    intake_rows = (
        "SELECT id, tenant_id, payload, received_at FROM alert_intake "
        "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
    )
    delete_intake = "DELETE FROM alert_intake WHERE id IN (SELECT value FROM json_each(?))"
    quarantine = (
        "INSERT INTO alert_quarantine (tenant_id, payload, received_at, quarantined_at, error) "
        "SELECT tenant_id, payload, received_at, ?2, ?3 FROM alert_intake WHERE id = ?1 "
        "RETURNING tenant_id"
    )
    stored_alerts = (
        f"SELECT {_STORED_COLUMNS}, 0 AS latest FROM alert "
        "WHERE active_key IN (SELECT value FROM json_each(?)) "
        f"UNION ALL SELECT {_STORED_SELECT}, 0 "
        "FROM alert a JOIN (SELECT json_extract(value, '$[0]') AS tenant_id, "
        "json_extract(value, '$[1]') AS source, json_extract(value, '$[2]') AS fingerprint, "
        "json_extract(value, '$[3]') AS starts_at FROM json_each(?)) k "
        "ON a.tenant_id = k.tenant_id AND a.source = k.source "
        "AND a.fingerprint = k.fingerprint AND a.starts_at = k.starts_at "
        "WHERE a.status = 'RESOLVED' "
        f"UNION ALL SELECT {_STORED_SELECT}, 1 FROM alert a WHERE a.id IN (SELECT (SELECT b.id "
        "FROM alert b WHERE b.tenant_id = json_extract(value, '$[0]') "
        "AND b.source = json_extract(value, '$[1]') "
        "AND b.fingerprint = json_extract(value, '$[2]') AND b.status = 'RESOLVED' "
        "ORDER BY b.first_received_at DESC, b.id DESC LIMIT 1) FROM json_each(?))"
    )
    groups = (
        f"SELECT {_GROUP_SELECT} FROM alert_group g "
        "JOIN (SELECT json_extract(value, '$[0]') AS tenant_id, "
        "json_extract(value, '$[1]') AS key FROM json_each(?)) k "
        "ON g.tenant_id = k.tenant_id AND g.key = k.key"
    )
    incidents = _INCIDENT_SELECT + "WHERE i.id IN (SELECT value FROM json_each(?))"
    detach_alerts = (
        "UPDATE alert SET group_id = NULL WHERE group_id IN (SELECT value FROM json_each(?)) "
        "AND incident_id IS NULL"
    )

    def array(self, values: Sequence[Any]) -> Any:
        return json_text(list(values))

    def transient(self, error: BaseException) -> bool:
        return super().transient(error) or any(
            isinstance(e, sqlite3.OperationalError)
            and any(word in str(e) for word in _SQLITE_TRANSIENT)
            for e in _chain(error)
        )

    def time(self, moment: datetime) -> Any:
        # As Tortoise's sqlite adapter stores it, so that equal instants compare equal.
        return moment.isoformat(" ")

    def stored_alerts_args(
        self,
        active: Sequence[str],
        ended: Sequence[tuple[str, str, str, Any]],
        latest: Sequence[tuple[str, str, str]],
    ) -> list[Any]:
        return [
            json_text(list(active)),
            json_text([list(e) for e in ended]),
            json_text([list(k) for k in latest]),
        ]

    def groups_args(self, keys: Sequence[tuple[str, str]]) -> list[Any]:
        return [json_text([list(k) for k in keys])]

    async def upsert_groups(self, conn: BaseDBAsyncClient, groups: Sequence[BatchGroup]) -> None:
        await conn.execute_many(
            f"INSERT INTO alert_group ({_GROUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (tenant_id, key) DO UPDATE SET {_GROUP_UPSERT_SET}",
            [_group_values(g) for g in groups],
        )

    async def update_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[BatchAlert], now: datetime
    ) -> None:
        await conn.execute_many(
            "UPDATE alert SET count = count + ?1, last_received_at = ?2, "
            "labels = COALESCE(?3, labels), annotations = COALESCE(?4, annotations), "
            "status = CASE WHEN ?5 THEN 'RESOLVED' ELSE status END, "
            "active_key = CASE WHEN ?5 THEN NULL ELSE active_key END, "
            "ends_at = CASE WHEN ?5 THEN ?6 ELSE ends_at END, "
            "pending_event = CASE WHEN ?5 AND incident_id IS NOT NULL "
            "AND pending_event IS NULL THEN 'resolved' ELSE pending_event END, "
            "updated_at = ?7 WHERE id = ?8",
            [
                [a.added, a.last_received_at, *a.stored_labels(), a.resolves, a.ends_at]
                + [now, a.id]
                for a in alerts
            ],
        )

    async def insert_alerts(
        self, conn: BaseDBAsyncClient, alerts: Sequence[BatchAlert], now: datetime
    ) -> None:
        await conn.execute_many(
            f"INSERT INTO alert ({_ALERT_COLUMNS}) VALUES ({', '.join(['?'] * 24)})",
            [[*_new_alert_values(a), now, now] for a in alerts],
        )


# PostgreSQL's errors of the server, not of the statement: connection lost or refused,
# shutting down, out of resources, a deadlock or serialization failure (retried, it passes).
_POSTGRES_TRANSIENT = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.TransactionRollbackError,
)
# SQLite's: the file is locked by another writer, or cannot be read or written.
_SQLITE_TRANSIENT = ("locked", "busy", "disk", "unable to open")

_POSTGRES = _Postgres()
_SQLITE = _Sqlite()


def sql_for(conn: BaseDBAsyncClient) -> Sql:
    return _SQLITE if conn.capabilities.dialect == "sqlite" else _POSTGRES


def _group_values(group: BatchGroup) -> list[Any]:
    return [
        group.id,
        group.tenant_id,
        group.key,
        group.rule_id,
        group.generation,
        group.incident_id,
        group.declare_pending,
        group.opened_at,
        group.last_alert_at,
        group.alert_count,
    ]


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _clip(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and those it was raised from or while handling (Tortoise wraps drivers')."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__

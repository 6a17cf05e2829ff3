"""Rows read as plain values: how the hot read paths (a page of incidents, the newest events
of each) skip model instances.

A model instance costs a conversion per field and an object per row; a page of fifty
incidents with five events each spent more time there than in the database. These read the
driver's values as they come and convert each column once, to what Tortoise's fields give:
UUIDs as text, times aware and in UTC, booleans as bool, enums as members, JSON decoded.
PostgreSQL hands over UUIDs, aware times and JSON text; SQLite text and integers: each
converter takes either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar, cast

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.queryset import AwaitableQuery, ValuesListQuery

E = TypeVar("E", bound=Enum)


def utc(value: Any) -> datetime | None:
    return None if value is None else instant(value)


def instant(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def text(value: Any) -> str | None:
    return None if value is None else str(value)


def boolean(value: Any) -> bool:
    return bool(value)


def same(value: Any) -> Any:
    return value


def json_value(value: Any) -> Any:
    """A JSON column's value, as the standard library reads it: by orjson, except what orjson
    refuses (NaN) or reads otherwise (an integer past 64 bits becomes a float there)."""
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):
        return value
    if _LONG_DIGITS.search(value) is None:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    return json.loads(value)


# 20 digits in a row: perhaps an integer orjson would not read exactly (past 2**64).
_LONG_DIGITS = re.compile(r"\d{20}")


def member(enum: type[E]) -> Callable[[Any], E | None]:
    """The member of `enum` a column holds (by a dict lookup, not the enum's call)."""
    members: dict[Any, E] = {m.value: m for m in enum}

    def convert(value: Any) -> E | None:
        return None if value is None else members[value]

    return convert


async def fetch(query: ValuesListQuery[Any]) -> list[Sequence[Any]]:
    """The rows of a `values_list` query as the driver returns them, columns in its order."""
    sql, params = statement(query)
    return await execute(query._db, sql, params)


def statement(query: AwaitableQuery[Any]) -> tuple[str, list[Any]]:
    """A query's SQL and parameters, as Tortoise builds them for the connection it reads."""
    query._choose_db_if_not_chosen()
    query._make_query()
    sql, params = query.query.get_parameterized_sql()
    return sql, list(params)


async def execute(conn: BaseDBAsyncClient, sql: str, params: list[Any]) -> list[Sequence[Any]]:
    """A statement's rows as the driver returns them (asyncpg's records, sqlite3 rows: both
    indexed by position), whatever Tortoise's annotation says."""
    _, found = await conn.execute_query(sql, params)
    return cast(list[Sequence[Any]], found)

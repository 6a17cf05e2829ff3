"""Database set-up: Tortoise configuration, migrations, start and stop."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext

from app.config import Settings

log = logging.getLogger(__name__)

MODELS_MODULE = "app.models"
MIGRATIONS_MODULE = "app.migrations"
# Any constant: serialises `migrate` across processes on PostgreSQL.
_MIGRATION_LOCK = 746_231_901
# The settings of the migration running, for the migrations that need more than the
# database (0013 seals stored secrets with the configured key).
_migrating: ContextVar[Settings] = ContextVar("migrating")


def tortoise_config(settings: Settings) -> dict[str, Any]:
    url = settings.database_url
    connection: str | dict[str, Any] = url
    if settings.is_sqlite:
        path = url.split("://", 1)[1]
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Tortoise's SQLite client, but write transactions take the lock when they begin.
        connection = {**expand_db_url(url), "engine": "app.sqlite_engine"}
    elif urlparse(url).scheme == "postgresql":
        connection = "postgres" + url[len("postgresql") :]
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations; returns their names. Safe to run from several processes."""
    from tortoise.migrations.api import migrate as apply

    config = tortoise_config(settings)
    applied: list[str] = []
    reset = _migrating.set(settings)
    try:
        async with _migration_lock(settings):
            # migrate() re-initialises the current context: keep it away from the app's.
            async with TortoiseContext():
                await apply(config=config, progress=_collect(applied))
    finally:
        _migrating.reset(reset)
    return applied


def migration_settings() -> Settings:
    """The settings `migrate` was called with (inside a migration)."""
    return _migrating.get()


@contextlib.asynccontextmanager
async def _migration_lock(settings: Settings) -> AsyncIterator[None]:
    if settings.is_sqlite:
        yield
        return
    import asyncpg

    dsn = tortoise_config(settings)["connections"]["default"].replace(
        "postgres://", "postgresql://", 1
    )
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        yield
    finally:
        await conn.close()


def _collect(into: list[str]) -> Any:
    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            into.append(f"{app_label}.{name}")

    return progress


async def init(settings: Settings) -> None:
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)


async def close() -> None:
    await Tortoise.close_connections()


@contextlib.asynccontextmanager
async def lifespan(settings: Settings) -> AsyncIterator[None]:
    await init(settings)
    try:
        yield
    finally:
        await close()


# SQLite's words for a database it cannot use now: another process holds the write lock
# past the busy timeout, or the file cannot be opened or read.
_SQLITE_OUTAGES = ("database is locked", "database is busy", "unable to open", "disk i/o error")


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database cannot be reached or used just
    now, rather than that a statement was wrong: the caller should retry later."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_outage(current):
            return True
        cause = current.__cause__ or current.__context__
        # Tortoise wraps the driver's exception as its first argument.
        if cause is None and current.args and isinstance(current.args[0], BaseException):
            cause = current.args[0]
        current = cause
    return False


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return any(words in message for words in _SQLITE_OUTAGES)
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - installed with tortoise-orm[asyncpg]
        return False
    if isinstance(exc, asyncpg.exceptions.QueryCanceledError):
        return False  # a statement timeout: the statement's fault, not the database's
    return isinstance(
        exc,
        asyncpg.exceptions.PostgresConnectionError  # class 08, a connection lost midway
        | asyncpg.exceptions.InsufficientResourcesError  # class 53: too many connections
        | asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, cannot connect now
    ) or (
        # 55000 as a whole is wider; at connect time it is "not accepting connections".
        type(exc) is asyncpg.exceptions.ObjectNotInPrerequisiteStateError
        and "accepting connections" in str(exc)
    )


async def ping() -> bool:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:
        return False
    return True


async def make_migrations(*, write: bool = True, name: str | None = None) -> list[str]:
    """Migrations the models need beyond those checked in; written to app/migrations/ if asked."""
    from tortoise.migrations.autodetector import MigrationAutodetector
    from tortoise.migrations.writer import format_migration_name

    config = tortoise_config(Settings(database_url="sqlite://:memory:"))
    found: list[str] = []
    async with TortoiseContext() as ctx:
        await ctx.init(config=config, init_connections=False)
        assert ctx.apps is not None
        for writer in await MigrationAutodetector(ctx.apps, config["apps"]).changes():
            if name:
                writer.name = format_migration_name(int(writer.name.split("_", 1)[0]), name)
            found.append(str(writer.write()) if write else f"{writer.app_label}.{writer.name}")
    return found

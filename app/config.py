"""Settings read once from the environment (CONTRACT section 2)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlparse

_DB_SCHEMES = {"sqlite", "postgres", "postgresql", "asyncpg", "psycopg"}
_BROKER_SCHEMES = {"memory", "redis", "rediss"}


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite://./data/incidentgraph.db"
    broadcast_url: str = "memory://"
    host: str = "127.0.0.1"
    port: int = 8000
    bootstrap_token: str | None = None
    # Prefix of every broker channel: deployments sharing one Redis stay apart.
    channel_prefix: str = "incidentgraph"
    # Seconds an identical query may be answered from cache (0 turns the cache off).
    query_cache_seconds: float = 1.0
    # Seconds between outbox sweeps (re-publishing what a crash or broker outage left).
    outbox_sweep_interval: float = 1.0
    # Events a slow subscriber may have queued before it is disconnected.
    subscriber_queue_size: int = 1000

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        port_text = env.get("INCIDENTGRAPH_PORT", str(defaults.port))
        try:
            port = int(port_text)
        except ValueError as exc:
            raise ConfigError(f"INCIDENTGRAPH_PORT must be a number, not {port_text!r}") from exc
        cache_text = env.get("INCIDENTGRAPH_QUERY_CACHE_SECONDS", str(defaults.query_cache_seconds))
        try:
            cache_seconds = float(cache_text)
        except ValueError as exc:
            raise ConfigError(
                f"INCIDENTGRAPH_QUERY_CACHE_SECONDS must be a number, not {cache_text!r}"
            ) from exc
        settings = cls(
            database_url=env.get("INCIDENTGRAPH_DATABASE_URL", defaults.database_url),
            broadcast_url=env.get("INCIDENTGRAPH_BROADCAST_URL", defaults.broadcast_url),
            host=env.get("INCIDENTGRAPH_HOST", defaults.host),
            port=port,
            bootstrap_token=env.get("INCIDENTGRAPH_BOOTSTRAP_TOKEN") or None,
            channel_prefix=env.get("INCIDENTGRAPH_CHANNEL_PREFIX", defaults.channel_prefix),
            query_cache_seconds=cache_seconds,
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        db_scheme = urlparse(self.database_url).scheme
        if db_scheme not in _DB_SCHEMES:
            raise ConfigError(
                f"INCIDENTGRAPH_DATABASE_URL: unsupported scheme {db_scheme!r} "
                "(use sqlite://PATH or postgres://user:pass@host:5432/db)"
            )
        broker_scheme = urlparse(self.broadcast_url).scheme
        if broker_scheme not in _BROKER_SCHEMES:
            raise ConfigError(
                f"INCIDENTGRAPH_BROADCAST_URL: unsupported scheme {broker_scheme!r} "
                "(use memory:// or redis://host:6379/0)"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"INCIDENTGRAPH_PORT out of range: {self.port}")
        if not 0 <= self.query_cache_seconds <= 3600:
            raise ConfigError("INCIDENTGRAPH_QUERY_CACHE_SECONDS must be between 0 and 3600")
        if not all(c.isalnum() or c in "-_." for c in self.channel_prefix):
            raise ConfigError("INCIDENTGRAPH_CHANNEL_PREFIX may hold letters, digits, - _ . only")
        if self.bootstrap_token is not None and len(self.bootstrap_token) < 16:
            raise ConfigError("INCIDENTGRAPH_BOOTSTRAP_TOKEN must be at least 16 characters")

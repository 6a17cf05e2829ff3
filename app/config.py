"""Settings read once from the environment (CONTRACT section 2)."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar
from urllib.parse import urlparse

_DB_SCHEMES = {"sqlite", "postgres", "postgresql", "asyncpg", "psycopg"}
_BROKER_SCHEMES = {"memory", "redis", "rediss"}
_N = TypeVar("_N", int, float)


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
    # Per token and process: sustained GraphQL requests (and WebSocket operations) per
    # second, 0 for no limit, and how many may come at once.
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 200
    # Per token and process: open WebSockets (0 for no cap).
    max_connections_per_token: int = 50
    max_subscriptions_per_connection: int = 100
    # Origins of browser pages on other sites allowed to call the API (CORS on HTTP, the
    # Origin check on WebSocket handshakes); "*" for any. Same-origin pages always may.
    allowed_origins: tuple[str, ...] = ()
    # Linked tickets (ServiceNow, Jira): delivery attempts before a change is dead-lettered,
    # the backoff's first and largest delay, the drift check's period (0: off), how often
    # the worker looks for due work, and the providers' HTTP timeout. Finished sync jobs are
    # kept for the retention, then pruned (every prune period; 0: never).
    itsm_max_attempts: int = 8
    itsm_retry_base_seconds: float = 2.0
    itsm_retry_max_seconds: float = 300.0
    itsm_reconcile_seconds: float = 300.0
    itsm_poll_seconds: float = 1.0
    itsm_http_timeout_seconds: float = 10.0
    itsm_job_retention_seconds: float = 7 * 86_400.0
    itsm_prune_seconds: float = 3600.0
    # Alert intake: the largest request body and the most alerts in one request; alerts per
    # second per INGEST token (0: no limit) and the burst; the processor's batch (alerts
    # deduplicated and correlated per transaction), how often it looks for work when not
    # woken, and the window in which alerts linked to one incident share one timeline event.
    alert_max_body_bytes: int = 1_048_576
    alert_max_per_request: int = 5_000
    alert_rate_per_second: float = 20_000.0
    alert_rate_burst: float = 40_000.0
    alert_batch_size: int = 5_000
    alert_poll_seconds: float = 1.0
    alert_coalesce_seconds: float = 1.0
    # The GraphQL edge: the largest POST body (and WebSocket message), the longest query
    # text (any transport), how long a WebSocket may stay open without connection_init, and
    # the bearer token /metrics asks for (unset: /metrics is open).
    max_body_bytes: int = 1_048_576
    max_query_length: int = 65_536
    ws_init_timeout_seconds: float = 10.0
    metrics_token: str | None = None
    # ITSM connections may point at loopback, link-local and private addresses (tests,
    # on-premises products); otherwise they are refused when configured and at call time.
    allow_private_networks: bool = False
    # Fernet keys (url-safe base64, 32 bytes) that encrypt stored secrets: the first
    # encrypts, all decrypt (rotation). None set: SQLite keeps one in secret.key next to the
    # database; PostgreSQL refuses to serve.
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    # The most a GraphQL document may cost (app/schema/cost.py; 0: no limit), and the most
    # bytes one subscription push may carry before it is replaced by a PUSH_TOO_LARGE error.
    max_query_cost: int = 10_000
    max_push_bytes: int = 1_048_576

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        settings = cls(
            database_url=env.get("INCIDENTGRAPH_DATABASE_URL", defaults.database_url),
            broadcast_url=env.get("INCIDENTGRAPH_BROADCAST_URL", defaults.broadcast_url),
            host=env.get("INCIDENTGRAPH_HOST", defaults.host),
            port=_number(env, "INCIDENTGRAPH_PORT", defaults.port, int),
            bootstrap_token=env.get("INCIDENTGRAPH_BOOTSTRAP_TOKEN") or None,
            channel_prefix=env.get("INCIDENTGRAPH_CHANNEL_PREFIX", defaults.channel_prefix),
            query_cache_seconds=_number(
                env, "INCIDENTGRAPH_QUERY_CACHE_SECONDS", defaults.query_cache_seconds, float
            ),
            rate_limit_per_second=_number(
                env, "INCIDENTGRAPH_RATE_LIMIT_PER_SECOND", defaults.rate_limit_per_second, float
            ),
            rate_limit_burst=_number(
                env, "INCIDENTGRAPH_RATE_LIMIT_BURST", defaults.rate_limit_burst, int
            ),
            max_connections_per_token=_number(
                env,
                "INCIDENTGRAPH_MAX_CONNECTIONS_PER_TOKEN",
                defaults.max_connections_per_token,
                int,
            ),
            max_subscriptions_per_connection=_number(
                env,
                "INCIDENTGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION",
                defaults.max_subscriptions_per_connection,
                int,
            ),
            allowed_origins=tuple(
                o.strip().rstrip("/").lower()
                for o in env.get("INCIDENTGRAPH_ALLOWED_ORIGINS", "").split(",")
                if o.strip()
            ),
            itsm_max_attempts=_number(
                env, "INCIDENTGRAPH_ITSM_MAX_ATTEMPTS", defaults.itsm_max_attempts, int
            ),
            itsm_retry_base_seconds=_number(
                env,
                "INCIDENTGRAPH_ITSM_RETRY_BASE_SECONDS",
                defaults.itsm_retry_base_seconds,
                float,
            ),
            itsm_retry_max_seconds=_number(
                env, "INCIDENTGRAPH_ITSM_RETRY_MAX_SECONDS", defaults.itsm_retry_max_seconds, float
            ),
            itsm_reconcile_seconds=_number(
                env, "INCIDENTGRAPH_ITSM_RECONCILE_SECONDS", defaults.itsm_reconcile_seconds, float
            ),
            itsm_poll_seconds=_number(
                env, "INCIDENTGRAPH_ITSM_POLL_SECONDS", defaults.itsm_poll_seconds, float
            ),
            itsm_http_timeout_seconds=_number(
                env,
                "INCIDENTGRAPH_ITSM_HTTP_TIMEOUT_SECONDS",
                defaults.itsm_http_timeout_seconds,
                float,
            ),
            itsm_job_retention_seconds=_number(
                env,
                "INCIDENTGRAPH_ITSM_JOB_RETENTION_SECONDS",
                defaults.itsm_job_retention_seconds,
                float,
            ),
            itsm_prune_seconds=_number(
                env, "INCIDENTGRAPH_ITSM_PRUNE_SECONDS", defaults.itsm_prune_seconds, float
            ),
            alert_max_body_bytes=_number(
                env, "INCIDENTGRAPH_ALERT_MAX_BODY_BYTES", defaults.alert_max_body_bytes, int
            ),
            alert_max_per_request=_number(
                env, "INCIDENTGRAPH_ALERT_MAX_PER_REQUEST", defaults.alert_max_per_request, int
            ),
            alert_rate_per_second=_number(
                env, "INCIDENTGRAPH_ALERT_RATE_PER_SECOND", defaults.alert_rate_per_second, float
            ),
            alert_rate_burst=_number(
                env, "INCIDENTGRAPH_ALERT_RATE_BURST", defaults.alert_rate_burst, float
            ),
            alert_batch_size=_number(
                env, "INCIDENTGRAPH_ALERT_BATCH_SIZE", defaults.alert_batch_size, int
            ),
            alert_poll_seconds=_number(
                env, "INCIDENTGRAPH_ALERT_POLL_SECONDS", defaults.alert_poll_seconds, float
            ),
            alert_coalesce_seconds=_number(
                env, "INCIDENTGRAPH_ALERT_COALESCE_SECONDS", defaults.alert_coalesce_seconds, float
            ),
            max_body_bytes=_number(
                env, "INCIDENTGRAPH_MAX_BODY_BYTES", defaults.max_body_bytes, int
            ),
            max_query_length=_number(
                env, "INCIDENTGRAPH_MAX_QUERY_LENGTH", defaults.max_query_length, int
            ),
            ws_init_timeout_seconds=_number(
                env,
                "INCIDENTGRAPH_WS_INIT_TIMEOUT_SECONDS",
                defaults.ws_init_timeout_seconds,
                float,
            ),
            metrics_token=env.get("INCIDENTGRAPH_METRICS_TOKEN") or None,
            allow_private_networks=_flag(
                env, "INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS", defaults.allow_private_networks
            ),
            secret_keys=tuple(
                k.strip() for k in env.get("INCIDENTGRAPH_SECRET_KEY", "").split(",") if k.strip()
            ),
            max_query_cost=_number(
                env, "INCIDENTGRAPH_MAX_QUERY_COST", defaults.max_query_cost, int
            ),
            max_push_bytes=_number(
                env, "INCIDENTGRAPH_MAX_PUSH_BYTES", defaults.max_push_bytes, int
            ),
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
        if not 0 <= self.rate_limit_per_second <= 1_000_000:
            raise ConfigError(
                "INCIDENTGRAPH_RATE_LIMIT_PER_SECOND must be between 0 (no limit) and 1000000"
            )
        if not 1 <= self.rate_limit_burst <= 1_000_000:
            raise ConfigError("INCIDENTGRAPH_RATE_LIMIT_BURST must be between 1 and 1000000")
        if not 0 <= self.max_connections_per_token <= 1_000_000:
            raise ConfigError(
                "INCIDENTGRAPH_MAX_CONNECTIONS_PER_TOKEN must be between 0 (no cap) and 1000000"
            )
        for origin in self.allowed_origins:
            parsed = urlparse(origin)
            if origin != "*" and (parsed.scheme not in ("http", "https") or not parsed.netloc):
                raise ConfigError(
                    f"INCIDENTGRAPH_ALLOWED_ORIGINS: {origin!r} is not an origin "
                    "(use https://host[:port], comma-separated, or *)"
                )
        if not 1 <= self.itsm_max_attempts <= 100:
            raise ConfigError("INCIDENTGRAPH_ITSM_MAX_ATTEMPTS must be between 1 and 100")
        if not 0 < self.itsm_retry_base_seconds <= self.itsm_retry_max_seconds <= 86_400:
            raise ConfigError(
                "INCIDENTGRAPH_ITSM_RETRY_BASE_SECONDS must be above 0 and at most "
                "INCIDENTGRAPH_ITSM_RETRY_MAX_SECONDS (at most 86400)"
            )
        if not 0 <= self.itsm_reconcile_seconds <= 86_400:
            raise ConfigError("INCIDENTGRAPH_ITSM_RECONCILE_SECONDS must be between 0 and 86400")
        if not 0 < self.itsm_poll_seconds <= 60:
            raise ConfigError("INCIDENTGRAPH_ITSM_POLL_SECONDS must be above 0 and at most 60")
        if not 0 < self.itsm_http_timeout_seconds <= 300:
            raise ConfigError(
                "INCIDENTGRAPH_ITSM_HTTP_TIMEOUT_SECONDS must be above 0 and at most 300"
            )
        if not 0 <= self.itsm_job_retention_seconds <= 366 * 86_400:
            raise ConfigError(
                "INCIDENTGRAPH_ITSM_JOB_RETENTION_SECONDS must be between 0 and 31622400"
            )
        if not 0 <= self.itsm_prune_seconds <= 86_400:
            raise ConfigError("INCIDENTGRAPH_ITSM_PRUNE_SECONDS must be between 0 and 86400")
        if not 1_024 <= self.alert_max_body_bytes <= 64 * 1_048_576:
            raise ConfigError(
                "INCIDENTGRAPH_ALERT_MAX_BODY_BYTES must be between 1024 and 67108864"
            )
        if not 1 <= self.alert_max_per_request <= 100_000:
            raise ConfigError("INCIDENTGRAPH_ALERT_MAX_PER_REQUEST must be between 1 and 100000")
        if not 0 <= self.alert_rate_per_second <= 10_000_000:
            raise ConfigError(
                "INCIDENTGRAPH_ALERT_RATE_PER_SECOND must be between 0 (no limit) and 10000000"
            )
        if not 1 <= self.alert_rate_burst <= 10_000_000:
            raise ConfigError("INCIDENTGRAPH_ALERT_RATE_BURST must be between 1 and 10000000")
        if not 1 <= self.alert_batch_size <= 50_000:
            raise ConfigError("INCIDENTGRAPH_ALERT_BATCH_SIZE must be between 1 and 50000")
        if not 0 < self.alert_poll_seconds <= 60:
            raise ConfigError("INCIDENTGRAPH_ALERT_POLL_SECONDS must be above 0 and at most 60")
        if not 0 <= self.alert_coalesce_seconds <= 60:
            raise ConfigError("INCIDENTGRAPH_ALERT_COALESCE_SECONDS must be between 0 and 60")
        if not 1 <= self.max_subscriptions_per_connection <= 10_000:
            raise ConfigError(
                "INCIDENTGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION must be between 1 and 10000"
            )
        if not 1_024 <= self.max_body_bytes <= 64 * 1_048_576:
            raise ConfigError("INCIDENTGRAPH_MAX_BODY_BYTES must be between 1024 and 67108864")
        if not 256 <= self.max_query_length <= self.max_body_bytes:
            raise ConfigError(
                "INCIDENTGRAPH_MAX_QUERY_LENGTH must be between 256 and "
                "INCIDENTGRAPH_MAX_BODY_BYTES"
            )
        if not 0 < self.ws_init_timeout_seconds <= 300:
            raise ConfigError(
                "INCIDENTGRAPH_WS_INIT_TIMEOUT_SECONDS must be above 0 and at most 300"
            )
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise ConfigError("INCIDENTGRAPH_METRICS_TOKEN must be at least 16 characters")
        for number, key in enumerate(self.secret_keys, 1):
            if not _is_fernet_key(key):
                raise ConfigError(
                    f"INCIDENTGRAPH_SECRET_KEY: key {number} is not a Fernet key (32 url-safe "
                    "base64-encoded bytes; make one with `incidentgraph secrets new-key`)"
                )
        if not 0 <= self.max_query_cost <= 100_000_000:
            raise ConfigError(
                "INCIDENTGRAPH_MAX_QUERY_COST must be between 0 (no limit) and 100000000"
            )
        if not 1_024 <= self.max_push_bytes <= 1_073_741_824:
            raise ConfigError("INCIDENTGRAPH_MAX_PUSH_BYTES must be between 1024 and 1073741824")


def _number(env: Mapping[str, str], name: str, default: _N, kind: type[_N]) -> _N:
    text = env.get(name)
    if text is None:
        return default
    try:
        return kind(text)
    except ValueError as exc:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name} must be {what}, not {text!r}") from exc


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name)
    if text is None or not text.strip():
        return default
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {text!r}")


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False

"""Settings read once from the environment (README, "Configuration").

Each setting is declared once, on its field: the environment variable, what it means, and
the check its value must pass. Reading the environment, validating and the README's table
(`python -m app.config`) all come from those declarations, so they cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any, Literal
from urllib.parse import urlparse

from app.core.documents import BadManifest, read_manifest

_DB_SCHEMES = {"sqlite", "postgres", "postgresql", "asyncpg", "psycopg"}
_BROKER_SCHEMES = {"memory", "redis", "rediss"}
_PREFIX = "INCIDENTGRAPH_"

Kind = Literal["text", "secret", "int", "float", "flag", "origins", "keys", "delays"]
# A check returns what is wrong (the text after the variable's name), or None.
Check = Callable[["Settings", Any], "str | None"]


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


@dataclass(frozen=True, slots=True)
class Spec:
    env: str
    kind: Kind
    doc: str
    check: Check | None = None
    shown: str | None = None


def setting(
    default: Any,
    env: str,
    kind: Kind,
    doc: str,
    check: Check | None = None,
    *,
    shown: str | None = None,
) -> Any:
    """A field read from INCIDENTGRAPH_<env>, checked by `check`, documented by `doc`."""
    spec = Spec(_PREFIX + env, kind, doc, check, shown)
    if isinstance(default, tuple):
        return field(default=default, metadata={"setting": spec}, repr=kind != "keys")
    return field(default=default, metadata={"setting": spec}, repr=kind != "secret")


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def between(low: float, high: float, zero: str | None = None) -> Check:
    note = f" ({zero})" if zero else ""
    text = f" must be between {_number(low)}{note} and {_number(high)}"
    return lambda _, value: None if low <= value <= high else text


def above(low: float, high: float) -> Check:
    text = f" must be above {_number(low)} and at most {_number(high)}"
    return lambda _, value: None if low < value <= high else text


def _long_enough(_: Settings, value: str | None) -> str | None:
    return None if value is None or len(value) >= 16 else " must be at least 16 characters"


def _database_url(_: Settings, value: str) -> str | None:
    scheme = urlparse(value).scheme
    if scheme in _DB_SCHEMES:
        return None
    return (
        f": unsupported scheme {scheme!r} (use sqlite://PATH or postgres://user:pass@host:5432/db)"
    )


def _broker_url(_: Settings, value: str) -> str | None:
    scheme = urlparse(value).scheme
    if scheme in _BROKER_SCHEMES:
        return None
    return f": unsupported scheme {scheme!r} (use memory:// or redis://host:6379/0)"


def _manifest(_: Settings, value: str | None) -> str | None:
    if not value:
        return None
    try:
        read_manifest(value)
    except BadManifest as exc:
        return f": {exc}"
    return None


def _log_format(_: Settings, value: str) -> str | None:
    return None if value in ("text", "json") else f" must be text or json, not {value!r}"


def _port(_: Settings, value: int) -> str | None:
    return None if 0 < value < 65536 else f" out of range: {value}"


def _channel_prefix(_: Settings, value: str) -> str | None:
    if all(c.isalnum() or c in "-_." for c in value):
        return None
    return " may hold letters, digits, - _ . only"


def _origins(_: Settings, value: tuple[str, ...]) -> str | None:
    for origin in value:
        parsed = urlparse(origin)
        if origin != "*" and (parsed.scheme not in ("http", "https") or not parsed.netloc):
            return f": {origin!r} is not an origin (use https://host[:port], comma-separated, or *)"
    return None


def _retry_base(settings: Settings, value: float) -> str | None:
    if 0 < value <= settings.itsm_retry_max_seconds <= 86_400:
        return None
    return " must be above 0 and at most INCIDENTGRAPH_ITSM_RETRY_MAX_SECONDS (at most 86400)"


def _client_url(_: Settings, value: str) -> str | None:
    parsed = urlparse(value)
    if parsed.scheme in ("http", "https") and parsed.hostname:
        return None
    return " must be an http(s) URL, e.g. http://127.0.0.1:8000"


def _readable_file(_: Settings, value: str | None) -> str | None:
    if value is None or os.path.isfile(value):
        return None
    return f": no such file {value!r}"


def _smtp_url(_: Settings, value: str | None) -> str | None:
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme in ("smtp", "smtps") and parsed.hostname:
        return None
    return " must read smtp://[user:password@]host:port or smtps://..."


def _query_length(settings: Settings, value: int) -> str | None:
    if 256 <= value <= settings.max_body_bytes:
        return None
    return " must be between 256 and INCIDENTGRAPH_MAX_BODY_BYTES"


def _delays(_: Settings, value: tuple[float, ...]) -> str | None:
    if not 1 <= len(value) <= 20 or any(not 0 < d <= 7 * 86_400 for d in value):
        return " must be 1 to 20 delays, each above 0 and at most a week (604800 s)"
    return None


def _fernet_keys(_: Settings, value: tuple[str, ...]) -> str | None:
    for number, key in enumerate(value, 1):
        if not _is_fernet_key(key):
            return (
                f": key {number} is not a Fernet key (32 url-safe base64-encoded bytes; "
                "make one with `incidentgraph secrets new-key`)"
            )
    return None


# The roles a sign-in may map to (app.models.Role; tests/unit checks they agree).
ROLE_NAMES = (
    "VIEWER",
    "STAKEHOLDER",
    "RESPONDER",
    "INCIDENT_MANAGER",
    "ADMIN",
    "INGEST",
    "SCIM",
)
_OIDC_KEYS = {"issuer", "audience", "jwksUrl", "roleClaim", "roles", "defaultRole", "tenant"}


@dataclass(frozen=True, slots=True)
class OidcIssuer:
    """One identity provider whose signed JWTs are accepted as bearer tokens."""

    issuer: str
    audience: str
    jwks_url: str
    # Where the role names are in the token: a claim, or a dotted path (realm_access.roles).
    role_claim: str
    # Claim value -> role; a sign-in gets the highest role its values map to.
    roles: tuple[tuple[str, str], ...]
    # The role of a sign-in none of whose values map to one; None refuses it.
    default_role: str | None
    tenant: str


def parse_oidc_issuers(text: str | None) -> tuple[OidcIssuer, ...]:
    """INCIDENTGRAPH_OIDC_ISSUERS: a JSON list of {issuer, audience, jwksUrl, roleClaim,
    roles, defaultRole?, tenant?}; ValueError says what is wrong."""
    if text is None or not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(raw, list):
        raise ValueError("must be a JSON list of issuers")
    found: list[OidcIssuer] = []
    for number, item in enumerate(raw, 1):
        where = f"issuer {number}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object")
        unknown = sorted(set(item) - _OIDC_KEYS)
        if unknown:
            raise ValueError(f"{where} has unknown keys {unknown} (known: {sorted(_OIDC_KEYS)})")
        text_of = {}
        for key in ("issuer", "audience", "jwksUrl"):
            value = item.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where} needs {key!r} (a non-empty string)")
            text_of[key] = value.strip()
        if urlparse(text_of["jwksUrl"]).scheme not in ("http", "https"):
            raise ValueError(f"{where}: jwksUrl must be an http(s) URL")
        role_claim = item.get("roleClaim", "roles")
        roles = item.get("roles", {})
        if not isinstance(role_claim, str) or not role_claim:
            raise ValueError(f"{where}: roleClaim must be a claim name")
        if not isinstance(roles, dict) or not all(isinstance(k, str) for k in roles):
            raise ValueError(f"{where}: roles must map claim values to roles")
        default_role = item.get("defaultRole")
        for role in [*roles.values(), *([default_role] if default_role is not None else [])]:
            if role not in ROLE_NAMES:
                raise ValueError(f"{where}: {role!r} is not a role (one of {list(ROLE_NAMES)})")
        tenant = item.get("tenant", "default")
        if not isinstance(tenant, str) or not tenant:
            raise ValueError(f"{where}: tenant must be a tenant id")
        found.append(
            OidcIssuer(
                issuer=text_of["issuer"],
                audience=text_of["audience"],
                jwks_url=text_of["jwksUrl"],
                role_claim=role_claim,
                roles=tuple(sorted(roles.items())),
                default_role=default_role,
                tenant=tenant,
            )
        )
    issuers = [i.issuer for i in found]
    if len(set(issuers)) != len(issuers):
        raise ValueError("lists an issuer twice")
    return tuple(found)


def _oidc_issuers(_: Settings, value: str | None) -> str | None:
    try:
        parse_oidc_issuers(value)
    except ValueError as exc:
        return f" {exc}"
    return None


# The standard variables of the libraries the service uses, read here as ours are.

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def metrics_dir(environ: Mapping[str, str] = os.environ) -> str | None:
    """prometheus-client's directory shared by `serve --workers N`, when there is one."""
    return environ.get(METRICS_DIR_VARIABLE) or None


def share_metrics_dir() -> None:
    """Give the workers about to start a fresh directory to add their metrics up in, unless
    the deployment named one."""
    if metrics_dir() is None:
        os.environ[METRICS_DIR_VARIABLE] = tempfile.mkdtemp(prefix="incidentgraph-metrics-")


def trace_exporters(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The span exporters OpenTelemetry's variables ask for; none when tracing is off
    (app/core/tracing.py says when it is on)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    text = environ.get("OTEL_TRACES_EXPORTER", "")
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if names:
        return [name for name in names if name != "none"]
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    return ["otlp"] if endpoint else []


def service_name_set(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(environ.get("OTEL_SERVICE_NAME"))


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = setting(
        "sqlite://./data/incidentgraph.db",
        "DATABASE_URL",
        "text",
        "Tortoise URL; `postgres://user:pass@host:5432/db` for PostgreSQL (asyncpg)",
        _database_url,
    )
    broadcast_url: str = setting(
        "memory://",
        "BROADCAST_URL",
        "text",
        "broadcaster URL; `redis://host:6379/0` fans events out across processes and hosts",
        _broker_url,
    )
    host: str = setting("127.0.0.1", "HOST", "text", "listen address")
    port: int = setting(8000, "PORT", "int", "listen port", _port)
    bootstrap_token: str | None = setting(
        None,
        "BOOTSTRAP_TOKEN",
        "secret",
        "when set, an admin token with exactly this value exists for tenant `default` after "
        "start-up (for containers and tests); at least 16 characters",
        _long_enough,
    )
    channel_prefix: str = setting(
        "incidentgraph",
        "CHANNEL_PREFIX",
        "text",
        "prefix of every broker channel; give deployments that share one Redis different "
        "prefixes (Redis pub/sub ignores the database number)",
        _channel_prefix,
    )
    query_cache_seconds: float = setting(
        1.0,
        "QUERY_CACHE_SECONDS",
        "float",
        "how long an identical query may be answered from the process's cache (see below); "
        "`0` turns the cache off",
        between(0, 3600),
    )
    # Not read from the environment: the outbox sweep's period and a subscriber's queue.
    outbox_sweep_interval: float = 1.0
    subscriber_queue_size: int = 1000
    rate_limit_per_second: float = setting(
        50.0,
        "RATE_LIMIT_PER_SECOND",
        "float",
        "sustained GraphQL requests per second per token, per process (see [Limits](#limits)); "
        "`0` turns the rate limit off",
        between(0, 1_000_000, "no limit"),
    )
    rate_limit_burst: int = setting(
        200,
        "RATE_LIMIT_BURST",
        "int",
        "requests a token may send at once before the sustained rate applies",
        between(1, 1_000_000),
    )
    max_connections_per_token: int = setting(
        50,
        "MAX_CONNECTIONS_PER_TOKEN",
        "int",
        "open WebSockets per token, per process; `0` for no cap",
        between(0, 1_000_000, "no cap"),
    )
    max_subscriptions_per_connection: int = setting(
        100,
        "MAX_SUBSCRIPTIONS_PER_CONNECTION",
        "int",
        "operations one WebSocket may run at once",
        between(1, 10_000),
    )
    trusted_documents: str | None = setting(
        None,
        "TRUSTED_DOCUMENTS",
        "text",
        "path of a manifest of the only GraphQL documents to run (hash to document, or "
        "Apollo's persisted query manifest); any other is refused FORBIDDEN, over HTTP and "
        "WebSocket. Unset: any document",
        _manifest,
    )
    allowed_origins: tuple[str, ...] = setting(
        (),
        "ALLOWED_ORIGINS",
        "origins",
        "comma-separated origins (`https://wall.example.com`) of browser pages on other sites "
        "that may call the API (CORS) and open its WebSocket; `*` for any",
        _origins,
    )
    itsm_max_attempts: int = setting(
        8,
        "ITSM_MAX_ATTEMPTS",
        "int",
        "attempts to deliver a change to ServiceNow or Jira before the ticket is ERROR "
        "(see [Linked tickets](#linked-tickets-servicenow-jira))",
        between(1, 100),
    )
    itsm_retry_base_seconds: float = setting(
        2.0,
        "ITSM_RETRY_BASE_SECONDS",
        "float",
        "first backoff ceiling between delivery attempts (full jitter under it)",
        _retry_base,
    )
    itsm_retry_max_seconds: float = setting(
        300.0,
        "ITSM_RETRY_MAX_SECONDS",
        "float",
        "largest backoff ceiling between delivery attempts; at most 86400",
    )
    itsm_reconcile_seconds: float = setting(
        300.0,
        "ITSM_RECONCILE_SECONDS",
        "float",
        "how often every linked ticket is compared with the provider (drift detection); "
        "`0` turns it off",
        between(0, 86_400),
    )
    itsm_poll_seconds: float = setting(
        1.0,
        "ITSM_POLL_SECONDS",
        "float",
        "how often the sync worker looks for due work a change in another process queued",
        above(0, 60),
    )
    itsm_http_timeout_seconds: float = setting(
        10.0,
        "ITSM_HTTP_TIMEOUT_SECONDS",
        "float",
        "timeout of each call to ServiceNow or Jira",
        above(0, 300),
    )
    itsm_job_retention_seconds: float = setting(
        7 * 86_400.0,
        "ITSM_JOB_RETENTION_SECONDS",
        "float",
        "how long finished ticket sync jobs are kept (7 days) before they are pruned",
        between(0, 366 * 86_400),
    )
    itsm_prune_seconds: float = setting(
        3600.0,
        "ITSM_PRUNE_SECONDS",
        "float",
        "how often old sync jobs and webhook deliveries are pruned; `0` turns it off",
        between(0, 86_400),
    )
    client_url: str = setting(
        "http://127.0.0.1:8000",
        "URL",
        "text",
        "where the command line's client commands (`incident`, `notify`, `comms`, `report`) "
        "find the server (see [Command line](#command-line))",
        _client_url,
    )
    client_token: str | None = setting(
        None,
        "TOKEN",
        "secret",
        "the API token the command line's client commands send",
    )
    smtp_url: str | None = setting(
        None,
        "SMTP_URL",
        "secret",
        "`smtp://[user:password@]host:port` (STARTTLS when the server offers it) or "
        "`smtps://...` (TLS from the start): enables e-mail delivery of communications "
        "(see [Communications](#communications)); unset, EMAIL cannot be sent",
        _smtp_url,
    )
    smtp_ca_file: str | None = setting(
        None,
        "SMTP_CA_FILE",
        "text",
        "a PEM file of the certificate authorities that sign the SMTP server's certificate "
        "(a private CA); unset, the system's are trusted. Certificates are always checked",
        _readable_file,
    )
    notify_max_attempts: int = setting(
        6,
        "NOTIFY_MAX_ATTEMPTS",
        "int",
        "attempts to deliver one message before it is FAILED with the last error",
        between(1, 100),
    )
    notify_retry_base_seconds: float = setting(
        5.0,
        "NOTIFY_RETRY_BASE_SECONDS",
        "float",
        "first backoff ceiling between delivery attempts of a message (full jitter under it)",
        above(0, 86_400),
    )
    notify_retry_max_seconds: float = setting(
        600.0,
        "NOTIFY_RETRY_MAX_SECONDS",
        "float",
        "largest backoff ceiling between delivery attempts of a message",
        above(0, 86_400),
    )
    notify_timeout_seconds: float = setting(
        10.0,
        "NOTIFY_TIMEOUT_SECONDS",
        "float",
        "timeout of each delivery attempt (an SMTP session, a Slack, webhook or PagerDuty call)",
        above(0, 300),
    )
    notify_poll_seconds: float = setting(
        1.0,
        "NOTIFY_POLL_SECONDS",
        "float",
        "how often the delivery worker looks for messages due another attempt",
        above(0, 60),
    )
    sse_heartbeat_seconds: float = setting(
        15.0,
        "SSE_HEARTBEAT_SECONDS",
        "float",
        "how often `GET /events/stream` sends a comment line when no event comes, so proxies "
        "keep the stream open and the token is checked again",
        above(0, 300),
    )
    retention_interval_seconds: float = setting(
        3600.0,
        "RETENTION_INTERVAL_SECONDS",
        "float",
        "how often incidents past their tenant's retention are purged (one process at a time; "
        "`incidentgraph retention purge` runs it now)",
        above(0, 7 * 86_400),
    )
    webhook_retry_seconds: tuple[float, ...] = setting(
        (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0),
        "WEBHOOK_RETRY_SECONDS",
        "delays",
        "the waits between attempts of an outbound webhook delivery, comma-separated seconds "
        "(each drawn 20 % either side, never sooner than the receiver's `Retry-After`); after "
        "the last one fails the delivery is dead-lettered. The default spans about 27 hours",
        _delays,
        shown="`5,300,1800,7200,18000,36000,36000`",
    )
    webhook_timeout_seconds: float = setting(
        15.0,
        "WEBHOOK_TIMEOUT_SECONDS",
        "float",
        "how long a webhook receiver has to answer an attempt",
        above(0, 120),
    )
    webhook_disable_after: int = setting(
        5,
        "WEBHOOK_DISABLE_AFTER",
        "int",
        "an endpoint whose deliveries are dead-lettered this many times in a row is disabled "
        "(its events wait in the feed until it is enabled again by hand); `0` never disables",
        between(0, 1_000_000, "never"),
    )
    webhook_secret_overlap_seconds: float = setting(
        86_400.0,
        "WEBHOOK_SECRET_OVERLAP_SECONDS",
        "float",
        "after `rotateWebhookSecret`, how long the previous secret keeps signing beside the new "
        "one, so receivers can switch without missing a delivery",
        above(0, 30 * 86_400),
    )
    alert_max_body_bytes: int = setting(
        1_048_576,
        "ALERT_MAX_BODY_BYTES",
        "int",
        "largest alert webhook body (see [Alert intake](#alert-intake)); larger is refused "
        "with 413",
        between(1_024, 64 * 1_048_576),
    )
    alert_max_per_request: int = setting(
        5_000,
        "ALERT_MAX_PER_REQUEST",
        "int",
        "most alerts in one webhook request",
        between(1, 100_000),
    )
    alert_rate_per_second: float = setting(
        20_000.0,
        "ALERT_RATE_PER_SECOND",
        "float",
        "sustained alerts per second per `INGEST` token, per process; `0` turns the limit off",
        between(0, 10_000_000, "no limit"),
    )
    alert_rate_burst: float = setting(
        40_000.0,
        "ALERT_RATE_BURST",
        "float",
        "alerts a token may send at once before the sustained rate applies",
        between(1, 10_000_000),
    )
    alert_batch_size: int = setting(
        20_000,
        "ALERT_BATCH_SIZE",
        "int",
        "alerts the processor deduplicates and correlates in one transaction",
        between(1, 50_000),
    )
    alert_poll_seconds: float = setting(
        1.0,
        "ALERT_POLL_SECONDS",
        "float",
        "how often the processor looks for alerts another process accepted",
        above(0, 60),
    )
    alert_coalesce_seconds: float = setting(
        1.0,
        "ALERT_COALESCE_SECONDS",
        "float",
        "window in which alerts linked to (or resolved on) one incident share one timeline event",
        between(0, 60),
    )
    max_body_bytes: int = setting(
        1_048_576,
        "MAX_BODY_BYTES",
        "int",
        "largest `POST /graphql` body and WebSocket message (see [Limits](#limits)); a larger "
        "body is refused with 413 `PAYLOAD_TOO_LARGE`, a larger message closes the socket "
        "with 1009",
        between(1_024, 64 * 1_048_576),
    )
    max_query_length: int = setting(
        65_536,
        "MAX_QUERY_LENGTH",
        "int",
        "longest query text, in characters, over POST, GET and WebSocket; longer is refused "
        "with `QUERY_TOO_LARGE` before it is parsed",
        _query_length,
    )
    ws_init_timeout_seconds: float = setting(
        10.0,
        "WS_INIT_TIMEOUT_SECONDS",
        "float",
        "how long a WebSocket (either subprotocol) may stay open without `connection_init`; "
        "then it is closed with 4408",
        above(0, 300),
    )
    ws_send_timeout_seconds: float = setting(
        10.0,
        "WS_SEND_TIMEOUT_SECONDS",
        "float",
        "how long a WebSocket's client may leave the server's messages unread (its buffers "
        "full) before the server closes it with 1013 and reason `SLOW_CONSUMER`; the other "
        "subscribers never wait for it",
        above(0, 3600),
    )
    metrics_token: str | None = setting(
        None,
        "METRICS_TOKEN",
        "secret",
        "when set, `GET /metrics` needs `Authorization: Bearer <this token>` (401 otherwise) "
        "and adds each tenant's key figures; at least 16 characters. Unset, `/metrics` is "
        "open: it shows only process-wide figures, never a tenant, token or user",
        _long_enough,
    )
    audit_read_window_seconds: float = setting(
        300.0,
        "AUDIT_READ_WINDOW_SECONDS",
        "float",
        "a restricted incident read again by the same reader (user and token) through the same "
        "field within this many seconds is not recorded again (per server process): polling "
        "dashboards leave one audit record a window, and their answers may come from the query "
        "cache; `0` records every read",
        between(0, 86_400),
    )
    log_format: str = setting(
        "text",
        "LOG_FORMAT",
        "text",
        "`text` (uvicorn's lines) or `json`: every log record one JSON object per line, and "
        "one line per request with its request id, tenant, GraphQL operation name and type, "
        "status and duration (uvicorn's access lines then left out)",
        _log_format,
    )
    allow_private_networks: bool = setting(
        False,
        "ALLOW_PRIVATE_NETWORKS",
        "flag",
        "when `true`, ITSM connections and webhook endpoints may point at loopback, "
        "link-local and private "
        "addresses (tests, on-premises products); otherwise such targets are refused with "
        "`VALIDATION` when configured and never called "
        "(see [Connect a provider](#connect-a-provider))",
    )
    secret_keys: tuple[str, ...] = setting(
        (),
        "SECRET_KEY",
        "keys",
        "comma-separated Fernet keys that encrypt stored ITSM credentials and webhook "
        "secrets: the first encrypts, every one decrypts "
        "(see [Secrets at rest](#secrets-at-rest)); unset: SQLite keeps a key in "
        "`secret.key` next to the database file (mode 0600), PostgreSQL refuses to start",
        _fernet_keys,
    )
    max_query_cost: int = setting(
        10_000,
        "MAX_QUERY_COST",
        "int",
        "the most a GraphQL document (query, mutation or subscription) may cost "
        "(see [Query cost](#query-cost)); `0` turns the limit off",
        between(0, 100_000_000, "no limit"),
    )
    max_push_bytes: int = setting(
        1_048_576,
        "MAX_PUSH_BYTES",
        "int",
        "the most bytes one subscription push may carry; a larger push is replaced by a "
        "`PUSH_TOO_LARGE` error (see [Query cost](#query-cost))",
        between(1_024, 1_073_741_824),
    )
    problem_stability_days: float = setting(
        7.0,
        "PROBLEM_STABILITY_DAYS",
        "float",
        "how long a resolved problem must go without a new linked incident before it may "
        "close (see [Problems](#problems))",
        between(0, 3650),
    )
    oidc_issuers: str | None = setting(
        None,
        "OIDC_ISSUERS",
        "secret",
        "OpenID Connect sign-in: a JSON list of "
        "`{issuer, audience, jwksUrl, roleClaim, roles, defaultRole?, tenant?}`; bearer JWTs "
        "(RS256/ES256) from these issuers are accepted beside API tokens "
        "(see [Single sign-on](#single-sign-on-openid-connect)); unset: API tokens only",
        _oidc_issuers,
        shown="unset",
    )

    @property
    def oidc(self) -> tuple[OidcIssuer, ...]:
        return parse_oidc_issuers(self.oidc_issuers)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {
            f.name: _parse(spec, env.get(spec.env), f.default)
            for f, spec in _declared()
            if spec.env in env
        }
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        for f, spec in _declared():
            if spec.check is not None:
                problem = spec.check(self, getattr(self, f.name))
                if problem is not None:
                    raise ConfigError(spec.env + problem)


def _declared() -> list[tuple[Field[Any], Spec]]:
    return [(f, f.metadata["setting"]) for f in fields(Settings) if "setting" in f.metadata]


def _parse(spec: Spec, text: str | None, default: Any) -> Any:
    if text is None:
        return default
    if spec.kind == "text":
        return text
    if spec.kind == "secret":
        return text or None
    if spec.kind == "flag":
        return _flag(spec.env, text, default)
    if spec.kind == "origins":
        return tuple(o.strip().rstrip("/").lower() for o in text.split(",") if o.strip())
    if spec.kind == "keys":
        return tuple(k.strip() for k in text.split(",") if k.strip())
    if spec.kind == "delays":
        try:
            return tuple(float(d) for d in text.split(",") if d.strip())
        except ValueError as exc:
            raise ConfigError(
                f"{spec.env} must be comma-separated numbers of seconds, not {text!r}"
            ) from exc
    kind = int if spec.kind == "int" else float
    try:
        return kind(text)
    except ValueError as exc:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{spec.env} must be {what}, not {text!r}") from exc


def _flag(name: str, text: str, default: bool) -> bool:
    value = text.strip().lower()
    if not value:
        return default
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


def _shown(spec: Spec, default: Any) -> str:
    if spec.shown is not None:
        return spec.shown
    if default is None or default == ():
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float):
        return f"`{_number(default)}`"
    return f"`{default}`"


def settings_table() -> str:
    """The README's table of environment variables, from the declarations above."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f, spec in _declared():
        rows.append(f"| `{spec.env}` | {_shown(spec, f.default)} | {spec.doc} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(settings_table())

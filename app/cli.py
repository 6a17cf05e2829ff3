"""The `incidentgraph` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from app import __version__, remote
from app.config import ConfigError, Settings, share_metrics_dir
from app.core.pagination import PAGE_MAX
from app.errors import DomainError
from app.models import Classification, Role

T = TypeVar("T")


def _with_database(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """Migrate, connect, run `work`, disconnect: what every command that touches data does."""
    from app import database
    from app.services import hooks

    async def run() -> T:
        await database.migrate(settings)
        await database.init(settings)
        stop_hooks = hooks.register()
        try:
            return await work()
        finally:
            stop_hooks()
            await database.close()

    return asyncio.run(run())


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import announce_admin_token, bootstrap

    settings = settings.with_(host=args.host or settings.host, port=args.port or settings.port)
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.broadcast_url.startswith("memory"):
        print(
            "error: --workers > 1 needs a shared broker: set INCIDENTGRAPH_BROADCAST_URL=redis://...",
            file=sys.stderr,
        )
        return 2

    if args.workers > 1:
        share_metrics_dir()  # fresh, unless named: no stale figures of an earlier run

    from app.services.access import secret_box

    secret_box.load(settings)  # no key to be had: stop here, before anything starts
    # A port already taken stops here too, before the first admin token is made and shown.
    refused = _cannot_listen(settings.host, settings.port)
    if refused:
        print(
            f"error: cannot listen on {settings.host}:{settings.port}: {refused}", file=sys.stderr
        )
        return 2
    secret = _with_database(settings, lambda: bootstrap(settings))
    if secret:
        announce_admin_token(secret, settings)
    _announce_urls(settings)
    # Workers read their settings from the environment: hand them the command line's.
    os.environ.update(
        {"INCIDENTGRAPH_HOST": settings.host, "INCIDENTGRAPH_PORT": str(settings.port)}
    )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        log_level=args.log_level,
        **uvicorn_options(settings),
    )
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How `serve` runs uvicorn beyond its address, workers and logging (the benchmarks that
    run a server in their own process take the same)."""
    return {
        "proxy_headers": True,
        "ws_ping_interval": 20,
        # A WebSocket message is held to the limit of an HTTP body (a bigger one closes 1009).
        "ws_max_size": settings.max_body_bytes,
        # Frames are small JSON documents: compressing each costs more CPU than it saves.
        "ws_per_message_deflate": False,
    }


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port now, or None when it can."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        return str(exc.strerror or exc)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _announce_urls(settings: Settings) -> None:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    base = f"http://{host}:{settings.port}"
    print(
        f"incidentgraph {__version__} serving on {base}\n"
        f"  GraphiQL:      {base}/graphql\n"
        f"  Status boards: {base}/boards/executive (also responder, communications, customer)\n"
        f"  Health:        {base}/healthz, metrics {base}/metrics",
        flush=True,
    )


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app import database

    applied = asyncio.run(database.migrate(settings))
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0


def _token_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.errors import DomainError
    from app.services.access import tokens as token_service
    from app.services.people import users

    if args.user is None and args.name is None:
        print("error: a service token needs --name (or give --user)", file=sys.stderr)
        return 2

    async def create() -> str:
        user_id = None
        if args.user is not None:
            user = await users.user_by_handle(tenant_id=args.tenant, handle=args.user)
            user_id = user.id
        return await token_service.create_token(
            # Whoever runs this holds the database's credentials: every token is theirs.
            issuer=token_service.OPERATOR,
            tenant_id=args.tenant,
            role=Role(args.role),
            name=args.name,
            clearance=Classification(args.clearance) if args.clearance else None,
            user_id=user_id,
        )

    try:
        print(_with_database(settings, create))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return 0


def _token_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.errors import DomainError
    from app.services.access import tokens as token_service

    async def every_token() -> list[token_service.TokenRecord]:
        tokens: list[token_service.TokenRecord] = []
        after: str | None = None
        while True:
            page = await token_service.list_tokens(
                tenant_id=args.tenant, first=PAGE_MAX, after=after
            )
            tokens += [token for _, token in page.items]
            if not page.has_next_page:
                return tokens
            after = page.items[-1][0]

    try:
        tokens = _with_database(settings, every_token)
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    rows = [("ID", "NAME", "ROLE", "CLEARANCE", "CREATED", "REVOKED")] + [
        (
            t.id,
            t.name,
            t.role.value,
            t.clearance.value,
            _when(t.created_at),
            _when(t.revoked_at) if t.revoked_at else "-",
        )
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from app.errors import DomainError
    from app.services.access import tokens as token_service

    try:
        # GraphQL's global id ("tok_<hex>") names the same token.
        token_id = args.id.removeprefix("tok_")
        token = _with_database(settings, lambda: token_service.revoke_token(token_id=token_id))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(
        f"revoked token {token.id} ({token.name!r}, tenant {token.tenant_id!r}); "
        "running servers refuse it within 5 seconds"
    )
    return 0


def _user_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.errors import DomainError
    from app.services.access import tokens as token_service
    from app.services.access.caller import user_actor
    from app.services.people import users

    async def create() -> tuple[users.UserView, str | None]:
        user = await users.create_user(
            tenant_id=args.tenant,
            handle=args.handle,
            name=args.name or args.handle,
            email=args.email,
            time_zone=args.time_zone,
        )
        if args.role is None:
            return user, None
        secret = await token_service.create_token(
            issuer=token_service.OPERATOR,
            tenant_id=args.tenant,
            role=Role(args.role),
            name=None,
            user_id=user.id,
        )
        return user, secret

    try:
        user, secret = _with_database(settings, create)
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"created user {user.handle!r} ({user_actor(user.id)}) in tenant {args.tenant!r}")
    if secret is not None:
        print(f"their {args.role} token, shown once:", file=sys.stderr)
        print(secret)
    return 0


def _tenant_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.errors import DomainError
    from app.services.access import tenants as tenant_service

    try:
        _with_database(
            settings, lambda: tenant_service.create_tenant(tenant_id=args.id, name=args.name)
        )
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"created tenant {args.id!r}")
    return 0


def _tenant_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.models import Incident, Tenant

    async def every_tenant() -> list[tuple[str, str, str, int]]:
        rows = await Tenant.all().order_by("id").values_list("id", "name", "plan")
        found = []
        for tenant_id, name, plan in rows:
            count = await Incident.filter(tenant_id=tenant_id).count()
            found.append((str(tenant_id), str(name), str(plan), count))
        return found

    rows = _with_database(settings, every_tenant)
    if not rows:
        print("no tenants")
        return 0
    width = max(len(r[0]) for r in rows)
    print(f"{'ID':<{width}}  {'PLAN':<10}  {'INCIDENTS':>9}  NAME")
    for tenant_id, name, plan, count in rows:
        print(f"{tenant_id:<{width}}  {plan:<10}  {count:>9}  {name}")
    return 0


def _tenant_plan(args: argparse.Namespace, settings: Settings) -> int:
    from app.errors import DomainError
    from app.models import Plan
    from app.services.access import quotas
    from app.services.access import tenants as tenant_service

    limits: dict[str, int | None] = {}
    for given in args.limit or ():
        name, _, value = given.partition("=")
        if value.strip().lower() in ("", "none", "unlimited"):
            limits[name.strip()] = None
        elif value.strip().isdigit():
            limits[name.strip()] = int(value)
        else:
            print(f"error: --limit {given!r}: NAME=NUMBER or NAME=unlimited", file=sys.stderr)
            return 2
    try:
        tenant = _with_database(
            settings,
            lambda: tenant_service.set_plan(
                tenant_id=args.tenant, plan=Plan(args.plan), limits=limits or None
            ),
        )
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    effective = quotas.limits_json(quotas.limits_for(tenant.plan, tenant.limits))
    shown = ", ".join(f"{k} {'unlimited' if v is None else v}" for k, v in effective.items())
    print(f"tenant {args.tenant!r} is on the {tenant.plan.value} plan: {shown}")
    return 0


def _retention_purge(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.retention import purge

    tenants = [args.tenant] if args.tenant else None
    done = _with_database(settings, lambda: purge.purge(tenant_ids=tenants))
    for item in done:
        print(
            f"purged INC-{item.number} of {item.tenant_id} (ended {item.ended_at:%Y-%m-%d}, "
            f"{item.events} events)"
        )
    print(f"{len(done)} incident(s) purged")
    return 0


def _secrets_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.access import secret_box
    from app.services.itsm import connection as connections

    box = secret_box.load(settings)
    try:
        count = _with_database(settings, lambda: connections.reseal_all(box))
    except secret_box.Unreadable as exc:
        print(f"error: {exc}; nothing was changed", file=sys.stderr)
        return 2
    print(f"re-encrypted the secrets of {count} ITSM connection(s) with the first key")
    return 0


def _secrets_new_key(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.access import secret_box

    print(secret_box.new_key())
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.demo import load_demo

    loaded = _with_database(settings, lambda: load_demo(tenant_id=args.tenant, settings=settings))
    if loaded.current:
        print(
            f"loaded {loaded.current} demo incidents and {loaded.past} resolved over the past "
            f"four weeks into tenant {args.tenant!r}"
        )
        if loaded.ticket_in is None:
            print(
                "  no ITSM connection: configure ServiceNow or Jira first "
                "(configureItsmConnection) and the major incident gets a ticket there"
            )
        else:
            print(
                f"  the major incident is linked to a new {loaded.ticket_in.value} ticket "
                "(a running server creates it)"
            )
    else:
        print(f"tenant {args.tenant!r} has the demo already: nothing changed")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="incidentgraph",
        description="Incident management as a GraphQL API with live subscriptions. "
        "Configured by INCIDENTGRAPH_* environment variables (see README).",
    )
    root.add_argument("--version", action="version", version=f"incidentgraph {__version__}")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument("--host", help="listen address (default INCIDENTGRAPH_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default INCIDENTGRAPH_PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(run=_migrate)

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token and print it once")
    create.add_argument("--tenant", required=True, help="tenant id, e.g. default")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", help="who or what uses the token (required for a service token)")
    create.add_argument(
        "--user", help="handle of the user the token acts as (default: a service token)"
    )
    create.add_argument(
        "--clearance",
        choices=[c.value for c in Classification],
        help="the highest classification the token may read (default: the role's)",
    )
    create.set_defaults(run=_token_create)
    listing = token_commands.add_parser("list", help="list a tenant's tokens (never their secrets)")
    listing.add_argument("--tenant", required=True, help="tenant id, e.g. default")
    listing.set_defaults(run=_token_list)
    revoke = token_commands.add_parser("revoke", help="revoke a token: it stops authenticating")
    revoke.add_argument("--id", required=True, help="the token's id, as `token list` shows it")
    revoke.set_defaults(run=_token_revoke)

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    user_create = user_commands.add_parser(
        "create", help="create a user; with --role, also print a token acting as them"
    )
    user_create.add_argument("--tenant", required=True, help="tenant id, e.g. default")
    user_create.add_argument("--handle", required=True, help="unique handle, e.g. dana")
    user_create.add_argument("--email", required=True, help="unique e-mail address")
    user_create.add_argument("--name", help="display name (default: the handle)")
    user_create.add_argument("--time-zone", default="UTC", help="IANA time zone (default UTC)")
    user_create.add_argument(
        "--role", choices=[r.value for r in Role], help="issue a token of this role for the user"
    )
    user_create.set_defaults(run=_user_create)

    tenant = commands.add_parser("tenant", help="manage tenants")
    tenant_commands = tenant.add_subparsers(dest="tenant_command", required=True)
    tenant_create = tenant_commands.add_parser("create", help="create a tenant")
    tenant_create.add_argument(
        "--id", required=True, help="permanent id: 1-64 lowercase letters, digits or '-'"
    )
    tenant_create.add_argument("--name", required=True, help="display name")
    tenant_create.set_defaults(run=_tenant_create)
    tenant_list = tenant_commands.add_parser(
        "list", help="list the tenants: id, plan, incidents and name"
    )
    tenant_list.set_defaults(run=_tenant_list)
    tenant_plan = tenant_commands.add_parser(
        "plan", help="set a tenant's plan and limits of its own (see README, Plans and quotas)"
    )
    tenant_plan.add_argument("--tenant", required=True)
    tenant_plan.add_argument("--plan", required=True, choices=["FREE", "TEAM", "ENTERPRISE"])
    tenant_plan.add_argument(
        "--limit",
        action="append",
        metavar="NAME=N",
        help="a limit over the plan's: activeIncidents, users, webhookEndpoints or "
        "eventsPerMonth, a number or 'unlimited' (repeatable)",
    )
    tenant_plan.set_defaults(run=_tenant_plan)

    retention = commands.add_parser("retention", help="keeping and purging ended incidents")
    retention_commands = retention.add_subparsers(dest="retention_command", required=True)
    purge_now = retention_commands.add_parser(
        "purge",
        help="purge now the incidents past their tenant's retention (not those on legal hold)",
    )
    purge_now.add_argument("--tenant", help="only this tenant (default: every tenant)")
    purge_now.set_defaults(run=_retention_purge)

    secrets = commands.add_parser("secrets", help="the key that encrypts stored secrets")
    secrets_commands = secrets.add_subparsers(dest="secrets_command", required=True)
    rotate = secrets_commands.add_parser(
        "rotate",
        help="re-encrypt every stored secret with the first key of INCIDENTGRAPH_SECRET_KEY "
        "(any key listed may open them)",
    )
    rotate.set_defaults(run=_secrets_rotate)
    new_key = secrets_commands.add_parser("new-key", help="print a new key")
    new_key.set_defaults(run=_secrets_new_key)

    demo = commands.add_parser("demo", help="load a realistic demo data set")
    demo.add_argument("--tenant", default="default")
    demo.set_defaults(run=_demo)
    remote.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.run(args, settings))
    except ConfigError as exc:  # a key a command needs and cannot have (secret_box.load)
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:  # a command refused (no such tenant, say): nothing was done
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except _UNREACHABLE as exc:
        print(
            f"error: cannot use the database {_safe_url(settings.database_url)}: "
            f"{_reason(exc)} (INCIDENTGRAPH_DATABASE_URL)",
            file=sys.stderr,
        )
        return 2


def _unreachable() -> tuple[type[BaseException], ...]:
    """What a database that is down, missing or refusing us raises, through either driver."""
    import asyncpg
    from tortoise.exceptions import DBConnectionError

    return (
        OSError,
        sqlite3.OperationalError,
        DBConnectionError,
        asyncpg.exceptions.InvalidCatalogNameError,
        asyncpg.exceptions.InvalidAuthorizationSpecificationError,
        asyncpg.exceptions.InvalidPasswordError,
        asyncpg.exceptions.CannotConnectNowError,
        asyncpg.exceptions.TooManyConnectionsError,
    )


_UNREACHABLE = _unreachable()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


if __name__ == "__main__":
    sys.exit(main())

"""The ASGI application: routes and lifespan (database, broker, outbox relay, ticket sync,
alert processing)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from app import database
from app.config import Settings, metrics_dir
from app.core import logs, metrics, tracing
from app.core.tasks import cancel_and_wait
from app.models import Role
from app.pubsub.broker import Broker
from app.pubsub.outbox import OutboxRelay, message_committed
from app.services import hooks
from app.services.access import audit, secret_box
from app.services.access import tokens as token_service
from app.services.alerts.intake import IntakeWriter
from app.services.alerts.processor import AlertProcessor
from app.services.chatops.channels import ChannelWorker
from app.services.comms.delivery import DeliveryWorker
from app.services.comms.reminders import Reminders
from app.services.incidents.sla_scheduler import SlaScheduler
from app.services.itsm import connection as itsm_connections
from app.services.itsm.worker import SyncWorker
from app.services.people import oidc
from app.services.response.escalation import EscalationScheduler
from app.services.response.playbooks import PlaybookWorker
from app.services.retention.purge import PurgeWorker
from app.services.webhooks.worker import WebhookWorker
from app.web import alerts, boards, explorer, exports, frames, health, itsm, scim
from app.web.chatops import SlackCommands
from app.web.events import Events
from app.web.graphql import GraphQLView
from app.web.middleware import Authentication, BodyLimit, QueryCaching, RateLimiting
from app.web.middleware.cors import Cors
from app.web.middleware.media_type import GraphQLMediaType
from app.web.middleware.request_log import RequestLog
from app.web.query_cache import QueryCache
from app.web.rate_limit import RateLimit
from app.web.reports import Reports

log = logging.getLogger("incidentgraph")


async def bootstrap(settings: Settings) -> str | None:
    """Tokens that must exist at start; returns a first admin secret created just now."""
    if settings.bootstrap_token:
        await token_service.ensure_token(
            tenant_id="default", role=Role.ADMIN, name="bootstrap", secret=settings.bootstrap_token
        )
        return None
    return await token_service.first_admin_token()


def announce_admin_token(secret: str, settings: Settings) -> None:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = f"http://{host}:{settings.port}/graphql"
    print(
        "\nFirst start: created an admin token for tenant 'default'. It is shown only once:\n\n"
        f"  {secret}\n\nTry it:\n  curl -s {url} -H 'Authorization: Bearer {secret}' "
        "-H 'Content-Type: application/json' -d '{\"query\":\"{ incidents { totalCount } }\"}'\n",
        flush=True,
    )


async def _report_unreadable_secrets(box: secret_box.SecretBox) -> None:
    """Say once, clearly, that the key is wrong; serve on (the rest works, and the ITSM
    calls and deliveries of those connections fail with the same clear message)."""
    rows = await itsm_connections.unreadable_connections(box)
    if rows:
        log.error(
            "INCIDENTGRAPH_SECRET_KEY cannot decrypt the stored secrets of %d ITSM "
            "connection(s) (%s): their tickets do not sync and their webhooks are refused "
            "until the key that sealed them is listed again",
            len(rows),
            ", ".join(f"{r.tenant_id}/{r.provider.value}" for r in rows),
        )


def _tune_gc() -> None:
    """Keep full collections rare and short.

    Every live subscription holds a few hundred objects; with thousands of them a full
    collection walked them all and paused delivery for up to half a second. Objects alive at
    start-up are frozen out of collection and the thresholds raised.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    if settings.log_format == "json":
        logs.use_json()
    audit.READ_WINDOW.seconds = settings.audit_read_window_seconds
    broker = Broker(
        settings.broadcast_url,
        queue_size=settings.subscriber_queue_size,
        namespace=settings.channel_prefix,
    )
    relay = OutboxRelay(
        broker, sweep_interval=settings.outbox_sweep_interval, use_row_locks=not settings.is_sqlite
    )
    sync_worker = SyncWorker(settings, use_row_locks=not settings.is_sqlite)
    delivery_worker = DeliveryWorker(settings, use_row_locks=not settings.is_sqlite)
    webhook_worker = WebhookWorker(settings, use_row_locks=not settings.is_sqlite)
    purge_worker = PurgeWorker(settings.retention_interval_seconds)
    channel_worker = ChannelWorker(settings, use_row_locks=not settings.is_sqlite)
    reminders = Reminders(settings)
    alert_processor = AlertProcessor(
        settings,
        use_row_locks=not settings.is_sqlite,
        on_quarantine=metrics.ALERTS_QUARANTINED.inc,
    )
    intake_writer = IntakeWriter(sqlite=settings.is_sqlite)
    sla_scheduler = SlaScheduler()
    playbook_worker = PlaybookWorker()
    escalation_scheduler = EscalationScheduler()
    alert_webhooks = alerts.AlertWebhooks(settings=settings, writer=intake_writer)
    reports = Reports(settings=settings, broker=broker)
    feed = Events(settings=settings, broker=broker)
    slack_commands = SlackCommands(settings=settings)
    cache = QueryCache(
        broker, ttl=settings.query_cache_seconds, max_query_length=settings.max_query_length
    )
    secrets = secret_box.load(settings)
    oidc.configure(settings.oidc)
    rate_limit = RateLimit(rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst)
    view = GraphQLView(settings=settings, broker=broker, rate_limit=rate_limit)
    # In this order: who is calling, may they, how big, already answered?
    graphql_edge = [
        Middleware(GraphQLMediaType),
        Middleware(Authentication),
        Middleware(RateLimiting, limit=rate_limit),
        Middleware(BodyLimit, limit=settings.max_body_bytes),
        Middleware(QueryCaching, cache=cache),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.is_sqlite:
            await database.migrate(settings)
        await database.init(settings)
        await _report_unreadable_secrets(secrets)
        secret = await bootstrap(settings)
        if secret:
            announce_admin_token(secret, settings)
        await broker.connect()
        stop_invalidating = message_committed.connect(lambda m: cache.invalidate(m.tenant_id))
        stop_hooks = hooks.register()
        await relay.start()
        await sync_worker.start()
        await alert_processor.start()
        await intake_writer.start()
        await sla_scheduler.start()
        await playbook_worker.start()
        await escalation_scheduler.start()
        await delivery_worker.start()
        await webhook_worker.start()
        await purge_worker.start()
        await channel_worker.start()
        await reminders.start()
        _tune_gc()
        refreshing = [asyncio.create_task(metrics.keep_fresh())] if metrics_dir() else []
        try:
            yield
        finally:
            await cancel_and_wait(refreshing)
            stop_hooks()
            stop_invalidating()
            await cache.close()
            await reminders.stop()
            await channel_worker.stop()
            await purge_worker.stop()
            await webhook_worker.stop()
            await delivery_worker.stop()
            await escalation_scheduler.stop()
            await playbook_worker.stop()
            await sla_scheduler.stop()
            await intake_writer.stop()
            await alert_processor.stop()
            await sync_worker.stop()
            await relay.stop()
            await broker.disconnect()
            await database.close()
            metrics.process_exited()
            tracing.shutdown()

    metrics.reading(
        "incidentgraph_broker_subscriptions",
        "Subscriptions to the broker's channels: live GraphQL subscriptions (once they have "
        "read what they start from) and the shared followers of boards and the event feed.",
        broker.subscriber_count,
    )
    metrics.reading(
        "incidentgraph_alert_intake_queued",
        "Alerts waiting for the intake writer's next commit.",
        lambda: intake_writer.queued,
    )
    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"], middleware=graphql_edge),
            WebSocketRoute("/graphql", view),
            Route("/incidents/{id}/report", reports.incident_report, methods=["GET"]),
            Route("/events", feed.page, methods=["GET"]),
            Route("/events/stream", feed.stream, methods=["GET"]),
            Route("/exports/incidents", exports.incidents, methods=["GET"]),
            Route("/chatops/slack", slack_commands.command, methods=["POST"]),
            Route("/chatops/slack/events", slack_commands.events, methods=["POST"]),
            Route("/exports/incidents/{id}/timeline", exports.timeline, methods=["GET"]),
            Route("/healthz", health.healthz),
            Route("/readyz", health.readyz),
            Route("/metrics", health.metrics_page),
            Route("/webhooks/itsm/{provider}", itsm.itsm_webhook, methods=["POST"]),
            Route("/webhooks/alerts/alertmanager", alert_webhooks.alertmanager, methods=["POST"]),
            Route("/webhooks/alerts/generic", alert_webhooks.generic, methods=["POST"]),
            *scim.Scim(max_body=settings.max_body_bytes).routes(),
            Route("/boards/static/{name}", boards.board_asset, methods=["GET", "HEAD"]),
            Route("/graphiql/static/{name}", explorer.asset, methods=["GET", "HEAD"]),
            Route("/boards/{persona}", boards.board_page, methods=["GET", "HEAD"]),
        ],
        middleware=[
            # Outermost: the WebSocket's own connection, before any wrapper of `send`.
            Middleware(frames.KeepProtocol),
            *([Middleware(tracing.middleware())] if tracing.configure() else []),
            Middleware(RequestLog, enabled=settings.log_format == "json"),
            Middleware(Cors, settings=settings),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.broker = broker
    app.state.relay = relay
    return app

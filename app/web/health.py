"""Liveness, readiness and metrics."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from app import database
from app.core import metrics
from app.services.incidents import gauges
from app.web.middleware.refusal import Refusal, outage_refused, unauthenticated


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    db_ok = await database.ping()
    broker_ok = await request.app.state.broker.ping()
    body = {"database": "ok" if db_ok else "down", "broker": "ok" if broker_ok else "down"}
    return JSONResponse(body, status_code=200 if db_ok and broker_ok else 503)


def _may_scrape(request: Request) -> bool:
    """Whether the request carries the metrics token, when one is set (else anyone may)."""
    token: str | None = request.app.state.settings.metrics_token
    if token is None:
        return True
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


async def metrics_page(request: Request) -> Response:
    """Process-wide figures; with INCIDENTGRAPH_METRICS_TOKEN set, each tenant's key figures
    too (never a token or user)."""
    if not _may_scrape(request):
        refusal = unauthenticated("/metrics needs the metrics token", realm="incidentgraph-metrics")
        return refusal.webhook_response()
    body = metrics.render().decode()
    if request.app.state.settings.metrics_token is not None:
        # Per-tenant figures name tenants: only for a scraper holding the metrics token.
        try:
            with outage_refused():
                body += gauges.render(await gauges.samples())
        except Refusal as refusal:
            return refusal.webhook_response()
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

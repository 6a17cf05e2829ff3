"""Liveness, readiness and metrics."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from app import database
from app.web import metrics
from app.web.middleware.refusal import unauthenticated


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
    """Process-wide figures only: no metric is labelled by tenant, token or user."""
    if not _may_scrape(request):
        refusal = unauthenticated("/metrics needs the metrics token", realm="incidentgraph-metrics")
        return refusal.webhook_response()
    return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

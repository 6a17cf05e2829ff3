"""Liveness, readiness and metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from app import database
from app.web import metrics


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    db_ok = await database.ping()
    broker_ok = await request.app.state.broker.ping()
    body = {"database": "ok" if db_ok else "down", "broker": "ok" if broker_ok else "down"}
    return JSONResponse(body, status_code=200 if db_ok and broker_ok else 503)


async def metrics_page(request: Request) -> Response:
    return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

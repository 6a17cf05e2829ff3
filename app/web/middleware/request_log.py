"""Every HTTP request gets an id, and with JSON logs one line when it is answered.

The id is the caller's `X-Request-Id` when it sent a sane one (printable, at most 128
characters), else a new one; it is echoed in the response's `X-Request-Id`, recorded with any
audit entry the request makes, and logged. The line (logger `incidentgraph.request`) holds
the method, path, status, duration in milliseconds, the tenant once the caller is known, and
the GraphQL operation's name and type (app/schema/observed.py).
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("incidentgraph.request")


def request_id_of(scope: Scope) -> str:
    """The request's id: set by RequestLog, or read from the headers where it did not run."""
    known: str | None = scope.get("state", {}).get("request_id")
    if known:
        return known
    sent = Headers(scope=scope).get("x-request-id", "")
    return sent if 0 < len(sent) <= 128 and sent.isprintable() else uuid.uuid4().hex


class RequestLog:
    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.enabled:
                self._log(scope, state, request_id, status or 500, time.perf_counter() - started)

    @staticmethod
    def _log(
        scope: Scope, state: dict[str, object], request_id: str, status: int, seconds: float
    ) -> None:
        principal = state.get("principal")
        operation = state.get("graphql_operation")
        name, kind = operation if isinstance(operation, tuple) else (None, None)
        log.info(
            "%s %s %d",
            scope["method"],
            scope["path"],
            status,
            extra={
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "tenant": getattr(principal, "tenant_id", None),
                "operation_name": name,
                "operation_type": kind,
            },
        )

"""POST /webhooks/alerts/alertmanager and /webhooks/alerts/generic: alert intake.

Bearer token of role INGEST (Alertmanager sends it through `http_config.authorization`).
A request is checked whole (size, JSON, every alert) before anything is stored, charged to
its token's alert rate, then stored durably by the intake writer; 202 means committed.
Errors are JSON, `{"error": message, "code": CODE}`, like the other webhooks' with a code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from app.config import Settings
from app.errors import ValidationFailed
from app.services.alerts import payloads
from app.services.alerts.intake import IntakeUnavailable, IntakeWriter
from app.services.permissions import Action, allowed
from app.services.token import Unauthenticated, authenticate
from app.web import metrics
from app.web.rate_limit import RateLimit, retry_after

Parse = Callable[..., list[dict[str, Any]]]


class _Refused(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        alerts: int = 0,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.headers, self.alerts = field, headers, alerts

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.field is not None:
            body["field"] = self.field
        if self.headers and "Retry-After" in self.headers:
            body["retryAfter"] = int(self.headers["Retry-After"])
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class AlertWebhooks:
    """The two intake endpoints, sharing one writer and one per-token alert rate."""

    def __init__(self, *, settings: Settings, writer: IntakeWriter) -> None:
        self.writer = writer
        self.max_body = settings.alert_max_body_bytes
        self.rate_limit = RateLimit(
            rate=settings.alert_rate_per_second, burst=int(settings.alert_rate_burst)
        )
        # A request larger than the burst could never pass the rate limit: refuse it as too
        # large rather than ask the sender to retry forever.
        self.max_alerts = (
            min(settings.alert_max_per_request, self.rate_limit.burst)
            if self.rate_limit.enabled
            else settings.alert_max_per_request
        )

    async def alertmanager(self, request: Request) -> Response:
        return await self._handle(request, payloads.parse_alertmanager)

    async def generic(self, request: Request) -> Response:
        return await self._handle(request, payloads.parse_generic)

    async def _handle(self, request: Request, parse: Parse) -> Response:
        try:
            accepted = await self._intake(request, parse)
        except _Refused as refused:
            metrics.ALERT_REQUESTS_REFUSED.inc(refused.code)
            if refused.alerts:
                metrics.ALERTS_REFUSED.inc(refused.alerts)
            return refused.response()
        metrics.ALERTS_ACCEPTED.inc(accepted)
        return JSONResponse({"accepted": accepted}, status_code=202)

    async def _intake(self, request: Request, parse: Parse) -> int:
        try:
            principal = await authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            raise _Refused(
                401,
                "UNAUTHENTICATED",
                str(exc),
                headers={"WWW-Authenticate": 'Bearer realm="incidentgraph"'},
            ) from None
        if not allowed(principal.role, Action.INGEST_ALERTS):
            raise _Refused(403, "FORBIDDEN", "only INGEST tokens may post alerts")
        if not _is_json(request.headers.get("content-type")):
            raise _Refused(
                415, "UNSUPPORTED_MEDIA_TYPE", "send the alerts as Content-Type: application/json"
            )
        body = await self._body(request)
        received_at = datetime.now(UTC)
        try:
            alerts = parse(body, received_at=received_at, max_alerts=self.max_alerts)
        except ValidationFailed as exc:
            raise _Refused(400, "VALIDATION", exc.message, field=exc.field) from None
        if not alerts:
            return 0
        wait = self.rate_limit.take(principal.token_id, cost=len(alerts))
        if wait > 0:
            seconds = retry_after(wait)
            raise _Refused(
                429,
                "RATE_LIMITED",
                f"too many alerts for this token: retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
                alerts=len(alerts),
            )
        encoded = [json.dumps(alert, ensure_ascii=False, separators=(",", ":")) for alert in alerts]
        try:
            await self.writer.write(
                tenant_id=principal.tenant_id, payloads=encoded, received_at=received_at
            )
        except IntakeUnavailable as exc:
            raise _Refused(
                503,
                "UNAVAILABLE",
                f"{exc}: nothing was stored, retry",
                headers={"Retry-After": "1"},
                alerts=len(alerts),
            ) from None
        return len(alerts)

    async def _body(self, request: Request) -> bytes:
        too_large = _Refused(
            413, "PAYLOAD_TOO_LARGE", f"the body may be at most {self.max_body} bytes"
        )
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body:
                    raise too_large
                chunks.append(chunk)
        except ClientDisconnect:
            raise _Refused(400, "VALIDATION", "the body ended early") from None
        return b"".join(chunks)

"""POST /webhooks/alerts/alertmanager and /webhooks/alerts/generic: alert intake.

Bearer token of role INGEST (Alertmanager sends it through `http_config.authorization`).
A request is checked whole (size, JSON, every alert) before anything is stored, charged to
its token's alert rate, then stored durably by the intake writer; 202 means committed.
Errors are JSON, `{"error": message, "code": CODE}`, as on the other webhooks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from app.config import Settings
from app.core import metrics
from app.core.clock import utcnow
from app.errors import ErrorCode, RateLimited, ValidationFailed
from app.services.access.permissions import Action, allowed
from app.services.alerts import payloads
from app.services.alerts.intake import IntakeUnavailable, IntakeWriter
from app.services.people.authentication import Unauthenticated, authenticate
from app.web.middleware.body_limit import read_body
from app.web.middleware.refusal import Refusal, outage_refused, unauthenticated
from app.web.rate_limit import RateLimit, retry_after

Parse = Callable[..., list[dict[str, Any]]]


class _Refused(Exception):
    """A refusal of `alerts` alerts (0 when they were not counted yet)."""

    def __init__(self, refusal: Refusal, *, alerts: int = 0) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal
        self.alerts = alerts


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
        with metrics.ALERT_INTAKE_DURATION.time():
            return await self._answer(request, parse)

    async def _answer(self, request: Request, parse: Parse) -> Response:
        try:
            accepted = await self._intake(request, parse)
        except Refusal as refusal:
            refused = _Refused(refusal)
        except _Refused as exc:
            refused = exc
        else:
            metrics.ALERTS_ACCEPTED.inc(accepted)
            return JSONResponse({"accepted": accepted}, status_code=202)
        metrics.ALERT_REQUESTS_REFUSED.labels(code=refused.refusal.code.value).inc()
        if refused.alerts:
            metrics.ALERTS_REFUSED.inc(refused.alerts)
        return refused.refusal.webhook_response()

    async def _intake(self, request: Request, parse: Parse) -> int:
        try:
            with outage_refused():
                principal = await authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            raise unauthenticated(str(exc)) from None
        if not allowed(principal.role, Action.INGEST_ALERTS):
            raise Refusal(403, ErrorCode.FORBIDDEN, "only INGEST tokens may post alerts")
        if not _is_json(request.headers.get("content-type")):
            raise Refusal(
                415,
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                "send the alerts as Content-Type: application/json",
            )
        try:
            body = await read_body(
                request.receive,
                limit=self.max_body,
                content_length=request.headers.get("content-length"),
            )
        except ClientDisconnect:
            raise Refusal(400, ErrorCode.VALIDATION, "the body ended early") from None
        received_at = utcnow()
        try:
            alerts = parse(body, received_at=received_at, max_alerts=self.max_alerts)
        except ValidationFailed as exc:
            raise Refusal.of(exc, status=400) from None
        if not alerts:
            return 0
        wait = self.rate_limit.take(principal.token_id, cost=len(alerts))
        if wait > 0:
            seconds = retry_after(wait)
            limited = RateLimited(
                f"too many alerts for this token: retry in {seconds} s", retry_after=seconds
            )
            headers = {"Retry-After": str(seconds)}
            raise _Refused(Refusal.of(limited, status=429, headers=headers), alerts=len(alerts))
        encoded = [json.dumps(alert, ensure_ascii=False, separators=(",", ":")) for alert in alerts]
        try:
            await self.writer.write(
                tenant_id=principal.tenant_id, payloads=encoded, received_at=received_at
            )
        except IntakeUnavailable as exc:
            unavailable = Refusal.unavailable(f"{exc}: nothing was stored, retry")
            raise _Refused(unavailable, alerts=len(alerts)) from None
        return len(alerts)

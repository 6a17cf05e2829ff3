"""`GET /incidents/{id}/report?format=markdown|html|text`: an incident's report for a
Bearer token, the same text `Incident.report` answers (built through the GraphQL schema as
the caller, so redaction is the API's own).

Refusals are JSON (`{"error", "code"}`): 401 without a live token, 403 without
READ_INCIDENTS, 404 for an incident that does not exist for the caller, 400 for an unknown
format, 503 while the database is out of reach. A report is never cached by anyone
(`no-store`); the HTML page may use its inline styles and nothing else.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.errors import ErrorCode
from app.pubsub.broker import Broker
from app.resolvers.root import schema
from app.schema.context import Context
from app.schema.report import build_report
from app.services.access.permissions import Action
from app.services.comms.report import MEDIA_TYPES, ReportFormat
from app.web.middleware.authentication import bearer_principal
from app.web.middleware.refusal import Refusal, outage_refused

FORMATS = {"markdown": ReportFormat.MARKDOWN, "html": ReportFormat.HTML, "text": ReportFormat.TEXT}
_STATUS = {
    ErrorCode.NOT_FOUND.value: 404,
    ErrorCode.FORBIDDEN.value: 403,
    ErrorCode.VALIDATION.value: 400,
    ErrorCode.UNAVAILABLE.value: 503,
}
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


class Reports:
    def __init__(self, *, settings: Settings, broker: Broker) -> None:
        self.settings = settings
        self.broker = broker

    async def incident_report(self, request: Request) -> Response:
        try:
            return await self._report(request)
        except Refusal as refusal:
            return refusal.webhook_response()

    async def _report(self, request: Request) -> Response:
        principal = await bearer_principal(
            request, Action.READ_INCIDENTS, "this token may not read incidents"
        )
        name = request.query_params.get("format", "markdown").lower()
        format = FORMATS.get(name)
        if format is None:
            raise Refusal(
                400,
                ErrorCode.VALIDATION,
                f"format must be one of {', '.join(FORMATS)}",
                field="format",
            )
        context = Context(
            request=request,
            response=None,
            settings=self.settings,
            broker=self.broker,
            principal=principal,
        )
        incident_id = str(request.path_params["id"])
        try:
            with outage_refused():
                text = await build_report(schema, context, incident_id, format)
        except GraphQLError as error:
            code = str((error.extensions or {}).get("code", ""))
            known = code if code in ErrorCode.__members__ else "INTERNAL_SERVER_ERROR"
            raise Refusal(_STATUS.get(known, 500), ErrorCode(known), error.message) from None
        if text is None:
            raise Refusal(404, ErrorCode.NOT_FOUND, f"no incident with id {incident_id!r}")
        headers: dict[str, Any] = dict(_HEADERS)
        if format is ReportFormat.HTML:
            headers["Content-Security-Policy"] = _HTML_POLICY
        return Response(text, media_type=MEDIA_TYPES[format], headers=headers)

"""POST /webhooks/itsm/{provider}: inbound ticket updates from ServiceNow and Jira.

The tenant is named by `?tenant=<id>` or by the bearer token when one is sent (README,
"Authentication"); either way the HMAC signature with the tenant's webhook secret is required (ours,
or Jira Cloud's own X-Hub-Signature on the Jira endpoint). Errors are JSON,
`{"error": message, "code": CODE}`, as on the other webhooks.
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from app.errors import ErrorCode
from app.models import ItsmConnection, ItsmProvider
from app.services.access import secret_box
from app.services.itsm import inbound
from app.services.people.authentication import Unauthenticated, authenticate
from app.web.middleware.body_limit import read_body
from app.web.middleware.refusal import Refusal, outage_refused

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024

# What each status of a refused delivery means, as a code.
_CODES = {
    400: ErrorCode.VALIDATION,
    401: ErrorCode.UNAUTHENTICATED,
    404: ErrorCode.NOT_FOUND,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    503: ErrorCode.UNAVAILABLE,
}


def _refusal(status: int, message: str) -> Refusal:
    return Refusal(status, _CODES.get(status, ErrorCode.BAD_REQUEST), message)


async def itsm_webhook(request: Request) -> Response:
    try:
        with outage_refused():
            return await _deliver(request)
    except Refusal as refusal:
        return refusal.webhook_response()


async def _deliver(request: Request) -> Response:
    try:
        provider = ItsmProvider(request.path_params["provider"])
    except ValueError:
        raise _refusal(404, "unknown provider: use servicenow or jira") from None
    try:
        body = await read_body(
            request.receive, limit=MAX_BODY, content_length=request.headers.get("content-length")
        )
    except ClientDisconnect:
        raise _refusal(400, "the body ended early") from None
    tenant_id = request.query_params.get("tenant")
    authorization = request.headers.get("authorization")
    if authorization:
        try:
            principal = await authenticate(authorization)
        except Unauthenticated as exc:
            raise _refusal(401, str(exc)) from None
        if tenant_id is not None and tenant_id != principal.tenant_id:
            raise _refusal(401, "the token belongs to another tenant")
        tenant_id = principal.tenant_id
    if not tenant_id or len(tenant_id) > 64:
        raise _refusal(401, "name the tenant: ?tenant=<id> (or send its bearer token)")
    connection = await ItsmConnection.get_or_none(tenant_id=tenant_id, provider=provider)
    try:
        delivery = inbound.verify(
            connection,
            box=secret_box.load(request.app.state.settings),
            provider=provider,
            body=body,
            headers=request.headers,
        )
        assert connection is not None
        update = inbound.parse(provider, inbound.decode(body))
        result = await inbound.ingest(
            tenant_id=tenant_id,
            provider=provider,
            connection=connection,
            delivery=delivery,
            update=update,
        )
    except inbound.Rejected as exc:
        raise _refusal(exc.status, exc.message) from None
    return JSONResponse(result)

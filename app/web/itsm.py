"""POST /webhooks/itsm/{provider}: inbound ticket updates from ServiceNow and Jira.

The tenant is named by `?tenant=<id>` or by the bearer token when one is sent (CONTRACT
section 4); either way the HMAC signature with the tenant's webhook secret is required (ours,
or Jira Cloud's own X-Hub-Signature on the Jira endpoint).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.models import ItsmConnection, ItsmProvider
from app.services import secret_box
from app.services.itsm import inbound
from app.services.token import Unauthenticated, authenticate

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def itsm_webhook(request: Request) -> Response:
    try:
        provider = ItsmProvider(request.path_params["provider"])
    except ValueError:
        return _error(404, "unknown provider: use servicenow or jira")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return _error(413, f"the body may be at most {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _error(413, f"the body may be at most {MAX_BODY} bytes")
    tenant_id = request.query_params.get("tenant")
    authorization = request.headers.get("authorization")
    if authorization:
        try:
            principal = await authenticate(authorization)
        except Unauthenticated as exc:
            return _error(401, str(exc))
        if tenant_id is not None and tenant_id != principal.tenant_id:
            return _error(401, "the token belongs to another tenant")
        tenant_id = principal.tenant_id
    if not tenant_id or len(tenant_id) > 64:
        return _error(401, "name the tenant: ?tenant=<id> (or send its bearer token)")
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
        return _error(exc.status, exc.message)
    return JSONResponse(result)

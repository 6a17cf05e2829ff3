"""Who is calling `/graphql`: the bearer token's principal, put in the request's state.

A request without a live token is answered 401 before anything else is counted; one the
database cannot identify just now, 503 UNAVAILABLE. GraphiQL's page itself needs no token
(it holds no data). WebSockets authenticate in `connection_init` (the view's business).
"""

from __future__ import annotations

from starlette.datastructures import Headers, QueryParams
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core import metrics
from app.errors import ErrorCode
from app.services.access import audit
from app.services.access.permissions import Action, allowed
from app.services.access.tokens import Principal
from app.services.people.authentication import Unauthenticated, authenticate
from app.web.middleware.refusal import Refusal, outage_refused, unauthenticated
from app.web.middleware.request_log import request_id_of


def principal_of(scope: Scope) -> Principal | None:
    principal: Principal | None = scope.get("state", {}).get("principal")
    return principal


def origin_of(principal: Principal, request: HTTPConnection) -> audit.Origin:
    """Who is acting, for the audit log, with the request's id (see request_log.py)."""
    return audit.Origin(
        actor=principal.actor, token_id=principal.token_id, request_id=request_id_of(request.scope)
    )


def is_ide_page(scope: Scope) -> bool:
    return (
        scope["method"] == "GET"
        and "query" not in QueryParams(scope.get("query_string", b""))
        and "text/html" in Headers(scope=scope).get("accept", "")
    )


class Authentication:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_ide_page(scope):
            await self.app(scope, receive, send)
            return
        try:
            with outage_refused():
                try:
                    principal = await authenticate(Headers(scope=scope).get("authorization"))
                except Unauthenticated as exc:
                    raise unauthenticated(str(exc)) from None
        except Refusal as refusal:
            await refusal.graphql_response()(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        metrics.GRAPHQL_HTTP_REQUESTS.inc()
        await self.app(scope, receive, send)


async def bearer_principal(request: HTTPConnection, action: Action, refused: str) -> Principal:
    """The caller of a plain HTTP endpoint (an export, the event feed, a report): 401 without
    a live Bearer token, 503 while the database is out of reach, 403 (`refused`) when its
    role may not `action`. Its requests are audited as the token's."""
    try:
        with outage_refused():
            principal = await authenticate(request.headers.get("authorization"))
    except Unauthenticated as exc:
        raise unauthenticated(str(exc)) from None
    if not allowed(principal.role, action):
        raise Refusal(403, ErrorCode.FORBIDDEN, refused)
    audit.set_origin(origin_of(principal, request))
    return principal

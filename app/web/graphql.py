"""The GraphQL endpoint: HTTP and WebSocket, authenticated by bearer token."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, GraphQLFormattedError, OperationType
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from app.config import Settings
from app.pubsub.broker import Broker
from app.resolvers.context import Context
from app.schema import schema
from app.services import audit
from app.services.token import Principal, Unauthenticated, authenticate
from app.web import metrics
from app.web.query_cache import QueryCache
from app.web.rate_limit import ConnectionLimit, RateLimit, retry_after
from app.web.websocket import (
    LegacyWSHandler,
    TooManyConnections,
    TransportWSHandler,
    credentials,
)

log = logging.getLogger(__name__)


def _replay(body: bytes) -> Receive:
    """An ASGI receive that hands over an already-read body, then waits for disconnect."""
    sent = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return receive


async def _send_json(send: Send, body: bytes, *, cache_status: bytes) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-cache", cache_status),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _origin(principal: Principal, request: Request | WebSocket) -> audit.Origin:
    """Who is acting, for the audit log; the caller's X-Request-Id when it sent a sane one."""
    request_id = request.headers.get("x-request-id", "")
    if not (0 < len(request_id) <= 128 and request_id.isprintable()):
        request_id = uuid.uuid4().hex
    return audit.Origin(actor=principal.name, token_id=principal.token_id, request_id=request_id)


def rate_limited_error(seconds: int) -> GraphQLFormattedError:
    return GraphQLError(
        f"too many requests for this token: retry in {seconds} s",
        extensions={"code": "RATE_LIMITED", "retryAfter": seconds},
    ).formatted


def rate_limited(seconds: int) -> Response:
    return JSONResponse(
        {"data": None, "errors": [rate_limited_error(seconds)]},
        status_code=429,
        headers={"Retry-After": str(seconds)},
    )


def unauthenticated(message: str) -> Response:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="incidentgraph"'},
    )


def _rejected(message: str) -> ConnectionRejectionError:
    return ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": message})


class GraphQLView(GraphQL[Context, None]):
    # Strawberry's handlers crash on frames of the wrong shape; these refuse them with 4400.
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, *, settings: Settings, broker: Broker, cache: QueryCache) -> None:
        super().__init__(
            schema,
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        )
        # Tokens travel in headers and connection_init, never cookies: an allowed origin
        # gains nothing a page without a token could use.
        self.allowed_origins = frozenset(settings.allowed_origins)
        self.settings = settings
        self.broker = broker
        self.cache = cache
        self.rate_limit = RateLimit(
            rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst
        )
        self.connections = ConnectionLimit(per_key=settings.max_connections_per_token)
        # The WebSockets holding a slot, by id() of their context: the token each holds.
        self._slots: dict[int, str] = {}
        metrics.register(
            metrics.Gauge(
                "incidentgraph_websocket_connections",
                "Acknowledged WebSocket connections in this process.",
                self.connections.total,
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            if not self._is_ide_page(request):
                try:
                    principal = await authenticate(request.headers.get("authorization"))
                except Unauthenticated as exc:
                    await unauthenticated(str(exc))(scope, receive, send)
                    return
                scope.setdefault("state", {})["principal"] = principal
                metrics.GRAPHQL_HTTP_REQUESTS.inc()
                wait = self.rate_limit.take(principal.token_id)
                if wait > 0:
                    metrics.RATE_LIMITED.inc()
                    await rate_limited(retry_after(wait))(scope, receive, send)
                    return
                if request.method == "POST":
                    await self._post(scope, send, principal, await request.body())
                    return
        await super().__call__(scope, receive, send)

    async def _post(self, scope: Scope, send: Send, principal: Principal, body: bytes) -> None:
        """A POST, answered from the query cache when it can be, and feeding it otherwise."""
        decision = self.cache.classify(principal, body)
        if decision.operation is OperationType.SUBSCRIPTION:
            response = JSONResponse(
                {
                    "data": None,
                    "errors": [
                        {
                            "message": "subscriptions need a WebSocket (graphql-transport-ws)",
                            "extensions": {"code": "BAD_REQUEST"},
                        }
                    ],
                },
                status_code=400,
            )
            await response(scope, _replay(b""), send)
            return
        if decision.key is not None:
            cached = self.cache.get(decision.key)
            if cached is not None:
                await _send_json(send, cached, cache_status=b"hit")
                return
        tenant_id = principal.tenant_id
        generation = self.cache.generation(tenant_id)
        status = 0
        chunks: list[bytes] = []

        async def capture(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if decision.operation is OperationType.MUTATION:
                    # Committed by now: no reader of this response may see older data.
                    self.cache.invalidate(tenant_id)
                elif decision.key is not None:
                    message["headers"] = [*message.get("headers", []), (b"x-cache", b"miss")]
            elif message["type"] == "http.response.body" and decision.key is not None:
                chunks.append(message.get("body", b""))
            await send(message)

        await super().__call__(scope, _replay(body), capture)
        uncacheable = scope.get("state", {}).get("uncacheable", False)
        if decision.key is not None and status == 200 and not uncacheable:
            answer = b"".join(chunks)
            if b'"errors"' not in answer:
                self.cache.put(decision.key, answer, generation=generation)

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):  # a list is a batch, refused further on
            raise HTTPException(400, "Expected a JSON object")
        return parsed

    @staticmethod
    def _is_ide_page(request: Request) -> bool:
        return (
            request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        if principal is not None:
            audit.set_origin(_origin(principal, request))
        return Context(
            request=request,
            response=response,
            settings=self.settings,
            broker=self.broker,
            principal=principal,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        # Legacy graphql-ws lets a client initialise again: the new token takes the slot.
        self.release_connection(context)
        try:
            principal = await authenticate(credentials(context.connection_params))
        except Unauthenticated as exc:
            raise _rejected(str(exc)) from None
        except UnicodeError:  # a lone surrogate, say: no token contains one
            raise _rejected("malformed credentials") from None
        if not self.connections.acquire(principal.token_id):
            metrics.CONNECTIONS_REFUSED.inc()
            raise TooManyConnections
        self._slots[id(context)] = principal.token_id
        context.principal = principal
        # Operations on this connection run in tasks started from here: they inherit it.
        audit.set_origin(_origin(principal, context.request))
        return await super().on_ws_connect(context)

    def release_connection(self, context: Context) -> None:
        """Give back the slot a WebSocket took at connection_init, if it took one.

        Its handler calls this when it ends, however it ends; the context is alive until then.
        """
        token_id = self._slots.pop(id(context), None)
        if token_id is not None:
            self.connections.release(token_id)

    def refuse_operation(
        self, context: Context, *, open_operations: int
    ) -> GraphQLFormattedError | None:
        """Why a new operation on an acknowledged WebSocket is refused, or None to run it."""
        cap = self.max_subscriptions_per_connection
        if cap is not None and open_operations >= cap:
            return GraphQLError(
                f"too many subscriptions on this connection (at most {cap}): complete one first",
                extensions={"code": "TOO_MANY_SUBSCRIPTIONS", "limit": cap},
            ).formatted
        principal = context.require_principal()
        wait = self.rate_limit.take(principal.token_id)
        if wait > 0:
            metrics.RATE_LIMITED.inc()
            return rate_limited_error(retry_after(wait))
        return None

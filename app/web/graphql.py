"""The GraphQL endpoint: HTTP and WebSocket, authenticated by bearer token.

Every refusal at this edge is a JSON body `{"data": null, "errors": [...]}` whose error has
an `extensions.code`: a body over the size limit (413, read no further than the limit), a
query text over its limit (413, on POST, GET and WebSocket alike), JSON that does not parse
or is nested too deeply to (400), a subscription over plain HTTP (400).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, GraphQLFormattedError, OperationType
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.types.unset import UnsetType

from app.config import Settings
from app.errors import RequestErrorCode
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
        {
            "data": None,
            "errors": [
                {"message": message, "extensions": {"code": RequestErrorCode.UNAUTHENTICATED}}
            ],
        },
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="incidentgraph"'},
    )


class Refusal(HTTPException):
    """A request refused before it ran: answered with its status and a coded JSON error."""

    def __init__(
        self,
        status: int,
        code: RequestErrorCode,
        message: str,
        *,
        extensions: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message)
        self.code = code
        self.extensions = extensions or {}
        self.headers = headers

    @classmethod
    def of(cls, exc: HTTPException) -> Refusal:
        """Strawberry's own refusals (a body that is not a GraphQL request) as ours."""
        if isinstance(exc, Refusal):
            return exc
        return cls(exc.status_code, RequestErrorCode.BAD_REQUEST, exc.reason)

    def response(self) -> Response:
        error = {"message": self.reason, "extensions": {"code": self.code, **self.extensions}}
        return JSONResponse(
            {"data": None, "errors": [error]}, status_code=self.status_code, headers=self.headers
        )


_OVER_HTTP = Refusal(
    400, RequestErrorCode.BAD_REQUEST, "subscriptions need a WebSocket (graphql-transport-ws)"
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
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
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
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
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
            try:
                if request.method == "POST":
                    await self._post(scope, send, principal, await self._read_body(request))
                    return
                query = request.query_params.get("query")
                name = request.query_params.get("operationName")
                if query and self.cache.operation(query, name) is OperationType.SUBSCRIPTION:
                    raise _OVER_HTTP
            except Refusal as refusal:
                await refusal.response()(scope, _replay(b""), send)
                return
            except ClientDisconnect:
                return
        await self._answer(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry's handling of an HTTP request, its refusals answered as ours are."""
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as exc:
            response = Refusal.of(exc).response()
        await response(scope, receive, send)

    async def _read_body(self, request: Request) -> bytes:
        """The body, read no further than the limit, whatever Content-Length claims.

        The server discards whatever of the body follows the refusal without holding it.
        """
        limit = self.settings.max_body_bytes
        too_large = Refusal(
            413,
            RequestErrorCode.PAYLOAD_TOO_LARGE,
            f"the body may be at most {limit} bytes",
            extensions={"limit": limit},
        )
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _query_too_large(self) -> GraphQLError:
        limit = self.settings.max_query_length
        return GraphQLError(
            f"the query may be at most {limit} characters",
            extensions={"code": RequestErrorCode.QUERY_TOO_LARGE, "limit": limit},
        )

    async def _post(self, scope: Scope, send: Send, principal: Principal, body: bytes) -> None:
        """A POST, answered from the query cache when it can be, and feeding it otherwise."""
        decision = self.cache.classify(principal, body)
        if decision.operation is OperationType.SUBSCRIPTION:
            raise _OVER_HTTP
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

        await self._answer(scope, _replay(body), capture)
        uncacheable = scope.get("state", {}).get("uncacheable", False)
        if decision.key is not None and status == 200 and not uncacheable:
            answer = b"".join(chunks)
            if b'"errors"' not in answer:
                self.cache.put(decision.key, answer, generation=generation)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return json.loads(data)
        except RecursionError:  # a client's, not the server's: as any other bad JSON
            raise json.JSONDecodeError("nested too deeply", "", 0) from None

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = self.decode_json(data)
        except ValueError as exc:
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise Refusal(400, RequestErrorCode.BAD_REQUEST, f"not valid JSON: {detail}") from None
        if not isinstance(parsed, dict | list):  # a list is a batch, refused further on
            raise Refusal(400, RequestErrorCode.BAD_REQUEST, "Expected a JSON object")
        return parsed

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        limit = self.settings.max_query_length
        for item in data if isinstance(data, list) else [data]:
            if item.query is not None and len(item.query) > limit:
                error = self._query_too_large()
                raise Refusal(
                    413,
                    RequestErrorCode.QUERY_TOO_LARGE,
                    error.message,
                    extensions={"limit": limit},
                )
        return data

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
        # Called once per connection: both protocols refuse a second connection_init.
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
        self, context: Context, *, query: str, open_operations: int
    ) -> GraphQLFormattedError | None:
        """Why a new operation on an acknowledged WebSocket is refused, or None to run it."""
        if len(query) > self.settings.max_query_length:
            return self._query_too_large().formatted
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

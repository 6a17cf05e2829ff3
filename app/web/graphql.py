"""The GraphQL endpoint: HTTP and WebSocket, GraphQL only.

Authentication, the request rate, the body limit and the query cache sit in front of the
HTTP side (`app/web/middleware/`). What the view refuses itself answers in the same
GraphQL shape, with an `extensions.code`: JSON that does not parse or is nested too deeply
to (400), a body that is not a GraphQL request (400), a query text over its limit (413, on
POST, GET and WebSocket alike), a subscription over plain HTTP (400). A result with an
`UNAVAILABLE` error (the database out of reach) is answered 503 with a `Retry-After`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLFormattedError, OperationType
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.websocket_origin import normalize_allowed_origins
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from app import database
from app.config import Settings
from app.core import metrics
from app.core.documents import digest, read_manifest
from app.errors import ErrorCode
from app.pubsub.broker import Broker
from app.resolvers.root import schema
from app.schema.context import Context
from app.schema.domain_errors import coded_error, codes_of, graphql_error
from app.services.access import audit
from app.services.access.tokens import Principal
from app.services.people.authentication import Unauthenticated, authenticate
from app.web import explorer, persisted
from app.web.middleware.authentication import origin_of
from app.web.middleware.caching import record_result
from app.web.middleware.media_type import request_error, wants_graphql_response
from app.web.middleware.rate_limiting import rate_limited
from app.web.middleware.refusal import UNAVAILABLE_RETRY_AFTER, Refusal
from app.web.query_cache import operation_of
from app.web.rate_limit import ConnectionLimit, RateLimit
from app.web.websocket import (
    LegacyWSHandler,
    RunningOperations,
    TokenWatch,
    TooManyConnections,
    TransportWSHandler,
    credentials,
)


def _refusal_of(exc: HTTPException) -> Refusal:
    """Strawberry's own refusals (a body that is not a GraphQL request) as ours."""
    if isinstance(exc, _Refused):
        return exc.refusal
    return Refusal(exc.status_code, ErrorCode.BAD_REQUEST, exc.reason)


class _Refused(HTTPException):
    """A refusal raised where Strawberry expects its HTTPException."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.status, refusal.message)
        self.refusal = refusal


def _bad_request(message: str) -> _Refused:
    return _Refused(Refusal(400, ErrorCode.BAD_REQUEST, message))


def _untrusted() -> Refusal:
    return Refusal(
        403,
        ErrorCode.FORBIDDEN,
        "this server runs only its trusted documents (INCIDENTGRAPH_TRUSTED_DOCUMENTS) and "
        "this one is not among them",
    )


def _rejected(code: ErrorCode, message: str) -> ConnectionRejectionError:
    return ConnectionRejectionError({"code": code.value, "message": message})


log = logging.getLogger(__name__)
_REQUEST_ERROR = "incidentgraph.request_error"


class _OurOriginMessage(logging.Filter):
    """Strawberry's own line about a refused origin names its `allowed_origins` argument;
    ours (above) names the setting to change."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Rejected WebSocket connection from origin")


logging.getLogger("strawberry.ws").addFilter(_OurOriginMessage())


class GraphQLView(GraphQL[Context, None]):
    # Strawberry's handlers crash on frames of the wrong shape; these refuse them with 4400.
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, *, settings: Settings, broker: Broker, rate_limit: RateLimit) -> None:
        super().__init__(
            schema,
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        )
        # Tokens travel in headers and connection_init, never cookies: an allowed origin
        # gains nothing a page without a token could use.
        self.allowed_origins = normalize_allowed_origins(settings.allowed_origins)
        self.settings = settings
        self.broker = broker
        self.rate_limit = rate_limit
        self.connections = ConnectionLimit(per_key=settings.max_connections_per_token)
        self.token_watch = TokenWatch()
        self.persisted = persisted.PersistedQueries()
        # Only these documents run when the deployment lists them (checked by Settings).
        self.trusted = (
            read_manifest(settings.trusted_documents) if settings.trusted_documents else None
        )
        # The WebSockets holding a slot, by id() of their context: the token each holds.
        self._slots: dict[int, str] = {}
        metrics.reading(
            "incidentgraph_websocket_connections",
            "Acknowledged WebSocket connections.",
            self.connections.total,
        )
        metrics.reading(
            "incidentgraph_subscribers",
            "GraphQL operations running over WebSockets: live subscriptions (a query or "
            "mutation sent over a WebSocket counts while it runs).",
            lambda: RunningOperations.count,
        )

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        if super().is_websocket_origin_allowed(request, origin):
            return True
        log.warning(
            "refused a WebSocket from origin %r (host %r): list it in "
            "INCIDENTGRAPH_ALLOWED_ORIGINS if its pages may connect",
            origin,
            request.headers.get("host"),
        )
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as exc:
            response = _refusal_of(exc).graphql_response()
        if scope.get(_REQUEST_ERROR) and response.status_code == 200:
            response.status_code = 400
        await response(scope, receive, send)

    def _query_too_large(self) -> Refusal:
        limit = self.settings.max_query_length
        return Refusal(
            413,
            ErrorCode.QUERY_TOO_LARGE,
            f"the query may be at most {limit} characters",
            extensions={"limit": limit},
        )

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
            raise _bad_request(f"not valid JSON: {detail}") from None
        if not isinstance(parsed, dict | list):  # a list is a batch, refused further on
            raise _bad_request("Expected a JSON object")
        return parsed

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        data = (
            [self._persisted(item) for item in data]
            if isinstance(data, list)
            else self._persisted(data)
        )
        limit = self.settings.max_query_length
        for item in data if isinstance(data, list) else [data]:
            if item.query is not None and len(item.query) > limit:
                raise _Refused(self._query_too_large())
            kind = operation_of(item.query, item.operation_name, max_query_length=limit)
            if kind is OperationType.SUBSCRIPTION:
                raise _bad_request("subscriptions need a WebSocket (graphql-transport-ws)")
        return data

    async def render_graphql_ide(self, request: Request) -> Response:
        # Our own page: GraphiQL from this server, under a strict policy (app/web/explorer.py).
        return explorer.page(request)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET of an automatic persisted query has no `query` but is no page view, even
        # with `Accept: */*` (Apollo Client's default).
        if request.query_params.get("extensions") is not None:
            return False
        return bool(super().should_render_graphql_ide(request))

    def _persisted(self, item: GraphQLRequestData) -> GraphQLRequestData:
        """The request with its document when it is an automatic persisted query; only a
        trusted document when the deployment lists them."""
        if self.trusted is not None:
            return self._trusted(item)
        if not item.extensions or "persistedQuery" not in item.extensions:
            return item
        limit = self.settings.max_query_length
        if item.query is not None and len(item.query) > limit:
            raise _Refused(self._query_too_large())
        try:
            query = self.persisted.resolve(item.query, item.extensions)
        except persisted.NotPersisted:
            raise _Refused(
                Refusal(200, ErrorCode.PERSISTED_QUERY_NOT_FOUND, persisted.NOT_FOUND_MESSAGE)
            ) from None
        except persisted.HashMismatch:
            raise _bad_request("provided sha does not match query") from None
        except persisted.BadExtension as exc:
            raise _bad_request(str(exc)) from None
        return dataclasses.replace(item, query=query)

    def _trusted(self, item: GraphQLRequestData) -> GraphQLRequestData:
        assert self.trusted is not None
        wanted = (item.extensions or {}).get("persistedQuery")
        key = wanted.get("sha256Hash") if isinstance(wanted, dict) else None
        if isinstance(key, str) and item.query is None:
            document = self.trusted.get(key.lower())
        else:
            document = item.query if item.query is not None else None
            if document is not None and digest(document) not in self.trusted:
                document = None
        if document is None:
            raise _Refused(_untrusted())
        return dataclasses.replace(item, query=document)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        record_result(request.scope, errors=bool(result.errors))
        answer = await super().process_result(request, result)
        if wants_graphql_response(request.headers.get("accept")) and request_error(dict(answer)):
            # GraphQL over HTTP: a document never executed has no data entry, and is a 400.
            request.scope[_REQUEST_ERROR] = True
            answer.pop("data", None)
        return answer

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        # Strawberry's, encoded by orjson: a page of incidents spent more in json.dumps than
        # in its SQL. WebSocket frames keep encode_json (text frames, by the protocols).
        response = Response(encode_response(response_data), media_type="application/json")
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        answers = response_data if isinstance(response_data, list) else [response_data]
        if any(ErrorCode.UNAVAILABLE in codes_of(_errors(answer)) for answer in answers):
            response.status_code = 503
            response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
        return response

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        if principal is not None:
            audit.set_origin(origin_of(principal, request))
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
            raise _rejected(ErrorCode.UNAUTHENTICATED, str(exc)) from None
        except UnicodeError:  # a lone surrogate, say: no token contains one
            raise _rejected(ErrorCode.UNAUTHENTICATED, "malformed credentials") from None
        except Exception as exc:
            if database.is_outage(exc):
                raise _rejected(ErrorCode.UNAVAILABLE, Refusal.unavailable().message) from None
            raise
        if not self.connections.acquire(principal.token_id):
            metrics.CONNECTIONS_REFUSED.inc()
            raise TooManyConnections
        self._slots[id(context)] = principal.token_id
        context.principal = principal
        # Operations on this connection run in tasks started from here: they inherit it.
        audit.set_origin(origin_of(principal, context.request))
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
            refusal = self._query_too_large()
            return coded_error(refusal.code, refusal.message, **refusal.extensions).formatted
        if self.trusted is not None and digest(query) not in self.trusted:
            refusal = _untrusted()
            return coded_error(refusal.code, refusal.message).formatted
        cap = self.max_subscriptions_per_connection
        if cap is not None and open_operations >= cap:
            return coded_error(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"too many subscriptions on this connection (at most {cap}): complete one first",
                limit=cap,
            ).formatted
        refused = rate_limited(self.rate_limit, context.require_principal().token_id)
        return graphql_error(refused).formatted if refused is not None else None


def encode_response(data: object) -> bytes:
    """A GraphQL response as compact JSON. What orjson refuses (an integer past 64 bits in a
    JSON value, say) is encoded by the standard library, as before."""
    try:
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(data, separators=(",", ":")).encode()


def _errors(answer: Mapping[str, Any]) -> list[Mapping[str, object]]:
    errors = answer.get("errors")
    return errors if isinstance(errors, list) else []

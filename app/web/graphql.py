"""The GraphQL endpoint: HTTP and WebSocket, authenticated by bearer token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage
from strawberry.types.unset import UnsetType

from app.config import Settings
from app.pubsub.broker import Broker
from app.resolvers.context import Context
from app.schema import schema
from app.services.token import Principal, Unauthenticated, authenticate
from app.web import metrics


def unauthenticated(message: str) -> Response:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="incidentgraph"'},
    )


_CARRIES_ID = frozenset({"subscribe", "start", "complete", "stop"})
_CARRIES_OPERATION = frozenset({"subscribe", "start"})


def _well_formed(message: object) -> bool:
    """Whether a WebSocket frame has the shape the protocol handlers index into unchecked."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    kind = message["type"]
    if kind in _CARRIES_ID and not isinstance(message.get("id"), str):
        return False
    if kind in _CARRIES_OPERATION:
        payload = message.get("payload")
        return (
            isinstance(payload, dict)
            and isinstance(payload.get("query"), str)
            and isinstance(payload.get("variables"), dict | None)
            and isinstance(payload.get("operationName"), str | None)
        )
    return True


class _TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_message(self, message: Message) -> None:
        if not _well_formed(message):
            await self.handle_invalid_message("Failed to parse message")
            return
        await super().handle_message(message)


class _LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle_message(self, message: OperationMessage) -> None:
        if not _well_formed(message):
            await self.websocket.close(code=4400, reason="Failed to parse message")
            return
        await super().handle_message(message)


def _rejected(message: str) -> ConnectionRejectionError:
    return ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": message})


class GraphQLView(GraphQL[Context, None]):
    # Strawberry's handlers crash on frames of the wrong shape; these refuse them with 4400.
    graphql_transport_ws_handler_class = _TransportWSHandler
    graphql_ws_handler_class = _LegacyWSHandler

    def __init__(self, *, settings: Settings, broker: Broker) -> None:
        super().__init__(
            schema,
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=100,
        )
        self.settings = settings
        self.broker = broker

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
        await super().__call__(scope, receive, send)

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
        return Context(
            request=request,
            response=response,
            settings=self.settings,
            broker=self.broker,
            principal=principal,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params or {}
        credentials = params.get("authorization") or params.get("Authorization")
        token = credentials if isinstance(credentials, str) else None
        try:
            context.principal = await authenticate(token)
        except Unauthenticated as exc:
            raise _rejected(str(exc)) from None
        except UnicodeError:  # a lone surrogate, say: no token contains one
            raise _rejected("malformed credentials") from None
        return await super().on_ws_connect(context)

"""The GraphQL endpoint: HTTP and WebSocket, authenticated by bearer token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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
from app.services.token import Principal, Unauthenticated, authenticate
from app.web import metrics


def unauthenticated(message: str) -> Response:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="incidentgraph"'},
    )


class GraphQLView(GraphQL[Context, None]):
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
        try:
            context.principal = await authenticate(credentials if isinstance(credentials, str) else None)
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": str(exc)}) from None
        return await super().on_ws_connect(context)

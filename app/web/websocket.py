"""The two WebSocket subprotocols, hardened: frame shapes, token re-checks, per-token caps.

Strawberry's handlers index into frames unchecked and know nothing of our tokens; these
subclasses refuse malformed frames and over-long operation ids (4400), close a socket whose
token was revoked (4403), refuse a connection beyond the token's cap (4429) and ask the view
whether each new operation may run (query length, subscription cap, rate limit).

Legacy `graphql-ws` is held to what graphql-transport-ws already enforces: one
`connection_init` per socket (a second one is closed with 4429, so the credentials the
token watch checks are always the ones the connection runs under), and a socket that has not
sent it within the init timeout is closed with 4408.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Protocol, cast

from graphql import GraphQLFormattedError
from starlette.websockets import WebSocketDisconnect
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from app.errors import ErrorCode
from app.schema.context import Context
from app.services.people.authentication import Unauthenticated, authenticate

log = logging.getLogger(__name__)

# How often an open WebSocket's token is checked again; authenticate's cache makes it cheap.
TOKEN_RECHECK_SECONDS = 2.0
# Client libraries use counters or UUIDs; every message about an operation repeats its id.
MAX_OPERATION_ID = 128

_TOO_MANY_INITS = "Too many initialisation requests"
_INIT_TIMEOUT = "Connection initialisation timeout"


class ConnectionPolicy(Protocol):
    """What the handlers ask of the view that owns them."""

    connection_init_wait_timeout: timedelta

    def release_connection(self, context: Context) -> None: ...

    def refuse_operation(
        self, context: Context, *, query: str, open_operations: int
    ) -> GraphQLFormattedError | None: ...


_CARRIES_ID = frozenset({"subscribe", "start", "complete", "stop"})
_CARRIES_OPERATION = frozenset({"subscribe", "start"})


def _well_formed(message: object) -> bool:
    """Whether a WebSocket frame has the shape the protocol handlers index into unchecked."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    kind = message["type"]
    if kind in _CARRIES_ID:
        op_id = message.get("id")
        if not isinstance(op_id, str) or len(op_id) > MAX_OPERATION_ID:
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


def credentials(params: dict[str, Any] | None) -> str | None:
    value = (params or {}).get("authorization") or (params or {}).get("Authorization")
    return value if isinstance(value, str) else None


async def _close(websocket: AsyncWebSocketAdapter, code: int, reason: str) -> None:
    try:
        await websocket.close(code=code, reason=reason)
    except (RuntimeError, WebSocketDisconnect):  # the client left meanwhile
        pass


class _TokenWatch:
    """Closes an acknowledged connection with 4403 once its token no longer authenticates.

    Owned by the protocol handler: started when the handler acknowledges the connection and
    stopped when its `handle` returns, so the task never outlives the socket. Each check
    reads the credentials of the connection's context: those it runs under.
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self, context: Context, websocket: AsyncWebSocketAdapter) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(context, websocket))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @staticmethod
    async def _run(context: Context, websocket: AsyncWebSocketAdapter) -> None:
        while True:
            await asyncio.sleep(TOKEN_RECHECK_SECONDS)
            try:
                await authenticate(credentials(context.connection_params))
            except Unauthenticated:
                break
            except Exception:  # a database blip is no reason to drop live subscribers
                log.warning("could not re-check a WebSocket's token", exc_info=True)
        await _close(websocket, 4403, "token revoked")


class TooManyConnections(Exception):
    """The token already holds as many WebSockets as this process allows."""


_TOO_MANY_CONNECTIONS = "too many connections for this token"


class RunningOperations:
    """GraphQL operations running over this process's WebSockets: its live subscriptions
    (a query or mutation sent over a WebSocket counts while it runs)."""

    count = 0

    @classmethod
    @contextlib.contextmanager
    def one(cls) -> Iterator[None]:
        cls.count += 1
        try:
            yield
        finally:
            cls.count -= 1


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    token_watch: _TokenWatch

    async def handle(self) -> None:
        self.token_watch = _TokenWatch()
        try:
            await super().handle()
        finally:
            await self.token_watch.stop()
            cast(ConnectionPolicy, self.view).release_connection(self.context)

    async def handle_message(self, message: Message) -> None:
        if not _well_formed(message):
            await self.handle_invalid_message("Failed to parse message")
            return
        if (
            message["type"] == "subscribe"
            and self.connection_acknowledged
            and message["id"] not in self.operations
        ):
            refusal = cast(ConnectionPolicy, self.view).refuse_operation(
                self.context,
                query=message["payload"]["query"],
                open_operations=len(self.operations),
            )
            if refusal is not None:
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [refusal]}
                )
                return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except TooManyConnections:
            await self.websocket.close(code=4429, reason=_TOO_MANY_CONNECTIONS)
            return
        if self.connection_acknowledged:
            self.token_watch.start(self.context, self.websocket)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        with RunningOperations.one():
            await super().run_operation(operation)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    token_watch: _TokenWatch
    init_received: bool

    async def handle(self) -> None:
        self.token_watch = _TokenWatch()
        self.init_received = False
        init_timeout = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            init_timeout.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await init_timeout
            await self.token_watch.stop()
            cast(ConnectionPolicy, self.view).release_connection(self.context)

    async def _close_unless_initialised(self) -> None:
        timeout = cast(ConnectionPolicy, self.view).connection_init_wait_timeout
        await asyncio.sleep(timeout.total_seconds())
        if not self.init_received:
            await _close(self.websocket, 4408, _INIT_TIMEOUT)

    async def handle_message(self, message: OperationMessage) -> None:
        if not _well_formed(message):
            await self.websocket.close(code=4400, reason="Failed to parse message")
            return
        if message["type"] == "start" and self.connection_acknowledged:
            operation_id = message["id"]
            # A start with an id in use replaces that operation: it does not add one.
            running = len(self.tasks) - (operation_id in self.tasks)
            refusal = cast(ConnectionPolicy, self.view).refuse_operation(
                self.context, query=message["payload"]["query"], open_operations=running
            )
            if refusal is not None:
                await self.send_message({"type": "error", "id": operation_id, "payload": refusal})
                return
        await super().handle_message(message)

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        if self.init_received:
            await _close(self.websocket, 4429, _TOO_MANY_INITS)
            return
        self.init_received = True
        try:
            await super().handle_connection_init(message)
        except TooManyConnections:
            await self.send_message(
                {
                    "type": "connection_error",
                    "payload": {
                        "code": ErrorCode.RATE_LIMITED.value,
                        "message": _TOO_MANY_CONNECTIONS,
                    },
                }
            )
            await self.websocket.close(code=4429, reason=_TOO_MANY_CONNECTIONS)
            return
        if self.connection_acknowledged:
            self.token_watch.start(self.context, self.websocket)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        with RunningOperations.one():
            await super().handle_async_results(operation_id, query, operation_name, variables)

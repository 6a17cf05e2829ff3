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

from app.config import Settings
from app.errors import ErrorCode
from app.schema.context import Context
from app.schema.push import DELIVERY, Delivery, shared_frame
from app.services.people.authentication import Unauthenticated, authenticate
from app.web import frames

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
    settings: Settings
    token_watch: TokenWatch

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


async def _ready(websocket: AsyncWebSocketAdapter, policy: ConnectionPolicy) -> bool:
    """Wait, within the send timeout, until the connection takes writes again; False when
    its client stopped reading and it was closed as a slow consumer (frames.py): what is
    still to send to it is dropped, and the handler ends with the connection."""
    scope = getattr(getattr(websocket, "ws", None), "scope", None)
    return await frames.wait_writable(scope, policy.settings.ws_send_timeout_seconds)


def _written(websocket: AsyncWebSocketAdapter, frame: str | None) -> bool:
    """Whether `frame` went straight to the connection's transport (frames.py)."""
    if frame is None:
        return False
    return frames.write(getattr(getattr(websocket, "ws", None), "scope", None), frame)


class TokenWatch:
    """Closes acknowledged connections with 4403 once their token no longer authenticates.

    One task per process checks every open WebSocket's credentials each
    TOKEN_RECHECK_SECONDS: each distinct credential once, however many sockets hold it
    (10,000 dashboards on one team token cost one check, not 10,000 tasks and lookups). The
    task runs while a socket is watched and ends with the last one.
    """

    def __init__(self) -> None:
        self._sockets: dict[str | None, dict[AsyncWebSocketAdapter, None]] = {}
        self._held: dict[AsyncWebSocketAdapter, str | None] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._held)

    def watch(self, context: Context, websocket: AsyncWebSocketAdapter) -> None:
        """Watch the credentials the connection runs under (fixed at connection_init)."""
        credential = credentials(context.connection_params)
        self._held[websocket] = credential
        self._sockets.setdefault(credential, {})[websocket] = None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="websocket-token-watch")

    def forget(self, websocket: AsyncWebSocketAdapter) -> None:
        if websocket not in self._held:
            return
        credential = self._held.pop(websocket)
        sockets = self._sockets.get(credential)
        if sockets is not None:
            sockets.pop(websocket, None)
            if not sockets:
                del self._sockets[credential]

    async def _run(self) -> None:
        while self._sockets:
            await asyncio.sleep(TOKEN_RECHECK_SECONDS)
            await self.check()

    async def check(self) -> None:
        for credential in list(self._sockets):
            try:
                await authenticate(credential)
            except Unauthenticated:
                for websocket in self._sockets.pop(credential, {}):
                    self._held.pop(websocket, None)
                    closing = asyncio.create_task(_close(websocket, 4403, "token revoked"))
                    self._closing.add(closing)
                    closing.add_done_callback(self._closing.discard)
            except Exception:  # a database blip is no reason to drop live subscribers
                log.warning("could not re-check a WebSocket's token", exc_info=True)


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
    async def handle(self) -> None:
        policy = cast(ConnectionPolicy, self.view)
        try:
            await super().handle()
        finally:
            policy.token_watch.forget(self.websocket)
            policy.release_connection(self.context)

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

    async def send_message(self, message: Message) -> None:
        if not await _ready(self.websocket, cast(ConnectionPolicy, self.view)):
            return
        if message["type"] == "next" and _written(
            self.websocket, shared_frame(message["id"], "next", message["payload"])
        ):
            return
        await super().send_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except TooManyConnections:
            await self.websocket.close(code=4429, reason=_TOO_MANY_CONNECTIONS)
            return
        if self.connection_acknowledged:
            cast(ConnectionPolicy, self.view).token_watch.watch(self.context, self.websocket)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        def write(frame: str) -> bool:
            if operation.completed or self.operations.get(operation.id) is not operation:
                return False
            return _written(self.websocket, frame)

        # The operation's own task: its subscription resolvers see where to send (push.py).
        DELIVERY.set(Delivery(operation.id, "next", write))
        with RunningOperations.one():
            await super().run_operation(operation)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    init_received: bool

    async def handle(self) -> None:
        policy = cast(ConnectionPolicy, self.view)
        self.init_received = False
        init_timeout = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            init_timeout.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await init_timeout
            policy.token_watch.forget(self.websocket)
            policy.release_connection(self.context)

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

    async def send_message(self, message: OperationMessage) -> None:
        if not await _ready(self.websocket, cast(ConnectionPolicy, self.view)):
            return
        if message["type"] == "data" and _written(
            self.websocket, shared_frame(message["id"], "data", message.get("payload"))
        ):
            return
        await super().send_message(message)

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
            cast(ConnectionPolicy, self.view).token_watch.watch(self.context, self.websocket)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        task = asyncio.current_task()

        def write(frame: str) -> bool:
            if self.tasks.get(operation_id) is not task:
                return False
            return _written(self.websocket, frame)

        # The operation's own task: its subscription resolvers see where to send (push.py).
        DELIVERY.set(Delivery(operation_id, "data", write))
        with RunningOperations.one():
            await super().handle_async_results(operation_id, query, operation_name, variables)

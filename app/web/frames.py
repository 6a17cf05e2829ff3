"""Subscription pushes written straight to a WebSocket's transport, and slow readers closed.

A push to 10,000 subscribers is 10,000 writes of nearly the same bytes. Through the ASGI
`send` each one goes through Starlette's wrappers, uvicorn's checks and the websockets
library's framing; here the frame (RFC 6455 §5.2: FIN, text opcode, the length, no mask from
a server, no extension: compression is not offered) is built from the push's text and
written to the connection's transport, in the same order as anything sent the ordinary way
(a socket whose buffer is full takes the ordinary way: it waits).

A subscriber that stops reading fills its socket's buffers; the sends to it wait, its
broker buffer is bounded (`Subscription`), and after `ws_send_timeout_seconds` of waiting
the connection is closed with 1013 (Try Again Later) and reason `SLOW_CONSUMER`: the close
frame is queued behind what is unread and the connection is dropped if the client still
reads nothing. The other subscribers never wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, Final

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from app.core import metrics

log = logging.getLogger(__name__)

# Where the connection's protocol is kept in a WebSocket's ASGI scope.
SCOPE_KEY: Final = "incidentgraph.websocket_protocol"
SLOW_CONSUMER_CODE: Final = 1013
SLOW_CONSUMER_REASON: Final = "SLOW_CONSUMER: the client stopped reading"
# After the close frame, how long a client that reads nothing keeps its connection.
_CLOSE_GRACE_SECONDS: Final = 10.0


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented text frame carrying `payload`."""
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x81, length) + payload
    if length < 65_536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class KeepProtocol:
    """ASGI middleware: keeps a WebSocket's uvicorn protocol in its scope (outermost)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            if isinstance(protocol, WebSocketsSansIOProtocol):
                scope[SCOPE_KEY] = protocol
        await self.app(scope, receive, send)


def _open(protocol: WebSocketsSansIOProtocol) -> bool:
    return (
        protocol.handshake_complete
        and protocol.initial_response is None
        and not protocol.close_sent
        and not protocol.disconnected
        and protocol.conn.state is State.OPEN
        and not protocol.transport.is_closing()
    )


def write(scope: Any, text: str) -> bool:
    """Write `text` as one frame now if the connection can take it; False to send it the
    ordinary way (no protocol of ours, closing, or its buffer full)."""
    protocol = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    if protocol is None or protocol.conn.extensions or not protocol.writable.is_set():
        return False
    if not _open(protocol):
        return False
    protocol.transport.write(text_frame(text.encode()))
    return True


async def wait_writable(scope: Any, timeout: float) -> bool:
    """Wait until the connection takes writes again; False when there is no point: it is
    closing, or it was just closed as a slow consumer, not taking writes within `timeout`."""
    protocol = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    if protocol is None:
        return True
    if not _open(protocol):
        return False
    if protocol.writable.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await protocol.writable.wait()
        return True
    except TimeoutError:
        close_slow_consumer(protocol)
        return False


def close_slow_consumer(protocol: WebSocketsSansIOProtocol) -> None:
    if not _open(protocol):
        return
    metrics.SLOW_CONSUMERS_CLOSED.inc()
    log.warning("closing a WebSocket whose client stopped reading (%s)", SLOW_CONSUMER_REASON)
    protocol.conn.send_close(SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON)
    protocol.transport.write(b"".join(protocol.conn.data_to_send()))
    protocol.close_sent = True
    # The application sees the connection end, and what it still sends fails at once.
    protocol.disconnected = True
    protocol.queue.put_nowait(
        {"type": "websocket.disconnect", "code": SLOW_CONSUMER_CODE, "reason": SLOW_CONSUMER_REASON}
    )
    protocol.writable.set()
    protocol.loop.call_later(_CLOSE_GRACE_SECONDS, protocol.transport.abort)

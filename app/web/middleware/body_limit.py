"""Request bodies read no further than a limit, whatever `Content-Length` claims.

`read_body` is the one reader: `/graphql` (through `BodyLimit`) and every webhook use it.
It keeps the chunks and joins them once (linear in the body), and stops at the first chunk
past the limit: the server discards the rest without holding it.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from app.web.middleware.refusal import Refusal, too_large


async def read_body(receive: Receive, *, limit: int, content_length: str | None = None) -> bytes:
    """The whole body; `too_large(limit)` past `limit` bytes, ClientDisconnect if the client
    leaves before sending it all."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes) -> Receive:
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


class BodyLimit:
    """Reads a POST body whole, up to `limit` bytes (413 past it), before the app sees it."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        try:
            body = await read_body(receive, limit=self.limit, content_length=length)
        except Refusal as refusal:
            await refusal.graphql_response()(scope, receive, send)
            return
        except ClientDisconnect:
            return
        await self.app(scope, replay(body), send)

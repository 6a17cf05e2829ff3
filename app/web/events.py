"""The tenant's event feed over plain HTTP: `GET /events` (JSON pages from a cursor) and
`GET /events/stream` (Server-Sent Events, resumable with `Last-Event-ID`).

Both take a Bearer token allowed to read incidents, and the same filter as the GraphQL
feed: `types` and `subjects` (comma-separated), `since` (ISO 8601). An event is its
CloudEvents envelope, as `FeedEvent.cloudEvent` is in GraphQL; its `sequence` is the cursor
to resume after it. Refusals are JSON (`{"error", "code", "field"}`): 401, 403, 400 for a
malformed cursor or filter, 503 while the database is out of reach.

The stream sends each event as `id: <cursor>` and `data: <envelope>`; a comment line every
`INCIDENTGRAPH_SSE_HEARTBEAT_SECONDS` when nothing happens (the token is checked again
then: a revoked one ends the stream with an `error` event); `X-Accel-Buffering: no` and
`Cache-Control: no-cache, no-transform` so that proxies pass events on as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from app.config import Settings
from app.core.pagination import page_size
from app.errors import DomainError, ErrorCode, ValidationFailed
from app.models import Classification
from app.pubsub.broker import Broker
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.feed import live
from app.services.feed.envelope import envelope
from app.services.feed.queries import FeedItem, decode_cursor, events_after
from app.services.feed.types import FeedFilter, feed_filter
from app.services.people.authentication import Unauthenticated, authenticate
from app.web.middleware.authentication import bearer_principal
from app.web.middleware.refusal import Refusal, outage_refused

_STREAM_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "X-Content-Type-Options": "nosniff",
}
# Events the stream may hold for a client that reads slowly; past that, the feed waits.
_STREAM_BUFFER = 100


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part.strip()]


def _filter(request: Request) -> FeedFilter:
    params = request.query_params
    since = None
    if params.get("since"):
        try:
            since = datetime.fromisoformat(params["since"])
        except ValueError:
            raise ValidationFailed("since must be an ISO 8601 instant", field="since") from None
        if since.tzinfo is None:
            raise ValidationFailed("since must name its UTC offset", field="since")
    return feed_filter(
        types=_split(params.get("types")),
        subjects=_split(params.get("subjects")),
        since=since,
        field=None,
    )


def _envelope(item: FeedItem, clearance: Classification) -> dict[str, Any]:
    return envelope(item, clearance).body


async def _record_reads(caller: Caller, items: list[FeedItem], via: str) -> None:
    restricted = [i.record_id for i in items if i.classification is Classification.RESTRICTED]
    await audit.record_reads(tenant_id=caller.tenant_id, targets=restricted, via=via)


class Events:
    def __init__(self, *, settings: Settings, broker: Broker) -> None:
        self.settings = settings
        self.broker = broker

    async def _caller(self, request: Request) -> Caller:
        principal = await bearer_principal(
            request, Action.READ_INCIDENTS, "this token may not read events"
        )
        return Caller.of(principal)

    async def page(self, request: Request) -> Response:
        """`GET /events?after=&types=&subjects=&since=&limit=`."""
        try:
            caller = await self._caller(request)
            try:
                params = request.query_params
                raw = params.get("limit")
                limit = page_size(_int(raw, "limit") if raw is not None else None, field="limit")
                after = decode_cursor(params["after"]) if "after" in params else 0
                wanted = _filter(request)
                with outage_refused():
                    page = await events_after(
                        caller=caller, after=after, limit=limit, filter=wanted
                    )
                    await _record_reads(caller, page.items, "GET /events")
            except DomainError as error:
                raise Refusal.of(error, status=400) from None
        except Refusal as refusal:
            return refusal.webhook_response()
        body = {
            "events": [_envelope(i, caller.clearance) for i in page.items],
            "next": str(page.last),
            "hasMore": page.has_more,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def stream(self, request: Request) -> Response:
        """`GET /events/stream`: replay after `Last-Event-ID` (or `after`), then live."""
        try:
            caller = await self._caller(request)
            try:
                resume = request.headers.get("last-event-id") or request.query_params.get("after")
                field = "Last-Event-ID" if request.headers.get("last-event-id") else "after"
                after = decode_cursor(resume, field=field) if resume else None
                wanted = _filter(request)
            except DomainError as error:
                raise Refusal.of(error, status=400) from None
        except Refusal as refusal:
            return refusal.webhook_response()
        authorization = request.headers.get("authorization")
        return StreamingResponse(
            self._frames(caller, after, wanted, authorization),
            media_type="text/event-stream",
            headers=_STREAM_HEADERS,
        )

    async def _frames(
        self, caller: Caller, after: int | None, wanted: FeedFilter, authorization: str | None
    ) -> AsyncIterator[str]:
        queue: asyncio.Queue[FeedItem | BaseException] = asyncio.Queue(_STREAM_BUFFER)

        async def produce() -> None:
            try:
                async for item in live.follow(
                    broker=self.broker, caller=caller, after=after, filter=wanted
                ):
                    await _record_reads(caller, [item.value], "GET /events/stream")
                    await queue.put(item.value)
            except Exception as error:
                await queue.put(error)

        producer = asyncio.create_task(produce(), name="events-stream")
        heartbeat = self.settings.sse_heartbeat_seconds
        loop = asyncio.get_running_loop()
        checked = loop.time()
        try:
            yield f"retry: 3000\n: following the feed of {caller.tenant_id}\n\n"
            while True:
                got: FeedItem | BaseException | None = None
                with contextlib.suppress(TimeoutError):
                    got = await asyncio.wait_for(queue.get(), heartbeat)
                if loop.time() - checked >= heartbeat:
                    # Every heartbeat's time, events or not: a revoked token ends the stream.
                    checked = loop.time()
                    if not await _still_valid(authorization):
                        yield _error_frame(ErrorCode.UNAUTHENTICATED, "the token was revoked")
                        return
                if got is None:
                    yield ": heartbeat\n\n"
                    continue
                if isinstance(got, BaseException):
                    code = got.code if isinstance(got, DomainError) else ErrorCode.UNAVAILABLE
                    yield _error_frame(code, "the feed stopped; reconnect with Last-Event-ID")
                    return
                envelope = _envelope(got, caller.clearance)
                data = json.dumps(envelope, separators=(",", ":"), default=str)
                yield f"id: {envelope['sequence']}\ndata: {data}\n\n"
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValidationFailed(f"{field} must be a whole number", field=field) from None


async def _still_valid(authorization: str | None) -> bool:
    try:
        await authenticate(authorization)
    except Unauthenticated:
        return False
    except Exception:  # a database blip is no reason to drop a reader
        return True
    return True


def _error_frame(code: ErrorCode, message: str) -> str:
    data = json.dumps({"code": code.value, "message": message})
    return f"event: error\ndata: {data}\n\n"

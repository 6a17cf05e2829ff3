"""Answers repeated queries from the query cache (`app/web/query_cache.py`) and feeds it.

A POST is classified by its body: a query with a cache key is answered from the cache when
it can be (`X-Cache: hit`), else run (`X-Cache: miss`) and its answer kept if the view
reports that it executed and its result carries no error (`record_result`) and nothing
marked it uncacheable (`Context.mark_uncacheable`). An answer that read restricted
incidents is kept with those reads, and each caller it is served to records them as its
own before it is answered (once a window, app/services/access/audit.py), as running the
query would have. A mutation drops the tenant's entries as soon as its answer starts:
committed by then, no later reader may see older data.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from graphql import OperationType
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.services.access import audit
from app.web.middleware.authentication import origin_of, principal_of
from app.web.middleware.body_limit import replay
from app.web.middleware.refusal import Refusal, outage_refused
from app.web.query_cache import Cached, QueryCache

_EXECUTED = "graphql_executed"
_UNCACHEABLE = "uncacheable"  # also set by Context.mark_uncacheable
_AUDITED_READS = "audited_reads"  # set by Context.note_audited_reads


def record_result(scope: Scope, *, errors: bool) -> None:
    """The view ran an operation of this request; `errors` when its result has any."""
    state = scope.setdefault("state", {})
    state[_EXECUTED] = True
    if errors:
        state[_UNCACHEABLE] = True


def _cacheable(scope: Scope) -> bool:
    state = scope.get("state", {})
    return bool(state.get(_EXECUTED)) and not state.get(_UNCACHEABLE, False)


async def _send_cached(send: Send, body: bytes) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-cache", b"hit"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _record_reads(reads: Sequence[tuple[str, str, str]]) -> None:
    """Record a cached answer's restricted reads as this caller's (503 when they cannot be)."""
    by_field: dict[tuple[str, str], list[str]] = {}
    for tenant_id, target, via in reads:
        by_field.setdefault((tenant_id, via), []).append(target)
    with outage_refused():
        for (tenant_id, via), targets in by_field.items():
            await audit.record_reads(tenant_id=tenant_id, targets=targets, via=via)


class QueryCaching:
    def __init__(self, app: ASGIApp, *, cache: QueryCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = principal_of(scope) if scope["type"] == "http" else None
        if principal is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await Request(scope, receive).body()  # bounded by BodyLimit, in front
        decision = self.cache.classify(principal, body)
        if decision.key is not None:
            cached = self.cache.get(decision.key)
            if cached is not None:
                try:
                    if cached.reads:
                        audit.set_origin(origin_of(principal, Request(scope)))
                        await _record_reads(cached.reads)
                except Refusal as refusal:
                    await refusal.graphql_response()(scope, receive, send)
                    return
                await _send_cached(send, cached.body)
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
                    self.cache.invalidate(tenant_id)
                elif decision.key is not None:
                    message["headers"] = [*message.get("headers", []), (b"x-cache", b"miss")]
            elif message["type"] == "http.response.body" and decision.key is not None:
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, replay(body), capture)
        if decision.key is not None and status == 200 and _cacheable(scope):
            reads = tuple(dict.fromkeys(scope.get("state", {}).get(_AUDITED_READS, ())))
            self.cache.put(decision.key, Cached(b"".join(chunks), reads), generation=generation)

"""A short-lived cache of whole query responses, dropped at the tenant's next change.

Dashboards and wall displays poll the same few queries. An identical query (same body) from
the same tenant, role and clearance is answered from this process's cache until the tenant's data
changes or `ttl` seconds pass, whichever is first: the ttl bounds how stale time-derived
fields (SLA countdowns and breach flags) can be. A change anywhere in the tenant drops the
tenant's entries: at once for changes this process commits (mutations, webhooks, the alert
processor: every outbox row, see `outbox.message_committed`), and within a broker hop for changes
made by other processes (the tenant's `incidents` channel). Mutations, subscriptions
and responses with errors are never cached, nor requests over `_MAX_REQUEST` bytes: every
entry keeps its request body as its key. An answer that read restricted incidents keeps
those reads (`Cached.reads`): each caller it is served to records them as its own first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass

from graphql import GraphQLError, OperationDefinitionNode, OperationType

from app.pubsub import channels
from app.pubsub.broker import Broker
from app.resolvers.root import MAX_TOKENS
from app.schema.documents import DOCUMENTS
from app.services.access.tokens import Principal

_MAX_BODY = 1 << 20
_MAX_REQUEST = 64 << 10


def operation_of(query: object, name: object, *, max_query_length: int) -> OperationType | None:
    """The kind of operation a query text runs, None when that is not plain.

    A text over the length limit is not parsed: the view refuses it.
    """
    if not isinstance(query, str) or len(query) > max_query_length:
        return None
    try:
        # The schema's own arguments: both share one entry per document in the cache.
        document = DOCUMENTS.parse(query, max_tokens=MAX_TOKENS)
    except (GraphQLError, RecursionError):
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
    return chosen[0].operation if len(chosen) == 1 else None


@dataclass(frozen=True, slots=True)
class Request:
    """What the cache decided about one request body."""

    operation: OperationType | None
    key: tuple[str, str, bytes] | None


@dataclass(frozen=True, slots=True)
class Cached:
    body: bytes
    # The audited reads (tenant, incident, via) the answer made.
    reads: tuple[tuple[str, str, str], ...] = ()


@dataclass(slots=True)
class _Entry:
    cached: Cached
    expires: float
    generation: int


class QueryCache:
    def __init__(
        self, broker: Broker, *, ttl: float, max_query_length: int, max_entries: int = 1024
    ) -> None:
        self._broker = broker
        self._ttl = ttl
        self._max_query_length = max_query_length
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str, bytes], _Entry] = OrderedDict()
        self._generations: dict[str, int] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        # Tenants whose changes this process is hearing: only their answers are kept.
        self._listening: set[str] = set()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def operation(self, query: object, name: object = None) -> OperationType | None:
        return operation_of(query, name, max_query_length=self._max_query_length)

    def classify(self, principal: Principal, body: bytes) -> Request:
        """The operation a POST body runs, and its cache key when it is a cacheable query."""
        try:
            data = json.loads(body)
            kind = self.operation(data["query"], data.get("operationName"))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return Request(None, None)
        if kind is None:
            return Request(None, None)
        cacheable = kind is OperationType.QUERY and self.enabled and len(body) <= _MAX_REQUEST
        view = f"{principal.role.value}:{principal.clearance.value}"
        key = (principal.tenant_id, view, body) if cacheable else None
        return Request(kind, key)

    def get(self, key: tuple[str, str, bytes]) -> Cached | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry.expires < time.monotonic() or entry.generation != self.generation(key[0]):
            del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.cached

    def generation(self, tenant_id: str) -> int:
        return self._generations.get(tenant_id, 0)

    def put(self, key: tuple[str, str, bytes], cached: Cached, *, generation: int) -> None:
        """Keep a response computed while the tenant was at `generation`, if it still is."""
        body = cached.body
        tenant_id = key[0]
        self._watch(tenant_id)
        if tenant_id not in self._listening:
            return
        if generation != self.generation(tenant_id) or len(body) > _MAX_BODY:
            return
        self._entries[key] = _Entry(cached, time.monotonic() + self._ttl, generation)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, tenant_id: str) -> None:
        self._generations[tenant_id] = self.generation(tenant_id) + 1

    def _watch(self, tenant_id: str) -> None:
        if tenant_id not in self._watchers:
            self._watchers[tenant_id] = asyncio.create_task(
                self._follow(tenant_id), name=f"query-cache:{tenant_id}"
            )

    async def _follow(self, tenant_id: str) -> None:
        while True:
            try:
                following = (channels.incidents(tenant_id), channels.records(tenant_id))
                async with self._broker.subscribe(*following) as sub:
                    self.invalidate(tenant_id)  # answers computed before we listened
                    self._listening.add(tenant_id)
                    async for _ in sub:  # any change, or a resync after an outage
                        self.invalidate(tenant_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # a slow consumer or a broker failure: stop keeping answers
                pass
            self._listening.discard(tenant_id)
            self.invalidate(tenant_id)
            await asyncio.sleep(1)

    async def close(self) -> None:
        for task in self._watchers.values():
            task.cancel()
        for task in self._watchers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watchers.clear()

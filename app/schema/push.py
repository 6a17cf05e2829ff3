"""The size of a subscription push, bounded.

A push carries whatever its document selects from the new state: an `incidentUpdated` with a
500-event timeline of 60 KB notes is 25 MB per change, per subscriber. A push whose JSON is
over the context's `settings.max_push_bytes` is not sent; the subscriber gets, in its place,
a `PUSH_TOO_LARGE` error with the size and the limit, and the subscription goes on. So a
client never misses a change silently: it knows to read what changed with a query (paging
large lists) or to subscribe to less.

The JSON is encoded once per result, however many subscribers share it (execution.py hands
one result to every subscriber of the same document and view): the size is measured on it,
and the WebSocket handlers send it inside each subscriber's frame as it is.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app.errors import ErrorCode
from app.schema.execution import group_key, ready_data

# Results encoded lately, by id() with the object kept so that an id is never reused: one
# per (document, variables, view) of the events being delivered now.
_ENCODED: OrderedDict[int, tuple[object, str]] = OrderedDict()
_ENCODED_KEPT = 64


def encoded(data: Any) -> str:
    """`data` as JSON, as the transport sends it; encoded once however many subscribers."""
    hit = _ENCODED.get(id(data))
    if hit is not None and hit[0] is data:
        return hit[1]
    text = json.dumps(data, separators=(",", ":"), default=str)
    _ENCODED[id(data)] = (data, text)
    if len(_ENCODED) > _ENCODED_KEPT:
        _ENCODED.popitem(last=False)
    return text


def push_size(data: Any) -> int:
    """Bytes of `data` as JSON (ASCII: escapes for anything else), as the transport sends it."""
    return len(encoded(data))


def shared_frame(operation_id: str, kind: str, payload: Any) -> str | None:
    """The text of a `next` (or legacy `data`) message carrying only data, built around the
    data's JSON encoded once for every subscriber of the result; None for anything else."""
    if not isinstance(payload, dict) or len(payload) != 1:
        return None
    data = payload.get("data")
    if data is None:
        return None
    return (
        f'{{"id":{json.dumps(operation_id)},"type":"{kind}","payload":{{"data":{encoded(data)}}}}}'
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """The WebSocket operation a subscription runs in (set by the protocol handler)."""

    operation_id: str
    kind: str  # the message type of a push: "next", or "data" in the legacy protocol
    write: Callable[[str], bool]  # sends a frame now; False when it cannot (full, closed)


DELIVERY: ContextVar[Delivery | None] = ContextVar("incidentgraph_delivery", default=None)


class Follower:
    """Sends a subscriber the push its group's execution already produced for this event.

    Subscribers of one document, variables and view get the same result (execution.py):
    once one of them has been through the whole execution, each of the others is sent the
    same data framed with its own operation id, straight to its socket, without going
    through the per-result execution machinery again. Anything else (no finished result yet,
    an error, restricted reads to record, a push over the size limit, a socket that cannot
    take it now) takes the ordinary way.
    """

    __slots__ = ("_delivery", "_key", "_limit", "_operation")

    def __init__(self, delivery: Delivery, key: Any, operation: Any, limit: int | None) -> None:
        self._delivery = delivery
        self._key = key
        self._operation = operation
        self._limit = limit

    @classmethod
    def of(cls, info: Any) -> Follower | None:
        delivery = DELIVERY.get()
        if delivery is None:
            return None
        raw = info._raw_info
        key = group_key(raw.operation, raw.variable_values, info.context)
        if key is None:
            return None
        settings = getattr(info.context, "settings", None)
        return cls(delivery, key, raw.operation, getattr(settings, "max_push_bytes", None))

    def sent(self, value: Any) -> bool:
        """Whether the push of `value` (this event's shared object) was sent already."""
        shared = getattr(value, "shared", None)
        if shared is None:
            return False
        data = ready_data(shared, self._key, self._operation)
        if data is None or (self._limit is not None and push_size(data) > self._limit):
            return False
        frame = shared_frame(self._delivery.operation_id, self._delivery.kind, {"data": data})
        return frame is not None and self._delivery.write(frame)


def too_large(size: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"this push is {size} bytes, over the limit of {limit}, and was not sent: query what "
        "changed instead (paging large lists) or subscribe to a smaller selection",
        extensions={"code": ErrorCode.PUSH_TOO_LARGE.value, "size": size, "limit": limit},
    )


class PushSizeLimit(SchemaExtension):
    """Replaces a subscription push over `settings.max_push_bytes` by PUSH_TOO_LARGE."""

    def on_stream_result(self, result: Any) -> Iterator[None]:
        context = self.execution_context
        data = getattr(result, "data", None)
        if data is not None and context.operation_type is OperationType.SUBSCRIPTION:
            settings = getattr(context.context, "settings", None)
            limit: int | None = getattr(settings, "max_push_bytes", None)
            if limit is not None:
                size = push_size(data)
                if size > limit:
                    result.data = None
                    result.errors = [*(result.errors or []), too_large(size, limit)]
        yield

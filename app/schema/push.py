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
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app.errors import ErrorCode

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

"""The size of a subscription push, bounded.

A push carries whatever its document selects from the new state: an `incidentUpdated` with a
500-event timeline of 60 KB notes is 25 MB per change, per subscriber. A push whose JSON is
over the context's `settings.max_push_bytes` is not sent; the subscriber gets, in its place,
a `PUSH_TOO_LARGE` error with the size and the limit, and the subscription goes on. So a
client never misses a change silently: it knows to read what changed with a query (paging
large lists) or to subscribe to less.

The size is measured once per result, however many subscribers share it (execution.py hands
one result to every subscriber of the same document and view).
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

# Results measured lately, by id() with the object kept so that an id is never reused.
_SIZES: OrderedDict[int, tuple[object, int]] = OrderedDict()
_SIZES_KEPT = 8


def push_size(data: Any) -> int:
    """Bytes of `data` as JSON, as the transport sends it."""
    hit = _SIZES.get(id(data))
    if hit is not None and hit[0] is data:
        return hit[1]
    size = len(json.dumps(data, separators=(",", ":"), default=str))
    _SIZES[id(data)] = (data, size)
    if len(_SIZES) > _SIZES_KEPT:
        _SIZES.popitem(last=False)
    return size


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

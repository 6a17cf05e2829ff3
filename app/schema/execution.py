"""Subscription events executed once per document, not once per subscriber.

A broker message reaches every local subscriber of its channel. Subscribers whose operation
is the same parsed document (ParserCache hands out one object per query text), with the same
variables and the same view of the data, get the same result: the first one executes, the
others take its result from the message's per-event cache (`shared` on the payload).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any

from graphql import ExecutionResult, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


def _view(context: Any) -> object:
    """What decides which data a subscriber may see: its tenant, role and clearance."""
    principal = getattr(context, "principal", None)
    if principal is None:
        return None
    return (principal.tenant_id, principal.role, principal.clearance)


class SharedEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially: bool | None = None) -> Any:
        shared: dict[Any, Any] | None = getattr(self.root_value, "shared", None)
        if shared is None or self.operation.operation is not OperationType.SUBSCRIPTION:
            return super().execute_operation(serially)
        try:
            variables = json.dumps(self.variable_values.coerced, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return super().execute_operation(serially)
        key = ("execution", id(self.operation), variables, _view(self.context_value))
        hit = shared.get(key)
        # The operation object is kept and compared: an id alone could be reused.
        if hit is not None and hit[0] is self.operation:
            result = hit[1]
            return _await_shared(result) if isinstance(result, asyncio.Future) else result
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            future = asyncio.ensure_future(result)
            shared[key] = (self.operation, future)
            return _await_shared(future)
        shared[key] = (self.operation, result)
        return result


async def _await_shared(future: Awaitable[ExecutionResult]) -> ExecutionResult:
    return await asyncio.shield(future)

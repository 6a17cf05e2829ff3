"""Subscription events executed once per document, not once per subscriber.

A broker message reaches every local subscriber of its channel. Subscribers whose operation
is the same parsed document (ParserCache hands out one object per query text), with the same
variables and the same view of the data, get the same result: the first one executes, the
others take its result from the message's per-event cache (`shared` on the payload).

Restricted reads made by that one execution (`mergedInto`, `Alert.incident`...) are read for
every subscriber that takes the result: they are collected while it runs, not written for
the subscriber that ran it, and each subscriber records them as its own before its result
is handed over (audit.SharedReads). The execution gets a context of its own, so that its
loaders serve no other operation of the same connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode, OperationType

from app.schema.context import Context
from app.schema.plain_fields import PlainFieldExecution
from app.services.access import audit


def _view(context: Any) -> object:
    """What decides which data a subscriber may see: its tenant, role and clearance."""
    principal = getattr(context, "principal", None)
    if principal is None:
        return None
    return (principal.tenant_id, principal.role, principal.clearance)


def group_key(operation: OperationDefinitionNode, variables: Any, context: Any) -> Any:
    """What subscribers sharing one execution of an event have in common: the document's
    operation, the variables and the view; None when the variables do not encode."""
    # The executor keeps them coerced; a resolver's info may hold the coerced dict itself.
    values = getattr(variables, "coerced", variables)
    try:
        encoded = json.dumps(values, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None
    return ("execution", id(operation), encoded, _view(context))


def ready_data(shared: dict[Any, Any], key: Any, operation: OperationDefinitionNode) -> Any:
    """The data of the group's execution of this event, when it has finished with data, no
    error and no restricted read to record for each reader: then every other subscriber of
    the group may be sent it as it is. None otherwise (they take the ordinary way)."""
    hit = shared.get(key)
    if hit is None or hit[0] is not operation or not hit[2].empty:
        return None
    result = hit[1]
    if isinstance(result, asyncio.Future):
        if not result.done() or result.cancelled() or result.exception() is not None:
            return None
        result = result.result()
    if not isinstance(result, ExecutionResult) or result.errors or result.extensions:
        return None
    return result.data


class SharedEventExecutionContext(PlainFieldExecution):
    def execute_operation(self, serially: bool | None = None) -> Any:
        shared: dict[Any, Any] | None = getattr(self.root_value, "shared", None)
        if shared is None or self.operation.operation is not OperationType.SUBSCRIPTION:
            return super().execute_operation(serially)
        key = group_key(self.operation, self.variable_values, self.context_value)
        if key is None:
            return super().execute_operation(serially)
        reader = audit.current_origin()
        hit = shared.get(key)
        # The operation object is kept and compared: an id alone could be reused.
        if hit is not None and hit[0] is self.operation:
            return _answer(hit[1], hit[2], reader)
        reads = audit.SharedReads()
        if isinstance(self.context_value, Context):
            self.context_value = dataclasses.replace(self.context_value, _loaders=None)
        with reads.collecting():
            result = super().execute_operation(serially)
            if self.is_awaitable(result):
                # The task copies the context now: its reads are collected too.
                result = asyncio.ensure_future(result)
        shared[key] = (self.operation, result, reads)
        return _answer(result, reads, reader)


def _answer(result: Any, reads: audit.SharedReads, reader: audit.Origin) -> Any:
    """The shared result for one reader, once the reads it carries are recorded as theirs."""
    if not isinstance(result, asyncio.Future) and reads.empty:
        return result
    return _recorded(result, reads, reader)


async def _recorded(
    result: asyncio.Future[ExecutionResult] | ExecutionResult,
    reads: audit.SharedReads,
    reader: audit.Origin,
) -> ExecutionResult:
    answer = await asyncio.shield(result) if isinstance(result, asyncio.Future) else result
    try:
        await reads.record_for(reader)
    except Exception as exc:
        # As when a resolver's own audit write fails: the read fails, masked and logged.
        return ExecutionResult(
            data=None, errors=[GraphQLError("could not audit the read", original_error=exc)]
        )
    return answer

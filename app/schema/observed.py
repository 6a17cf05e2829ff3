"""What each GraphQL operation costs, for /metrics and the request log.

Every query's and mutation's time (parse, validate, execute) goes into a histogram by
operation type (a subscription's delays are measured per push, in the resolvers);
its name and type are left on the request for the one log line the request gets
(app/web/middleware/request_log.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from app.core import metrics


def operation_type_of(extension: SchemaExtension) -> str:
    """query, mutation or subscription; `invalid` for a document that did not parse or does
    not name one operation to run."""
    context = extension.execution_context
    if context.graphql_document is None:
        return "invalid"
    try:
        return context.operation_type.value
    except RuntimeError:
        return "invalid"


class Observed(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        operation_type = operation_type_of(self)
        if operation_type != "subscription":  # its operation lasts as long as it is followed
            metrics.GRAPHQL_DURATION.labels(operation_type=operation_type).observe(
                time.perf_counter() - started
            )
        request = getattr(self.execution_context.context, "request", None)
        if request is not None:
            state = request.scope.setdefault("state", {})
            state["graphql_operation"] = (self.execution_context.operation_name, operation_type)

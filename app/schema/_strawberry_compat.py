"""What this service needs from Strawberry that Strawberry offers no public API for.

Every such use is here and nowhere else, pinned by tests/unit/test_strawberry_compat.py;
pyproject.toml bounds strawberry-graphql to the versions that test has passed on.

- `validate_document`: Strawberry's validation (graphql-core's rules plus its own), which
  the document cache calls once per document instead of once per request.
- `graphql_schema_of`: the graphql-core schema a Strawberry schema built.
- `CodingMaskErrors`: MaskErrors with one hook, `code`, that gives every error it lets
  through an `extensions.code`, and a fast path for results without errors (MaskErrors
  runs for every subscription push).
"""

from __future__ import annotations

from graphql import GraphQLError, GraphQLSchema
from strawberry import Schema
from strawberry.extensions import MaskErrors
from strawberry.schema.schema import validate_document

__all__ = ["CodingMaskErrors", "graphql_schema_of", "validate_document"]


def graphql_schema_of(schema: Schema) -> GraphQLSchema:
    return schema._schema


class CodingMaskErrors(MaskErrors):
    def code(self, errors: list[GraphQLError]) -> None:
        """Called with the errors of a result once the unexpected ones are masked."""

    def _process_result(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        self.code(processed)
        return processed

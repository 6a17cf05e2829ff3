"""Every GraphQL error leaves with an `extensions.code`; unexpected ones leave masked.

A database that cannot be reached is not a fault of the server's: its errors leave as
`UNAVAILABLE` (not logged with a trace), which the HTTP view answers with 503.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import strawberry
from graphql import GraphQLError, GraphQLSchema, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from app import database
from app.errors import UNAVAILABLE_MESSAGE, ErrorCode
from app.schema._strawberry_compat import CodingMaskErrors, graphql_schema_of
from app.schema.documents import DOCUMENTS

log = logging.getLogger("app.errors")


def _has_code(error: GraphQLError) -> bool:
    return bool(error.extensions and error.extensions.get("code"))


def _unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return not _has_code(error)


def _outage(error: GraphQLError) -> bool:
    return error.original_error is not None and database.is_outage(error.original_error)


class ErrorCodes(CodingMaskErrors):
    """Masks unexpected failures (no stack trace, SQL or secret leaves) and codes the rest."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected, error_message="Internal server error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if _outage(error):
            unavailable = GraphQLError(
                UNAVAILABLE_MESSAGE, nodes=error.nodes, path=error.path, original_error=None
            )
            unavailable.extensions = {"code": ErrorCode.UNAVAILABLE.value}
            return unavailable
        masked = super().anonymise_error(error)
        masked.extensions = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value}
        return masked

    def code(self, errors: list[GraphQLError]) -> None:
        for error in errors:
            if not _has_code(error):
                code = (
                    ErrorCode.GRAPHQL_PARSE_FAILED
                    if isinstance(error, GraphQLSyntaxError)
                    else ErrorCode.GRAPHQL_VALIDATION_FAILED
                    if error.path is None
                    else ErrorCode.BAD_REQUEST
                )
                error.extensions = {**(error.extensions or {}), "code": code.value}


class Schema(strawberry.Schema):
    """Logs what went wrong on the server, not what the client asked wrongly.

    Strawberry logs every error with its traceback, so each FORBIDDEN, NOT_FOUND or invalid
    document filled the log as if the server had failed. A coded error is an answer; only an
    unexpected failure (the one masked as INTERNAL_SERVER_ERROR) is logged, with its trace.
    """

    @property
    def graphql_schema(self) -> GraphQLSchema:
        """The graphql-core schema Strawberry built."""
        return graphql_schema_of(self)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if _unexpected(error) and _outage(error):
                log.warning("database unavailable at %s: %s", error.path, error.original_error)
            elif _unexpected(error):
                log.error("unexpected error at %s", error.path, exc_info=error.original_error)
            else:
                log.debug("request refused: %s", error.message)


class CachedParser(SchemaExtension):
    """Parses through the bounded document cache, but leaves a syntax error to Strawberry's
    own parse: raised while this hook is being entered, it would escape the operation before
    any extension saw it, and leave without a code."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = DOCUMENTS.parse(
                context.query or "", max_tokens=context.parse_options.get("max_tokens")
            )
        yield


class CachedValidation(SchemaExtension):
    """Validates through the bounded document cache: a document it keeps keeps its errors."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema = context.schema
        if (
            isinstance(schema, Schema)
            and context.graphql_document is not None
            and context.query is not None
        ):
            context.pre_execution_errors = DOCUMENTS.validate(
                schema.graphql_schema,
                context.query,
                context.graphql_document,
                tuple(context.validation_rules),
                max_tokens=context.parse_options.get("max_tokens"),
            )
        yield

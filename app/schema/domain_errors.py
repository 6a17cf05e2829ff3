"""The one conversion of a domain error (`app.errors`) into a top-level GraphQL error.

`UserError.of` is its payload twin: a mutation answers a domain error in its payload, a
query raises it as this. Either way the client reads the same code, message and field.
FORBIDDEN is the exception: it is always raised as this, from a query or a mutation, whether
the role or a rule about the record refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphql import GraphQLError

from app.errors import DomainError, ErrorCode


def extensions_of(error: DomainError) -> dict[str, object]:
    """A domain error's `extensions`: its code, the field it names if any, and its extras."""
    extensions: dict[str, object] = {"code": error.code.value}
    if error.field is not None:
        extensions["field"] = error.field
    extensions.update(error.extensions)
    return extensions


class DomainGraphQLError(GraphQLError):
    """A domain error raised as a top-level GraphQL error; `.error` keeps it, so that a
    mutation may answer it in its payload instead."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message, extensions=extensions_of(error))
        self.error = error


def graphql_error(error: DomainError) -> GraphQLError:
    return DomainGraphQLError(error)


def coded_error(code: ErrorCode, message: str, **extensions: object) -> GraphQLError:
    """A top-level GraphQL error that is no domain error's (a refusal, a slow consumer)."""
    return GraphQLError(message, extensions={"code": code.value, **extensions})


def codes_of(errors: list[GraphQLError] | list[Mapping[str, object]] | None) -> set[str]:
    """The `extensions.code` of each error, as GraphQLErrors or as formatted dicts."""
    found: set[str] = set()
    for error in errors or []:
        extensions = (
            error.extensions if isinstance(error, GraphQLError) else error.get("extensions")
        )
        if isinstance(extensions, Mapping) and isinstance(extensions.get("code"), str):
            found.add(extensions["code"])
    return found

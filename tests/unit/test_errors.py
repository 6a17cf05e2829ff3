"""Domain errors become GraphQL errors and payload errors in one way, with one code list."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from graphql import GraphQLError
from tortoise.exceptions import OperationalError

from app import database
from app.errors import DomainError, ErrorCode, Forbidden, NotFound, RateLimited, ValidationFailed
from app.schema.authorization import PermissionDenied
from app.schema.common import UserError
from app.schema.domain_errors import DomainGraphQLError, coded_error, codes_of, graphql_error


def test_a_domain_error_becomes_a_graphql_error_with_its_code_and_field() -> None:
    # given a refused value
    error = ValidationFailed("title must not be empty", field="title")

    # when it is raised as a top-level error
    converted = graphql_error(error)

    # then the client reads its message, code and field
    assert converted.message == "title must not be empty"
    assert converted.extensions == {"code": "VALIDATION", "field": "title"}
    assert isinstance(converted, DomainGraphQLError) and converted.error is error


def test_a_field_is_named_only_when_the_error_has_one() -> None:
    assert graphql_error(NotFound("no such incident")).extensions == {"code": "NOT_FOUND"}


def test_a_rate_limit_says_when_to_retry() -> None:
    # given a spent allowance
    error = RateLimited("too many requests for this token: retry in 3 s", retry_after=3)

    # then both its GraphQL error and its payload error carry the code
    assert graphql_error(error).formatted["extensions"] == {
        "code": "RATE_LIMITED",
        "retryAfter": 3,
    }
    assert UserError.of(error).code is ErrorCode.RATE_LIMITED


def test_forbidden_is_always_a_top_level_error_never_a_payload_error() -> None:
    # given a refusal by role and one by a rule about the record, with its field
    denied = PermissionDenied(Forbidden("role VIEWER may not declare incidents"))
    by_rule = Forbidden("only an incident manager may close a P1", field="to")

    # then both are top-level errors with extensions.code, even where a payload is asked for
    assert denied.extensions == {"code": "FORBIDDEN"}
    for error in (denied.error, by_rule):
        with pytest.raises(GraphQLError) as raised:
            UserError.of(error)
        assert raised.value.extensions is not None
        assert raised.value.extensions["code"] == "FORBIDDEN"
    assert raised.value.extensions["field"] == "to"


def test_a_payload_error_and_a_graphql_error_agree() -> None:
    error = DomainError("stale version", field="version")
    error.code = ErrorCode.CONFLICT

    payload = UserError.of(error)
    top_level = graphql_error(error)

    assert (payload.code.value, payload.field, payload.message) == (
        top_level.extensions["code"],  # type: ignore[index]
        top_level.extensions["field"],  # type: ignore[index]
        top_level.message,
    )


def test_coded_errors_and_their_codes_read_back() -> None:
    error = coded_error(ErrorCode.TOO_MANY_SUBSCRIPTIONS, "complete one first", limit=3)

    assert error.extensions == {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": 3}
    assert codes_of([error]) == {"TOO_MANY_SUBSCRIPTIONS"}
    assert codes_of([error.formatted, {"message": "no code"}]) == {"TOO_MANY_SUBSCRIPTIONS"}
    assert codes_of([GraphQLError("bare")]) == set()


def test_every_code_is_its_own_name() -> None:
    assert all(code.value == code.name for code in ErrorCode)


def test_a_database_out_of_reach_is_an_outage_and_a_bad_statement_is_not() -> None:
    refused = asyncpg.exceptions.ObjectNotInPrerequisiteStateError(
        'database "x" is not currently accepting connections'
    )
    assert database.is_outage(refused)
    assert database.is_outage(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert database.is_outage(ConnectionRefusedError(111, "Connection refused"))
    locked = sqlite3.OperationalError("database is locked")
    assert database.is_outage(OperationalError(locked))  # as Tortoise wraps it

    assert not database.is_outage(OperationalError(sqlite3.OperationalError("no such table: x")))
    assert not database.is_outage(asyncpg.exceptions.QueryCanceledError("statement timeout"))
    assert not database.is_outage(asyncpg.exceptions.LockNotAvailableError("could not obtain lock"))
    assert not database.is_outage(ValueError("bad value"))

"""The Strawberry internals app/schema/_strawberry_compat.py relies on, pinned: when an
upgrade changes one of them, this fails before any user sees an error leave uncoded or a
traceback leave unmasked."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError, GraphQLSchema, parse, specified_rules
from strawberry.extensions import MaskErrors

from app.schema._strawberry_compat import CodingMaskErrors, graphql_schema_of, validate_document


class _Coded(CodingMaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: e.original_error is not None)

    def code(self, errors: list[GraphQLError]) -> None:
        for error in errors:
            error.extensions = {**(error.extensions or {}), "code": "TEST_CODE"}


@strawberry.type
class _Query:
    @strawberry.field
    def ok(self) -> str:
        return "fine"

    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("secret connection string")


@strawberry.type
class _Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[str, None]:
        yield "one"
        raise RuntimeError("secret in a push")


SCHEMA = strawberry.Schema(query=_Query, subscription=_Subscription, extensions=[_Coded])


def test_mask_errors_still_has_the_two_hooks_overridden():
    assert callable(getattr(MaskErrors, "_process_result", None))
    assert callable(getattr(MaskErrors, "_process_errors", None))


async def test_an_unexpected_error_leaves_masked_and_coded_and_a_clean_answer_untouched():
    clean = await SCHEMA.execute("{ ok }")
    failed = await SCHEMA.execute("{ ok broken }")

    assert clean.errors is None and clean.data == {"ok": "fine"}
    assert failed.errors is not None
    assert [(e.message, e.extensions) for e in failed.errors] == [
        ("Unexpected error.", {"code": "TEST_CODE"})
    ]


async def test_a_subscription_push_is_masked_and_coded_too():
    stream = await SCHEMA.subscribe("subscription { ticks }")
    assert not hasattr(stream, "errors") or stream.errors is None
    pushes = [result async for result in stream]  # type: ignore[union-attr]

    assert pushes[0].data == {"ticks": "one"}
    assert [(e.message, e.extensions) for e in pushes[1].errors] == [
        ("Unexpected error.", {"code": "TEST_CODE"})
    ]


def test_the_graphql_core_schema_and_strawberry_validation_are_reachable():
    schema = graphql_schema_of(SCHEMA)
    assert isinstance(schema, GraphQLSchema)
    assert schema.query_type is not None and "broken" in schema.query_type.fields

    rules = tuple(specified_rules)
    assert validate_document(schema, parse("{ ok }"), rules) == []
    errors = validate_document(schema, parse("{ nope }"), rules)
    assert [e.message for e in errors] == ["Cannot query field 'nope' on type 'Query'."]

"""Completion of a subtree of plain attributes in one pass (see app/schema/plain_fields.py).

Each function here completes values of one type and selection: a scalar or enum, a non-null
or list wrapper, an object with its selected attributes. The executor composes them once per
selection; calling the result on a value gives what graphql-core's completion would give, or
raises GiveUp on anything it does not expect, and graphql-core then completes the value itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLResolveInfo,
    GraphQLString,
)
from graphql.pyutils import Undefined


class GiveUp(Exception):
    """A compiled subtree met a value it leaves to graphql-core."""


# Completes a value of one type and selection in one pass, or raises GiveUp.
Compiled = Callable[[Any], Any]
# An object's selected attribute: response name, how to read it, its name, how to complete it.
Attribute = tuple[str, Callable[[Any, str], Any], str, Compiled]


def leaf_of(
    leaf: GraphQLLeafType, is_awaitable: Callable[[Any], bool], *, nullable: bool = True
) -> Compiled:
    """A scalar or enum (`nullable=False`: under a non-null wrapper). A value of the exact
    Python type a built-in scalar returns as it is (a str for String and ID, a bool for
    Boolean, an int in 32 bits for Int) is returned without its coercion, which would only
    return it."""
    coerce = leaf.coerce_output_value
    exact = _EXACT.get(leaf.name) if leaf in _BUILT_IN else None

    def complete(value: Any) -> Any:
        kind = type(value)
        if kind is exact and (kind is not int or _INT_MIN <= value <= _INT_MAX):
            return value
        if value is None:
            if nullable:
                return None
            raise GiveUp
        # An awaitable is awaited by graphql-core's execute_field, which the subtree then takes.
        if isinstance(value, Exception) or value is Undefined or is_awaitable(value):
            raise GiveUp
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise GiveUp
        return coerced

    return complete


# Built-in scalars whose coercion returns a value of this exact type unchanged.
_BUILT_IN = (GraphQLString, GraphQLID, GraphQLBoolean, GraphQLInt)
_EXACT: dict[str, type] = {"String": str, "ID": str, "Boolean": bool, "Int": int}
_INT_MIN: int = -(2**31)
_INT_MAX: int = 2**31 - 1


def non_null(inner: Compiled) -> Compiled:
    def complete(value: Any) -> Any:
        completed = inner(value)
        if completed is None:
            raise GiveUp
        return completed

    return complete


def list_of(item: Compiled) -> Compiled:
    def complete(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)):
            raise GiveUp
        return [item(each) for each in value]

    return complete


def object_of(
    fields: Sequence[Attribute],
    is_type_of: Callable[[Any, GraphQLResolveInfo[Any]], Any] | None,
    info: GraphQLResolveInfo[Any],
) -> Compiled:
    def complete(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Exception) or value is Undefined:
            raise GiveUp
        if is_type_of is not None:
            verdict = is_type_of(value, info)
            if verdict is not True:
                close = getattr(verdict, "close", None)  # an awaitable verdict is not awaited
                if close is not None:
                    close()
                raise GiveUp
        return {name: below(read(value, attribute)) for name, read, attribute, below in fields}

    return complete

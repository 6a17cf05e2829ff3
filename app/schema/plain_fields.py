"""Plain fields completed without the executor's per-field machinery.

Most fields of a large page are plain: an attribute of an object already built (a Strawberry
field with no resolver, no field extension and no argument) whose type is a scalar or an
enum, such as a timeline event's `seq`, `type`, `time` and `data`. graphql-core executes
each of them like any other field: a path, a resolve info, the resolver through the
middleware, then completion by type. A dashboard of 50 incidents with five events each has
about 1,800 fields, 1,400 of them plain, and that per-field work was half of its server time.

This executor reads a plain field's attribute itself and serialises it with the field's own
type (`coerce_output_value`, as graphql-core completes a leaf). A plain field whose value does
not simply serialise (null where the schema says non-null, an exception, an awaitable, a value
the scalar refuses) is executed the ordinary way, which raises and locates the error exactly
as before. Every other field is executed as before: resolvers, field extensions (permissions,
redaction), arguments, objects and lists, and any field while a schema extension hooks
resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

_TYPENAME = "__typename"
# A plain field whose value is completed the ordinary way.
_ORDINARY = object()


@dataclass(frozen=True, slots=True)
class Plain:
    """How to complete one plain field: `read(source, name)`, then `leaf` serialises it."""

    read: Callable[[Any, str], Any]
    name: str
    leaf: GraphQLLeafType
    non_null: bool

    def complete(self, source: Any, is_awaitable: Callable[[Any], bool]) -> Any:
        """The serialised value, or _ORDINARY for one the executor must complete itself."""
        try:
            value = self.read(source, self.name)
            if value is None or value is Undefined:
                return _ORDINARY if self.non_null else None
            if isinstance(value, Exception) or is_awaitable(value):
                return _ORDINARY
            coerced = self.leaf.coerce_output_value(value)
        except Exception:
            return _ORDINARY
        if coerced is None or coerced is Undefined:
            return _ORDINARY
        return coerced


def _named(_source: Any, name: str) -> str:
    return name


def plain_field(
    schema: Any, parent_type: GraphQLObjectType, details: FieldDetailsList, middleware: Any
) -> Plain | None:
    """How to complete this field of the selection directly; None when it is not plain."""
    node = details[0].node
    name = node.name.value
    if name == _TYPENAME:
        return Plain(_named, parent_type.name, GraphQLString, non_null=True)
    if node.arguments:
        return None
    field_def = schema.get_field(parent_type, name)
    if field_def is None or field_def.args or field_def.resolve is None:
        return None
    resolve = field_def.resolve
    # Strawberry's resolver of a field with no resolver and no extension of its own.
    if not getattr(resolve, "_is_default", False):
        return None
    if middleware is not None and middleware.get_field_resolver(resolve) is not resolve:
        return None
    definition = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    return_type = field_def.type
    non_null = isinstance(return_type, GraphQLNonNull)
    leaf = return_type.of_type if non_null else return_type
    if not is_leaf_type(leaf):
        return None
    return Plain(definition.default_resolver, definition.python_name, leaf, non_null)


class PlainFieldExecution(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, completing plain fields directly (see the module)."""

    _plans: dict[int, tuple[GroupedFieldSet, Sequence[Plain | None] | None]]

    def _plan(
        self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet
    ) -> Sequence[Plain | None] | None:
        """Per selection (graphql-core collects a list's items' selection once): each
        field's Plain or None; None when no field of it is plain."""
        try:
            plans = self._plans
        except AttributeError:
            plans = self._plans = {}
        # The selection is kept with its plan, so that its id is not reused meanwhile.
        cached = plans.get(id(grouped))
        if cached is not None and cached[0] is grouped:
            return cached[1]
        fields = [
            plain_field(self.schema, parent_type, details, self.middleware_manager)
            for details in grouped.values()
        ]
        plan = fields if any(f is not None for f in fields) else None
        plans[id(grouped)] = (grouped, plan)
        return plan

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        plan = None
        if position_context is None:
            plan = self._plan(parent_type, grouped_field_set)
        if plan is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        # graphql-core's execute_fields, with the plain fields completed in place.
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for (response_name, details), plain in zip(
                grouped_field_set.items(), plan, strict=True
            ):
                if plain is not None:
                    value = plain.complete(source_value, is_awaitable)
                    if value is not _ORDINARY:
                        results[response_name] = value
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return _gathered(results, awaitable_fields)


async def _gathered(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
    if len(awaitable_fields) == 1:
        name = awaitable_fields[0]
        results[name] = await results[name]
        return results
    awaited = await gather_with_cancel(*(results[name] for name in awaitable_fields))
    results.update(zip(awaitable_fields, awaited, strict=True))
    return results

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
as before.

An attribute whose type is an object or a list (a connection's `edges`, an edge's `node`) is
read the same way and completed by graphql-core's own `complete_value`, with one resolve info
per selection instead of one per field: completion reads only its parent type and field name
(for its error messages), never its path, which is passed on separately. Errors are handled
as `execute_field` handles them. Abstract types (whose `resolve_type` receives the info) are
executed the ordinary way.

When everything below such an attribute is plain too (a timeline connection's `edges`, with
each edge's `node` and the node's scalars), the whole subtree is completed in one pass by a
function compiled once per selection: no path, no completion call per value. It is pure
reading, so on anything it does not expect (a null where the schema says non-null, a value
that is not a list, a scalar that refuses a value, an exception) it gives up and the subtree
is completed by graphql-core from the start, which raises and locates the error as before.

Every other field is executed as before: resolvers, field extensions (permissions,
redaction), arguments, and any field while a schema extension hooks resolution.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import to_nodes
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from app.schema.subtrees import Attribute, Compiled, leaf_of, list_of, non_null, object_of

_TYPENAME = "__typename"
# A plain field whose value is completed the ordinary way.
_ORDINARY = object()
# Directives that make the executor deliver part of a selection later.
_INCREMENTAL = frozenset({"defer", "stream"})


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


@dataclass(frozen=True, slots=True)
class Nested:
    """A plain attribute of an object or list type: `read(source, name)`, then graphql-core
    completes it with `info`, shared by every completion of this selection."""

    read: Callable[[Any, str], Any]
    name: str
    return_type: GraphQLOutputType
    info: GraphQLResolveInfo[Any]


def plain_field(
    schema: Any,
    parent_type: GraphQLObjectType,
    details: FieldDetailsList,
    middleware: Any,
    build_info: Callable[[GraphQLField], GraphQLResolveInfo[Any]],
) -> Plain | Nested | None:
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
    if is_leaf_type(leaf):
        return Plain(definition.default_resolver, definition.python_name, leaf, non_null)
    if is_abstract_type(get_named_type(return_type)):
        return None
    return Nested(
        definition.default_resolver, definition.python_name, return_type, build_info(field_def)
    )


class PlainFieldExecution(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, completing plain fields directly (see the module)."""

    _plans: dict[int, tuple[GroupedFieldSet, Sequence[Plain | Nested | None] | None]]
    _compiled_selections: dict[tuple[int, int], tuple[FieldDetailsList, Compiled | None]]

    def _plain_field(
        self, parent_type: GraphQLObjectType, name: str, details: FieldDetailsList
    ) -> Plain | Nested | None:
        """`plain_field` for the field `name` of `parent_type` in this execution."""

        def build_info(field_def: GraphQLField) -> GraphQLResolveInfo[Any]:
            # Completion reads the info's parent type and field name, not its path.
            path = Path(None, name, parent_type.name)
            return self.build_resolve_info(field_def, to_nodes(details), parent_type, path)

        return plain_field(self.schema, parent_type, details, self.middleware_manager, build_info)

    def _plan(
        self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet
    ) -> Sequence[Plain | Nested | None] | None:
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
            self._plain_field(parent_type, name, details) for name, details in grouped.items()
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
                    if isinstance(plain, Plain):
                        value = plain.complete(source_value, is_awaitable)
                        if value is not _ORDINARY:
                            results[response_name] = value
                            continue
                    else:
                        result = self._complete_nested(
                            plain,
                            source_value,
                            details,
                            Path(path, response_name, parent_type.name),
                        )
                        if result is not _ORDINARY:
                            results[response_name] = result
                            if is_awaitable(result):
                                awaitable_fields.append(response_name)
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

    def _compiled(
        self,
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
    ) -> Compiled | None:
        """The one-pass completion of values of `return_type` selected by `details`; None
        when anything below is not plain. Compiled once per selection."""
        try:
            compiled = self._compiled_selections
        except AttributeError:
            compiled = self._compiled_selections = {}
        # The selection is kept with its function, so that its id is not reused meanwhile.
        key = (id(return_type), id(details))
        cached = compiled.get(key)
        if cached is not None and cached[0] is details:
            return cached[1]
        function = self._compile(return_type, details, info)
        compiled[key] = (details, function)
        return function

    def _compile(
        self,
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
    ) -> Compiled | None:
        if isinstance(return_type, GraphQLNonNull):
            if is_leaf_type(return_type.of_type):
                return leaf_of(return_type.of_type, self.is_awaitable, nullable=False)
            inner = self._compile(return_type.of_type, details, info)
            return None if inner is None else non_null(inner)
        if isinstance(return_type, GraphQLList):
            item = self._compile(return_type.of_type, details, info)
            return None if item is None else list_of(item)
        if is_leaf_type(return_type):
            return leaf_of(return_type, self.is_awaitable)
        if not is_object_type(return_type):
            return None
        grouped, defers, _ = self.collect_subfields(return_type, details)
        if defers:
            return None
        fields: list[Attribute] = []
        for response_name, sub_details in grouped.items():
            if any(
                directive.name.value in _INCREMENTAL
                for field_details in sub_details
                for directive in field_details.node.directives or ()
            ):
                return None
            plain = self._plain_field(return_type, response_name, sub_details)
            if plain is None:
                return None
            if isinstance(plain, Plain):
                below = leaf_of(plain.leaf, self.is_awaitable, nullable=not plain.non_null)
            else:
                compiled = self._compiled(plain.return_type, sub_details, plain.info)
                if compiled is None:
                    return None
                below = compiled
            fields.append((response_name, plain.read, plain.name, below))
        return object_of(fields, return_type.is_type_of, info)

    def _complete_nested(
        self, nested: Nested, source: Any, details: FieldDetailsList, path: Path
    ) -> Any:
        """graphql-core's `execute_field` for a plain attribute of an object or list type,
        or _ORDINARY for a value the executor must complete itself."""
        try:
            value = nested.read(source, nested.name)
        except Exception:
            return _ORDINARY
        if isinstance(value, Exception) or self.is_awaitable(value):
            return _ORDINARY
        return_type = nested.return_type
        compiled = self._compiled(return_type, details, nested.info)
        if compiled is not None:
            try:
                return compiled(value)
            except Exception:
                pass  # completed the ordinary way below, which locates the error
        try:
            completed = self.complete_value(return_type, details, nested.info, path, value, None)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None
        if self.is_awaitable(completed):
            return self._settled(completed, return_type, details, path)
        return completed

    async def _settled(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None


async def _gathered(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
    if len(awaitable_fields) == 1:
        name = awaitable_fields[0]
        results[name] = await results[name]
        return results
    awaited = await gather_with_cancel(*(results[name] for name in awaitable_fields))
    results.update(zip(awaitable_fields, awaited, strict=True))
    return results

"""Query cost: what a document asks the server to do, estimated and refused before it runs.

Depth, alias and token limits bound a document's size, not its work: thirty aliases of a
500-incident page that builds a status board per incident are a small document. The cost
counts the objects a document may return, multiplied through the lists above them:

- an object is 1, a scalar or enum 0;
- a connection (a field with `first` or `last`) returns that many edges, 50 when not given
  and never more than its page limit (500): its `edges` and `nodes` count that many times;
- another list of objects counts `_LIST_SIZES` items (boards, tickets, recent events), one
  on the board of one incident;
- fields that do much more than read rows carry a price of their own (`_FIELD_COSTS`):
  a status board, a count;
- of a union or interface, the most expensive possible type counts (a result is one type);
- fragments count where they are spread; `@skip`/`@include` are ignored (the worst case).

Queries, mutations and subscriptions alike are refused above the limit with
`QUERY_TOO_COSTLY`, its message and extensions stating the cost and the limit; a
subscription's cost is what each push may cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    build_schema,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_composite_type,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from app.core.pagination import PAGE_DEFAULT, PAGE_MAX
from app.errors import ErrorCode

# Items a list without paging arguments is counted for.
LIST_DEFAULT = 10
_LIST_SIZES: dict[str, int] = {
    "BoardIncident.recentEvents": 3,
    "ServiceStatus.updates": 5,
}
# What a field costs beyond the object it returns: a board reads several tables and builds
# in Python (the tenant's over every active incident); a count is a query of its own.
_FIELD_COSTS: dict[str, int] = {
    "Query.statusBoard": 100,
    "Subscription.boardUpdated": 100,
    "Incident.statusBoard": 10,
}
_NAME_COSTS: dict[str, int] = {"totalCount": 1}
# One incident's board lists that incident alone (or nothing).
_ONE_INCIDENT = "Incident.statusBoard"
_BOARD_LISTS = frozenset(
    {
        "ExecutiveBoard.majorIncidents",
        "ResponderBoard.incidents",
        "CommunicationsBoard.overdue",
        "CustomerBoard.services",
    }
)
_PAGED = ("edges", "nodes")


class QueryCost:
    """Estimates documents against one schema (see the module's doc)."""

    def __init__(self, sdl: Callable[[], str]) -> None:
        self._sdl = sdl

    @cached_property
    def schema(self) -> GraphQLSchema:
        # Built once from the printed SDL: the same types, through graphql-core's public API.
        return build_schema(self._sdl())

    def of(
        self,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
    ) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        values = dict(variables or {})
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in values and isinstance(definition.default_value, IntValueNode):
                values[name] = int(definition.default_value.value)
        walk = _Walk(self.schema, fragments, values)
        return walk.cost(operation.selection_set, root)


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self._within_one_incident = 0

    def cost(
        self, selections: SelectionSetNode, parent: GraphQLCompositeType, page: int | None = None
    ) -> int:
        """`page`: the edges a connection returns, when `parent` is one."""
        if is_abstract_type(parent):
            types = self.schema.get_possible_types(parent)
            return max((self._object(selections, t, page) for t in types), default=0)
        assert isinstance(parent, GraphQLObjectType)
        return self._object(selections, parent, page)

    def _object(
        self, selections: SelectionSetNode, parent: GraphQLObjectType, page: int | None
    ) -> int:
        total = 0
        for node in self._fields(selections, parent):
            name = node.name.value
            field = parent.fields.get(name)
            if field is None or name.startswith("__"):
                continue  # introspection, or not valid here (validation said so already)
            items = page if page is not None and name in _PAGED else None
            total += self._field(node, field, f"{parent.name}.{name}", items)
        return total

    def _field(self, node: FieldNode, field: GraphQLField, key: str, items: int | None) -> int:
        """`items`: how many a list field holds when known (a connection's edges)."""
        named = get_named_type(field.type)
        own = _FIELD_COSTS.get(key, _NAME_COSTS.get(node.name.value, 0))
        if not is_composite_type(named):
            return own
        assert isinstance(named, GraphQLCompositeType)
        page = self._page(node, field)
        self._within_one_incident += key == _ONE_INCIDENT
        try:
            children = self.cost(node.selection_set, named, page) if node.selection_set else 0
        finally:
            self._within_one_incident -= key == _ONE_INCIDENT
        if is_list_type(get_nullable_type(field.type)):
            if items is not None:
                count = items
            elif self._within_one_incident and key in _BOARD_LISTS:
                count = 1
            else:
                count = _LIST_SIZES.get(key, LIST_DEFAULT)
            return own + count * (1 + children)
        return own + 1 + children

    def _page(self, node: FieldNode, field: GraphQLField) -> int | None:
        """Edges a connection may return; None for a field that is not one."""
        if "first" not in field.args and "last" not in field.args:
            return None
        sizes = [
            self._int(a.value) for a in node.arguments or () if a.name.value in ("first", "last")
        ]
        given = [s for s in sizes if s is not None]
        size = max(given) if given else PAGE_DEFAULT
        return min(max(size, 0), PAGE_MAX)

    def _int(self, value: Any) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            given = self.variables.get(value.name.value)
            return given if isinstance(given, int) and not isinstance(given, bool) else None
        return None

    def _fields(
        self, selections: SelectionSetNode, parent: GraphQLObjectType
    ) -> Iterator[FieldNode]:
        """The fields selected on `parent`, through the fragments that apply to it."""
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self._applies(condition.name.value, parent):
                    yield from self._fields(selection.selection_set, parent)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None and self._applies(
                    fragment.type_condition.name.value, parent
                ):
                    yield from self._fields(fragment.selection_set, parent)

    def _applies(self, condition: str, parent: GraphQLObjectType) -> bool:
        if condition == parent.name:
            return True
        named = self.schema.get_type(condition)
        return (
            named is not None and is_abstract_type(named) and self.schema.is_sub_type(named, parent)
        )


def too_costly(cost: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"query cost {cost} is over the limit of {limit}: ask for smaller pages "
        "(first/last), fewer aliases or fewer nested lists",
        extensions={"code": ErrorCode.QUERY_TOO_COSTLY.value, "cost": cost, "limit": limit},
    )


class CostLimit(SchemaExtension):
    """Refuses an operation over the context's `settings.max_query_cost` before it runs."""

    def __init__(self, estimator: QueryCost) -> None:
        self.estimator = estimator

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        settings = getattr(context.context, "settings", None)
        limit: int = getattr(settings, "max_query_cost", 0)
        document = context.graphql_document
        if limit and document is not None:
            operation = _operation(document.definitions, context.operation_name)
            if operation is not None:
                fragments = {
                    d.name.value: d
                    for d in document.definitions
                    if isinstance(d, FragmentDefinitionNode)
                }
                cost = self.estimator.of(operation, fragments, context.variables)
                if cost > limit:
                    raise too_costly(cost, limit)
        yield


def _operation(definitions: Any, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


__all__ = ["CostLimit", "QueryCost", "too_costly"]

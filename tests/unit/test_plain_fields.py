"""Plain fields completed directly give what graphql-core's executor gives, errors included."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.schema.plain_fields import PlainFieldExecution


@strawberry.enum
class Color(Enum):
    RED = "red"


@strawberry.type
class Item:
    name: str
    count: int
    note: str | None
    color: Color
    when: datetime

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def repeat(self, times: int) -> str:
        return self.name * times


class Row:
    """A source object as resolvers hand them over: attributes, one of them failing."""

    def __init__(self, name: Any, count: Any, note: Any = None) -> None:
        self.name = name
        self.count = count
        self.note = note
        self.color = Color.RED
        self.when = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


class Failing(Row):
    @property
    def count(self) -> int:
        raise RuntimeError("the count could not be read")

    @count.setter
    def count(self, value: Any) -> None:
        pass


ROWS: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return ROWS  # type: ignore[return-value]


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query, execution_context_class=PlainFieldExecution)
    ordinary = strawberry.Schema(
        query=Query, execution_context_class=StrawberryGraphQLCoreExecutionContext
    )
    return plain, ordinary


def _both(query: str, rows: list[Any]) -> tuple[Any, Any]:
    ROWS[:] = rows
    plain, ordinary = _schemas()
    a, b = plain.execute_sync(query), ordinary.execute_sync(query)
    return (
        (a.data, [e.formatted for e in a.errors or []]),
        (b.data, [e.formatted for e in b.errors or []]),
    )


QUERY = """
query {
  items {
    __typename name count note color when shout repeat(times: 2)
    n: name
    ... on Item { count c2: count }
    ...More
  }
}
fragment More on Item { note name }
"""


def test_plain_fields_give_the_same_response_with_fewer_executed_fields(monkeypatch):
    rows = [Row("a", 1, "x"), Row("b", 2)]
    plain, ordinary = _both(QUERY, rows)
    assert plain == ordinary
    assert plain[0]["items"][0] == {
        "__typename": "Item",
        "name": "a",
        "count": 1,
        "note": "x",
        "color": "RED",
        "when": "2026-12-05T12:00:00+00:00",
        "shout": "A",
        "repeat": "aa",
        "n": "a",
        "c2": 1,
    }
    # the plain fields are not executed one by one: only `items`, `shout` and `repeat` are
    executed: list[str] = []
    original = StrawberryGraphQLCoreExecutionContext.execute_field

    def counting(self: Any, parent_type: Any, source: Any, details: Any, *rest: Any) -> Any:
        executed.append(details[0].node.name.value)
        return original(self, parent_type, source, details, *rest)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_field", counting)
    ROWS[:] = rows
    _schemas()[0].execute_sync(QUERY)
    assert sorted(executed) == ["items", "repeat", "repeat", "shout", "shout"]


@pytest.mark.parametrize(
    "row",
    [
        Row(None, 1),  # null for a non-null String
        Row("a", "not a number"),  # a value Int refuses
        Row("a", 2**40),  # an Int out of range
        Failing("a", 1),  # an attribute that raises
    ],
    ids=["null", "refused", "out-of-range", "raises"],
)
def test_a_plain_field_that_fails_fails_as_before(row):
    plain, ordinary = _both(QUERY, [Row("ok", 1), row])
    assert plain == ordinary
    data, errors = plain
    # the failing item is null, its neighbour intact, the error located on the field
    assert data["items"][0]["name"] == "ok"
    assert data["items"][1] is None
    assert errors and errors[0]["path"][:2] == ["items", 1]

"""Plain fields completed directly give what graphql-core's executor gives, errors included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
import strawberry
from strawberry.scalars import JSON
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.schema.plain_fields import PlainFieldExecution


@strawberry.enum
class Color(Enum):
    RED = "red"


@strawberry.interface
class Labelled:
    label: str


@strawberry.type
class Part(Labelled):
    """Implementing an interface gives it an `is_type_of`, checked on every value."""

    meta: JSON | None = None
    rank: int = 0
    code: strawberry.ID = strawberry.ID("p")

    @strawberry.field
    async def later(self) -> str:
        if self.label == "boom":
            raise RuntimeError("later failed")
        return f"{self.label}!"


@strawberry.type
class Item:
    parts: list[Part]
    main: Part | None
    owner: Part
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
        self.parts: Any = [Part(label=f"{name}-1"), Part(label=f"{name}-2")]
        self.main: Any = Part(label=f"{name}-main")
        self.owner: Any = Part(label=f"{name}-owner")


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


def _executed(monkeypatch: pytest.MonkeyPatch, query: str, rows: list[Any]) -> list[str]:
    """The fields the plain-field executor hands to graphql-core's `execute_field`."""
    executed: list[str] = []
    original = StrawberryGraphQLCoreExecutionContext.execute_field

    def counting(self: Any, parent_type: Any, source: Any, details: Any, *rest: Any) -> Any:
        executed.append(details[0].node.name.value)
        return original(self, parent_type, source, details, *rest)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_field", counting)
    ROWS[:] = rows
    _schemas()[0].execute_sync(query)
    return executed


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
    assert sorted(_executed(monkeypatch, QUERY, rows)) == [
        "items",
        "repeat",
        "repeat",
        "shout",
        "shout",
    ]


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


NESTED = """
query {
  items {
    name
    parts { label __typename }
    main { label }
    owner { label l: label }
  }
}
"""


def _with(name: str, **attributes: Any) -> Row:
    row = Row(name, 1)
    for key, value in attributes.items():
        setattr(row, key, value)
    return row


def test_object_and_list_attributes_give_the_same_response_without_being_executed(monkeypatch):
    rows = [Row("a", 1), _with("b", main=None, parts=[])]
    plain, ordinary = _both(NESTED, rows)
    assert plain == ordinary
    assert plain[0]["items"][0] == {
        "name": "a",
        "parts": [
            {"label": "a-1", "__typename": "Part"},
            {"label": "a-2", "__typename": "Part"},
        ],
        "main": {"label": "a-main"},
        "owner": {"label": "a-owner", "l": "a-owner"},
    }
    assert plain[0]["items"][1]["main"] is None and plain[0]["items"][1]["parts"] == []
    assert _executed(monkeypatch, NESTED, rows) == ["items"]


async def test_a_subtree_of_plain_attributes_is_completed_in_one_pass(monkeypatch):
    completed: list[str] = []
    original = StrawberryGraphQLCoreExecutionContext.complete_value

    def counting(self: Any, return_type: Any, details: Any, info: Any, *rest: Any) -> Any:
        completed.append(info.field_name)
        return original(self, return_type, details, info, *rest)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "complete_value", counting)
    ROWS[:] = [Row("a", 1), Row("b", 2)]
    result = await _schemas()[0].execute(NESTED)
    assert result.errors is None
    assert result.data is not None and result.data["items"][1]["owner"] == {
        "label": "b-owner",
        "l": "b-owner",
    }
    # graphql-core completes the list of items and each item; nothing below them
    assert set(completed) == {"items"}
    # while a subtree with a resolver in it is completed the ordinary way
    completed.clear()
    result = await _schemas()[0].execute("query { items { parts { label later } } }")
    assert result.errors is None
    assert "parts" in completed


@pytest.mark.parametrize(
    "row",
    [
        _with("x", owner=None),  # null for a non-null object
        _with("x", parts=None),  # null for a non-null list
        _with("x", parts=5),  # not a list
        _with("x", parts=[Part(label="ok"), None]),  # a null item of [Part!]
        _with("x", main=Part(label=None)),  # type: ignore[arg-type]  # a null inside a nullable object
        _with("x", owner=Part(label=None)),  # type: ignore[arg-type]  # ... inside a non-null one
        _with("x", main="not a part"),  # a value of the wrong shape
        _with("x", owner=Row("not a part", 1)),  # an object of another type
    ],
    ids=[
        "null-object",
        "null-list",
        "not-a-list",
        "null-item",
        "nullable-parent",
        "non-null-parent",
        "wrong-shape",
        "wrong-type",
    ],
)
def test_an_object_or_list_attribute_that_fails_fails_as_before(row):
    plain, ordinary = _both(NESTED, [Row("ok", 1), row])
    assert plain == ordinary
    data, errors = plain
    assert data["items"][0]["name"] == "ok"
    assert errors and errors[0]["path"][:2] == ["items", 1]


class Label(str):
    """A str that is not exactly a str: its scalar's coercion decides what it gives."""


@pytest.mark.parametrize(
    "part",
    [
        Part(label="a", rank=2**31 - 1, code=strawberry.ID("p-1")),  # the largest Int
        Part(label="a", rank=-(2**31)),  # the smallest
        Part(label="a", rank=True),  # type: ignore[arg-type]  # a bool where Int is
        Part(label=Label("a")),  # a str subclass
        Part(label=5),  # type: ignore[arg-type]  # an int where String is
        Part(label="a", code=7),  # type: ignore[arg-type]  # an int where ID is
        Part(label="a", rank=2**31),  # past Int's 32 bits
        Part(label="a", rank=1.5),  # type: ignore[arg-type]  # a float where Int is
    ],
    ids=["int-max", "int-min", "bool", "str-subclass", "int-label", "int-id", "past", "float"],
)
def test_the_scalars_of_a_plain_subtree_give_what_graphql_core_gives(part):
    query = "query { items { name parts { label rank code } } }"
    plain, ordinary = _both(query, [Row("ok", 1), _with("x", parts=[part])])
    # as JSON, where True and 1 differ
    assert json.dumps(plain) == json.dumps(ordinary)
    assert plain[0]["items"][0]["parts"][0] == {"label": "ok-1", "rank": 0, "code": "p"}


async def test_an_awaitable_attribute_inside_a_plain_subtree_is_awaited_as_before():
    async def meta(label: str) -> dict[str, str]:
        return {"of": label}

    def rows() -> list[Any]:
        return [_with("a", parts=[Part(label="a-1", meta=meta("a-1")), Part(label="a-2")])]

    query = "query { items { parts { label meta } } }"
    plain, ordinary = _schemas()
    ROWS[:] = rows()
    a = await plain.execute(query)
    ROWS[:] = rows()
    b = await ordinary.execute(query)
    assert a.errors is None and b.errors is None
    assert a.data == b.data
    assert a.data is not None and a.data["items"][0]["parts"] == [
        {"label": "a-1", "meta": {"of": "a-1"}},
        {"label": "a-2", "meta": None},
    ]


async def test_awaited_fields_inside_plain_objects_and_their_errors_are_as_before():
    query = "query { items { name parts { label later } main { later } } }"
    rows = [Row("a", 1), _with("b", main=Part(label="boom"))]
    ROWS[:] = rows
    plain, ordinary = _schemas()
    a, b = await plain.execute(query), await ordinary.execute(query)
    assert a.data == b.data
    assert [e.formatted for e in a.errors or []] == [e.formatted for e in b.errors or []]
    assert a.data is not None
    assert a.data["items"][0]["parts"][1] == {"label": "a-2", "later": "a-2!"}
    # the non-null `later` failed: its nullable parent `main` is null, the error located
    assert a.data["items"][1]["main"] is None
    assert [e.path for e in a.errors or []] == [["items", 1, "main", "later"]]

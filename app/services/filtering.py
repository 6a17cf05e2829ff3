"""The filter language every list of the API shares: each filter's own fields are ANDed, and
`and`, `or` and `not` combine whole filters of the same type.

A filter is a frozen dataclass with `and_`, `or_` and `not_` beside its own fields; its module
says what its own fields mean as SQL (a Tortoise `Q`, or None for no condition) and, where a
live feed needs it, in memory. `to_q` and `evaluate` fold the combinators around those, so
the two readings of one filter agree. Conditions on nullable columns must be two-valued
(false, not NULL, where the column is NULL): `not` of a NULL is still NULL in SQL, and would
leave out rows the in-memory reading keeps.

The shape is bounded (depth and number of filters) so that one request cannot make the
database plan an arbitrarily large statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, Self, TypeVar

from tortoise.expressions import Q

from app.errors import ValidationFailed

MAX_DEPTH = 5
MAX_FILTERS = 50


class Combinable(Protocol):
    @property
    def and_(self) -> Sequence[Self]: ...

    @property
    def or_(self) -> Sequence[Self]: ...

    @property
    def not_(self) -> Self | None: ...


F = TypeVar("F", bound=Combinable)


def check_shape(filter: Any, *, field: str = "filter") -> None:
    """VALIDATION on `field` when the combinators nest deeper than MAX_DEPTH or name more
    than MAX_FILTERS filters in all. Takes a domain filter or an API input (whose lists may
    be None), so that an input is bounded before it is converted."""
    count = 0

    def walk(node: Any, depth: int) -> None:
        nonlocal count
        count += 1
        if depth > MAX_DEPTH:
            raise ValidationFailed(
                f"{field}: and/or/not nest at most {MAX_DEPTH} levels deep", field=field
            )
        if count > MAX_FILTERS:
            raise ValidationFailed(
                f"{field}: at most {MAX_FILTERS} filters in all, combinators included",
                field=field,
            )
        children = (*(node.and_ or ()), *(node.or_ or ()))
        for child in (*children, *((node.not_,) if node.not_ is not None else ())):
            walk(child, depth + 1)

    walk(filter, 1)


def to_q(filter: F, own: Callable[[F], Q | None]) -> Q | None:
    """The filter as one condition: its own fields (`own`), then every `and`, any `or`, and
    not its `not`. None when nothing is asked (every row matches)."""
    parts: list[Q] = []
    mine = own(filter)
    if mine is not None:
        parts.append(mine)
    for child in filter.and_:
        q = to_q(child, own)
        if q is not None:
            parts.append(q)
    if filter.or_:
        alternatives = [to_q(child, own) for child in filter.or_]
        if all(a is not None for a in alternatives):
            parts.append(Q(*[a for a in alternatives if a is not None], join_type="OR"))
    if filter.not_ is not None:
        negated = to_q(filter.not_, own)
        # `not` of a filter that asks nothing matches nothing.
        parts.append(~negated if negated is not None else Q(pk__isnull=True))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Q(*parts, join_type="AND")


def evaluate(filter: F, own: Callable[[F], bool]) -> bool:
    """The in-memory reading of `to_q`: the same answer for one row."""
    if not own(filter):
        return False
    if not all(evaluate(child, own) for child in filter.and_):
        return False
    if filter.or_ and not any(evaluate(child, own) for child in filter.or_):
        return False
    return filter.not_ is None or not evaluate(filter.not_, own)


def some(filter: F, test: Callable[[F], bool]) -> bool:
    """Whether `test` holds for the filter or any filter inside it."""
    if test(filter):
        return True
    children = (*filter.and_, *filter.or_, *((filter.not_,) if filter.not_ is not None else ()))
    return any(some(child, test) for child in children)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """[start, end): either side may be open; VALIDATION when end is not after start."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def checked(
        cls, start: datetime | None, end: datetime | None, *, field: str
    ) -> TimeRange | None:
        if start is None and end is None:
            return None
        for value in (start, end):
            if value is not None and value.tzinfo is None:
                raise ValidationFailed(f"{field}: times need a UTC offset", field=field)
        # In UTC: SQLite compares stored times as text, all of them written in UTC.
        start = start.astimezone(UTC) if start is not None else None
        end = end.astimezone(UTC) if end is not None else None
        if start is not None and end is not None and end <= start:
            raise ValidationFailed(f"{field}: `to` must be after `from`", field=field)
        return cls(start, end)

    def q(self, column: str) -> Q:
        """Rows whose `column` falls in the range; false (not NULL) where it is NULL."""
        conditions: dict[str, Any] = {f"{column}__isnull": False}
        if self.start is not None:
            conditions[f"{column}__gte"] = self.start
        if self.end is not None:
            conditions[f"{column}__lt"] = self.end
        return where(conditions)

    def contains(self, value: datetime | None) -> bool:
        if value is None:
            return False
        if self.start is not None and value < self.start:
            return False
        return self.end is None or value < self.end


def all_of(*conditions: Q | None) -> Q | None:
    """The conjunction of the conditions given, None when there are none."""
    present = [c for c in conditions if c is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else Q(*present, join_type="AND")


def in_(column: str, values: Any) -> Q:
    """`column IN values`, false (not NULL) where the column is NULL."""
    return where({f"{column}__in": sorted(values), f"{column}__isnull": False})


def where(conditions: dict[str, Any]) -> Q:
    """`Q(**conditions)` for lookups whose names are computed (`created_at__gte`)."""
    return Q(**conditions)

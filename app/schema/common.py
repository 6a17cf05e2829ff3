"""Types every domain shares: errors as data, Relay page info, the Node interface, ids."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Protocol, TypeAlias

import strawberry

from app.core.ids import uuid_key
from app.errors import DomainError
from app.errors import ErrorCode as _ErrorCode
from app.models import Classification as _Classification
from app.schema.domain_errors import graphql_error
from app.services import filtering

ErrorCode: TypeAlias = Annotated[
    _ErrorCode,
    strawberry.enum(
        description="Why something was refused: a payload's `UserError.code` (a refused "
        "command) and a top-level error's `extensions.code` (a refused request, operation "
        "or connection, an invalid document, an unavailable database) come from this one list."
    ),
]

Classification: TypeAlias = Annotated[
    _Classification,
    strawberry.enum(
        description="How sensitive data is, lowest first. A caller reads what its token's "
        "clearance reaches; the rest comes back redacted, and RESTRICTED incidents not at all."
    ),
]


@strawberry.type(description="A domain failure: the command was refused and nothing was written.")
class UserError:
    field: str | None
    code: ErrorCode
    message: str

    @classmethod
    def of(cls, error: DomainError) -> UserError:
        """The payload error of a domain error; a refusal (FORBIDDEN) is raised instead, as a
        top-level error, whatever refused: every FORBIDDEN reaches a client the same way."""
        if error.code is _ErrorCode.FORBIDDEN:
            raise graphql_error(error)
        return cls(field=error.field, code=error.code, message=error.message)


class Paged(Protocol):
    """A page as the services return it."""

    @property
    def has_next_page(self) -> bool: ...
    @property
    def has_previous_page(self) -> bool: ...


@strawberry.type(
    description="Where a page of a connection stands. Every list pages with `first` (default "
    "50, at most 500; more is a VALIDATION error on `first`) and `after` (a cursor from "
    "`endCursor` or an edge); cursors are opaque and stay valid as items are added."
)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of_page(cls, cursors: Sequence[str], page: Paged) -> PageInfo:
        """The page info of a service's page whose edges have these cursors, in order."""
        return cls.of(cursors, has_next=page.has_next_page, has_previous=page.has_previous_page)

    @classmethod
    def of(cls, cursors: Sequence[str], *, has_next: bool, has_previous: bool) -> PageInfo:
        """The page info of a page whose edges have these cursors, in order."""
        return cls(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )


@strawberry.interface(description="An object with a global id, fetchable with Query.node.")
class Node:
    id: strawberry.ID


# Global ids are a type prefix and the row's UUID: "inc_<32 hex>", "evt_<32 hex>".
INCIDENT_PREFIX = "inc_"
TEAM_PREFIX = "team_"
EVENT_PREFIX = "evt_"


_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def to_global_id(prefix: str, key: str) -> str:
    # A key as the database gives it (36 characters, hyphenated) without parsing it into a
    # UUID: a page of events makes hundreds of ids. Any other spelling goes through UUID.
    digits = key.replace("-", "")
    if _HEX32.fullmatch(digits):
        return prefix + digits.lower()
    return prefix + uuid.UUID(key).hex


def from_global_id(prefix: str, value: str) -> str | None:
    """The UUID inside a global id of this type, or None when it is not one."""
    if not value.startswith(prefix):
        return None
    try:
        return str(uuid.UUID(hex=value[len(prefix) :]))
    except ValueError:
        return None


@strawberry.input(
    description="From `from` (inclusive) to `to` (exclusive); either may be left open."
)
class TimeRange:
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None

    def to_domain(self, field: str) -> filtering.TimeRange | None:
        return filtering.TimeRange.checked(self.from_, self.to, field=field)


def time_range(value: TimeRange | None, field: str) -> filtering.TimeRange | None:
    return value.to_domain(field) if value is not None else None


def record_key(prefix: str, value: str, *, noun: str, field: str) -> str:
    """The UUID of a global id of `prefix` (or of a bare UUID); VALIDATION on `field`."""
    key = from_global_id(prefix, value)
    return key if key is not None else str(uuid_key(value, noun=noun, field=field))


COMBINATOR_FIELDS = {
    "and": "Every one of these filters holds too.",
    "or": "At least one of these filters holds too.",
    "not": "This filter does not hold.",
}

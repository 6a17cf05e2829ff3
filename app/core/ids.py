"""Record ids: every id is a UUID, and an id that is not one names nothing.

A malformed id is answered like an unknown one (NOT_FOUND), so a caller learns nothing
from the difference between "not a UUID" and "not yours".
"""

from __future__ import annotations

import uuid

from app.errors import NotFound


def parse_uuid(value: object) -> uuid.UUID | None:
    """The UUID `value` spells, or None when it spells none."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        return None


def is_uuid(value: object) -> bool:
    return parse_uuid(value) is not None


def uuid_key(value: str, *, noun: str, field: str = "id") -> uuid.UUID:
    """The UUID in `value`, or NotFound("no <noun> with id ...") on `field`."""
    key = parse_uuid(value)
    if key is None:
        raise NotFound(f"no {noun} with id {value!r}", field=field)
    return key

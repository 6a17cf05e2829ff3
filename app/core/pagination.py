"""Page sizes: one default and one ceiling for every connection the API serves.

The ceiling bounds what one request may make the database return; the query-cost limit
counts with the same numbers, so a page size accepted here is one the cost check priced.
"""

from __future__ import annotations

import base64
import json

from app.errors import ValidationFailed

PAGE_DEFAULT = 50
PAGE_MAX = 500


def page_size(first: int | None, *, field: str = "first") -> int:
    """`first` as a page size: the default when absent, refused outside 0..PAGE_MAX."""
    if first is None:
        return PAGE_DEFAULT
    if not 0 <= first <= PAGE_MAX:
        raise ValidationFailed(f"{field} must be between 0 and {PAGE_MAX}", field=field)
    return first


def encode_key_cursor(kind: str, key: str) -> str:
    """An opaque cursor for a page ordered by a unique text key (a handle, a name)."""
    return base64.urlsafe_b64encode(json.dumps([kind, key]).encode()).decode().rstrip("=")


def decode_key_cursor(kind: str, cursor: str, *, field: str = "after") -> str:
    """The key in a cursor `encode_key_cursor(kind, ...)` made; VALIDATION on `field` if not."""
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode())
        found, key = json.loads(raw)
    except (ValueError, TypeError):
        raise ValidationFailed("malformed cursor", field=field) from None
    if found != kind or not isinstance(key, str):
        raise ValidationFailed("malformed cursor", field=field)
    return key

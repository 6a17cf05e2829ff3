"""Page sizes: one default and one ceiling for every connection the API serves.

The ceiling bounds what one request may make the database return; the query-cost limit
counts with the same numbers, so a page size accepted here is one the cost check priced.
"""

from __future__ import annotations

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

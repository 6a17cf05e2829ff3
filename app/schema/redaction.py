"""The text fields of the records around incidents (problems, changes, knowledge
articles), read as the caller's clearance allows: [REDACTED] (null when empty) above it,
with `redactedFields` naming them, as an incident's fields are.

Each field is a resolver over the type's private `view` (a service view with a
`classification`), so every way a record reaches a caller, from a list, a link, `node` or
a live push, reads it through the same rule.
"""

from typing import Any

import strawberry
from strawberry.types import Info

from app.schema.context import Context
from app.services.access.classification import (
    RECORD_FIELD_CLASSIFICATION,
    REDACTED,
    api_name,
    record_field_readable,
)


def _readable(root: Any, info: Info[Context, Any], kind: str, name: str) -> bool:
    clearance = info.context.loaders.clearance
    return record_field_readable(clearance, root.view.classification, kind, name)


def required_text(kind: str, name: str, *, description: str | None = None) -> Any:
    """A text field that always has a value: [REDACTED] above the caller's clearance."""

    def resolve(root: Any, info: Info[Context, Any]) -> str:
        value: str = getattr(root.view, name)
        return value if _readable(root, info, kind, name) else REDACTED

    return strawberry.field(resolver=resolve, description=description)


def optional_text(
    kind: str, name: str, *, attribute: str | None = None, description: str | None = None
) -> Any:
    """A text field that may be empty: null when empty, [REDACTED] above the caller's
    clearance. `attribute`: the view's name for it, when not the field's."""

    def resolve(root: Any, info: Info[Context, Any]) -> str | None:
        value: str | None = getattr(root.view, attribute or name)
        if value is None or _readable(root, info, kind, name):
            return value
        return REDACTED

    return strawberry.field(resolver=resolve, description=description)


def redacted_fields(kind: str) -> Any:
    """The record's fields redacted for the caller, by their API names."""

    def resolve(root: Any, info: Info[Context, Any]) -> list[str]:
        return [
            api_name(name)
            for name in RECORD_FIELD_CLASSIFICATION[kind]
            if not _readable(root, info, kind, name)
        ]

    return strawberry.field(
        resolver=resolve, description="The fields redacted for you (text reads [REDACTED])."
    )

"""Text a database can store: no NUL (PostgreSQL refuses it) and no lone surrogates
(no encoding holds them). Every command checks free text here before it writes."""

from __future__ import annotations

from app.errors import ValidationFailed


def unstorable(value: str) -> str | None:
    """Why no database could store `value`, or None when it can."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode()
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def storable(value: str, *, field: str) -> str:
    """`value` unchanged, or ValidationFailed on `field` saying what is wrong with it."""
    reason = unstorable(value)
    if reason is not None:
        raise ValidationFailed(f"{field} {reason}", field=field)
    return value


def filter_text(value: str, *, field: str = "filter.text", maximum: int = 255) -> str:
    """A search text, stripped; refused when no database could store it or it is too long."""
    text = storable(value, field=field).strip()
    if len(text) > maximum:
        raise ValidationFailed(f"{field} must be at most {maximum} characters", field=field)
    return text


def clip(value: str, maximum: int) -> str:
    """`value` cut to at most `maximum` characters, an ellipsis saying so."""
    return value if len(value) <= maximum else value[: maximum - 1] + "…"

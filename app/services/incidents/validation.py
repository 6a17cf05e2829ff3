"""What a command accepts: text the database can store, within the documented limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core.text import storable
from app.errors import ValidationFailed
from app.models import Classification, DetectionSource, IncidentCategory
from app.services.incidents.snapshot import ENUM_FIELDS

TITLE_MAX = 255
TEXT_MAX_BYTES = 64 * 1024
NAME_MAX = 255
MENTIONS_MAX = 50
SUBCATEGORY_MAX = 128


def title(value: str) -> str:
    title = storable(value, field="title").strip()
    if not title:
        raise ValidationFailed("title must not be empty", field="title")
    if len(title) > TITLE_MAX:
        raise ValidationFailed(f"title must be at most {TITLE_MAX} characters", field="title")
    return title


def text(value: str | None, *, field: str, required: bool = False) -> str | None:
    if value is not None:
        storable(value, field=field)
    if value is None or not value.strip():
        if required:
            raise ValidationFailed(f"{field} must not be empty", field=field)
        return None
    if len(value.encode()) > TEXT_MAX_BYTES:
        raise ValidationFailed(f"{field} must be at most 64 KiB", field=field)
    return value


def name(value: str | None, *, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    name = storable(value, field=field).strip()
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"{field} must be at most {NAME_MAX} characters", field=field)
    return name


def subcategory(value: str | None) -> str | None:
    """A free refinement of the category ("disk", "TLS certificate"): a short name."""
    found = name(value, field="subcategory")
    if found is not None and len(found) > SUBCATEGORY_MAX:
        raise ValidationFailed(
            f"subcategory must be at most {SUBCATEGORY_MAX} characters", field="subcategory"
        )
    return found


def clean_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "title":
            clean[key] = title(value)
        elif key == "description":
            clean[key] = text(value, field="description")
        elif key == "service":
            clean[key] = name(value, field="service")
        elif key in ("severity", "impact", "urgency"):
            clean[key] = ENUM_FIELDS[key](value)
        elif key == "is_major":
            clean[key] = bool(value)
        elif key == "classification":
            clean[key] = Classification(value)
        elif key == "category":
            clean[key] = IncidentCategory(value) if value is not None else None
        elif key == "subcategory":
            clean[key] = subcategory(value)
        elif key == "detection_source":
            clean[key] = DetectionSource(value) if value is not None else None
        else:
            raise ValidationFailed(f"{key} cannot be changed with updateIncident", field=key)
    return clean

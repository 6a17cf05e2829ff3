"""Data classification: who may see which incidents, fields and timeline events.

Every incident and every timeline event carries a classification, and so does every field of
an incident (FIELD_CLASSIFICATION). A caller's clearance comes from its token (its role's
default unless the token was given another). The rules:

- A RESTRICTED incident is invisible to a caller without RESTRICTED clearance: not found,
  not listed, not counted, not pushed.
- A field is readable when the clearance reaches both the field's classification and the
  incident's; a PUBLIC field (status, priority, times...) is readable on any visible incident.
- A timeline event's data is readable when the clearance reaches both the event's
  classification and the incident's.
- An alert is INTERNAL, or as classified as its incident when that is higher: its text
  (ALERT_TEXT_FIELDS) is readable, and searchable, when the clearance reaches that.
- What may not be read is redacted: text becomes REDACTED, other values null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.models import Classification, Role

REDACTED = "[REDACTED]"

_RANK = {c: rank for rank, c in enumerate(Classification)}

ROLE_CLEARANCE: dict[Role, Classification] = {
    Role.VIEWER: Classification.INTERNAL,
    Role.STAKEHOLDER: Classification.PUBLIC,
    Role.RESPONDER: Classification.CONFIDENTIAL,
    Role.INCIDENT_MANAGER: Classification.RESTRICTED,
    Role.ADMIN: Classification.RESTRICTED,
    Role.INGEST: Classification.PUBLIC,
    Role.SCIM: Classification.PUBLIC,
}

# Incident fields with a classification of their own, by their snapshot names; every other
# field is PUBLIC and readable on any visible incident. `public_summary` is a PUBLIC note's
# body: PUBLIC, but like every field here no less classified than its incident.
FIELD_CLASSIFICATION: dict[str, Classification] = {
    "title": Classification.INTERNAL,
    "description": Classification.INTERNAL,
    "assignee": Classification.INTERNAL,
    "commander": Classification.INTERNAL,
    "subcategory": Classification.INTERNAL,
    "drill_scenario": Classification.INTERNAL,
    "priority_override_reason": Classification.INTERNAL,
    "drill_scope": Classification.INTERNAL,
    "drill_outcome": Classification.INTERNAL,
    "declared_by": Classification.INTERNAL,
    "resolution_summary": Classification.INTERNAL,
    "root_cause": Classification.CONFIDENTIAL,
    "public_summary": Classification.PUBLIC,
}
# The fields of the records around incidents (problems, changes, knowledge articles) that
# carry text, by record kind and view name, classified as an incident's like fields are; the
# others (reference, status, kind, type, risk, times) read as any record the caller may see.
RECORD_FIELD_CLASSIFICATION: dict[str, dict[str, Classification]] = {
    "problem": {
        "title": Classification.INTERNAL,
        "description": Classification.INTERNAL,
        "workaround": Classification.INTERNAL,
        "root_cause": Classification.CONFIDENTIAL,
        "resolution_evidence": Classification.INTERNAL,
        "created_by": Classification.INTERNAL,
    },
    "change": {
        "title": Classification.INTERNAL,
        "description": Classification.INTERNAL,
        "requested_by": Classification.INTERNAL,
        "approved_by": Classification.INTERNAL,
    },
    "article": {
        "title": Classification.INTERNAL,
        "body": Classification.INTERNAL,
        "author": Classification.INTERNAL,
        "reviewer": Classification.INTERNAL,
    },
}
# The classification of a timeline event's `actor`.
ACTOR_CLASSIFICATION = Classification.INTERNAL
# What timeline events are unless their command says otherwise: they carry incident fields.
DEFAULT_EVENT_CLASSIFICATION = Classification.INTERNAL


# Alerts carry what monitoring says about systems: INTERNAL, like an incident's title.
ALERT_CLASSIFICATION = Classification.INTERNAL
# The alert fields that carry the sender's text, by their view names (an incident declared
# from an alert takes its title and description from them); the others (source, fingerprint,
# status, service, severity, times, count) are as readable as any alert.
ALERT_TEXT_FIELDS = ("title", "description", "alertname", "labels", "annotations", "url")


def reaches(clearance: Classification, classification: Classification) -> bool:
    """Whether a caller with `clearance` may read data classified `classification`."""
    return _RANK[clearance] >= _RANK[classification]


def highest(*levels: Classification) -> Classification:
    return max(levels, key=_RANK.__getitem__)


def incident_visible(clearance: Classification, incident: Classification) -> bool:
    """Whether the incident exists at all for the caller."""
    return incident is not Classification.RESTRICTED or reaches(clearance, incident)


def visible_incident_levels(clearance: Classification) -> list[Classification]:
    """The incident classifications a caller may find (for queries)."""
    return [c for c in Classification if incident_visible(clearance, c)]


def effective(own: Classification, incident: Classification) -> Classification:
    """What a field or timeline event of an incident is classified: never below the incident."""
    return highest(own, incident)


def field_readable(clearance: Classification, incident: Classification, field: str) -> bool:
    level = FIELD_CLASSIFICATION.get(field)
    return level is None or reaches(clearance, effective(level, incident))


def record_field_readable(
    clearance: Classification, record: Classification, kind: str, field: str
) -> bool:
    """Whether a caller may read a record's field: its clearance reaches the field's
    classification and the record's."""
    level = RECORD_FIELD_CLASSIFICATION[kind].get(field)
    return level is None or reaches(clearance, effective(level, record))


def record_event_readable(clearance: Classification, record: Classification) -> bool:
    """Whether the data of a record's timeline events is readable: events carry the record's
    fields, so they are as classified as DEFAULT_EVENT_CLASSIFICATION or the record, the
    higher."""
    return reaches(clearance, effective(DEFAULT_EVENT_CLASSIFICATION, record))


def text_searchable_levels(clearance: Classification) -> list[Classification]:
    """Incident classifications whose title and description the caller may search."""
    title = FIELD_CLASSIFICATION["title"]
    return [c for c in Classification if reaches(clearance, highest(title, c))]


def field_searchable_levels(clearance: Classification, name: str) -> list[Classification]:
    """Incident classifications on which the caller may filter by the field `name`: a match
    would reveal the field's value."""
    return [c for c in Classification if field_readable(clearance, c, name)]


def alert_classification(incident: Classification | None) -> Classification:
    """An alert's: INTERNAL, or its incident's (`incident`, None when unlinked) if higher."""
    return ALERT_CLASSIFICATION if incident is None else highest(ALERT_CLASSIFICATION, incident)


def alert_searchable_levels(clearance: Classification) -> list[Classification]:
    """Incident classifications whose alerts' text the caller may search."""
    return [c for c in Classification if reaches(clearance, alert_classification(c))]


def api_name(field: str) -> str:
    """A snapshot field's name in the API: root_cause is rootCause."""
    first, *rest = field.split("_")
    return first + "".join(part.title() for part in rest)


def redact_text(value: str | None) -> str | None:
    return None if value is None else REDACTED


def redact_json(value: Any) -> Any:
    """The same shape with every text replaced by REDACTED and every other value by null."""
    if isinstance(value, str):
        return REDACTED
    if isinstance(value, Mapping):
        return {key: redact_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(item) for item in value]
    return None


# The levels a connection to an outside system may be allowed to receive notes up to.
EXPORTABLE = (Classification.PUBLIC, Classification.INTERNAL)


def exportable(
    limit: Classification | None, classification: Classification, *, incident: Classification
) -> bool:
    """Whether a note so labelled, on an incident so classified, may leave for a connection
    with this limit: its effective classification, the higher of the label and the
    incident's, must be within the limit, and the limit is PUBLIC or INTERNAL. A PUBLIC-only
    connection therefore gets the PUBLIC notes of PUBLIC incidents, as the CUSTOMER board
    does."""
    return (
        limit is not None
        and limit in EXPORTABLE
        and reaches(limit, highest(classification, incident))
    )

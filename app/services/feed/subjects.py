"""CloudEvents subjects of the feed's events: `<collection>/<global id>`, the same names the
API gives incidents and records (`incidents/inc_...`, `problems/prb_...`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class Kind:
    record_type: str
    collection: str
    prefix: str


KINDS = (
    Kind("incident", "incidents", "inc_"),
    Kind("problem", "problems", "prb_"),
    Kind("change", "changes", "chg_"),
    Kind("article", "articles", "kb_"),
    Kind("service", "services", "svc_"),
)
_BY_TYPE = {k.record_type: k for k in KINDS}
_BY_COLLECTION = {k.collection: k for k in KINDS}


def global_id(record_type: str, record_id: str) -> str:
    """The API's id of an incident or record (`inc_<32 hex>`...)."""
    return _BY_TYPE[record_type].prefix + uuid.UUID(str(record_id)).hex


def subject_of(record_type: str, record_id: str) -> str:
    return f"{_BY_TYPE[record_type].collection}/{global_id(record_type, record_id)}"


def parse_subject(subject: str, *, field: str) -> tuple[str, str]:
    """(record type, record id) a subject names; VALIDATION on `field` when it names none."""
    collection, _, gid = subject.partition("/")
    kind = _BY_COLLECTION.get(collection)
    key = None
    if kind is not None and gid.startswith(kind.prefix):
        try:
            key = uuid.UUID(hex=gid[len(kind.prefix) :])
        except ValueError:
            key = None
    if kind is None or key is None:
        names = ", ".join(f"{k.collection}/{k.prefix}..." for k in KINDS)
        raise ValidationFailed(
            f"malformed subject {subject[:100]!r}: expected one of {names}", field=field
        )
    return kind.record_type, str(key)

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields, models

from app.models.classification import Classification

if TYPE_CHECKING:
    from app.models.incident import Incident
    from app.models.tenant import Tenant


class NoteKind(StrEnum):
    GENERAL = "GENERAL"
    INVESTIGATION = "INVESTIGATION"
    MITIGATION = "MITIGATION"
    ROOT_CAUSE = "ROOT_CAUSE"
    RESOLUTION = "RESOLUTION"


class TimelineEvent(models.Model):
    # One CloudEvents v1.0 event on an incident's timeline. Append-only.

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="timeline_events"
    )
    tenant_id: str
    incident: fields.ForeignKeyRelation[Incident] = fields.ForeignKeyField(
        "models.Incident", related_name="timeline_events"
    )
    incident_id: Any
    seq = fields.IntField()
    type = fields.CharField(max_length=128)
    source = fields.CharField(max_length=255)
    event_id = fields.CharField(max_length=255)
    time = fields.DatetimeField()
    actor = fields.CharField(max_length=255, null=True)
    data: dict[str, Any] = fields.JSONField(default=dict)
    # Who may read `data` (together with the incident's own classification).
    classification = fields.CharEnumField(
        Classification,
        max_length=16,
        default=Classification.INTERNAL,
        db_default=Classification.INTERNAL,
        description="Classification",
    )

    class Meta:
        table = "timeline_event"
        unique_together = (("incident", "seq"), ("tenant", "source", "event_id"))

from __future__ import annotations

from enum import StrEnum

from tortoise import fields, models


class NoteKind(StrEnum):
    GENERAL = "GENERAL"
    INVESTIGATION = "INVESTIGATION"
    MITIGATION = "MITIGATION"
    ROOT_CAUSE = "ROOT_CAUSE"
    RESOLUTION = "RESOLUTION"


class TimelineEvent(models.Model):
    # One CloudEvents v1.0 event on an incident's timeline. Append-only.

    id = fields.UUIDField(primary_key=True)
    tenant = fields.ForeignKeyField("models.Tenant", related_name="timeline_events")
    incident = fields.ForeignKeyField("models.Incident", related_name="timeline_events")
    seq = fields.IntField()
    type = fields.CharField(max_length=128)
    source = fields.CharField(max_length=255)
    event_id = fields.CharField(max_length=255)
    time = fields.DatetimeField()
    actor = fields.CharField(max_length=255, null=True)
    data = fields.JSONField(default=dict)

    class Meta:
        table = "timeline_event"
        unique_together = (("incident", "seq"), ("tenant", "source", "event_id"))

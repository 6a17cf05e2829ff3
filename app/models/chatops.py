from __future__ import annotations

from tortoise import fields, models


class IncidentChannel(models.Model):
    """An incident's own Slack channel, and how far it has been kept up with the incident:
    its topic, who was invited, the last timeline event posted. `dirty` marks it owed a
    sync (the row is its own outbox, written in the incident change's transaction)."""

    incident_id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    name = fields.CharField(max_length=80)
    private = fields.BooleanField(default=False)
    channel_id = fields.CharField(max_length=32, null=True)
    topic = fields.TextField(null=True)
    invited: list[str] = fields.JSONField(default=list)
    posted_seq = fields.IntField(default=0)
    dirty = fields.BooleanField(default=True)
    # Moved on by every change: a sync clears `dirty` only if no change came meanwhile.
    generation = fields.IntField(default=0)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "incident_channel"
        indexes = (("dirty", "next_attempt_at"),)

from __future__ import annotations

from tortoise import fields, models


class FeedEntry(models.Model):
    """One committed CloudEvent's place in its tenant's feed: positions from 1 per tenant,
    in commit order, with no gaps. The event itself stays where it was written (an
    incident's or a record's timeline); this row says where it is and what it is."""

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    position = fields.BigIntField()
    # "incident", or the record's type: "problem", "change", "article", "service".
    record_type = fields.CharField(max_length=32)
    record_id = fields.UUIDField()
    # The event's row: timeline_event.id for an incident, record_event.id for a record.
    event_row = fields.UUIDField()
    type = fields.CharField(max_length=128)
    time = fields.DatetimeField()

    class Meta:
        table = "feed_entry"
        unique_together = (("tenant_id", "position"),)
        indexes = (("tenant_id", "type", "position"), ("tenant_id", "record_id", "position"))


class FeedCounter(models.Model):
    """The last position handed out in a tenant's feed. Moved on as the last statement of
    the transaction that wrote the events, so its row lock orders the commits."""

    tenant_id = fields.CharField(max_length=64, primary_key=True)
    position = fields.BigIntField(default=0)
    # Events written in the calendar month (UTC, "YYYY-MM") of the last one: usage for quotas.
    month = fields.CharField(max_length=7, default="", db_default="")
    month_events = fields.BigIntField(default=0, db_default=0)

    class Meta:
        table = "feed_counter"

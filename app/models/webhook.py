from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields, models

from app.models.classification import Classification


class WebhookDeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    # Dead-lettered: the last attempt failed. redeliverWebhook sends it again.
    FAILED = "FAILED"


class WebhookEndpoint(models.Model):
    """Where a tenant's events are pushed (Standard Webhooks). `position` is the last feed
    position turned into deliveries: the endpoint follows the feed from there."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    url = fields.CharField(max_length=2048)
    description = fields.CharField(max_length=500, null=True)
    # Event types and `prefix*` patterns; empty: every event.
    event_types: list[str] = fields.JSONField(default=list)
    # What the receiver may read: events of incidents above it are not sent, text above it
    # is [REDACTED].
    clearance = fields.CharEnumField(
        Classification, max_length=16, default=Classification.INTERNAL, description="Classification"
    )
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.CharField(max_length=500, null=True)
    # Sealed (secret_box). During a rotation the previous secret signs too, until `until`.
    secret = fields.TextField()
    previous_secret = fields.TextField(null=True)
    previous_secret_until = fields.DatetimeField(null=True)
    position = fields.BigIntField(default=0)
    # Deliveries dead-lettered in a row; reset by a delivery that succeeds.
    failure_streak = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "webhook_endpoint"
        indexes = (("tenant_id", "enabled"),)


class WebhookDelivery(models.Model):
    """One event for one endpoint: its own outbox row, attempted until delivered or dead."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    endpoint_id: Any
    position = fields.BigIntField()
    event_id = fields.CharField(max_length=255)
    type = fields.CharField(max_length=128)
    payload = fields.TextField()
    status = fields.CharEnumField(
        WebhookDeliveryStatus, max_length=16, description="WebhookDeliveryStatus"
    )
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    last_status_code = fields.IntField(null=True)
    last_duration_ms = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_delivery"
        indexes = (
            ("status", "next_attempt_at"),
            ("endpoint_id", "status", "created_at"),
            # The purge finds a purged incident's deliveries by their events.
            ("tenant_id", "event_id"),
        )


class WebhookAttempt(models.Model):
    """One try of a delivery: what the receiver answered, and how long it took."""

    id = fields.BigIntField(primary_key=True)
    delivery: fields.ForeignKeyRelation[WebhookDelivery] = fields.ForeignKeyField(
        "models.WebhookDelivery", related_name="attempt_log", on_delete=fields.CASCADE
    )
    delivery_id: Any
    at = fields.DatetimeField()
    status_code = fields.IntField(null=True)
    duration_ms = fields.IntField()
    error = fields.TextField(null=True)

    class Meta:
        table = "webhook_attempt"
        indexes = (("delivery_id", "at"),)

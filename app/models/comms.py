"""Communications: every message about an incident, sent or received."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields, models

from app.models.classification import Classification


class CommunicationChannel(StrEnum):
    EMAIL = "EMAIL"
    SLACK = "SLACK"
    WEBHOOK = "WEBHOOK"
    SMS = "SMS"
    PHONE = "PHONE"
    PAGERDUTY = "PAGERDUTY"
    MEETING = "MEETING"
    STATUS_PAGE = "STATUS_PAGE"
    OTHER = "OTHER"


class CommunicationDirection(StrEnum):
    OUTBOUND = "OUTBOUND"
    INBOUND = "INBOUND"


class Audience(StrEnum):
    END_USERS = "END_USERS"
    STAKEHOLDERS = "STAKEHOLDERS"
    EXECUTIVES = "EXECUTIVES"
    IT_STAFF = "IT_STAFF"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class Communication(models.Model):
    """A message about an incident, with the short ref (REF-YYYYMMDD-XXXX) people quote."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    incident_id = fields.UUIDField()
    short_ref = fields.CharField(max_length=20)
    channel = fields.CharEnumField(CommunicationChannel, max_length=16)
    direction = fields.CharEnumField(CommunicationDirection, max_length=16)
    audience = fields.CharEnumField(Audience, max_length=16, null=True)
    recipient = fields.CharField(max_length=512, null=True)
    message: str = fields.TextField()
    status = fields.CharEnumField(DeliveryStatus, max_length=16)
    classification = fields.CharEnumField(
        Classification, max_length=16, default=Classification.INTERNAL
    )
    external_id = fields.CharField(max_length=255, null=True)
    error: str | None = fields.TextField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_by = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "communication"
        unique_together = (("tenant_id", "short_ref"),)
        indexes = (("tenant_id", "incident_id", "created_at"),)

"""Communications: every message about an incident, sent or received."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

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
    # Outbound delivery: the subject (e-mail), which send it belongs to, the PagerDuty
    # action, attempts made and when the next is due (null once SENT or FAILED).
    subject = fields.CharField(max_length=255, null=True)
    send_id = fields.UUIDField(null=True)
    action = fields.CharField(max_length=16, null=True)
    attempts = fields.IntField(default=0, db_default=0)
    next_attempt_at = fields.DatetimeField(null=True)

    class Meta:
        table = "communication"
        unique_together = (("tenant_id", "short_ref"),)
        indexes = (("tenant_id", "incident_id", "created_at"), ("status", "next_attempt_at"))


class NotificationSettings(models.Model):
    """Where a tenant's outbound messages go: its Slack workspace, its webhook receiver,
    its PagerDuty service and the addresses of each audience. Secrets are sealed."""

    tenant_id = fields.CharField(max_length=64, primary_key=True)
    email_from = fields.CharField(max_length=320, null=True)
    slack_webhook_url: str | None = fields.TextField(null=True)  # sealed
    slack_bot_token: str | None = fields.TextField(null=True)  # sealed
    slack_api_url = fields.CharField(max_length=2048, default="https://slack.com/api")
    slack_channel = fields.CharField(max_length=255, null=True)
    # ChatOps: the Slack workspace (team id) whose slash commands act in this tenant, and
    # the app's signing secret (sealed) that signs them.
    slack_team_id = fields.CharField(max_length=32, null=True, unique=True)
    slack_signing_secret: str | None = fields.TextField(null=True)  # sealed
    # A channel of its own for every incident declared (needs the bot token).
    slack_incident_channels = fields.BooleanField(default=False, db_default=False)
    webhook_url = fields.CharField(max_length=2048, null=True)
    webhook_secret: str | None = fields.TextField(null=True)  # sealed
    pagerduty_routing_key: str | None = fields.TextField(null=True)  # sealed
    pagerduty_events_url = fields.CharField(
        max_length=2048, default="https://events.pagerduty.com/v2/enqueue"
    )
    # {"STAKEHOLDERS": {"emails": [...], "slackChannel": "C..."}, ...}
    audiences: dict[str, Any] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notification_settings"


class ReviewStatus(StrEnum):
    DRAFT = "DRAFT"
    IN_REVIEW = "IN_REVIEW"
    PUBLISHED = "PUBLISHED"


class PostIncidentReview(models.Model):
    """What was learnt from an incident, one version a row: a published version is never
    changed; a correction is the next version."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    incident_id = fields.UUIDField()
    version = fields.IntField(default=1)
    status = fields.CharEnumField(ReviewStatus, max_length=16, default=ReviewStatus.DRAFT)
    summary: str | None = fields.TextField(null=True)
    customer_impact: str | None = fields.TextField(null=True)
    # Lines of the incident's story, generated from its timeline at the start (editable).
    timeline_excerpt: list[str] = fields.JSONField(default=list)
    contributing_factors: list[str] = fields.JSONField(default=list)
    went_well: list[str] = fields.JSONField(default=list)
    went_badly: list[str] = fields.JSONField(default=list)
    residual_risk: str | None = fields.TextField(null=True)
    training_needs: str | None = fields.TextField(null=True)
    created_by = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    published_at = fields.DatetimeField(null=True)
    published_by = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "post_incident_review"
        unique_together = (("incident_id", "version"),)
        indexes = (("tenant_id", "incident_id"),)


class ActionItemStatus(StrEnum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class ActionItem(models.Model):
    """Something a review says must be done, with an owner and a due date."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    incident_id = fields.UUIDField()
    title = fields.CharField(max_length=255)
    owner_id = fields.UUIDField(null=True)
    due_at = fields.DatetimeField(null=True)
    status = fields.CharEnumField(ActionItemStatus, max_length=16, default=ActionItemStatus.OPEN)
    # A change, problem or knowledge article (its global id) that carries the work.
    link = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    # When its owner was reminded it is overdue (null: not yet; a new due time clears it).
    reminded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "action_item"
        indexes = (
            ("tenant_id", "incident_id"),
            ("tenant_id", "status", "due_at"),
            ("reminded_at", "due_at"),
        )


class RuleEvent(StrEnum):
    DECLARED = "DECLARED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ASSIGNED = "ASSIGNED"
    MENTIONED = "MENTIONED"
    ESCALATED = "ESCALATED"
    SLA_WARNING = "SLA_WARNING"
    SLA_BREACHED = "SLA_BREACHED"
    RESOLVED = "RESOLVED"
    REVIEW_DUE = "REVIEW_DUE"
    UPDATE_DUE = "UPDATE_DUE"


class RuleRecipient(StrEnum):
    ASSIGNEE = "ASSIGNEE"
    TEAM = "TEAM"
    ON_CALL = "ON_CALL"
    COMMANDER = "COMMANDER"
    COMMUNICATIONS_LEAD = "COMMUNICATIONS_LEAD"
    MENTIONED = "MENTIONED"
    AUDIENCE = "AUDIENCE"


class NotificationRule(models.Model):
    """Which event of an incident notifies whom, over which channels, with which words."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    name = fields.CharField(max_length=255)
    event = fields.CharEnumField(RuleEvent, max_length=32, description="RuleEvent")
    # Only incidents of these priorities (empty: every priority).
    priorities: list[str] = fields.JSONField(default=list)
    recipients: list[str] = fields.JSONField(default=list)
    audience = fields.CharEnumField(Audience, max_length=16, null=True)
    channels: list[str] = fields.JSONField(default=list)
    subject_template = fields.CharField(max_length=255)
    body_template: str = fields.TextField()
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notification_rule"
        indexes = (("tenant_id", "event"),)


class NotificationPreference(models.Model):
    """How one person wants to be notified: channels, muted events, quiet hours (in their
    own time zone; P1 notifications ignore them)."""

    user_id = fields.UUIDField(primary_key=True)
    tenant_id = fields.CharField(max_length=64)
    # The channels they accept (null: every channel a rule names).
    channels: list[str] | None = fields.JSONField(null=True)
    muted_events: list[str] = fields.JSONField(default=list)
    quiet_start = fields.CharField(max_length=5, null=True)  # "22:00"
    quiet_end = fields.CharField(max_length=5, null=True)  # "07:00"
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notification_preference"

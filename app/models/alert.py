from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields, models

if TYPE_CHECKING:
    from app.models.incident import Incident
    from app.models.tenant import Tenant


class AlertStatus(StrEnum):
    FIRING = "FIRING"
    RESOLVED = "RESOLVED"


class AlertIntake(models.Model):
    # Alerts accepted (answered 202) and not yet deduplicated and correlated. A row is deleted
    # in the transaction that stores its alert, so a crash in between loses nothing.
    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="alert_intake"
    )
    tenant_id: str
    # One alert, normalised by services/alerts/payloads.py (the same shape for every source).
    payload: dict[str, Any] = fields.JSONField()
    received_at = fields.DatetimeField()

    class Meta:
        table = "alert_intake"


class AlertQuarantine(models.Model):
    # Intake rows the processor could not store, set aside (in the transaction that deletes
    # them from the intake) so that they hold up no other alert; their tenant's admins read
    # them with the error that stopped each.
    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="alert_quarantine"
    )
    tenant_id: str
    payload: dict[str, Any] = fields.JSONField()
    received_at = fields.DatetimeField()
    quarantined_at = fields.DatetimeField()
    error = fields.CharField(max_length=1024)

    class Meta:
        table = "alert_quarantine"
        # A tenant's rows, newest first.
        indexes = (("tenant_id", "id"),)


class Alert(models.Model):
    # One alert over its lifetime: repeats of it while it fires are counted, not stored again.
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="alerts"
    )
    tenant_id: str
    # Who sent it ("alertmanager", or the `source` of a generic alert) and its identity there
    # (Alertmanager's fingerprint, a generic alert's id).
    source = fields.CharField(max_length=128)
    fingerprint = fields.CharField(max_length=255)
    # Tenant, source and fingerprint while FIRING (services/alerts/batch.py active_key), null
    # once RESOLVED: at most one firing alert per fingerprint, enforced by the database.
    active_key = fields.CharField(max_length=512, null=True, unique=True)
    status = fields.CharEnumField(AlertStatus, max_length=16, description="AlertStatus")
    alertname = fields.CharField(max_length=255, null=True)
    service = fields.CharField(max_length=255, null=True)
    # The sender's severity label as sent ("critical", "warning", ...).
    severity = fields.CharField(max_length=64, null=True)
    title = fields.CharField(max_length=255)
    description: str | None = fields.TextField(null=True)
    labels: dict[str, Any] = fields.JSONField(default=dict)
    annotations: dict[str, Any] = fields.JSONField(default=dict)
    url = fields.CharField(max_length=2048, null=True)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(null=True)
    first_received_at = fields.DatetimeField()
    last_received_at = fields.DatetimeField()
    # Notifications received for it (1 + the duplicates).
    count = fields.IntField(default=1)
    group: fields.ForeignKeyNullableRelation[AlertGroup] = fields.ForeignKeyField(
        "models.AlertGroup", related_name="alerts", null=True, on_delete=fields.SET_NULL
    )
    group_id: Any
    incident: fields.ForeignKeyNullableRelation[Incident] = fields.ForeignKeyField(
        "models.Incident", related_name="alerts", null=True, on_delete=fields.SET_NULL
    )
    incident_id: Any
    # A timeline event about this alert is owed to its incident: "linked" or "resolved".
    # Cleared in the transaction that appends it (one event per incident for many alerts).
    pending_event = fields.CharField(max_length=16, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "alert"
        indexes = (
            ("tenant_id", "source", "fingerprint"),
            ("tenant_id", "last_received_at"),
            ("tenant_id", "incident_id"),
            ("pending_event", "incident_id"),
            # A group's alerts not linked yet: the processor's declaration and its detaching
            # of a past generation's alerts (PostgreSQL does not index foreign keys itself).
            ("group_id", "incident_id"),
        )


class CorrelationRule(models.Model):
    # How a tenant's alerts group into incidents; the first enabled rule that matches wins.
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="correlation_rules"
    )
    tenant_id: str
    name = fields.CharField(max_length=255)
    position = fields.IntField()
    enabled = fields.BooleanField(default=True)
    # {label: value} that must all equal the alert's labels (alertname, service, severity
    # included); empty matches every alert.
    matchers: dict[str, Any] = fields.JSONField(default=dict)
    # Label names whose values form the group key.
    group_by: list[str] = fields.JSONField(default=list)
    window_seconds = fields.IntField()
    auto_declare = fields.BooleanField(default=True)
    # Alerts in one group (within the window) that declare an incident.
    min_alerts = fields.IntField(default=1)
    # Null: from the alert's severity label (see services/alerts/correlation.py).
    severity = fields.CharField(max_length=16, null=True)
    impact = fields.CharField(max_length=16)
    urgency = fields.CharField(max_length=16)
    title_template = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "correlation_rule"
        indexes = (("tenant_id", "position"),)


class AlertGroup(models.Model):
    # Alerts grouped by one rule's key; an incident once declared or matched.
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="alert_groups"
    )
    tenant_id: str
    # The rule's id (or "default") and the grouped label values.
    key = fields.CharField(max_length=1024)
    rule_id = fields.CharField(max_length=64)
    # Bumped when the group starts over (its window passed or its incident ended).
    generation = fields.IntField(default=1)
    incident: fields.ForeignKeyNullableRelation[Incident] = fields.ForeignKeyField(
        "models.Incident", related_name="alert_groups", null=True, on_delete=fields.SET_NULL
    )
    incident_id: Any
    # An incident is to be declared for this generation (done after the alerts are stored).
    declare_pending = fields.BooleanField(default=False)
    opened_at = fields.DatetimeField()
    last_alert_at = fields.DatetimeField()
    alert_count = fields.IntField(default=0)

    class Meta:
        table = "alert_group"
        unique_together = (("tenant", "key"),)
        # The groups of an incident, moved by a merge.
        indexes = (("declare_pending",), ("incident_id",))


class Lease(models.Model):
    # A named lease held by one process until it expires (the alert processor, a ticket's
    # sync). Taken and renewed with a conditional UPDATE, so it works on every backend.
    name = fields.CharField(max_length=255, primary_key=True)
    owner = fields.CharField(max_length=128)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "lease"

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields, models

from app.models.classification import Classification

if TYPE_CHECKING:
    from app.models.incident import Incident
    from app.models.tenant import Tenant


class ItsmProvider(StrEnum):
    SERVICENOW = "servicenow"
    JIRA = "jira"


class SyncState(StrEnum):
    IN_SYNC = "IN_SYNC"
    PENDING = "PENDING"
    CONFLICT = "CONFLICT"
    ERROR = "ERROR"
    DRIFTED = "DRIFTED"


class SyncJobKind(StrEnum):
    CREATE = "CREATE"  # make the ticket in the provider
    PUSH = "PUSH"  # mapped incident fields changed
    RECONCILE = "RECONCILE"  # compare both sides (link, syncTicket, periodic drift check)


class ItsmConnection(models.Model):
    # One per tenant and provider. `credentials` and `webhook_secret` never leave the server,
    # and are stored sealed: the credentials' "secret" and the webhook secret read
    # "fernet:<token>" (services/secret_box.py).
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="itsm_connections"
    )
    tenant_id: str
    provider = fields.CharEnumField(ItsmProvider, max_length=16, description="ItsmProvider")
    base_url = fields.CharField(max_length=2048)
    credentials: dict[str, Any] = fields.JSONField(default=dict)
    webhook_secret: str | None = fields.TextField(null=True)
    # Jira: the project new issues go to.
    project_key = fields.CharField(max_length=64, null=True)
    # Per-field overrides of the provider's defaults (services/itsm/mapping.py).
    mapping: dict[str, Any] = fields.JSONField(default=dict)
    # Notes classified at most this are posted to tickets (PUBLIC or INTERNAL); null: none.
    export_notes_up_to = fields.CharEnumField(
        Classification,
        max_length=16,
        null=True,
        default=Classification.INTERNAL,
        db_default=Classification.INTERNAL,
        description="Classification",
    )
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "itsm_connection"
        unique_together = (("tenant", "provider"),)


class LinkedTicket(models.Model):
    # An external ticket mirroring one incident, and what the sync engine knows of it.
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="linked_tickets"
    )
    tenant_id: str
    incident: fields.ForeignKeyRelation[Incident] = fields.ForeignKeyField(
        "models.Incident", related_name="linked_tickets"
    )
    incident_id: Any
    provider = fields.CharEnumField(ItsmProvider, max_length=16, description="ItsmProvider")
    # Null until a ticket created from the incident exists in the provider.
    external_key = fields.CharField(max_length=255, null=True)
    number = fields.CharField(max_length=255, null=True)
    url = fields.CharField(max_length=2048, null=True)
    sync_state = fields.CharEnumField(
        SyncState, max_length=16, default=SyncState.PENDING, description="SyncState"
    )
    last_synced_at = fields.DatetimeField(null=True)
    last_error: str | None = fields.TextField(null=True)
    # Failed attempts of the current delivery (reset on success).
    attempts = fields.IntField(default=0)
    # Per mapped field, in the provider's terms: the value both sides last agreed on (the
    # base of the 3-way comparison).
    base: dict[str, Any] = fields.JSONField(default=dict)
    # Per mapped field: when the incident last changed it (ISO 8601), for most_recent_allowed.
    changed_at: dict[str, Any] = fields.JSONField(default=dict)
    # The provider's update time of the newest version seen (out-of-order webhooks).
    external_updated_at = fields.DatetimeField(null=True)
    # The provider's revision counter of that version, where it has one (ServiceNow's
    # sys_mod_count): update times there are to the second, the counter is exact.
    external_version: int | None = fields.BigIntField(null=True)
    # Open conflicts per field: {"internal": ..., "external": ..., "detectedAt": ...}.
    conflicts: dict[str, Any] = fields.JSONField(default=dict)
    # The timeline seq up to which notes were posted to the ticket (or passed over).
    note_seq = fields.IntField(default=0, db_default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "linked_ticket"
        unique_together = (("tenant", "provider", "external_key"),)
        indexes = (("tenant_id", "incident_id"),)


class SyncJob(models.Model):
    # Work for the sync worker, written in the transaction of the change that caused it.
    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="itsm_sync_jobs"
    )
    tenant_id: str
    ticket: fields.ForeignKeyRelation[LinkedTicket] = fields.ForeignKeyField(
        "models.LinkedTicket", related_name="jobs", on_delete=fields.CASCADE
    )
    ticket_id: Any
    kind = fields.CharEnumField(SyncJobKind, max_length=16, description="SyncJobKind")
    # The mapped fields that changed, for the record.
    fields_changed: list[str] = fields.JSONField(default=list)
    created_at = fields.DatetimeField()
    next_attempt_at = fields.DatetimeField()
    done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "itsm_sync_job"
        indexes = (("done_at", "next_attempt_at"),)


class InboundDelivery(models.Model):
    # One accepted webhook delivery: the same delivery twice changes nothing.
    id = fields.BigIntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="itsm_deliveries"
    )
    tenant_id: str
    provider = fields.CharEnumField(ItsmProvider, max_length=16, description="ItsmProvider")
    delivery_id = fields.CharField(max_length=255)
    received_at = fields.DatetimeField()

    class Meta:
        table = "itsm_inbound_delivery"
        unique_together = (("tenant", "provider", "delivery_id"),)

"""Linked ITSM tickets (ServiceNow, Jira) and the tenant's connections to those products."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeAlias

import strawberry

from app import models
from app.schema.common import Classification, UserError
from app.services.access.classification import redact_text
from app.services.itsm import mapping, tickets
from app.services.itsm.connection import ConnectionView

TICKET_PREFIX = "tkt_"

ItsmProvider: TypeAlias = Annotated[models.ItsmProvider, strawberry.enum()]
TicketSyncState: TypeAlias = Annotated[
    models.SyncState,
    strawberry.enum(
        description="IN_SYNC: both sides agree. PENDING: a change is on its way. CONFLICT: a "
        "field waits for resolveTicketConflict. ERROR: delivery gave up (see lastError; "
        "syncTicket retries). DRIFTED: the last check found changes no webhook announced."
    ),
]
SyncedField: TypeAlias = Annotated[mapping.SyncedField, strawberry.enum()]
SourceOfTruth: TypeAlias = Annotated[mapping.SourceOfTruth, strawberry.enum()]
ConflictPolicy: TypeAlias = Annotated[mapping.ConflictPolicy, strawberry.enum()]
ConflictSide: TypeAlias = Annotated[tickets.Side, strawberry.enum()]


@strawberry.type(description="A field both sides changed that waits for a person.")
class TicketConflict:
    field: str
    internal_value: str | None
    external_value: str | None
    detected_at: datetime


@strawberry.type(description="A ServiceNow or Jira ticket kept in step with the incident.")
class ExternalTicket:
    id: strawberry.ID
    provider: ItsmProvider
    external_key: str | None = strawberry.field(
        description="ServiceNow sys_id or Jira issue key; null until a created ticket exists."
    )
    number: str | None = strawberry.field(description="INC0010001, OPS-42.")
    url: str | None
    sync_state: TicketSyncState
    last_synced_at: datetime | None
    last_error: str | None
    attempts: int = strawberry.field(description="Failed attempts of the current delivery.")
    conflicts: list[TicketConflict]
    created_at: datetime

    @classmethod
    def of(
        cls, view: tickets.TicketView, *, hidden: frozenset[str] = frozenset()
    ) -> ExternalTicket:
        """`hidden`: incident fields redacted for the caller; their conflict values are too."""
        return cls(
            id=strawberry.ID(TICKET_PREFIX + view.id.replace("-", "")),
            provider=view.provider,
            external_key=view.external_key,
            number=view.number,
            url=view.url,
            sync_state=view.sync_state,
            last_synced_at=view.last_synced_at,
            last_error=view.last_error,
            attempts=view.attempts,
            conflicts=[
                TicketConflict(
                    field=c.field,
                    internal_value=redact_text(c.internal_value)
                    if c.field in hidden
                    else c.internal_value,
                    external_value=redact_text(c.external_value)
                    if c.field in hidden
                    else c.external_value,
                    detected_at=c.detected_at,
                )
                for c in view.conflicts
            ],
            created_at=view.created_at,
        )


@strawberry.type
class ItsmValueMapping:
    internal: str
    external: str


@strawberry.type
class ItsmFieldRule:
    field: SyncedField
    external_field: str
    source_of_truth: SourceOfTruth
    conflict_policy: ConflictPolicy
    values: list[ItsmValueMapping]


@strawberry.type(description="A connection to an ITSM product; its secrets are never shown.")
class ItsmConnection:
    provider: ItsmProvider
    base_url: str
    username: str | None
    has_secret: bool
    has_webhook_secret: bool
    project_key: str | None
    export_notes_up_to: Classification | None = strawberry.field(
        description="Notes classified at most this become work notes / comments on linked "
        "tickets; null: notes are not posted."
    )
    enabled: bool
    fields: list[ItsmFieldRule]
    updated_at: datetime

    @classmethod
    def of(cls, view: ConnectionView) -> ItsmConnection:
        return cls(
            provider=view.provider,
            base_url=view.base_url,
            username=view.username,
            has_secret=view.has_secret,
            has_webhook_secret=view.has_webhook_secret,
            project_key=view.project_key,
            export_notes_up_to=view.export_notes_up_to,
            enabled=view.enabled,
            fields=[
                ItsmFieldRule(
                    field=name,
                    external_field=rule.external,
                    source_of_truth=rule.source,
                    conflict_policy=rule.policy,
                    values=[
                        ItsmValueMapping(internal=k, external=v) for k, v in rule.values.items()
                    ],
                )
                for name, rule in view.rules.items()
            ],
            updated_at=view.updated_at,
        )


@strawberry.input
class ItsmValueMappingInput:
    internal: str
    external: str


@strawberry.input(description="Overrides of one field's defaults; what is omitted keeps them.")
class ItsmFieldRuleInput:
    field: SyncedField
    external_field: str | None = None
    source_of_truth: SourceOfTruth | None = None
    conflict_policy: ConflictPolicy | None = None
    values: list[ItsmValueMappingInput] | None = None
    disabled: bool = strawberry.field(default=False, description="Stop syncing this field.")


@strawberry.input
class ConfigureItsmConnectionInput:
    provider: ItsmProvider
    base_url: str
    username: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="ServiceNow user or Jira account e-mail (basic auth); omit to keep.",
    )
    secret: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Password, API token or (ServiceNow, no username) OAuth token. "
        "Write-only; omit to keep the stored one.",
    )
    webhook_secret: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="HMAC key of inbound webhooks, at least 16 characters. Write-only.",
    )
    project_key: str | None = strawberry.field(
        default=strawberry.UNSET, description="Jira: the project new issues go to."
    )
    export_notes_up_to: Classification | None = strawberry.field(
        default=strawberry.UNSET,
        description="PUBLIC or INTERNAL (the default): notes classified at most this are "
        "posted to linked tickets; null posts none. Omit to keep.",
    )
    enabled: bool = True
    fields: list[ItsmFieldRuleInput] | None = strawberry.field(
        default=None, description="Per-field overrides; replaces the stored ones when given."
    )


@strawberry.type
class ItsmConnectionPayload:
    connection: ItsmConnection | None
    errors: list[UserError]


@strawberry.input
class LinkTicketInput:
    incident_id: strawberry.ID
    provider: ItsmProvider
    external_key: str = strawberry.field(description="ServiceNow sys_id or Jira issue key.")


@strawberry.input
class CreateTicketInput:
    incident_id: strawberry.ID
    provider: ItsmProvider


@strawberry.input
class TicketInput:
    id: strawberry.ID


@strawberry.input
class ResolveTicketConflictInput:
    id: strawberry.ID
    field: SyncedField
    choose: ConflictSide


@strawberry.type
class ExternalTicketPayload:
    ticket: ExternalTicket | None
    errors: list[UserError]

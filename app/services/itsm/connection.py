"""Per-tenant connections to ITSM products: where, with which credentials, which mapping.

Credentials and the webhook secret are write-only: nothing here returns them, and a
connection's repr and the audit log name only whether they are set. They are stored sealed
(services/secret_box.py) and opened only to make a call or check a signature.

The base URL must reach public addresses only, unless the installation allows private
networks (egress.py): checked here when configured, and again by the connector's transport
at every call.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from tortoise.transactions import in_transaction

from app.config import Settings
from app.core.clock import utcnow
from app.errors import NotFound, ValidationFailed
from app.models import Classification, ItsmConnection, ItsmProvider
from app.services.access import audit, secret_box
from app.services.access.secret_box import SecretBox, Unreadable
from app.services.itsm import egress
from app.services.itsm.connector import Connector, ProviderError
from app.services.itsm.mapping import (
    ConflictPolicy,
    FieldRule,
    SourceOfTruth,
    SyncedField,
    rules_for,
    validate_override,
)


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """What the API shows of a connection."""

    provider: ItsmProvider
    base_url: str
    username: str | None
    has_secret: bool
    has_webhook_secret: bool
    project_key: str | None
    export_notes_up_to: Classification | None
    enabled: bool
    rules: dict[SyncedField, FieldRule]
    updated_at: datetime

    @classmethod
    def of(cls, row: ItsmConnection) -> ConnectionView:
        return cls(
            provider=row.provider,
            base_url=row.base_url,
            username=row.credentials.get("username"),
            has_secret=bool(row.credentials.get("secret")),
            has_webhook_secret=bool(row.webhook_secret),
            project_key=row.project_key,
            export_notes_up_to=row.export_notes_up_to,
            enabled=row.enabled,
            rules=rules_for(row.provider, row.mapping),
            updated_at=row.updated_at,
        )


_UNSET: Any = object()
# Longer than any product's password, token or webhook secret.
SECRET_MAX = 4096


async def configure_connection(
    *,
    tenant_id: str,
    provider: ItsmProvider,
    base_url: str,
    settings: Settings,
    username: str | None = _UNSET,
    secret: str | None = _UNSET,
    webhook_secret: str | None = _UNSET,
    project_key: str | None = _UNSET,
    export_notes_up_to: Classification | None = _UNSET,
    enabled: bool = True,
    fields: Mapping[str, Mapping[str, Any]] | None = None,
) -> ConnectionView:
    """Create or replace a tenant's connection to a provider. Omitted secrets are kept;
    `fields` (per synced field: external, values, source, policy, disabled) replaces the
    stored overrides when given. `export_notes_up_to`: the highest classification of notes
    posted to tickets, PUBLIC or INTERNAL (never above); None posts none. A base URL whose
    host resolves to a private, loopback or link-local address is refused unless
    `settings.allow_private_networks`."""
    url = base_url.strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 2048:
        raise ValidationFailed("baseUrl must be an http(s) URL", field="baseUrl")
    try:
        await egress.check_url(url, allow_private=settings.allow_private_networks)
    except egress.Refused:
        raise ValidationFailed(
            f"baseUrl: {parsed.hostname} must resolve to public addresses only (private, "
            "loopback and link-local ones are refused unless the server sets "
            "INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS=true)",
            field="baseUrl",
        ) from None
    for name, value in (("secret", secret), ("webhookSecret", webhook_secret)):
        if isinstance(value, str) and len(value) > SECRET_MAX:
            raise ValidationFailed(f"{name} may be at most {SECRET_MAX} characters", field=name)
    box = secret_box.load(settings)
    overrides: dict[str, Any] | None = None
    if fields is not None:
        overrides = {}
        for name, raw in fields.items():
            try:
                SyncedField(name)
                if raw.get("source"):
                    SourceOfTruth(raw["source"])
                if raw.get("policy"):
                    ConflictPolicy(raw["policy"])
            except ValueError as exc:
                raise ValidationFailed(str(exc), field="fields") from None
            overrides[name] = validate_override(name, raw)
    if webhook_secret is not _UNSET and webhook_secret is not None and len(webhook_secret) < 16:
        raise ValidationFailed(
            "webhookSecret must be at least 16 characters", field="webhookSecret"
        )
    if export_notes_up_to is not _UNSET and export_notes_up_to not in (
        None,
        Classification.PUBLIC,
        Classification.INTERNAL,
    ):
        raise ValidationFailed(
            "exportNotesUpTo may be PUBLIC or INTERNAL: more sensitive notes never leave",
            field="exportNotesUpTo",
        )
    now = utcnow()
    async with in_transaction():
        row = await ItsmConnection.get_or_none(tenant_id=tenant_id, provider=provider)
        if row is None:
            row = ItsmConnection(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                provider=provider,
                credentials={},
                mapping={},
                created_at=now,
            )
        row.base_url = url
        credentials = dict(row.credentials)
        if username is not _UNSET:
            credentials["username"] = username or None
        if secret is not _UNSET:
            credentials["secret"] = box.seal(secret) if secret else None
        row.credentials = credentials
        if webhook_secret is not _UNSET:
            row.webhook_secret = box.seal(webhook_secret) if webhook_secret else None
        if project_key is not _UNSET:
            row.project_key = project_key or None
        if export_notes_up_to is not _UNSET:
            row.export_notes_up_to = export_notes_up_to
        if overrides is not None:
            row.mapping = overrides
        row.enabled = enabled
        if provider is ItsmProvider.JIRA and not row.project_key:
            raise ValidationFailed("a Jira connection needs projectKey", field="projectKey")
        row.updated_at = now
        await row.save()
        await audit.record(
            tenant_id=tenant_id,
            action="itsm.connection_configured",
            target=provider.value,
            changes={
                "baseUrl": url,
                "secretChanged": secret is not _UNSET,
                "webhookSecretChanged": webhook_secret is not _UNSET,
                "fields": row.mapping,
                "exportNotesUpTo": row.export_notes_up_to,
                "enabled": enabled,
            },
        )
    return ConnectionView.of(row)


async def list_connections(*, tenant_id: str) -> list[ConnectionView]:
    rows = await ItsmConnection.filter(tenant_id=tenant_id).order_by("provider")
    return [ConnectionView.of(r) for r in rows]


async def get_connection(*, tenant_id: str, provider: ItsmProvider) -> ItsmConnection:
    row = await ItsmConnection.get_or_none(tenant_id=tenant_id, provider=provider)
    if row is None or not row.enabled:
        raise NotFound(
            f"no {provider.value} connection for this tenant (configureItsmConnection)",
            field="provider",
        )
    return row


def connector_for(
    row: ItsmConnection, *, timeout: float, box: SecretBox, allow_private_networks: bool
) -> Connector:
    """A connector speaking to the connection's product, through a transport that calls
    only the addresses allowed; the caller closes it. A secret the keys cannot open is a
    ProviderError (retried: the keys may be put right)."""
    username = row.credentials.get("username")
    try:
        stored = row.credentials.get("secret")
        secret = box.open(stored) if stored else None
    except Unreadable as exc:
        raise ProviderError(f"{row.provider.value}: {exc}", retryable=True) from None
    transport = egress.GuardedTransport(allow_private=allow_private_networks)
    if row.provider is ItsmProvider.SERVICENOW:
        from app.services.itsm.servicenow import ServiceNowConnector

        if username:
            return ServiceNowConnector(
                row.base_url, username, secret or "", timeout=timeout, transport=transport
            )
        return ServiceNowConnector(
            row.base_url, token=secret or "", timeout=timeout, transport=transport
        )
    from app.services.itsm.jira import JiraConnector

    return JiraConnector(
        row.base_url,
        username or "",
        secret or "",
        row.project_key or "",
        timeout=timeout,
        transport=transport,
    )


async def unreadable_connections(box: SecretBox) -> list[ItsmConnection]:
    """Connections holding a secret the configured keys cannot open."""
    found = []
    for row in await ItsmConnection.all():
        stored = [v for v in (row.credentials.get("secret"), row.webhook_secret) if v]
        try:
            for value in stored:
                box.open(value)
        except Unreadable:
            found.append(row)
    return found


async def reseal_all(box: SecretBox) -> int:
    """Every stored secret sealed again with the first key, in one transaction; the number
    of connections. Unreadable (and nothing changed) if any secret cannot be opened."""
    async with in_transaction():
        rows = await ItsmConnection.all().select_for_update()
        for row in rows:
            credentials = dict(row.credentials)
            if credentials.get("secret"):
                credentials["secret"] = box.reseal(credentials["secret"])
            row.credentials = credentials
            if row.webhook_secret:
                row.webhook_secret = box.reseal(row.webhook_secret)
            await row.save(update_fields=["credentials", "webhook_secret"])
    return len(rows)

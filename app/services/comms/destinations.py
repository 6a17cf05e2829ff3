"""Where a tenant's outbound messages go: configured by an administrator, secrets sealed at
rest and never read back (the view says only whether each is set), the webhook's signing
secret made here (`whsec_`, Standard Webhooks) and shown once when made.

URLs are http(s) and, unless the server allows private networks, must resolve to public
addresses (the same egress rule as ITSM connections); they are checked again at each call.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from app.config import Settings
from app.core.clock import utcnow
from app.errors import Conflict, ValidationFailed
from app.models import Audience, NotificationSettings
from app.services.access import secret_box
from app.services.comms.adapters import Destinations
from app.services.itsm import egress
from app.services.people.users import email_of

URL_MAX = 2048
SECRET_MAX = 512
NAME_MAX = 255
AUDIENCE_EMAILS_MAX = 100
SECRET_FIELDS = (
    "slack_webhook_url",
    "slack_bot_token",
    "slack_signing_secret",
    "pagerduty_routing_key",
)
URL_FIELDS = ("slack_webhook_url", "slack_api_url", "webhook_url", "pagerduty_events_url")
CAMEL = {
    "email_from": "emailFrom",
    "slack_webhook_url": "slackWebhookUrl",
    "slack_bot_token": "slackBotToken",
    "slack_api_url": "slackApiUrl",
    "slack_channel": "slackChannel",
    "slack_team_id": "slackTeamId",
    "slack_signing_secret": "slackSigningSecret",
    "slack_incident_channels": "slackIncidentChannels",
    "webhook_url": "webhookUrl",
    "pagerduty_routing_key": "pagerdutyRoutingKey",
    "pagerduty_events_url": "pagerdutyEventsUrl",
    "audiences": "audiences",
}
DEFAULTS: dict[str, Any] = {
    "slack_incident_channels": False,
    "slack_api_url": "https://slack.com/api",
    "pagerduty_events_url": "https://events.pagerduty.com/v2/enqueue",
}


@dataclass(frozen=True, slots=True)
class AudienceView:
    audience: Audience
    emails: tuple[str, ...]
    slack_channel: str | None


@dataclass(frozen=True, slots=True)
class NotificationSettingsView:
    email_from: str | None
    slack_webhook_set: bool
    slack_bot_token_set: bool
    slack_api_url: str
    slack_channel: str | None
    slack_team_id: str | None
    slack_signing_secret_set: bool
    slack_incident_channels: bool
    webhook_url: str | None
    webhook_secret_set: bool
    pagerduty_routing_key_set: bool
    pagerduty_events_url: str
    audiences: tuple[AudienceView, ...]
    # The webhook's signing secret, only in the answer that made it.
    new_webhook_secret: str | None = None

    @classmethod
    def of(
        cls, row: NotificationSettings | None, *, new_secret: str | None = None
    ) -> NotificationSettingsView:
        if row is None:
            row = NotificationSettings(
                slack_api_url=DEFAULTS["slack_api_url"],
                pagerduty_events_url=DEFAULTS["pagerduty_events_url"],
                audiences={},
            )
        return cls(
            email_from=row.email_from,
            slack_webhook_set=bool(row.slack_webhook_url),
            slack_bot_token_set=bool(row.slack_bot_token),
            slack_api_url=row.slack_api_url,
            slack_channel=row.slack_channel,
            slack_team_id=row.slack_team_id,
            slack_signing_secret_set=bool(row.slack_signing_secret),
            slack_incident_channels=bool(row.slack_incident_channels),
            webhook_url=row.webhook_url,
            webhook_secret_set=bool(row.webhook_secret),
            pagerduty_routing_key_set=bool(row.pagerduty_routing_key),
            pagerduty_events_url=row.pagerduty_events_url,
            audiences=_audiences(row.audiences),
            new_webhook_secret=new_secret,
        )


def _audiences(stored: Mapping[str, Any]) -> tuple[AudienceView, ...]:
    return tuple(
        AudienceView(Audience(name), tuple(v.get("emails", ())), v.get("slackChannel"))
        for name, v in sorted(stored.items())
        if name in Audience.__members__
    )


def new_webhook_secret() -> str:
    """`whsec_` and 32 random bytes in base64, as Standard Webhooks receivers expect."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def get_settings(*, tenant_id: str) -> NotificationSettingsView:
    return NotificationSettingsView.of(await NotificationSettings.get_or_none(tenant_id=tenant_id))


async def configure(
    *,
    tenant_id: str,
    settings: Settings,
    changes: Mapping[str, Any],
    rotate_webhook_secret: bool = False,
) -> NotificationSettingsView:
    """Change what `changes` names (snake_case keys; None clears); the rest is kept. A
    webhook URL set for the first time, or `rotate_webhook_secret`, makes a new secret."""
    values: dict[str, Any] = {}
    for key, value in changes.items():
        field = CAMEL[key]
        if value is None:
            values[key] = DEFAULTS.get(key)
        elif key in URL_FIELDS:
            values[key] = await _url(value, field=field, settings=settings)
        elif key == "slack_incident_channels":
            values[key] = bool(value)
        elif key == "slack_team_id":
            text = str(value).strip()
            if not re.fullmatch(r"[A-Z0-9]{1,32}", text):
                raise ValidationFailed(
                    "slackTeamId must be Slack's team id (T and up to 31 letters or digits)",
                    field=field,
                )
            values[key] = text
        elif key == "email_from":
            values[key] = email_of(value)
        elif key == "audiences":
            values[key] = _audience_input(value)
        else:
            text = str(value).strip()
            if not text or len(text) > (SECRET_MAX if key in SECRET_FIELDS else NAME_MAX):
                raise ValidationFailed(f"{field} must be 1 to {NAME_MAX} characters", field=field)
            values[key] = text
    box = secret_box.load(settings)
    for key in SECRET_FIELDS:
        if values.get(key):
            values[key] = box.seal(values[key])
    row = await NotificationSettings.get_or_none(tenant_id=tenant_id)
    secret: str | None = None
    had_url = bool(row and row.webhook_url)
    if rotate_webhook_secret or (values.get("webhook_url") and not had_url):
        secret = new_webhook_secret()
        values["webhook_secret"] = box.seal(secret)
    if "webhook_url" in values and values["webhook_url"] is None:
        values["webhook_secret"] = None
    if rotate_webhook_secret and not (values.get("webhook_url") or had_url):
        raise ValidationFailed("set webhookUrl before rotating its secret", field="webhookUrl")
    team = values.get("slack_team_id")
    if (
        team
        and await NotificationSettings.filter(slack_team_id=team)
        .exclude(tenant_id=tenant_id)
        .exists()
    ):
        raise Conflict("another tenant answers this Slack workspace", field="slackTeamId")
    now = utcnow()
    if row is None:
        row = await NotificationSettings.create(tenant_id=tenant_id, updated_at=now, **values)
    else:
        await NotificationSettings.filter(tenant_id=tenant_id).update(updated_at=now, **values)
        row = await NotificationSettings.get(tenant_id=tenant_id)
    return NotificationSettingsView.of(row, new_secret=secret)


async def destinations(*, tenant_id: str, settings: Settings) -> Destinations:
    """The tenant's channels with their secrets opened, for a delivery."""
    row = await NotificationSettings.get_or_none(tenant_id=tenant_id)
    if row is None:
        return Destinations()
    box = secret_box.load(settings)

    def opened(value: str | None) -> str | None:
        return box.open(value) if value else None

    return Destinations(
        email_from=row.email_from,
        slack_webhook_url=opened(row.slack_webhook_url),
        slack_bot_token=opened(row.slack_bot_token),
        slack_api_url=row.slack_api_url,
        slack_channel=row.slack_channel,
        webhook_url=row.webhook_url,
        webhook_secret=opened(row.webhook_secret),
        pagerduty_routing_key=opened(row.pagerduty_routing_key),
        pagerduty_events_url=row.pagerduty_events_url,
        audiences=dict(row.audiences),
    )


async def _url(value: str, *, field: str, settings: Settings) -> str:
    url = value.strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or len(url) > URL_MAX:
        raise ValidationFailed(f"{field} must be an http(s) URL", field=field)
    if parsed.username or parsed.password:
        raise ValidationFailed(f"{field} must not hold credentials", field=field)
    try:
        await egress.check_url(url, allow_private=settings.allow_private_networks)
    except egress.Refused:
        raise ValidationFailed(
            f"{field}: {parsed.hostname} must resolve to public addresses only (private, "
            "loopback and link-local ones are refused unless the server sets "
            "INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS=true)",
            field=field,
        ) from None
    return url


def _audience_input(value: Any) -> dict[str, Any]:
    """[{audience, emails, slack_channel}] -> the stored mapping; an audience listed twice
    is refused."""
    stored: dict[str, Any] = {}
    for entry in value:
        audience = Audience(entry["audience"])
        if audience.value in stored:
            raise ValidationFailed(f"{audience.value} is listed twice", field="audiences")
        emails = list(dict.fromkeys(email_of(e) for e in entry.get("emails") or ()))
        if len(emails) > AUDIENCE_EMAILS_MAX:
            raise ValidationFailed(
                f"an audience may list at most {AUDIENCE_EMAILS_MAX} addresses",
                field="audiences",
            )
        channel = (entry.get("slack_channel") or "").strip() or None
        if channel is not None and len(channel) > NAME_MAX:
            raise ValidationFailed("slackChannel is too long", field="audiences")
        stored[audience.value] = {"emails": emails, "slackChannel": channel}
    return stored

"""The channels outbound messages leave by: e-mail over SMTP, Slack (an incoming webhook or
the Web API's chat.postMessage), a generic HTTP webhook signed per the Standard Webhooks
specification, and PagerDuty's Events API v2 (trigger, acknowledge, resolve).

Each adapter makes one attempt and answers with the receiver's id for the message, or
raises `DeliveryFailed`: retryable (a timeout, a refused connection, a 429 or a 5xx, an
SMTP 4xx) or not (the receiver refused the message itself: a 4xx, an SMTP 5xx), with the
receiver's Retry-After when it gave one. Every text carries the message's short ref.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
import httpx

from app.core.backoff import retry_after_seconds
from app.core.text import clip
from app.models import CommunicationChannel

# The channels a message can be sent over (the others are logged, not sent).
SENDABLE = (
    CommunicationChannel.EMAIL,
    CommunicationChannel.SLACK,
    CommunicationChannel.WEBHOOK,
    CommunicationChannel.PAGERDUTY,
)
# PagerDuty's severities, from the incident's priority.
PAGERDUTY_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info"}
ERROR_MAX = 1000


class DeliveryFailed(Exception):
    def __init__(
        self, message: str, *, retryable: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(clip(message, ERROR_MAX))
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to one recipient over one channel."""

    id: str
    short_ref: str
    recipient: str
    subject: str
    text: str
    incident: dict[str, Any]
    audience: str | None = None
    action: str | None = None

    def body(self) -> str:
        """The text as recipients read it: ending with the ref they quote back."""
        return f"{self.text}\n\nRef: {self.short_ref}"

    def title(self) -> str:
        return f"[{self.short_ref}] {self.subject}"


@dataclass(frozen=True, slots=True)
class Destinations:
    """A tenant's channels, secrets opened."""

    email_from: str | None = None
    slack_webhook_url: str | None = None
    slack_bot_token: str | None = None
    slack_api_url: str = "https://slack.com/api"
    slack_channel: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    pagerduty_routing_key: str | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    audiences: dict[str, Any] = field(default_factory=dict)


async def send_email(
    out: Outbound,
    *,
    smtp_url: str,
    sender: str,
    timeout: float,
    tls: ssl.SSLContext | None = None,
) -> str:
    """One SMTP session: STARTTLS when the server offers it (smtp://), TLS from the start
    (smtps://); the Message-ID is the message's id at the receiver."""
    url = urlsplit(smtp_url)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = out.recipient
    message["Subject"] = out.title()
    message_id = make_msgid(domain="incidentgraph")
    message["Message-ID"] = message_id
    message["X-Incidentgraph-Ref"] = out.short_ref
    message.set_content(out.body())
    try:
        await aiosmtplib.send(
            message,
            hostname=url.hostname,
            port=url.port or (465 if url.scheme == "smtps" else 25),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            use_tls=url.scheme == "smtps",
            start_tls=None if url.scheme == "smtp" else False,
            tls_context=tls,
            timeout=timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        refusal = error.recipients[0] if error.recipients else None
        code = refusal.code if refusal is not None else 550
        raise DeliveryFailed(f"SMTP refused the recipient: {error}", retryable=code < 500) from None
    except aiosmtplib.SMTPResponseException as error:
        raise DeliveryFailed(
            f"SMTP {error.code}: {error.message}", retryable=error.code < 500
        ) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        raise DeliveryFailed(f"SMTP server unreachable: {error or type(error).__name__}") from None
    return message_id


async def send_slack(out: Outbound, *, to: Destinations, client: httpx.AsyncClient) -> str | None:
    """To a user or channel id with the bot token (chat.postMessage), or to the incoming
    webhook (recipient `webhook`)."""
    text = f"*{out.title()}*\n{out.body()}"
    if out.recipient == "webhook":
        if not to.slack_webhook_url:
            raise DeliveryFailed("no Slack incoming webhook is configured", retryable=False)
        response = await _post(client, to.slack_webhook_url, json={"text": text})
        _check(response, "Slack")
        return None
    if not to.slack_bot_token:
        raise DeliveryFailed("no Slack bot token is configured", retryable=False)
    response = await _post(
        client,
        to.slack_api_url.rstrip("/") + "/chat.postMessage",
        json={"channel": out.recipient, "text": text},
        headers={"Authorization": f"Bearer {to.slack_bot_token}"},
    )
    _check(response, "Slack")
    body = _json(response)
    if not body.get("ok"):
        error = str(body.get("error") or "unknown error")
        # Slack answers 200 with ok=false; only its rate limit and outages are worth a retry.
        retryable = error in ("ratelimited", "internal_error", "fatal_error", "service_unavailable")
        raise DeliveryFailed(f"Slack refused the message: {error}", retryable=retryable)
    return str(body.get("ts")) if body.get("ts") else None


def webhook_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` keyed with
    the secret's bytes (after `whsec_`)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


async def send_webhook(out: Outbound, *, to: Destinations, client: httpx.AsyncClient) -> str | None:
    if not to.webhook_url or not to.webhook_secret:
        raise DeliveryFailed("no webhook receiver is configured", retryable=False)
    payload = {
        "type": "com.incidents.comms.message.v1",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": {
            "id": out.id,
            "shortRef": out.short_ref,
            "subject": out.title(),
            "message": out.body(),
            "audience": out.audience,
            "incident": out.incident,
        },
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    stamp = int(time.time())
    response = await _post(
        client,
        to.webhook_url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "webhook-id": out.id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": webhook_signature(to.webhook_secret, out.id, stamp, body),
        },
    )
    _check(response, "the webhook receiver")
    return None


async def send_pagerduty(
    out: Outbound, *, to: Destinations, client: httpx.AsyncClient
) -> str | None:
    """An Events API v2 event, deduplicated on the incident: one PagerDuty alert an
    incident, triggered, acknowledged and resolved as it moves."""
    if not to.pagerduty_routing_key:
        raise DeliveryFailed("no PagerDuty routing key is configured", retryable=False)
    action = out.action or "trigger"
    event: dict[str, Any] = {
        "routing_key": to.pagerduty_routing_key,
        "event_action": action,
        "dedup_key": f"incidentgraph-{out.incident['id']}",
    }
    if action == "trigger":
        event["payload"] = {
            "summary": clip(f"{out.title()}: {out.text}", 1024),
            "source": "incidentgraph",
            "severity": PAGERDUTY_SEVERITY.get(str(out.incident.get("priority")), "error"),
            "custom_details": {"shortRef": out.short_ref, "incident": out.incident},
        }
        event["client"] = "incidentgraph"
    response = await _post(client, to.pagerduty_events_url, json=event)
    _check(response, "PagerDuty")
    body = _json(response)
    return str(body.get("dedup_key") or event["dedup_key"])


async def _post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return await client.post(url, **kwargs)
    except httpx.TimeoutException:
        raise DeliveryFailed("timed out") from None
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"unreachable: {error or type(error).__name__}") from None


def _check(response: httpx.Response, who: str) -> None:
    status = response.status_code
    if status < 300:
        return
    detail = clip(response.text.strip(), 300)
    raise DeliveryFailed(
        f"{who} answered {status}: {detail}" if detail else f"{who} answered {status}",
        retryable=status == 429 or status >= 500 or status == 408,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

"""Inbound ticket updates: verify a provider's webhook, then merge it like a sync.

A delivery is signed with the connection's webhook secret: HMAC-SHA256 over
`<timestamp>.<raw body>`, sent as `X-Incidentgraph-Signature: sha256=<hex>` with the Unix
timestamp in `X-Incidentgraph-Timestamp`. Jira Cloud's own signature is taken too:
`X-Hub-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body, dated by the payload's
`timestamp` (milliseconds). Older (or newer) than five minutes: refused. A delivery is
known by what was signed, its body (SHA-256), never by an unsigned header such as
`X-Incidentgraph-Delivery` (a replay could set it to anything); the body is kept for far
longer than the five minutes a signature lasts, so the same body again, re-signed by a
retrying sender or replayed as captured, changes nothing. A ticket version older than one
already seen (out of order: by ServiceNow's sys_mod_count, else by the update time) is
recorded and ignored.

Comments: a Jira delivery's comments (its `comment`, and the issue's comment list when sent)
become incident notes at once (notes.py). A ServiceNow delivery carries only the text of the
latest work note, without the journal entry's id; when it carries one that is not ours, a
sync job fetches the journal, which has the ids.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from app.core.clock import utcnow
from app.models import InboundDelivery, ItsmConnection, ItsmProvider, LinkedTicket, SyncJobKind
from app.services.access.caller import Caller
from app.services.access.secret_box import SecretBox, Unreadable
from app.services.incidents.snapshot import get_incident
from app.services.incidents.timeline import EventType, NewEvent
from app.services.itsm import keys, notes, outbound
from app.services.itsm.connector import RemoteNote, RemoteTicket
from app.services.itsm.mapping import rules_for
from app.services.itsm.sync import apply_remote
from app.services.itsm.three_way import (
    against_seen,
    decide,
    exportable_rules,
    internal_external,
    remote_values,
)
from app.services.itsm.tickets import enqueue_job

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
# Far deeper than any product's payload (a Jira list nested 25 deep is ~110 levels); deeper
# JSON is refused before any code that walks it recursively can overflow the stack.
MAX_DEPTH = 128


class Rejected(Exception):
    """The delivery is refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(
    connection: ItsmConnection | None,
    *,
    box: SecretBox,
    provider: ItsmProvider,
    body: bytes,
    headers: Mapping[str, str],
    now: float | None = None,
) -> str:
    """The delivery's identity, derived from what is signed; Rejected for a delivery not
    signed with the connection's webhook secret, or sent more than five minutes from now.
    Our scheme for every provider; Jira's own as well."""
    signature = headers.get("x-incidentgraph-signature")
    native = headers.get("x-hub-signature")
    if signature is None and native is not None and provider is ItsmProvider.JIRA:
        _verify_jira(_secret(connection, box), body=body, signature=native, now=now)
        return delivery_of(body)
    timestamp = headers.get("x-incidentgraph-timestamp")
    if not signature or not timestamp:
        raise Rejected(401, "missing signature or timestamp header")
    expected = sign(_secret(connection, box), timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise Rejected(401, "bad signature")
    try:
        sent = float(timestamp)
    except ValueError:
        raise Rejected(401, "malformed timestamp") from None
    _check_fresh(sent, now)
    return delivery_of(body)


def delivery_of(body: bytes) -> str:
    """A delivery's identity: its signed body (what deliveries stored before were known by
    when they came without a delivery header)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def sign_jira(secret: str, body: bytes) -> str:
    """Jira Cloud's own webhook signature (X-Hub-Signature): HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _verify_jira(secret: str, *, body: bytes, signature: str, now: float | None) -> None:
    # Jira signs the body only; its `timestamp` (ms), inside what is signed, dates it.
    expected = sign_jira(secret, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise Rejected(401, "bad signature")
    payload = decode(body)
    sent = payload.get("timestamp") if isinstance(payload, Mapping) else None
    if isinstance(sent, bool) or not isinstance(sent, int | float):
        raise Rejected(401, "a Jira delivery without its timestamp cannot be checked for replay")
    _check_fresh(sent / 1000, now)


def decode(body: bytes) -> Any:
    """The body as JSON; Rejected (400) if it is not JSON or is nested too deeply."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Rejected(400, "the body is not JSON") from None
    except RecursionError:
        pass
    else:
        if _depth_within(payload, MAX_DEPTH):
            return payload
    raise Rejected(400, f"the body is nested too deeply (at most {MAX_DEPTH} levels)")


def _depth_within(value: Any, limit: int) -> bool:
    # Iterative: a recursive walk is what must not happen to this input.
    stack: list[tuple[dict[str, Any] | list[Any], int]] = []
    if isinstance(value, dict | list):
        stack.append((value, 1))
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return True


def _secret(connection: ItsmConnection | None, box: SecretBox) -> str:
    if connection is None or not connection.webhook_secret or not connection.enabled:
        raise Rejected(401, "bad signature")
    try:
        return box.open(connection.webhook_secret)
    except Unreadable:
        log.error(
            "%s connection of tenant %s: its webhook secret cannot be decrypted with "
            "INCIDENTGRAPH_SECRET_KEY; deliveries are refused with 503 until the key is put right",
            connection.provider.value,
            connection.tenant_id,
        )
        # 503: the provider retries, and the deliveries pass once the key is put right.
        raise Rejected(
            503,
            "this server cannot decrypt the connection's webhook secret "
            "(INCIDENTGRAPH_SECRET_KEY): retry later",
        ) from None


def _check_fresh(sent: float, now: float | None) -> None:
    skew = abs((time.time() if now is None else now) - sent)
    if not math.isfinite(skew) or skew > TOLERANCE_SECONDS:
        raise Rejected(401, "stale timestamp: more than 5 minutes from the server's clock")


@dataclass(frozen=True, slots=True)
class Update:
    key: str
    number: str
    fields: Mapping[str, Any]
    updated_at: datetime
    notes: tuple[RemoteNote, ...] = field(default=())
    version: int | None = None  # RemoteTicket.version
    # A note was announced whose id only a fetch reads (ServiceNow's work_notes).
    note_to_fetch: bool = False


def parse(provider: ItsmProvider, payload: Any) -> Update | None:
    """The ticket version a webhook describes; None for events that describe none."""
    if not isinstance(payload, Mapping):
        raise Rejected(400, "the body must be a JSON object")
    if provider is ItsmProvider.SERVICENOW:
        record = payload.get("record") or payload.get("result") or payload
        if not isinstance(record, Mapping) or not record.get("sys_id"):
            raise Rejected(400, "a ServiceNow delivery needs sys_id")
        if not keys.valid_sys_id(str(record["sys_id"])):
            raise Rejected(400, "sys_id is not a ServiceNow sys_id (32 hex digits)")
        from app.services.itsm.servicenow import mod_count
        from app.services.itsm.servicenow import parse_timestamp as sn_time

        try:
            updated = sn_time(str(record.get("sys_updated_on", "")))
        except Exception:
            raise Rejected(400, "sys_updated_on is not a ServiceNow timestamp") from None
        note = str(record.get("work_notes") or "")
        return Update(
            str(record["sys_id"]),
            _number(provider, record.get("number")),
            record,
            updated,
            note_to_fetch=bool(note.strip()) and not notes.is_ours(note),
            version=mod_count(record),
        )
    issue = payload.get("issue")
    if not isinstance(issue, Mapping) or not issue.get("key"):
        if str(payload.get("webhookEvent", "")).startswith("jira:issue"):
            raise Rejected(400, "a Jira issue event needs issue.key")
        return None
    if not keys.JIRA_KEY.fullmatch(str(issue["key"])):
        raise Rejected(400, "issue.key is not a Jira issue key (such as OPS-42)")
    from app.services.itsm.jira import note_from_comment, text_from_adf
    from app.services.itsm.jira import parse_timestamp as jira_time

    fields = dict(issue.get("fields") or {})
    listed = fields.pop("comment", None)
    comments = list(listed.get("comments") or ()) if isinstance(listed, Mapping) else []
    comments.append(payload.get("comment"))
    found = {n.id: n for n in (note_from_comment(c) for c in comments) if n is not None}
    if isinstance(fields.get("description"), Mapping):
        fields["description"] = text_from_adf(fields["description"])
    try:
        updated = jira_time(str(fields.get("updated", "")))
    except Exception:
        raise Rejected(400, "issue.fields.updated is not a Jira timestamp") from None
    return Update(
        str(issue["key"]), str(issue["key"]), fields, updated, notes=tuple(found.values())
    )


def _number(provider: ItsmProvider, value: Any) -> str:
    text = str(value or "")
    return text if keys.valid_number(provider, text) else ""


async def ingest(
    *,
    tenant_id: str,
    provider: ItsmProvider,
    connection: ItsmConnection,
    delivery: str,
    update: Update | None,
) -> dict[str, Any]:
    """Apply a verified delivery; the JSON answer."""
    try:
        record = await InboundDelivery.create(
            tenant_id=tenant_id, provider=provider, delivery_id=delivery, received_at=utcnow()
        )
    except IntegrityError:
        return {"status": "duplicate"}
    try:
        return await _ingest(connection, update)
    except BaseException:
        # Not applied: let the provider's redelivery through.
        await InboundDelivery.filter(id=record.id).delete()
        raise


async def _ingest(connection: ItsmConnection, update: Update | None) -> dict[str, Any]:
    if update is None:
        return {"status": "ignored", "reason": "not an issue event"}
    ticket = await LinkedTicket.get_or_none(
        tenant_id=connection.tenant_id, provider=connection.provider, external_key=update.key
    )
    if ticket is None:
        return {"status": "ignored", "reason": "no incident is linked to this ticket"}
    provider = connection.provider.value
    ingested = NewEvent(
        type=EventType.provider_ingested(provider),
        data={
            "ticketId": str(ticket.id),
            "provider": provider,
            "externalKey": update.key,
            "number": update.number or None,
            "updatedAt": update.updated_at.isoformat(),
            "version": update.version,
        },
    )
    if against_seen(ticket, version=update.version, updated_at=update.updated_at) < 0:
        from app.services.incidents import commands as incidents

        stale = NewEvent(
            type=ingested.type,
            data={**ingested.data, "applied": False, "reason": "older than a version seen"},
        )
        await incidents.append_events(
            caller=Caller.external(ticket.tenant_id, actor=provider),
            incident_id=str(ticket.incident_id),
            events=[stale],
        )
        return {"status": "stale"}
    snapshot = await get_incident(tenant_id=ticket.tenant_id, incident_id=str(ticket.incident_id))
    rules = exportable_rules(rules_for(connection.provider, connection.mapping), snapshot)
    remote = RemoteTicket(
        key=update.key,
        number=update.number,
        url=ticket.url or "",
        fields=update.fields,
        updated_at=update.updated_at.astimezone(UTC),
        version=update.version,
    )
    plan = decide(
        rules=rules,
        base=ticket.base,
        internal=internal_external(rules, snapshot),
        remote=remote_values(rules, update.fields),
        open_conflicts=ticket.conflicts,
        changed_at=ticket.changed_at,
        remote_updated_at=remote.updated_at,
    )
    # What must go back to the ticket goes through the worker, not this request.
    pushes, plan.push, plan.drift = plan.push, {}, []
    outcome = await apply_remote(
        connection=connection,
        ticket=ticket,
        remote=remote,
        pushed={},
        plan=plan,
        actor=provider,
        extra_events=[ingested],
        push_later=pushes,
    )
    imported = await notes.import_notes(ticket=ticket, notes=update.notes)
    if update.note_to_fetch:
        await enqueue_job(ticket, SyncJobKind.RECONCILE)
    outbound.jobs_queued.send(None)
    return {
        "status": "applied",
        "notes": imported,
        "pulled": outcome.pulled,
        "conflicts": outcome.conflicts,
        "pushBack": sorted(outcome.push_needed),
    }

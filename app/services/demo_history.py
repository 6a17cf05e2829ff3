"""Four weeks of the demo's past: incidents declared, acknowledged, worked and resolved when
a real on-call rota would have, so the metrics and boards have something true to show.

Each past incident is replayed through the ordinary commands with the clock set back to
each step (`clock.as_of`): the acknowledged and resolved times, the SLA clocks and their
marks, the timeline and the public updates all agree, and MTTA, MTTR and SLA compliance come
out as the table below says. Alerts come in as any sender's do, through the alert intake
and the alert processor (resolved, so they declare nothing), and are linked to their incident
by hand as it is declared.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.config import Settings
from app.core import clock
from app.errors import DomainError
from app.models import (
    Alert,
    Audience,
    Classification,
    CommunicationChannel,
    CommunicationDirection,
    Impact,
    Incident,
    IncidentStatus,
    NoteKind,
    Severity,
    Urgency,
)
from app.services.access.caller import Caller
from app.services.alerts import links as alert_links
from app.services.alerts.intake import IntakeWriter
from app.services.alerts.payloads import parse_generic
from app.services.alerts.processor import AlertProcessor
from app.services.comms.communications import log_communication
from app.services.incidents import commands as service
from app.services.incidents import sla_marks

ALERT_SOURCE = "prometheus"
# How long the demo waits for its alerts to be stored (by a running server's processor when
# that one holds the lease, else by its own).
ALERTS_WAIT_SECONDS = 60.0
RESOLVED_UPDATE = "This is resolved. We are sorry for the disruption."

_S = IncidentStatus
_H, _M, _L = Impact.HIGH, Impact.MEDIUM, Impact.LOW
_UH, _UM, _UL = Urgency.HIGH, Urgency.MEDIUM, Urgency.LOW


@dataclass(frozen=True, slots=True)
class _Past:
    days_ago: int
    hour: float  # UTC hour of the day it was declared
    title: str
    service: str
    severity: Severity
    impact: Impact
    urgency: Urgency
    ack_minutes: float  # declared to acknowledged
    resolve_minutes: float  # declared to resolved
    summary: str
    public: str | None = None  # what customers were told; None: an internal matter
    alerts: int = 0
    escalated: bool = False
    pending_minutes: float = 0  # waiting on a vendor (the SLA clocks pause)


_1, _2, _3, _4 = Severity.SEV1, Severity.SEV2, Severity.SEV3, Severity.SEV4
# Breaches on purpose: the night batch (P3) and the token refresh (P1) acknowledged late; the
# coupon totals (P2) and the TLS errors (P1) resolved late, the refunds (P3) even with its pause.
PAST = [
    _Past(27, 9.25, "Checkout timeouts after the payment provider failover", "checkout", _1, _H,
          _UH, 6, 95, "Pinned checkout to the secondary provider.",
          "Some payments are timing out at checkout. We are switching providers.", alerts=3),
    _Past(26, 14, "Search index rebuild stuck at 60%", "search", _3, _M, _UM, 35, 310,
          "Restarted the rebuild from the last good snapshot."),
    _Past(26, 20, "Auth service pods restarting on a memory leak", "auth", _2, _M, _UH, 20, 290,
          "Rolled back the session cache change.", alerts=2),
    _Past(25, 3.5, "Night batch did not send invoice e-mails", "notifications", _3, _M, _UL,
          140, 420, "Re-ran the batch after the mail relay came back.", alerts=1),
    _Past(24, 11, "Login latency spikes in US-East", "auth", _2, _H, _UM, 12, 180,
          "Scaled the token service and fixed its connection pool.",
          "Signing in is slow for some customers in North America.", alerts=2),
    _Past(23, 16.5, "Thumbnails missing for images uploaded from Android", "media", _3, _M, _UM,
          50, 600, "Fixed the EXIF orientation parser."),
    _Past(22, 8, "Payments webhook retries flooding the queue", "payments", _2, _H, _UM, 9, 140,
          "Added backoff to the webhook consumer.", alerts=2),
    _Past(21, 13, "Analytics dashboards a day behind", "analytics", _4, _L, _UM, 200, 1500,
          "Unstuck the ingestion job and backfilled."),
    _Past(20, 10, "Cart totals wrong with two coupons", "checkout", _2, _M, _UH, 18, 560,
          "Fixed coupon stacking order; refunded the difference.",
          "Some baskets with two coupons showed a wrong total. Orders are being corrected."),
    _Past(19, 22, "Token refresh failing for mobile app 5.2", "auth", _1, _H, _UH, 24, 150,
          "Re-enabled the legacy refresh endpoint for 5.2 clients.",
          "Some mobile app users are being signed out. A fix is being rolled out.",
          alerts=2, escalated=True),
    _Past(18, 7, "Search suggestions empty for non-English queries", "search", _3, _L, _UH,
          25, 240, "Reloaded the language analysers."),
    _Past(17, 15, "Status page not updating component states", "status-page", _3, _M, _UM, 40,
          130, "Renewed the status page API key."),
    _Past(16, 3, "Payment provider TLS handshake errors", "payments", _1, _H, _UH, 8, 260,
          "The provider rotated an intermediate certificate; trust store updated.",
          "Card payments are failing for some customers. We are working with our provider.",
          alerts=2, escalated=True),
    _Past(16, 9, "Push notifications delayed by 20 minutes", "notifications", _2, _M, _UH, 14,
          210, "Added workers to the push queue.",
          "Push notifications are arriving late.", alerts=1),
    _Past(15, 12.5, "Media transcoding queue backlog", "media", _2, _H, _UM, 11, 380,
          "The encoding vendor restored capacity.", alerts=2, pending_minutes=90),
    _Past(14, 4, "Primary database failover during maintenance", "payments", _1, _H, _UH, 4, 55,
          "Failover completed; replication lag back to zero.",
          "Payments were briefly unavailable during maintenance.", alerts=4, escalated=True),
    _Past(13, 10.5, "Admin console CSV export times out", "admin-console", _4, _L, _UM, 300,
          2200, "Moved the export to a background job."),
    _Past(12, 8, "Status page certificate renewal failed", "status-page", _4, _L, _UM, 120,
          600, "Renewed the certificate by hand; fixed the renewal cron."),
    _Past(12, 17, "Checkout errors for guest users", "checkout", _2, _H, _UM, 7, 75,
          "Reverted the guest session change.",
          "Guest checkout is failing. Signed-in customers are not affected.", alerts=2),
    _Past(11, 9, "Password reset links expire too early", "auth", _3, _M, _UM, 60, 900,
          "Fixed the token lifetime unit (seconds, not minutes)."),
    _Past(10, 14, "Search cluster lost a node; replicas degraded", "search", _2, _M, _UH, 16,
          260, "Replaced the node and rebalanced shards.", alerts=2),
    _Past(9, 2, "Nightly analytics export failed", "analytics", _4, _L, _UL, 420, 1800,
          "Raised the export's memory limit."),
    _Past(8, 11, "Refunds delayed by the payment provider", "payments", _3, _M, _UM, 30, 1700,
          "The provider cleared its backlog.",
          "Refunds are taking longer than usual to reach cards.", pending_minutes=120),
    _Past(7, 16, "EU shoppers see stale prices after a deploy", "checkout", _2, _H, _UM, 10, 120,
          "Purged the price cache and fixed its invalidation.",
          "Some prices shown in the EU were out of date.", alerts=1),
    _Past(6, 9.5, "E-mail provider rate-limiting our sender", "notifications", _3, _M, _UH, 22,
          330, "Spread sends over a second sender domain."),
    _Past(5, 13, "Media CDN purge not propagating", "media", _3, _M, _UM, 45, 480,
          "The CDN fixed its purge API.", alerts=1),
    _Past(4, 8.5, "SSO login loop for one enterprise tenant", "auth", _2, _H, _UM, 13, 200,
          "Corrected the tenant's SAML audience.",
          "Some single sign-on users cannot log in."),
    _Past(3, 10, "Search relevance regression after a model update", "search", _3, _M, _UM,
          70, 360, "Rolled back the ranking model."),
    _Past(3, 20, "Checkout p99 latency of 3 s during the flash sale", "checkout", _1, _H, _UH,
          5, 110, "Scaled checkout and raised the database pool.",
          "Checkout is slow during the sale. Orders are going through.",
          alerts=3, escalated=True),
    _Past(2, 11, "Payments reconciliation job crashed", "payments", _3, _M, _UM, 28, 190,
          "Fixed the null currency in one merchant's records.", alerts=1),
    _Past(1, 6, "Disk pressure on the media workers", "media", _4, _M, _UL, 90, 240,
          "Cleaned up orphaned temp files; added an alert on them.", alerts=2),
    _Past(1, 9, "Notification preferences page returns 500", "notifications", _3, _M, _UM,
          33, 150, "Fixed the migration that dropped a default."),
]  # fmt: skip


def _declared_at(past: _Past, now: datetime) -> datetime:
    day = (now - timedelta(days=past.days_ago)).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(hours=past.hour)


def _fingerprint(index: int, n: int) -> str:
    return f"demo-{index}-{n}"


async def load_history(*, tenant_id: str, declarer: str, settings: Settings) -> int:
    """The past incidents, oldest first, each over by now: how many."""
    now = clock.utcnow()
    alerts = await _store_alerts(tenant_id, now, settings)
    declare = Caller.system(tenant_id, actor=declarer)
    oncall = Caller.system(tenant_id, actor="demo-sre")
    for index, past in enumerate(PAST):
        await _replay(declare, oncall, index, past, now, alerts)
    return len(PAST)


async def _replay(
    declare: Caller,
    oncall: Caller,
    index: int,
    past: _Past,
    now: datetime,
    alerts: dict[str, str],
) -> None:
    t0 = _declared_at(past, now)
    acked = t0 + timedelta(minutes=past.ack_minutes)
    resolved = t0 + timedelta(minutes=past.resolve_minutes)
    with clock.as_of(t0):
        declared = await service.declare_incident(
            caller=declare,
            title=past.title,
            severity=past.severity,
            impact=past.impact,
            urgency=past.urgency,
            service=past.service,
            description=f"Demo incident on {past.service}.",
            classification=Classification.PUBLIC if past.public else Classification.INTERNAL,
        )
    incident_id = declared.incident.id
    tenant_id = declare.tenant_id
    steps = IncidentSteps(tenant_id, incident_id, oncall)
    await steps.note(t0 + timedelta(minutes=1), f"Paging the {past.service} on-call.")
    for n in range(past.alerts):
        with clock.as_of(t0 + timedelta(minutes=2, seconds=n)):
            await alert_links.link_alert(
                caller=oncall, alert_id=alerts[_fingerprint(index, n)], incident_id=incident_id
            )
    await steps.move(acked, _S.IN_PROGRESS)
    if past.public:
        await steps.note(acked + timedelta(minutes=5), past.public, Classification.PUBLIC)
    worked = resolved - acked
    if past.escalated:
        await steps.move(acked + min(timedelta(minutes=5), worked / 4), _S.ESCALATED)
    if past.pending_minutes:
        waiting = acked + worked / 3
        await steps.move(waiting, _S.PENDING, reason="waiting on the vendor")
        await steps.move(waiting + timedelta(minutes=past.pending_minutes), _S.IN_PROGRESS)
    if past.escalated or past.severity in (Severity.SEV1, Severity.SEV2):
        await steps.move(resolved - worked / 5, _S.MITIGATED)
    await steps.move(resolved, _S.RESOLVED, summary=past.summary)
    if past.public:
        await steps.note(resolved + timedelta(minutes=5), RESOLVED_UPDATE, Classification.PUBLIC)
    if past.escalated:
        with clock.as_of(resolved + timedelta(hours=2)):
            await log_communication(
                caller=oncall,
                incident_id=incident_id,
                channel=CommunicationChannel.EMAIL,
                direction=CommunicationDirection.OUTBOUND,
                audience=Audience.END_USERS,
                recipient="affected-customers@example.com",
                message=f"Incident summary: {past.public} {past.summary}",
                classification=Classification.PUBLIC,
            )
    closing = resolved + timedelta(days=1)
    if closing < now:
        await steps.move(closing, _S.CLOSED, reason="no recurrence in a day")


@dataclass(frozen=True, slots=True)
class IncidentSteps:
    """One incident's steps, each at its time, with the SLA marks that fell before it
    written when they fell (as the server's scheduler would have)."""

    tenant_id: str
    incident_id: str
    caller: Caller

    async def marks_until(self, moment: datetime) -> None:
        row = await Incident.get(tenant_id=self.tenant_id, id=self.incident_id)
        for mark in sla_marks.due(row, moment):
            with clock.as_of(mark.at):
                await service.write_sla_marks(
                    tenant_id=self.tenant_id, incident_id=self.incident_id
                )

    async def move(
        self,
        at: datetime,
        to: IncidentStatus,
        *,
        reason: str = "demo",
        summary: str | None = None,
    ) -> None:
        await self.marks_until(at)
        with clock.as_of(at):
            await service.transition_incident(
                caller=self.caller,
                incident_id=self.incident_id,
                to=to,
                reason=reason,
                resolution_summary=summary,
            )

    async def note(
        self, at: datetime, body: str, classification: Classification = Classification.INTERNAL
    ) -> None:
        await self.marks_until(at)
        with clock.as_of(at):
            await service.add_note(
                caller=self.caller,
                incident_id=self.incident_id,
                body=body,
                kind=NoteKind.GENERAL,
                classification=classification,
            )


async def _store_alerts(tenant_id: str, now: datetime, settings: Settings) -> dict[str, str]:
    """The past incidents' alerts, accepted by the intake as a sender's would be (each as it
    fired, already resolved) and stored by the alert processor: their ids by fingerprint."""
    writer = IntakeWriter(sqlite=settings.is_sqlite)
    await writer.start()
    wanted: list[str] = []
    try:
        for index, past in enumerate(PAST):
            t0 = _declared_at(past, now)
            for n in range(past.alerts):
                fired = t0 - timedelta(minutes=3 - n / 2)
                body = {
                    "id": _fingerprint(index, n),
                    "source": ALERT_SOURCE,
                    "title": f"{past.service}: {_ALERT_NAMES[n % len(_ALERT_NAMES)]}",
                    "alertname": _ALERT_NAMES[n % len(_ALERT_NAMES)].replace(" ", ""),
                    "status": "RESOLVED",
                    "service": past.service,
                    "severity": "critical" if past.severity is Severity.SEV1 else "warning",
                    "startsAt": fired.isoformat(),
                    "endsAt": (fired + timedelta(minutes=past.resolve_minutes)).isoformat(),
                }
                normalised = parse_generic(
                    json.dumps(body).encode(), received_at=fired, max_alerts=1
                )
                await writer.write(
                    tenant_id=tenant_id,
                    payloads=[json.dumps(a, separators=(",", ":")) for a in normalised],
                    received_at=fired,
                )
                wanted.append(_fingerprint(index, n))
    finally:
        await writer.stop()
    return await _stored(tenant_id, wanted, settings)


async def _stored(tenant_id: str, fingerprints: list[str], settings: Settings) -> dict[str, str]:
    """Wait for the alerts to be stored: this process's processor stores them unless a
    running server's holds the lease, and then that one does within its poll."""
    processor = AlertProcessor(settings, use_row_locks=not settings.is_sqlite)
    deadline = time.monotonic() + ALERTS_WAIT_SECONDS
    try:
        while True:
            await processor.run_once()
            rows = await Alert.filter(
                tenant_id=tenant_id, source=ALERT_SOURCE, fingerprint__in=fingerprints
            ).values_list("fingerprint", "id")
            found = {str(fp): str(key) for fp, key in rows}
            if len(found) == len(fingerprints):
                return found
            if time.monotonic() > deadline:
                raise DomainError(
                    f"the demo's alerts were not stored within {ALERTS_WAIT_SECONDS:.0f} s "
                    "(is the alert processor of a running server stuck?)"
                )
            await asyncio.sleep(0.1)
    finally:
        await processor.stop()


_ALERT_NAMES = ["error rate high", "latency p99 high", "saturation", "probe failing"]

"""The sync worker: one per process, delivering due sync jobs to the providers.

It claims due jobs (PostgreSQL: FOR UPDATE SKIP LOCKED, so several processes share the
work; SQLite: one process) by pushing their next attempt out by a lease, takes the ticket's
lease (`itsm-ticket:<id>`, services/lease.py: one process syncs a ticket at a time; a process
that finds it taken leaves its jobs to the holder for a second), then, with no transaction
open, talks to the provider, and records the outcome. A failure is retried with
exponential backoff and full jitter (never sooner than a 429's Retry-After); after
`itsm_max_attempts` the ticket is dead-lettered (ERROR, with a timeline event). A periodic
reconcile compares every linked ticket with the provider (drift detection), and a periodic
prune deletes finished jobs past their retention and webhook deliveries past the replay
window (and a margin), never an unfinished job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from app.config import Settings
from app.core.backoff import backoff
from app.core.clock import utcnow
from app.core.tasks import cancel_and_wait
from app.models import (
    InboundDelivery,
    IncidentStatus,
    ItsmConnection,
    LinkedTicket,
    SyncJob,
    SyncJobKind,
    SyncState,
)
from app.services import lease
from app.services.access import secret_box
from app.services.access.secret_box import SecretBox
from app.services.incidents import lifecycle
from app.services.incidents.snapshot import get_incident
from app.services.itsm import notes, outbound
from app.services.itsm.connection import connector_for
from app.services.itsm.connector import Connector, ProviderError, RemoteTicket
from app.services.itsm.mapping import (
    FieldRule,
    SourceOfTruth,
    SyncedField,
    rules_for,
    to_provider_fields,
)
from app.services.itsm.sync import apply_remote, record_failure
from app.services.itsm.three_way import (
    Plan,
    against_seen,
    decide,
    exportable_rules,
    internal_external,
    remote_values,
    withheld_title,
)

log = logging.getLogger(__name__)

_BATCH = 50
# A ticket being synced by another process: its other jobs wait this long, then look again.
LEASE_BUSY_SECONDS = 1.0
# Deliveries are kept this much longer than the replay window: clocks drift.
DELIVERY_MARGIN_SECONDS = 600


def ticket_lease(ticket_id: str) -> str:
    return f"itsm-ticket:{ticket_id}"


class SyncWorker:
    def __init__(self, settings: Settings, *, use_row_locks: bool) -> None:
        self._settings = settings
        self._use_row_locks = use_row_locks
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._disconnect: Callable[[], None] = lambda: None
        self._lease = timedelta(seconds=settings.itsm_http_timeout_seconds * 4 + 30)

    def wake(self) -> None:
        self._wakeup.set()

    async def start(self) -> None:
        self._disconnect = outbound.jobs_queued.connect(lambda _: self.wake())
        self._tasks = [asyncio.create_task(self._deliver_loop(), name="itsm-sync")]
        if self._settings.itsm_reconcile_seconds > 0:
            self._tasks.append(asyncio.create_task(self._reconcile_loop(), name="itsm-reconcile"))
        if self._settings.itsm_prune_seconds > 0:
            self._tasks.append(asyncio.create_task(self._prune_loop(), name="itsm-prune"))

    async def stop(self) -> None:
        self._disconnect()
        await cancel_and_wait(self._tasks)

    async def _deliver_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.itsm_poll_seconds)
            self._wakeup.clear()
            try:
                while await self.run_due():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ticket sync failed; retrying on the next poll")

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.itsm_reconcile_seconds)
            try:
                if await enqueue_reconcile():
                    self.wake()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ticket reconcile failed")

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.itsm_prune_seconds)
            try:
                await prune(job_retention_seconds=self._settings.itsm_job_retention_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pruning finished sync jobs and old deliveries failed")

    async def run_due(self) -> int:
        """Deliver what is due; returns how many tickets were worked on."""
        claimed = await self._claim()
        for ticket_id, job_ids in claimed.items():
            await self._deliver_leased(ticket_id, job_ids)
        return len(claimed)

    async def _deliver_leased(self, ticket_id: str, job_ids: list[int]) -> None:
        """Jobs are claimed one by one, so two processes may each hold jobs of one ticket;
        the ticket's lease lets only one of them talk to the provider about it at a time
        (else a note could be posted, or a ticket created, twice)."""
        name = ticket_lease(ticket_id)
        seconds = self._lease.total_seconds()
        if not await lease.acquire(name, seconds=seconds):
            # Not a failure: the holder is syncing this ticket; these jobs follow shortly.
            await SyncJob.filter(id__in=job_ids).update(
                next_attempt_at=utcnow() + timedelta(seconds=LEASE_BUSY_SECONDS)
            )
            return
        # A sync posting many notes to a slow provider may outlast the lease: keep it.
        renewing = asyncio.create_task(_keep_lease(name, seconds), name="itsm-ticket-lease")
        try:
            await self._deliver(ticket_id, job_ids)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await lease.release(name)

    async def _claim(self) -> dict[str, list[int]]:
        now = utcnow()
        async with in_transaction():
            query = SyncJob.filter(done_at=None, next_attempt_at__lte=now).order_by("id")
            if self._use_row_locks:
                query = query.select_for_update(skip_locked=True)
            rows = await query.limit(_BATCH)
            if not rows:
                return {}
            await SyncJob.filter(id__in=[r.id for r in rows]).update(
                next_attempt_at=now + self._lease
            )
        claimed: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            claimed[str(row.ticket_id)].append(row.id)
        return claimed

    async def _deliver(self, ticket_id: str, job_ids: list[int]) -> None:
        ticket = await LinkedTicket.get_or_none(id=uuid.UUID(ticket_id))
        if ticket is None:
            await SyncJob.filter(id__in=job_ids).delete()
            return
        connection = await ItsmConnection.get_or_none(
            tenant_id=ticket.tenant_id, provider=ticket.provider
        )
        settings = self._settings
        try:
            if connection is None or not connection.enabled:
                raise ProviderError(
                    f"no enabled {ticket.provider.value} connection", retryable=False
                )
            await sync_once(
                connection,
                ticket,
                timeout=settings.itsm_http_timeout_seconds,
                job_ids=job_ids,
                box=secret_box.load(settings),
                allow_private_networks=settings.allow_private_networks,
            )
        except Exception as exc:
            retryable = exc.retryable if isinstance(exc, ProviderError) else True
            retry_after = exc.retry_after if isinstance(exc, ProviderError) else None
            message = _message(exc)
            attempts = ticket.attempts + 1
            dead = not retryable or attempts >= settings.itsm_max_attempts
            if dead:
                await SyncJob.filter(id__in=job_ids).update(done_at=utcnow())
            else:
                delay = backoff(
                    attempts - 1,
                    base=settings.itsm_retry_base_seconds,
                    cap=settings.itsm_retry_max_seconds,
                    retry_after=retry_after,
                )
                timed_out = isinstance(exc, ProviderError) and exc.timed_out
                if ticket.external_key is None or timed_out:
                    # A create or a note that timed out may still be written: look for it
                    # only once the provider has had time to finish it.
                    delay = max(delay, 2 * settings.itsm_http_timeout_seconds)
                # The ticket's jobs queued meanwhile wait too: one backoff per ticket, and no
                # second post while one that timed out may still land.
                await SyncJob.filter(ticket_id=ticket.id, done_at=None).update(
                    next_attempt_at=utcnow() + timedelta(seconds=delay)
                )
            log.warning(
                "%s ticket %s: attempt %d failed: %s%s",
                ticket.provider.value,
                ticket.id,
                attempts,
                message,
                " (dead-lettered)" if dead else "",
            )
            await record_failure(ticket=ticket, message=message, dead=dead, attempts=attempts)
            return
        # Normally marked done with the outcome; this covers a ticket unlinked meanwhile.
        await SyncJob.filter(id__in=job_ids, done_at=None).update(done_at=utcnow())


async def _keep_lease(name: str, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds / 3)
        try:
            if not await lease.acquire(name, seconds=seconds):
                log.warning("lost the lease %s while syncing the ticket", name)
                return
        except Exception:
            log.exception("renewing the lease %s failed; trying again", name)


def _message(exc: Exception) -> str:
    if isinstance(exc, ProviderError):
        status = f" (HTTP {exc.status})" if exc.status else ""
        return f"{exc.message}{status}"[:1000]
    return f"unexpected error: {type(exc).__name__}"


async def sync_once(
    connection: ItsmConnection,
    ticket: LinkedTicket,
    *,
    timeout: float,
    job_ids: list[int],
    box: SecretBox,
    allow_private_networks: bool,
) -> None:
    """One full sync of a ticket: create it if need be, else fetch, merge, push, record."""
    snapshot = await get_incident(tenant_id=ticket.tenant_id, incident_id=str(ticket.incident_id))
    every_rule = rules_for(connection.provider, connection.mapping)
    rules = exportable_rules(every_rule, snapshot)
    mine = internal_external(rules, snapshot)
    connector = connector_for(
        connection, timeout=timeout, box=box, allow_private_networks=allow_private_networks
    )
    try:
        if ticket.external_key is None:
            outgoing = {
                name: value
                for name, value in mine.items()
                if rules[SyncedField(name)].source is not SourceOfTruth.EXTERNAL
            }
            fields = to_provider_fields(rules, outgoing)
            title = every_rule.get(SyncedField.TITLE)
            if title is not None and SyncedField.TITLE not in rules:
                fields[title.external] = withheld_title(snapshot)
            remote = await connector.create(fields, idempotency_key=str(ticket.id))
            theirs = remote_values(rules, remote.fields)
            plan = Plan(agreed={k: v for k, v in theirs.items() if mine.get(k) == v})
            ticket.external_key = remote.key
            await _exchange_notes(connector, connection, ticket, remote)
            await apply_remote(
                connection=connection,
                ticket=ticket,
                remote=remote,
                pushed=outgoing,
                plan=plan,
                actor="system",
                job_ids=job_ids,
            )
            return
        remote = await connector.fetch(ticket.external_key)
        # A ticket version nobody announced: what it changed is drift.
        unannounced = against_seen(ticket, version=remote.version, updated_at=remote.updated_at) > 0
        plan = decide(
            rules=rules,
            base=ticket.base,
            internal=mine,
            remote=remote_values(rules, remote.fields),
            open_conflicts=ticket.conflicts,
            changed_at=ticket.changed_at,
            remote_updated_at=remote.updated_at,
        )
        if plan.push:
            steps = status_steps(rules, remote_values(rules, remote.fields), plan.push)
            for step in steps:
                # The provider's own key: a ticket linked by its number (INC0010001) is
                # written by its sys_id.
                remote = await connector.update(remote.key, to_provider_fields(rules, step))
        await _exchange_notes(connector, connection, ticket, remote)
        outcome = await apply_remote(
            connection=connection,
            ticket=ticket,
            remote=remote,
            pushed=plan.push,
            plan=plan,
            actor="system",
            polled=unannounced,
            job_ids=job_ids,
        )
        if outcome.push_needed:
            outbound.jobs_queued.send(None)
    finally:
        await connector.aclose()


async def _exchange_notes(
    connector: Connector, connection: ItsmConnection, ticket: LinkedTicket, remote: RemoteTicket
) -> None:
    """Before the outcome is recorded (and the jobs marked done), so a failed post is retried."""
    await notes.post_notes(connector=connector, connection=connection, ticket=ticket, remote=remote)
    await notes.import_notes(ticket=ticket, notes=remote.notes)


def status_steps(
    rules: Mapping[SyncedField, FieldRule],
    theirs: Mapping[str, str | None],
    push: Mapping[str, str | None],
) -> list[dict[str, str | None]]:
    """The updates that deliver `push`: a status that is several moves away goes there one
    lifecycle move at a time, since products with workflows (Jira) only take one move."""
    rule = rules.get(SyncedField.STATUS)
    status = SyncedField.STATUS.value
    if rule is None or status not in push or not rule.values:
        return [dict(push)]
    start, goal = rule.to_internal(theirs.get(status)), rule.to_internal(push[status])
    path = _path(start, goal) if start and goal else []
    values = [v for v in dict.fromkeys(rule.to_external(s) for s in path[1:]) if v is not None]
    if len(values) <= 1 or values[-1] != push[status]:
        return [dict(push)]
    steps: list[dict[str, str | None]] = [{**push, status: values[0]}]
    steps += [{status: v} for v in values[1:]]
    return steps


def _path(start: str, goal: str) -> list[str]:
    """The shortest lifecycle path from start to goal (both included), [] when none."""
    try:
        first, last = IncidentStatus(start), IncidentStatus(goal)
    except ValueError:
        return []
    previous: dict[IncidentStatus, IncidentStatus | None] = {first: None}
    frontier = [first]
    while frontier and last not in previous:
        following: list[IncidentStatus] = []
        for state in frontier:
            for target in sorted(lifecycle.TRANSITIONS[state], key=list(IncidentStatus).index):
                if target not in previous:
                    previous[target] = state
                    following.append(target)
        frontier = following
    if last not in previous:
        return []
    path: list[str] = []
    node: IncidentStatus | None = last
    while node is not None:
        path.append(node.value)
        node = previous[node]
    return path[::-1]


async def enqueue_reconcile() -> int:
    """A RECONCILE job for every linked ticket with nothing queued (and not dead-lettered)."""
    now = utcnow()
    busy = set(await SyncJob.filter(done_at=None).values_list("ticket_id", flat=True))
    tickets = await LinkedTicket.filter(
        external_key__isnull=False, sync_state__not=SyncState.ERROR
    ).values_list("id", "tenant_id")
    jobs = [
        SyncJob(
            tenant_id=tenant_id,
            ticket_id=ticket_id,
            kind=SyncJobKind.RECONCILE,
            fields_changed=[],
            created_at=now,
            next_attempt_at=now,
        )
        for ticket_id, tenant_id in tickets
        if ticket_id not in busy
    ]
    if jobs:
        await SyncJob.bulk_create(jobs)
    return len(jobs)


async def prune(*, job_retention_seconds: float, now: datetime | None = None) -> tuple[int, int]:
    """Delete finished jobs done longer ago than the retention, and webhook deliveries older
    than the replay window plus a margin (a replay that old is refused by its timestamp);
    how many of each."""
    from app.services.itsm.inbound import TOLERANCE_SECONDS

    now = now or utcnow()
    jobs = await SyncJob.filter(
        done_at__isnull=False, done_at__lt=now - timedelta(seconds=job_retention_seconds)
    ).delete()
    deliveries = await InboundDelivery.filter(
        received_at__lt=now - timedelta(seconds=TOLERANCE_SECONDS + DELIVERY_MARGIN_SECONDS)
    ).delete()
    return jobs, deliveries

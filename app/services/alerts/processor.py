"""The alert processor: one per process; one at a time across processes (a lease).

It takes accepted alerts from the intake table in batches and, in one transaction per batch,
deduplicates them into stored alerts, groups them by the tenant's correlation rules and
deletes the intake rows (phase A, here). Then, outside that transaction, it declares the
incidents that groups asked for and appends the owed timeline events, one per incident for
many alerts (phase B, app/services/alerts/settling.py). Both steps are driven by state kept
in the database, so a crash at any point loses nothing and a restart finishes the work.

A batch costs a constant number of statements whatever its size: the intake rows, the
stored alerts they may repeat (one query), the groups of the new ones and their incidents
(two queries), then one statement each to write groups, lock and count repeated alerts, add
new alerts and delete the intake rows.
PostgreSQL gets whole columns as arrays (`unnest`); SQLite, in-process, runs executemany.

One row cannot hold up the rest: a batch that fails for something in its rows is stored
again tenant by tenant, a failing part halved until the row that fails alone is found; that
row goes to the quarantine (alert_quarantine) with its error, for its tenant's admins, and
is counted and logged in one line. An error of the database itself (away, busy) quarantines
nothing: the batch waits for the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.config import Settings
from app.core.clock import utcnow
from app.core.tasks import cancel_and_wait
from app.models import (
    AlertIntake,
)
from app.services import alerts, lease
from app.services.alerts.batch import (
    Batch,
    BatchAlert,
    BatchGroup,
    Note,
    parse_note,
)
from app.services.alerts.correlation import (
    Rule,
    load_rules_for,
    match,
    with_catalog,
)
from app.services.alerts.settling import Settler
from app.services.alerts.sql import Sql, sql_for
from app.services.catalog.queries import services_named

log = logging.getLogger(__name__)

LEASE_NAME = "alerts-processor"
# Long enough for a batch and its declarations; renewed before each step.
_LEASE_SECONDS = 30.0
# Bytes of intake JSON one batch takes, whatever its count: one alert may be a megabyte, and
# a batch that cannot fit in memory would fail the same way on every restart.
BATCH_MAX_BYTES = 16 * 1024 * 1024
# Characters of an error kept with a quarantined row (the column holds 1,024).
QUARANTINE_ERROR_MAX = 500
_NOT_HELD = datetime.min.replace(tzinfo=UTC)


class AlertProcessor:
    def __init__(
        self,
        settings: Settings,
        *,
        use_row_locks: bool,
        batch_max_bytes: int = BATCH_MAX_BYTES,
        on_quarantine: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_quarantine = on_quarantine
        self._batch_max_bytes = batch_max_bytes
        self._use_row_locks = use_row_locks
        self._wakeup = asyncio.Event()
        self._settle_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._disconnect: Callable[[], None] = lambda: None
        # Its own owner name, so two processors in one process exclude each other too.
        self.owner = f"{lease.OWNER}:{uuid.uuid4().hex[:8]}"
        # Intake rows this processor has quarantined since it started.
        self.quarantined = 0
        # Until when this processor's lease is known to be its own, by its own last renewal.
        self._held_until = _NOT_HELD
        self._settler = Settler(settings, self._hold)

    def wake(self) -> None:
        self._wakeup.set()

    async def start(self) -> None:
        self._disconnect = alerts.intake_written.connect(lambda _: self.wake())
        # Phase A and phase B run side by side: storing the next batch does not wait for the
        # last one's declarations and events, which take one transaction per incident, and
        # while phase B is busy more alerts pile up for its next, coalesced, round.
        self._tasks = [
            asyncio.create_task(self._loop(), name="alert-processor"),
            asyncio.create_task(self._settle_loop(), name="alert-processor-settle"),
        ]

    async def stop(self) -> None:
        self._disconnect()
        await cancel_and_wait(self._tasks)
        self._forget_lease()
        # Another process takes over at once instead of after the lease expires.
        with contextlib.suppress(Exception):
            await lease.release(LEASE_NAME, owner=self.owner)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.alert_poll_seconds)
            self._wakeup.clear()
            try:
                while await self.store_batch():
                    self._settle_wakeup.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert processing failed; retrying on the next poll")

    async def _settle_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._settle_wakeup.wait(), self._settings.alert_poll_seconds
                )
            self._settle_wakeup.clear()
            try:
                await self.settle()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("declaring incidents for alerts failed; retrying on the next poll")

    async def settle(self) -> None:
        """Phase B (app/services/alerts/settling.py): declare the incidents groups asked for,
        then append the owed events."""
        await self._settler.settle()

    async def run_once(self) -> int:
        """Process one batch, both phases in turn; returns how many intake rows it took (0:
        nothing to do). The running processor does the same with the phases side by side."""
        taken = await self.store_batch()
        await self.settle()
        return taken

    # --- phase A: deduplicate and correlate, one transaction per batch ----------------------

    async def store_batch(self) -> int:
        """Phase A: one batch of intake rows into alerts and groups, in one transaction.

        Returns how many intake rows it took; 0 when there were none or when this processor
        no longer holds the lease (checked and renewed inside the transaction, whose row lock
        keeps any other processor out until it commits).

        A batch that fails for something in its rows (one that is no alert, one the database
        refuses) is taken again apart, so that such a row holds up no other: each tenant's
        rows in a transaction of their own, a part that fails halved until the row that fails
        alone is found and quarantined. A database that is away or busy fails the batch as
        a whole: its rows wait, none is quarantined for it."""
        if not await self._hold():
            return 0
        sql = sql_for(AlertIntake._meta.db)
        try:
            return await self._store(None)
        except _LeaseLost:
            self._forget_lease()
            return 0
        except Exception as error:
            if sql.transient(error):
                raise
            log.warning("a batch of alerts failed (%s); storing it apart", _reason(error))
        try:
            return await self._store_apart(sql)
        except _LeaseLost:
            self._forget_lease()
            return 0

    async def _store(self, ids: Sequence[int] | None) -> int:
        """The oldest intake rows (`ids` None), or these, stored in one transaction."""
        async with in_transaction() as conn:
            sql = sql_for(conn)
            now = utcnow()
            await self._renew(conn, sql, now)
            if ids is None:
                rows = await conn.execute_query_dict(
                    sql.take_intake, [self._settings.alert_batch_size, self._batch_max_bytes]
                )
            else:
                # Read again inside the transaction: gone rows were stored meanwhile.
                rows = await conn.execute_query_dict(sql.intake_rows, [sql.array(ids)])
            if not rows:
                return 0
            notes = [parse_note(row) for row in rows]
            batch = Batch(now)
            batch.deduplicate(notes, await self._stored_alerts(conn, sql, notes))
            if batch.correlated:
                await self._correlate(conn, sql, batch)
            await self._write(conn, sql, batch)
            await conn.execute_query(sql.delete_intake, [sql.array([r["id"] for r in rows])])
        return len(rows)

    async def _hold(self) -> bool:
        """Whether this processor holds the lease, renewing it once half of it has run out.

        Phase A renews the lease inside each of its transactions, so an UPDATE of the lease
        row from phase B would wait for phase A's whole transaction: phase B goes by the
        expiry of its own last renewal instead, which no other owner can cut short."""
        now = utcnow()
        if self._held_until - now > timedelta(seconds=_LEASE_SECONDS / 2):
            return True
        if not await lease.acquire(LEASE_NAME, seconds=_LEASE_SECONDS, owner=self.owner):
            return False
        self._held_until = now + timedelta(seconds=_LEASE_SECONDS)
        return True

    def _forget_lease(self) -> None:
        """Lost or given up: the next step asks the database again."""
        self._held_until = _NOT_HELD

    async def _renew(self, conn: BaseDBAsyncClient, sql: Sql, now: datetime) -> None:
        held, _ = await conn.execute_query(
            sql.renew_lease, [now + timedelta(seconds=_LEASE_SECONDS), LEASE_NAME, self.owner]
        )
        if not held:
            raise _LeaseLost

    async def _store_apart(self, sql: Sql) -> int:
        """The batch that failed, again: tenant by tenant, in the order the rows came."""
        rows = await AlertIntake._meta.db.execute_query_dict(
            sql.take_intake, [self._settings.alert_batch_size, self._batch_max_bytes]
        )
        tenants: dict[str, list[int]] = {}
        for row in rows:
            tenants.setdefault(row["tenant_id"], []).append(int(row["id"]))
        taken = 0
        for ids in tenants.values():
            taken += await self._store_part(sql, ids)
        return taken

    async def _store_part(self, sql: Sql, ids: Sequence[int]) -> int:
        try:
            return await self._store(ids)
        except _LeaseLost:
            raise
        except Exception as error:
            if sql.transient(error):
                raise
            if len(ids) == 1:
                return await self._quarantine(ids[0], error)
        # Halves in order: a tenant's notifications of one alert are stored as they came.
        half = len(ids) // 2
        return await self._store_part(sql, ids[:half]) + await self._store_part(sql, ids[half:])

    async def _quarantine(self, intake_id: int, error: Exception) -> int:
        """The row out of the intake into the quarantine, with the error that stopped it."""
        reason = _reason(error)
        async with in_transaction() as conn:
            sql = sql_for(conn)
            now = utcnow()
            await self._renew(conn, sql, now)
            moved = await conn.execute_query_dict(sql.quarantine, [intake_id, now, reason])
            if not moved:
                return 0
            await conn.execute_query(sql.delete_intake, [sql.array([intake_id])])
        self.quarantined += 1
        if self._on_quarantine is not None:
            self._on_quarantine()
        log.warning(
            "alert intake row %s of tenant %s quarantined: %s",
            intake_id,
            moved[0]["tenant_id"],
            reason,
        )
        return 1

    async def _stored_alerts(
        self, conn: BaseDBAsyncClient, sql: Sql, notes: Sequence[Note]
    ) -> list[dict[str, Any]]:
        """The firing alerts these notifications may repeat, the resolved ones with the
        same start (a late or repeated notification of a lifetime already over) and, for a
        resolution that gives no start, its fingerprint's latest resolved lifetime."""
        active = sorted({n.active_key for n in notes})
        ended = sorted(
            {
                (n.tenant_id, n.source, n.fingerprint, sql.time(n.starts_at))
                for n in notes
                if n.starts_given
            }
        )
        latest = sorted({n.identity for n in notes if not n.starts_given and not n.firing})
        return await conn.execute_query_dict(
            sql.stored_alerts, sql.stored_alerts_args(active, ended, latest)
        )

    async def _correlate(self, conn: BaseDBAsyncClient, sql: Sql, batch: Batch) -> None:
        rules = await load_rules_for(tenant_ids={a.tenant_id for a in batch.correlated})
        named = {
            (a.tenant_id, a.match_labels["service"])
            for a in batch.correlated
            if "service" in a.match_labels
        }
        in_catalog = await services_named(named, using=conn)
        for alert in batch.correlated:
            service = in_catalog.get(_service_key(alert))
            if service is not None:
                with_catalog(alert.match_labels, name=service.name, tier=service.tier.value)
        placed: list[tuple[BatchAlert, Rule, str]] = []
        for alert in batch.correlated:
            # `rules` is the default rule alone for a tenant with no enabled rule of its own;
            # otherwise an alert no rule matches is stored, ungrouped and unlinked.
            rule = match(rules[alert.tenant_id], alert.match_labels)
            if rule is not None:
                placed.append((alert, rule, rule.group_key(alert.match_labels)))
        keys = sorted({(a.tenant_id, key) for a, _, key in placed})
        found = await conn.execute_query_dict(sql.groups, sql.groups_args(keys))
        # The incidents are read once the groups are locked, in a statement of their own: a
        # group whose incident was set while this waited for its lock then finds it.
        incident_ids = sorted({str(r["incident_id"]) for r in found if r["incident_id"]})
        incidents = {
            str(row["id"]): row
            for row in (
                await conn.execute_query_dict(sql.incidents, [sql.array(incident_ids)])
                if incident_ids
                else []
            )
        }
        groups = {
            (row["tenant_id"], row["key"]): BatchGroup.from_row(
                row, incidents.get(str(row["incident_id"]))
            )
            for row in found
        }
        for alert, rule, key in placed:
            group = groups.get((alert.tenant_id, key))
            if group is None:
                group = groups[(alert.tenant_id, key)] = BatchGroup.new(
                    alert.tenant_id, key, rule.id, alert.first_received_at
                )
            group.take(alert, rule)
        batch.groups = [g for g in groups.values() if g.changed]

    async def _write(self, conn: BaseDBAsyncClient, sql: Sql, batch: Batch) -> None:
        restarted = [g.id for g in batch.groups if g.restarted]
        if restarted:
            # Alerts of a past generation that never reached an incident stay out of the new
            # one's declaration.
            await conn.execute_query(sql.detach_alerts, [sql.array(restarted)])
        if batch.groups:
            await sql.upsert_groups(conn, batch.groups)
        counted = [a for a in batch.stored.values() if a.counted]
        if counted:
            # Before the inserts: a new lifetime takes the active_key its predecessor frees.
            await sql.update_alerts(conn, counted, batch.now)
        if batch.fresh:
            await sql.insert_alerts(conn, batch.fresh, batch.now)


class _LeaseLost(Exception):
    """Another processor holds the lease now: this one stops where it is."""


def _reason(error: BaseException) -> str:
    """What the quarantine and the log say of an error: its kind and first line."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text[:QUARANTINE_ERROR_MAX]


def _service_key(alert: BatchAlert) -> tuple[str, str]:
    return (alert.tenant_id, alert.match_labels.get("service", "").lower())

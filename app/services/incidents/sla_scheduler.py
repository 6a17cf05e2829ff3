"""Writes SLA warnings and breaches as they fall, in every server process.

Each tick reads the incidents whose next mark has fallen through the index on
`sla_next_at` (the cost does not grow with the number of open incidents, only with the
marks due), writes them through the incident's writer, and sleeps until the next mark
anywhere, at most INTERVAL (an incident another process declares is seen within it).
Processes race for the same marks harmlessly: the incident's sequence lets one write each.
A mark that fell while every server was down is written at the first tick after start-up,
with how late it is.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from app.core.clock import utcnow
from app.core.tasks import cancel_and_wait
from app.errors import DomainError
from app.models import Incident
from app.services.incidents import sla_marks
from app.services.incidents.commands import write_sla_marks, write_update_due

log = logging.getLogger(__name__)

INTERVAL = 1.0
BATCH = 200
_MIN_SLEEP = 0.01


class SlaScheduler:
    def __init__(self, *, interval: float = INTERVAL, batch: int = BATCH) -> None:
        self._interval = interval
        self._batch = batch
        self._tasks: list[asyncio.Task[None]] = []
        self.written = 0

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name="sla-scheduler")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def run_once(self) -> int:
        """Write the marks fallen by now (one batch); returns how many incidents were due."""
        now = utcnow()
        rows = (
            await Incident.filter(sla_next_at__lte=now)
            .order_by("sla_next_at")
            .limit(self._batch)
            .values("id", "tenant_id")
        )
        for row in rows:
            incident_id, tenant_id = str(row["id"]), row["tenant_id"]
            try:
                result = await write_sla_marks(tenant_id=tenant_id, incident_id=incident_id)
            except DomainError as error:
                log.warning("SLA marks of incident %s not written: %s", incident_id, error)
                continue
            self.written += len(result.events)
            if not result.events:
                await _place_again(incident_id)
        return len(rows) + await self._updates_due(now)

    async def _updates_due(self, now: datetime) -> int:
        """Announce the stakeholder updates that fell due (the cadence's schedule)."""
        rows = (
            await Incident.filter(update_due_at__lte=now)
            .order_by("update_due_at")
            .limit(self._batch)
            .values("id", "tenant_id", "last_seq")
        )
        for row in rows:
            incident_id = str(row["id"])
            try:
                result = await write_update_due(tenant_id=row["tenant_id"], incident_id=incident_id)
            except DomainError as error:
                log.warning("update due for incident %s not written: %s", incident_id, error)
                continue
            if not result.events:
                # Nothing due after all (the cadence changed): the next write places it.
                await Incident.filter(id=row["id"], last_seq=row["last_seq"]).update(
                    update_due_at=None
                )
        return len(rows)

    async def _loop(self) -> None:
        while True:
            try:
                due = await self.run_once()
                wait = 0.0 if due >= self._batch else await self._until_next()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("SLA scheduler tick failed; retrying", exc_info=True)
                wait = self._interval
            await asyncio.sleep(max(wait, _MIN_SLEEP) if wait else 0)

    async def _until_next(self) -> float:
        marks = await Incident.filter(sla_next_at__isnull=False).order_by("sla_next_at").first()
        updates = (
            await Incident.filter(update_due_at__isnull=False).order_by("update_due_at").first()
        )
        times = [
            t
            for t in (
                marks.sla_next_at if marks else None,
                updates.update_due_at if updates else None,
            )
            if t is not None
        ]
        if not times:
            return self._interval
        return min(self._interval, (min(times) - utcnow()).total_seconds())


async def _place_again(incident_id: str) -> None:
    """A next mark that had nothing to write (another process wrote it, or the clock
    changed since it was placed): place it again from the incident as it is now, unless
    the incident moved meanwhile (its own write placed it)."""
    row = await Incident.get_or_none(id=incident_id)
    if row is None:
        return
    await Incident.filter(id=row.id, last_seq=row.last_seq).update(
        sla_next_at=sla_marks.next_at(row)
    )

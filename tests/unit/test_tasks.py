"""Stopping background tasks: every one cancelled and awaited, however it ended."""

from __future__ import annotations

import asyncio

from app.core.tasks import cancel_and_wait


async def test_running_failed_and_finished_tasks_all_end_without_raising():
    # given a task still running, one that failed and one that finished
    async def forever() -> None:
        await asyncio.Event().wait()

    async def fails() -> None:
        raise RuntimeError("broken loop")

    async def done() -> None:
        return None

    tasks = [asyncio.create_task(f()) for f in (forever, fails, done)]
    await asyncio.sleep(0)

    # when they are stopped
    await cancel_and_wait(tasks)

    # then every one has ended and the failure did not escape the shutdown
    assert all(t.done() for t in tasks)
    assert tasks[0].cancelled()

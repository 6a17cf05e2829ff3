"""A record's live updates: every new state of a problem, change or article, each once.

The record's outbox messages (one per committed change, seq included) ring the doorbell;
the record is read back from the database, as the subscriber may see it, and pushed when
its timeline moved on. After a broker outage (Resync) it is read back regardless.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from app.pubsub import channels
from app.pubsub.broker import Broker, Resync
from app.services.access.caller import Caller
from app.services.records.commands import load


async def record_updates(
    *, broker: Broker, caller: Caller, model: Any, record_id: str, noun: str
) -> AsyncGenerator[Any, None]:
    """The record's row after each change the caller may see; NOT_FOUND when it cannot."""
    async with broker.subscribe(channels.record(caller.tenant_id, record_id)) as sub:
        # Read after subscribing, so that nothing committed in between is missed.
        last = (await load(model, caller, record_id, noun=noun)).last_seq
        async for item in sub:
            if not isinstance(item, Resync) and int(item.data.get("seq", 0)) <= last:
                continue  # an older message, delivered again
            row = await load(model, caller, record_id, noun=noun)
            if row.last_seq > last:
                last = row.last_seq
                yield row

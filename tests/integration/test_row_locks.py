"""Workers that claim rows on PostgreSQL (FOR UPDATE SKIP LOCKED) never claim one another's."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from app.config import Settings
from app.core.clock import utcnow
from app.models import (
    Communication,
    CommunicationChannel,
    CommunicationDirection,
    DeliveryStatus,
)
from app.services.comms import delivery
from tests.support import connected


async def due_message(tenant_id: str) -> str:
    now = utcnow()
    row = await Communication.create(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        incident_id=uuid.uuid4(),
        short_ref=f"COM-{uuid.uuid4().hex[:8]}",
        channel=CommunicationChannel.EMAIL,
        direction=CommunicationDirection.OUTBOUND,
        recipient="oncall@example.com",
        message="Checkout is down",
        status=DeliveryStatus.PENDING,
        created_at=now - timedelta(minutes=1),
        next_attempt_at=now - timedelta(seconds=1),
    )
    return str(row.id)


async def test_a_message_another_worker_is_claiming_is_not_claimed_twice(
    database_url: str,
) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")
    async with connected(database_url):
        # given two due messages, one of them held by another worker's claiming transaction
        tenant_id = f"t-locks-{uuid.uuid4().hex[:8]}"
        held, free = await due_message(tenant_id), await due_message(tenant_id)
        outside = contextvars.copy_context()
        async with in_transaction() as conn:
            await conn.execute_query(
                "SELECT id FROM communication WHERE id = $1 FOR UPDATE", [held]
            )

            # when this worker claims what is due meanwhile
            claimed = await asyncio.wait_for(
                asyncio.create_task(
                    delivery.claim(Settings(), use_row_locks=True), context=outside
                ),
                10,
            )

        # then it takes the free message and leaves the held one to its worker
        assert free in claimed
        assert held not in claimed
        held_row = await Communication.get(id=held)
        assert held_row.next_attempt_at is not None
        assert held_row.next_attempt_at < utcnow()
        await Communication.filter(tenant_id=tenant_id).delete()

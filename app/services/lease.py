"""Named leases shared by every process through the database.

A lease is held by one owner until it expires; taking it is one conditional UPDATE (or an
INSERT for a name never taken), so it works the same on PostgreSQL and SQLite and needs no
connection held open. An owner that dies loses its leases when they expire.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from app.models import Lease

# This process, as lease owner.
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def acquire(name: str, *, seconds: float, owner: str = OWNER) -> bool:
    """Take or renew the lease `name` for `seconds`; False if another owner holds it."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=seconds)
    taken = await Lease.filter(Q(owner=owner) | Q(expires_at__lt=now), name=name).update(
        owner=owner, expires_at=until
    )
    if taken:
        return True
    try:
        await Lease.create(name=name, owner=owner, expires_at=until)
    except IntegrityError:
        return False
    return True


async def release(name: str, *, owner: str = OWNER) -> None:
    await Lease.filter(name=name, owner=owner).delete()


async def fence(name: str) -> None:
    """Inside a transaction: lock the lease `name` until it ends, without taking it.

    A holder that renews the lease first thing in each of its transactions (the alert
    processor does) then runs either wholly before or wholly after the caller's
    transaction, never interleaved with it.
    """
    await Lease.filter(name=name).update(owner=F("owner"))

"""Named leases shared by every process through the database.

A lease is held by one owner until it expires; taking it is one conditional UPDATE (or an
INSERT for a name never taken), so it works the same on PostgreSQL and SQLite and needs no
connection held open. An owner that dies loses its leases when they expire.

A lease's row, once there, stays: releasing it only expires it. Its row is also the lock
that `fence` takes, and a lock that a release could delete would let a new holder in by
INSERT while a fencing transaction believes it keeps every holder out.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Final

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from app.core.clock import utcnow
from app.models import Lease

# This process, as lease owner.
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
# The owner of a lease nobody holds (released, or only ever fenced).
NOBODY: Final = ""
_EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)


async def acquire(name: str, *, seconds: float, owner: str = OWNER) -> bool:
    """Take or renew the lease `name` for `seconds`; False if another owner holds it."""
    now = utcnow()
    until = now + timedelta(seconds=seconds)
    free = Lease.filter(Q(owner=owner) | Q(expires_at__lt=now), name=name)
    if await free.update(owner=owner, expires_at=until):
        return True
    try:
        await Lease.create(name=name, owner=owner, expires_at=until)
    except IntegrityError:
        # Someone created the row first: a holder, or a fence that left it free.
        return bool(await free.update(owner=owner, expires_at=until))
    return True


async def release(name: str, *, owner: str = OWNER) -> None:
    """Give the lease up at once, if `owner` holds it: its row stays, expired."""
    await Lease.filter(name=name, owner=owner).update(owner=NOBODY, expires_at=_EXPIRED)


async def fence(name: str) -> None:
    """Inside a transaction: lock the lease `name` until it ends, without taking it.

    A holder that renews the lease first thing in each of its transactions (the alert
    processor does) then runs either wholly before or wholly after the caller's
    transaction, never interleaved with it. A lease never taken gets its row here (expired,
    held by nobody), so that there is always a row to lock.
    """
    if await Lease.filter(name=name).update(owner=F("owner")):
        return
    # ON CONFLICT DO NOTHING: a holder inserting the row meanwhile must not abort the
    # caller's transaction; the UPDATE after it then waits for that holder to commit.
    await Lease.bulk_create(
        [Lease(name=name, owner=NOBODY, expires_at=_EXPIRED)], ignore_conflicts=True
    )
    await Lease.filter(name=name).update(owner=F("owner"))

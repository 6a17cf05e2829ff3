"""Channel names. Every channel is tenant-scoped."""

from __future__ import annotations

# Control channel every process keeps subscribed, so the Redis listener always has a channel.
CONTROL = "incidentgraph:control"
# Sent on CONTROL by a backend that reconnected: every stream reads back what it missed.
RESYNC_MESSAGE = "resync"


def incident(tenant_id: str, incident_id: str) -> str:
    return f"t:{tenant_id}:incident:{incident_id}"


def incidents(tenant_id: str) -> str:
    return f"t:{tenant_id}:incidents"


def record(tenant_id: str, record_id: str) -> str:
    """A problem's, change's or article's own channel."""
    return f"t:{tenant_id}:record:{record_id}"


def records(tenant_id: str) -> str:
    """Every change to the tenant's problems, changes and articles (boards and the query
    cache follow it)."""
    return f"t:{tenant_id}:records"

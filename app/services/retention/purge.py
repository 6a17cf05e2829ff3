"""Purging incidents past the tenant's retention: an audited job that removes the incident,
its timeline, its place in the feed, its webhook deliveries, its alerts, notes, tasks, roles,
communications, reviews, mentions, tickets and links, and leaves a tombstone in the audit
log (the audit log itself is never purged). An incident or tenant on legal hold is kept.

Every table that names an incident (`incident_id`, a foreign key or a plain column) is
found from the models, so a table added later is purged too; articles written from an
incident are kept, without the reference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import models as tortoise_models
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app import models
from app.core.clock import utcnow
from app.core.tasks import cancel_and_wait
from app.models import (
    FeedEntry,
    Incident,
    IncidentStatus,
    KnowledgeArticle,
    Tenant,
    TimelineEvent,
    WebhookDelivery,
)
from app.services import lease
from app.services.access import audit
from app.services.feed.positions import INCIDENT

log = logging.getLogger(__name__)

BATCH = 100
_LEASE = "retention-purge"
# Kept, with the reference dropped: written from an incident, they outlive it.
_KEPT = (KnowledgeArticle,)


def _names_incident(model: Any) -> bool:
    meta = model._meta
    if "incident_id" in meta.fields_db_projection:
        return True
    return any(
        getattr(meta.fields_map[name], "model_name", "") == "models.Incident"
        for name in meta.fk_fields
    )


def referencing_models() -> list[Any]:
    """Every model with a column `incident_id`, a foreign key or a plain one (but the
    incident's own timeline, purged last), children before the rows they point at."""
    found = []
    for name in models.__all__:
        model = getattr(models, name)
        if (
            isinstance(model, type)
            and issubclass(model, tortoise_models.Model)
            and _names_incident(model)
            and model not in (TimelineEvent, *_KEPT)
        ):
            found.append(model)
    return sorted(found, key=lambda m: m.__name__)


@dataclass(frozen=True, slots=True)
class Purged:
    tenant_id: str
    incident_id: str
    number: int
    ended_at: datetime
    events: int


def _ended(row: Incident) -> datetime | None:
    return row.closed_at if row.status is IncidentStatus.CLOSED else row.cancelled_at


async def due(
    *, tenant_id: str, now: datetime, after: int = 0, limit: int = BATCH
) -> list[Incident]:
    """The tenant's incidents past its retention, oldest first; none on legal hold."""
    tenant = await Tenant.get_or_none(id=tenant_id)
    if tenant is None or tenant.legal_hold:
        return []
    cutoff = now - timedelta(days=tenant.purge_after_days)
    ended = Q(status=IncidentStatus.CLOSED, closed_at__lt=cutoff) | Q(
        status=IncidentStatus.CANCELLED, cancelled_at__lt=cutoff
    )
    return (
        await Incident.filter(tenant_id=tenant_id, legal_hold=False, number__gt=after)
        .filter(ended)
        .order_by("number")
        .limit(limit)
    )


async def purge_incident(
    candidate: Incident, *, retention_days: int, cutoff: datetime
) -> Purged | None:
    """Remove one incident and all that names it, in one transaction, with its tombstone;
    None when it is no longer due (held, reopened or the retention lengthened meanwhile)."""
    key = candidate.id
    async with in_transaction():
        # Read again under locks (the tenant's first, as a declaration takes them): a hold or
        # a change since the batch was read keeps it.
        tenant = await Tenant.select_for_update().get_or_none(id=candidate.tenant_id)
        row = await Incident.select_for_update().get_or_none(id=key)
        ended = _ended(row) if row is not None else None
        if (
            row is None
            or tenant is None
            or row.legal_hold
            or tenant.legal_hold
            or ended is None
            or ended >= cutoff
            or tenant.purge_after_days != retention_days
        ):
            return None
        event_ids = list(
            await TimelineEvent.filter(incident_id=key).values_list("event_id", flat=True)
        )
        for start in range(0, len(event_ids), 500):
            await WebhookDelivery.filter(
                tenant_id=row.tenant_id, event_id__in=event_ids[start : start + 500]
            ).delete()
        await FeedEntry.filter(
            tenant_id=row.tenant_id, record_type=INCIDENT, record_id=key
        ).delete()
        for model in _KEPT:
            await model.filter(incident_id=key).update(incident_id=None)
        for model in referencing_models():
            await model.filter(incident_id=key).delete()
        await TimelineEvent.filter(incident_id=key).delete()
        await Incident.filter(merged_into_id=key).update(merged_into_id=None)
        await Incident.filter(id=key).delete()
        await audit.record(
            tenant_id=row.tenant_id,
            action="retention.purged",
            target=str(key),
            changes={
                "number": row.number,
                "status": row.status.value,
                "endedAt": ended.isoformat(),
                "events": len(event_ids),
                "purgeAfterDays": retention_days,
            },
        )
    return Purged(row.tenant_id, str(key), row.number, ended, len(event_ids))


async def purge(
    *, tenant_ids: Sequence[str] | None = None, now: datetime | None = None
) -> list[Purged]:
    """Purge what is due in these tenants (all when None)."""
    moment = now or utcnow()
    ids: list[str] = (
        list(tenant_ids)
        if tenant_ids is not None
        else [str(t) for t in await Tenant.filter(legal_hold=False).values_list("id", flat=True)]
    )
    done: list[Purged] = []
    for tenant_id in ids:
        tenant = await Tenant.get_or_none(id=tenant_id)
        if tenant is None:
            continue
        cutoff = moment - timedelta(days=tenant.purge_after_days)
        after = 0
        while batch := await due(tenant_id=tenant_id, now=moment, after=after):
            for row in batch:
                after = row.number
                try:
                    purged = await purge_incident(
                        row, retention_days=tenant.purge_after_days, cutoff=cutoff
                    )
                except Exception:  # one incident that fails does not stop the others
                    log.warning(
                        "could not purge INC-%d of %s", row.number, tenant_id, exc_info=True
                    )
                    continue
                if purged is not None:
                    done.append(purged)
            if len(batch) < BATCH:
                break
    return done


class PurgeWorker:
    """Runs the purge every `interval` seconds, in one process at a time (a lease)."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name="retention-purge")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                if await lease.acquire(_LEASE, seconds=self._interval):
                    purged = await purge()
                    if purged:
                        log.info("retention purged %d incident(s)", len(purged))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("retention purge failed; retrying later", exc_info=True)

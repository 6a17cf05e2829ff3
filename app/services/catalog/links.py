"""Which services an incident affects: the one its `service` text names, kept linked by a
writer hook in the incident's own transaction (made on first use), and any others set by
setAffectedServices. Each link is an event on both timelines. The incident core knows
nothing of the catalog.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from app.errors import NotFound
from app.models import (
    IncidentService,
    Service,
    ServiceTier,
)
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.access.classification import incident_visible
from app.services.catalog.queries import (
    DEPENDENCIES_MAX,
    names_of,
    service_keys,
    services_of_incidents,
)
from app.services.catalog.services import ServiceEvent, record_event
from app.services.incidents import commands as incident_commands
from app.services.incidents.snapshot import IncidentSnapshot, get_incident
from app.services.writer import Change


async def on_incident_change(change: Change) -> Callable[[], None] | None:
    """Keep an incident linked to the service its `service` text names (created on first
    use), in the incident's own transaction."""
    before = change.before.service if change.before is not None else None
    after = change.after.service
    if before == after:
        return None
    tenant_id, incident_id = change.after.tenant_id, change.after.id
    reference = {"incident": incident_id, "reference": f"INC-{change.after.number}"}
    actor = change.events[0].actor if change.events else None
    if before is not None:
        old = await Service.get_or_none(tenant_id=tenant_id, name_key=before.lower())
        if (
            old is not None
            and await IncidentService.filter(incident_id=incident_id, service_id=old.id).delete()
        ):
            await record_event(old, ServiceEvent.INCIDENT_UNLINKED, reference, actor=actor)
    if after is not None:
        service = await _named(tenant_id, after, now=change.now, actor=actor)
        if not await IncidentService.exists(incident_id=incident_id, service_id=service.id):
            await IncidentService.create(
                tenant_id=tenant_id, incident_id=incident_id, service_id=service.id
            )
            await record_event(service, ServiceEvent.INCIDENT_LINKED, reference, actor=actor)
    return None


async def _named(tenant_id: str, name: str, *, now: datetime, actor: str | None) -> Service:
    found = await Service.get_or_none(tenant_id=tenant_id, name_key=name.lower())
    if found is not None:
        return found
    service = await Service.create(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        name=name,
        name_key=name.lower(),
        tier=ServiceTier.TIER_3,
        created_at=now,
        updated_at=now,
    )
    await audit.record(
        tenant_id=tenant_id,
        action="service.create",
        target=str(service.id),
        changes={"name": name, "tier": ServiceTier.TIER_3.value, "via": "incident"},
    )
    await record_event(
        service, ServiceEvent.CREATED, {"name": name, "tier": ServiceTier.TIER_3.value}, actor=actor
    )
    return service


async def set_affected_services(
    *, caller: Caller, incident_id: str, service_ids: Sequence[str]
) -> list[str]:
    """Make these the services the incident affects: a link or unlink event on its timeline
    for each difference, one transaction. Returns the services now affected."""
    wanted = [
        str(k) for k in await service_keys(caller.tenant_id, service_ids, most=DEPENDENCIES_MAX)
    ]
    snapshot = await get_incident(tenant_id=caller.tenant_id, incident_id=incident_id)
    if not incident_visible(caller.clearance, snapshot.classification):
        raise NotFound(f"no incident with id {incident_id!r}", field="incidentId")
    current = (await services_of_incidents(tenant_id=caller.tenant_id, incident_ids=[snapshot.id]))[
        snapshot.id
    ]
    added = [s for s in wanted if s not in current]
    removed = [s for s in current if s not in wanted]
    if not added and not removed:
        return current
    names = dict(zip([*added, *removed], await names_of([*added, *removed]), strict=True))

    def record(service_id: str) -> dict[str, str]:
        return {
            "record": "service",
            "id": "svc_" + uuid.UUID(service_id).hex,
            "reference": names[service_id],
        }

    async def write(_: IncidentSnapshot) -> None:
        await IncidentService.filter(incident_id=snapshot.id, service_id__in=removed).delete()
        await IncidentService.bulk_create(
            [
                IncidentService(tenant_id=caller.tenant_id, incident_id=snapshot.id, service_id=s)
                for s in added
            ]
        )
        reference = {"incident": snapshot.id, "reference": f"INC-{snapshot.number}"}
        for row in await Service.filter(id__in=[*added, *removed]):
            kind = (
                ServiceEvent.INCIDENT_LINKED
                if str(row.id) in added
                else ServiceEvent.INCIDENT_UNLINKED
            )
            await record_event(row, kind, reference, actor=caller.actor)

    await incident_commands.link_records(
        caller=caller,
        incident_id=snapshot.id,
        links=[*((record(s), True) for s in added), *((record(s), False) for s in removed)],
        also=write,
    )
    return wanted

"""Services of a tenant: created and changed by admins, linked to the incidents that affect
them, healthy or not by those incidents.

An incident's `service` text names a service: a writer hook (`on_incident_change`) keeps
the incident linked to the service of that name, creating it on first use, in the
incident's own transaction. The incident core knows nothing of the catalog.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from app.core.clock import utcnow
from app.core.ids import parse_uuid, uuid_key
from app.core.pagination import decode_key_cursor, encode_key_cursor, page_size
from app.core.text import filter_text, storable
from app.errors import Conflict, NotFound, ValidationFailed
from app.models import (
    Classification,
    Incident,
    IncidentService,
    Priority,
    Service,
    ServiceDependency,
    ServiceTier,
    Team,
)
from app.services import writer
from app.services.access import audit
from app.services.access.caller import Caller
from app.services.access.classification import incident_visible, visible_incident_levels
from app.services.catalog.graph import ServiceHealth, cycle_through, health_of
from app.services.incidents import commands as incident_commands
from app.services.incidents.lifecycle import ACTIVE_STATUSES
from app.services.incidents.snapshot import IncidentSnapshot, get_incident
from app.services.people.users import name_of
from app.services.records import timeline
from app.services.writer import Change


class ServiceEvent:
    CREATED = "com.incidents.service.created.v1"
    UPDATED = "com.incidents.service.updated.v1"
    INCIDENT_LINKED = "com.incidents.service.incident_linked.v1"
    INCIDENT_UNLINKED = "com.incidents.service.incident_unlinked.v1"


RECORD = "service"


async def _event(row: Service, kind: str, data: Mapping[str, Any], *, actor: str | None) -> None:
    """An event on the service's own timeline; inside a writer transaction."""
    await timeline.append(Service, row, RECORD, [(kind, data)], actor=actor, now=utcnow())


# A service's global id is this prefix and its UUID's hex, as the API shows it.
GLOBAL_PREFIX = "svc_"
DESCRIPTION_MAX = 10_000
DEPENDENCIES_MAX = 100


@dataclass(frozen=True, slots=True)
class ServiceView:
    id: str
    name: str
    description: str | None
    tier: ServiceTier
    owner_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Service) -> ServiceView:
        return cls(
            id=str(row.id),
            name=row.name,
            description=row.description,
            tier=row.tier,
            owner_id=str(row.owner_id) if row.owner_id is not None else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True, slots=True)
class ServiceFilter:
    text: str | None = None
    tier: ServiceTier | None = None
    owner_id: str | None = None


@dataclass(frozen=True, slots=True)
class ServicePage:
    items: list[tuple[str, ServiceView]]
    has_next_page: bool
    has_previous_page: bool
    total: int = field(default=0)


def _description(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    text = storable(value, field="description").strip()
    if len(text) > DESCRIPTION_MAX:
        raise ValidationFailed(
            f"description must be at most {DESCRIPTION_MAX} characters", field="description"
        )
    return text


async def _owner(tenant_id: str, team_id: str | None) -> uuid.UUID | None:
    if team_id is None:
        return None
    key = parse_uuid(team_id)
    if key is None or not await Team.exists(tenant_id=tenant_id, id=key):
        raise NotFound(f"no team with id {team_id!r}", field="ownerTeamId")
    return key


async def _dependencies(
    tenant_id: str, service_id: str | None, depends_on: Sequence[str]
) -> list[uuid.UUID]:
    """The services `depends_on` names, checked: in the tenant, not itself, no cycle."""
    if len(depends_on) > DEPENDENCIES_MAX:
        raise ValidationFailed(
            f"a service depends on at most {DEPENDENCIES_MAX} others", field="dependsOnIds"
        )
    keys = list(dict.fromkeys(parse_uuid(d) for d in depends_on))
    found = (
        {
            str(k)
            for k in await Service.filter(
                tenant_id=tenant_id, id__in=[k for k in keys if k is not None]
            ).values_list("id", flat=True)
        }
        if keys
        else set()
    )
    for given, key in zip(dict.fromkeys(depends_on), keys, strict=True):
        if key is None or str(key) not in found:
            raise NotFound(f"no service with id {given!r}", field="dependsOnIds")
    wanted = [str(k) for k in keys if k is not None]
    if service_id is not None:
        if service_id in wanted:
            raise ValidationFailed("a service cannot depend on itself", field="dependsOnIds")
        rows = await ServiceDependency.filter(tenant_id=tenant_id).values(
            "service_id", "depends_on_id"
        )
        edges: dict[str, list[str]] = {}
        for row in rows:
            if str(row["service_id"]) != service_id:
                edges.setdefault(str(row["service_id"]), []).append(str(row["depends_on_id"]))
        cycle = cycle_through(edges, service_id, wanted)
        if cycle is not None:
            names = await _names(cycle)
            raise ValidationFailed(
                "that would make a dependency cycle: " + " -> ".join(names), field="dependsOnIds"
            )
    return [k for k in keys if k is not None]


async def _names(service_ids: Sequence[str]) -> list[str]:
    rows = await Service.filter(id__in=list(set(service_ids))).values("id", "name")
    names = {str(r["id"]): r["name"] for r in rows}
    return [names.get(s, s) for s in service_ids]


async def _refuse_duplicate(tenant_id: str, name: str, *, except_id: str | None) -> None:
    query = Service.filter(tenant_id=tenant_id, name_key=name.lower())
    if except_id is not None:
        query = query.exclude(id=except_id)
    if await query.exists():
        raise Conflict(f"a service named {name!r} already exists", field="name")


# --- commands -------------------------------------------------------------------------------


async def create_service(
    *,
    tenant_id: str,
    actor: str | None = None,
    name: str,
    description: str | None = None,
    tier: ServiceTier = ServiceTier.TIER_3,
    owner_team_id: str | None = None,
    depends_on: Sequence[str] = (),
) -> ServiceView:
    name = name_of(name)
    text = _description(description)
    owner = await _owner(tenant_id, owner_team_id)
    await _refuse_duplicate(tenant_id, name, except_id=None)
    dependencies = await _dependencies(tenant_id, None, depends_on)
    now = utcnow()
    try:
        async with writer.transaction():
            row = await Service.create(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                name=name,
                name_key=name.lower(),
                description=text,
                tier=tier,
                owner_id=owner,
                created_at=now,
                updated_at=now,
            )
            await _event(row, ServiceEvent.CREATED, {"name": name, "tier": tier.value}, actor=actor)
            await ServiceDependency.bulk_create(
                [
                    ServiceDependency(tenant_id=tenant_id, service_id=row.id, depends_on_id=d)
                    for d in dependencies
                ]
            )
            await audit.record(
                tenant_id=tenant_id,
                action="service.create",
                target=str(row.id),
                changes={
                    "name": name,
                    "tier": tier.value,
                    "owner": str(owner) if owner else None,
                    "dependsOn": [str(d) for d in dependencies],
                },
            )
    except IntegrityError:
        await _refuse_duplicate(tenant_id, name, except_id=None)
        raise
    return ServiceView.of(row)


async def update_service(
    *, tenant_id: str, service_id: str, changes: Mapping[str, Any], actor: str | None = None
) -> ServiceView:
    """Change the fields in `changes` (name, description, tier, owner_team_id, depends_on)."""
    row = await Service.get_or_none(tenant_id=tenant_id, id=uuid_key(service_id, noun="service"))
    if row is None:
        raise NotFound(f"no service with id {service_id!r}", field="id")
    unknown = set(changes) - {"name", "description", "tier", "owner_team_id", "depends_on"}
    if unknown:
        field_name = sorted(unknown)[0]
        raise ValidationFailed(f"{field_name} cannot be changed", field=field_name)
    values: dict[str, Any] = {}
    if "name" in changes:
        if changes["name"] is None:
            raise ValidationFailed("name cannot be null", field="name")
        values["name"] = name_of(changes["name"])
        await _refuse_duplicate(tenant_id, values["name"], except_id=str(row.id))
    if "description" in changes:
        values["description"] = _description(changes["description"])
    if "tier" in changes:
        if changes["tier"] is None:
            raise ValidationFailed("tier cannot be null", field="tier")
        values["tier"] = changes["tier"]
    if "owner_team_id" in changes:
        values["owner_id"] = await _owner(tenant_id, changes["owner_team_id"])
    dependencies = None
    if "depends_on" in changes:
        dependencies = await _dependencies(tenant_id, str(row.id), changes["depends_on"] or [])
    diff = {
        k: {"from": _plain(getattr(row, k)), "to": _plain(v)}
        for k, v in values.items()
        if getattr(row, k) != v
    }
    if dependencies is not None:
        before = sorted(
            str(d)
            for d in await ServiceDependency.filter(service_id=row.id).values_list(
                "depends_on_id", flat=True
            )
        )
        after = sorted(str(d) for d in dependencies)
        if before != after:
            diff["dependsOn"] = {"from": before, "to": after}
    if not diff:
        return ServiceView.of(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.name_key = row.name.lower()
    row.updated_at = utcnow()
    try:
        async with writer.transaction():
            await row.save()
            await _event(row, ServiceEvent.UPDATED, diff, actor=actor)
            if dependencies is not None:
                await ServiceDependency.filter(service_id=row.id).delete()
                await ServiceDependency.bulk_create(
                    [
                        ServiceDependency(tenant_id=tenant_id, service_id=row.id, depends_on_id=d)
                        for d in dependencies
                    ]
                )
            await audit.record(
                tenant_id=tenant_id, action="service.update", target=str(row.id), changes=diff
            )
    except IntegrityError:
        await _refuse_duplicate(tenant_id, row.name, except_id=str(row.id))
        raise
    return ServiceView.of(row)


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


# --- the incident's service -----------------------------------------------------------------


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
            await _event(old, ServiceEvent.INCIDENT_UNLINKED, reference, actor=actor)
    if after is not None:
        service = await _named(tenant_id, after, now=change.now, actor=actor)
        if not await IncidentService.exists(incident_id=incident_id, service_id=service.id):
            await IncidentService.create(
                tenant_id=tenant_id, incident_id=incident_id, service_id=service.id
            )
            await _event(service, ServiceEvent.INCIDENT_LINKED, reference, actor=actor)
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
    await _event(
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
    names = dict(zip([*added, *removed], await _names([*added, *removed]), strict=True))

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
            await _event(row, kind, reference, actor=caller.actor)

    await incident_commands.link_records(
        caller=caller,
        incident_id=snapshot.id,
        links=[*((record(s), True) for s in added), *((record(s), False) for s in removed)],
        also=write,
    )
    return wanted


# --- reads ----------------------------------------------------------------------------------


async def service_keys(
    tenant_id: str, service_ids: Sequence[str], *, most: int, field: str = "serviceIds"
) -> list[uuid.UUID]:
    """The services named, each a service of the tenant (NOT_FOUND on `field` otherwise)."""
    if len(service_ids) > most:
        raise ValidationFailed(f"at most {most} services", field=field)
    keys = [parse_uuid(s) for s in dict.fromkeys(service_ids)]
    known = {
        str(k)
        for k in await Service.filter(
            tenant_id=tenant_id, id__in=[k for k in keys if k is not None]
        ).values_list("id", flat=True)
    }
    for given, key in zip(dict.fromkeys(service_ids), keys, strict=True):
        if key is None or str(key) not in known:
            raise NotFound(f"no service with id {given!r}", field=field)
    return [k for k in keys if k is not None]


async def get_services(*, tenant_id: str, service_ids: Sequence[str]) -> dict[str, ServiceView]:
    keys = [k for k in (parse_uuid(v) for v in service_ids) if k is not None]
    rows = await Service.filter(tenant_id=tenant_id, id__in=keys) if keys else []
    return {str(r.id): ServiceView.of(r) for r in rows}


async def dependencies_of(*, service_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = await ServiceDependency.filter(service_id__in=list(service_ids)).values(
        "service_id", "depends_on_id"
    )
    found: dict[str, list[str]] = {s: [] for s in service_ids}
    for row in rows:
        found[str(row["service_id"])].append(str(row["depends_on_id"]))
    return found


async def services_of_incidents(
    *, tenant_id: str, incident_ids: Sequence[str]
) -> dict[str, list[str]]:
    keys = [k for k in (parse_uuid(i) for i in incident_ids) if k is not None]
    rows = (
        await IncidentService.filter(tenant_id=tenant_id, incident_id__in=keys).values(
            "incident_id", "service_id"
        )
        if keys
        else []
    )
    found: dict[str, list[str]] = {i: [] for i in incident_ids}
    for row in rows:
        found.setdefault(str(row["incident_id"]), []).append(str(row["service_id"]))
    return found


async def health(
    *, tenant_id: str, service_ids: Sequence[str], clearance: Classification
) -> dict[str, ServiceHealth]:
    """Each service's health from the active incidents affecting it that the reader may see."""
    keys = [k for k in (parse_uuid(s) for s in service_ids) if k is not None]
    links = (
        await IncidentService.filter(tenant_id=tenant_id, service_id__in=keys).values(
            "incident_id", "service_id"
        )
        if keys
        else []
    )
    incidents = {
        str(r["id"]): r["priority"]
        for r in await Incident.filter(
            tenant_id=tenant_id,
            id__in=list({link["incident_id"] for link in links}),
            status__in=ACTIVE_STATUSES,
            classification__in=visible_incident_levels(clearance),
        ).values("id", "priority")
    }
    priorities: dict[str, list[Priority]] = {s: [] for s in service_ids}
    for link in links:
        priority = incidents.get(str(link["incident_id"]))
        if priority is not None:
            priorities.setdefault(str(link["service_id"]), []).append(Priority(priority))
    return {s: health_of(priorities.get(s, [])) for s in service_ids}


async def list_services(
    *,
    tenant_id: str,
    filter: ServiceFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> ServicePage:
    """Services by name, `first` at a time after the cursor."""
    size = page_size(first)
    query = Service.filter(tenant_id=tenant_id)
    if filter is not None:
        query = query.filter(_filter_q(filter))
    total = await query.count()
    if after is not None:
        query = query.filter(name_key__gt=decode_key_cursor("service", after))
    rows = await query.order_by("name_key").limit(size + 1)
    items = [(encode_key_cursor("service", r.name_key), ServiceView.of(r)) for r in rows[:size]]
    return ServicePage(
        items, has_next_page=len(rows) > size, has_previous_page=after is not None, total=total
    )


def _filter_q(filter: ServiceFilter) -> Q:
    q = Q()
    if filter.text is not None:
        text = filter_text(filter.text)
        if text:
            q &= Q(name__icontains=text) | Q(description__icontains=text)
    if filter.tier is not None:
        q &= Q(tier=filter.tier)
    if filter.owner_id is not None:
        owner = parse_uuid(filter.owner_id)
        q &= Q(owner_id=owner) if owner is not None else Q(id=None)
    return q

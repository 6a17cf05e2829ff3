"""Reading the catalog: services by page, by id and by name, their dependencies, the
services of incidents, and health, each for many at once (the loaders' batches)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from app.core.ids import parse_uuid
from app.core.pagination import decode_key_cursor, encode_key_cursor, page_size
from app.core.text import filter_text
from app.errors import NotFound, ValidationFailed
from app.models import (
    Classification,
    Incident,
    IncidentService,
    Priority,
    Service,
    ServiceDependency,
    ServiceTier,
)
from app.services.access.classification import visible_incident_levels
from app.services.catalog.graph import ServiceHealth, health_of
from app.services.incidents.lifecycle import ACTIVE_STATUSES

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


async def services_named(
    names: Iterable[tuple[str, str]], *, using: BaseDBAsyncClient | None = None
) -> dict[tuple[str, str], ServiceView]:
    """The catalog's services named by (tenant id, name) pairs, names matched regardless of
    case; keyed by (tenant id, lower-cased name). One statement; `using` runs it on the
    caller's transaction."""
    wanted = {(tenant_id, name.lower()) for tenant_id, name in names}
    if not wanted:
        return {}
    rows = await Service.filter(
        tenant_id__in=sorted({t for t, _ in wanted}), name_key__in=sorted({n for _, n in wanted})
    ).using_db(using)
    found = {(str(r.tenant_id), r.name_key): ServiceView.of(r) for r in rows}
    return {key: view for key, view in found.items() if key in wanted}


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


async def names_of(service_ids: Sequence[str]) -> list[str]:
    rows = await Service.filter(id__in=list(set(service_ids))).values("id", "name")
    names = {str(r["id"]): r["name"] for r in rows}
    return [names.get(s, s) for s in service_ids]

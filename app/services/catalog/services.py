"""Services of a tenant, created and changed by admins: names unique in any case, an owning
team, dependencies without cycles. Each change is audited and on the service's timeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from tortoise.exceptions import IntegrityError

from app.core.clock import utcnow
from app.core.graph import cycle_through
from app.core.ids import parse_uuid, uuid_key
from app.core.text import storable
from app.errors import Conflict, NotFound, ValidationFailed
from app.models import (
    Service,
    ServiceDependency,
    ServiceTier,
    Team,
)
from app.services import writer
from app.services.access import audit
from app.services.catalog.queries import (
    DEPENDENCIES_MAX,
    DESCRIPTION_MAX,
    ServiceView,
    names_of,
)
from app.services.people.users import name_of
from app.services.records import timeline


class ServiceEvent:
    CREATED = "com.incidents.service.created.v1"
    UPDATED = "com.incidents.service.updated.v1"
    INCIDENT_LINKED = "com.incidents.service.incident_linked.v1"
    INCIDENT_UNLINKED = "com.incidents.service.incident_unlinked.v1"


RECORD = "service"


async def record_event(
    row: Service, kind: str, data: Mapping[str, Any], *, actor: str | None
) -> None:
    """An event on the service's own timeline; inside a writer transaction."""
    await timeline.append(Service, row, RECORD, [(kind, data)], actor=actor, now=utcnow())


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
            names = await names_of(cycle)
            raise ValidationFailed(
                "that would make a dependency cycle: " + " -> ".join(names), field="dependsOnIds"
            )
    return [k for k in keys if k is not None]


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
            await record_event(
                row, ServiceEvent.CREATED, {"name": name, "tier": tier.value}, actor=actor
            )
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
            await record_event(row, ServiceEvent.UPDATED, diff, actor=actor)
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

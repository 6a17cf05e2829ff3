"""The service catalog as the API shows it, with its inputs and payloads."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.types import Info

from app import models
from app.schema.board import ServiceHealth
from app.schema.common import Node, PageInfo, UserError, to_global_id
from app.schema.context import Context
from app.schema.people import Team
from app.services.catalog.queries import GLOBAL_PREFIX, ServiceView

ServiceTier: TypeAlias = Annotated[
    models.ServiceTier, strawberry.enum(description="TIER_1 is the most critical.")
]

if TYPE_CHECKING:
    from app.schema.problem import RecordEvent

# Global ids: "svc_<32 hex>".
SERVICE_PREFIX = GLOBAL_PREFIX


@strawberry.type
class Service(Node):
    id: strawberry.ID
    name: str
    description: str | None
    tier: ServiceTier
    created_at: datetime
    updated_at: datetime
    view: strawberry.Private[ServiceView]

    @strawberry.field(description="The team that owns the service.")  # type: ignore[untyped-decorator]
    async def owner(self, info: Info[Context, Any]) -> Team | None:
        if self.view.owner_id is None:
            return None
        found = await info.context.loaders.team.load(self.view.owner_id)
        return Team.of(found) if found is not None else None

    @strawberry.field(description="The services this one depends on, by name.")  # type: ignore[untyped-decorator]
    async def depends_on(self, info: Info[Context, Any]) -> list[Service]:
        loaders = info.context.loaders
        keys = await loaders.service_dependencies.load(self.view.id)
        views = [v for v in await loaders.service.load_many(keys) if v is not None]
        return [Service.of(v) for v in sorted(views, key=lambda v: v.name.lower())]

    @strawberry.field
    async def health(self, info: Info[Context, Any]) -> ServiceHealth:
        return await info.context.loaders.service_health.load(self.view.id)

    @strawberry.field(description="The service's own timeline, oldest first.")  # type: ignore[untyped-decorator]
    async def timeline(
        self, info: Info[Context, Any]
    ) -> list[Annotated[RecordEvent, strawberry.lazy("app.schema.problem")]]:
        from app.schema.problem import RecordEvent

        events = await info.context.loaders.record_events.load(self.view.id)
        return [RecordEvent.of(e, subject=f"services/{self.id}") for e in events]

    @classmethod
    def of(cls, view: ServiceView) -> Service:
        return cls(
            id=strawberry.ID(to_global_id(SERVICE_PREFIX, view.id)),
            name=view.name,
            description=view.description,
            tier=view.tier,
            created_at=view.created_at,
            updated_at=view.updated_at,
            view=view,
        )


@strawberry.type
class ServiceEdge:
    cursor: str
    node: Service


@strawberry.type
class ServiceConnection:
    edges: list[ServiceEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class ServiceFilter:
    text: str | None = strawberry.field(default=None, description="In name or description.")
    tier: ServiceTier | None = None
    owner_team_id: strawberry.ID | None = None


@strawberry.input
class CreateServiceInput:
    name: str
    description: str | None = None
    tier: ServiceTier = models.ServiceTier.TIER_3
    owner_team_id: strawberry.ID | None = None
    depends_on_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Services this one depends on (no cycles)."
    )


@strawberry.input
class UpdateServiceInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    tier: ServiceTier | None = strawberry.UNSET
    owner_team_id: strawberry.ID | None = strawberry.UNSET
    depends_on_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces every dependency."
    )


@strawberry.input
class SetAffectedServicesInput:
    incident_id: strawberry.ID
    service_ids: list[strawberry.ID] = strawberry.field(
        description="Every service the incident affects (an empty list: none)."
    )


@strawberry.type
class ServicePayload:
    service: Service | None
    errors: list[UserError]

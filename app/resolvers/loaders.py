"""DataLoaders, one class per relation; a fresh set per request and per subscription event."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from strawberry.dataloader import DataLoader

from app.models import Classification
from app.services.classification import incident_visible
from app.services.incident_snapshot import IncidentSnapshot, get_incidents
from app.services.itsm.sync import TicketView, tickets_of
from app.services.timeline import EventRecord, SeqRange, load_ranges


class Loaders:
    """Built on first use: a subscription event that reads nothing costs nothing."""

    def __init__(self, tenant_id: str, clearance: Classification) -> None:
        self.tenant_id = tenant_id
        self.clearance = clearance

    @cached_property
    def incident(self) -> DataLoader[str, IncidentSnapshot | None]:
        return DataLoader(self._incidents)

    @cached_property
    def timeline(self) -> DataLoader[SeqRange, list[EventRecord]]:
        return DataLoader(self._timeline)

    @cached_property
    def tickets(self) -> DataLoader[str, list[TicketView]]:
        return DataLoader(self._tickets)

    async def _tickets(self, keys: Sequence[str]) -> list[list[TicketView]]:
        found = await tickets_of(tenant_id=self.tenant_id, incident_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _incidents(self, keys: Sequence[str]) -> list[IncidentSnapshot | None]:
        found = await get_incidents(tenant_id=self.tenant_id, incident_ids=keys)
        return [
            s if s is not None and incident_visible(self.clearance, s.classification) else None
            for s in (found.get(k) for k in keys)
        ]

    async def _timeline(self, keys: Sequence[SeqRange]) -> list[list[EventRecord]]:
        found = await load_ranges(tenant_id=self.tenant_id, ranges=keys)
        return [found[k] for k in keys]

"""Linking stored alerts to incidents by hand, and taking them off.

Linking and unlinking append an event on the incident through `append_events(also=...)`, so
the alert's change and the event commit together. Inside that transaction they lock the
incident, then fence off the alert processor's lease, then the alert's group, then the
alert: the order merges and the processor keep too, so none of them deadlocks another on
PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace

from app.core.clock import utcnow
from app.errors import Conflict, InvalidTransition, NotFound
from app.models import Alert, AlertGroup, AlertStatus, Incident
from app.services import lease
from app.services.access.caller import Caller
from app.services.access.classification import (
    alert_classification,
    incident_visible,
)
from app.services.alerts.processor import LEASE_NAME as PROCESSOR_LEASE
from app.services.alerts.queries import AlertView, alert_visible, key_of
from app.services.incidents import lifecycle
from app.services.incidents.commands import append_events
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import EventType, NewEvent

_LINKED = "linked"


async def link_alert(
    *,
    caller: Caller,
    alert_id: str,
    incident_id: str,
) -> tuple[AlertView, IncidentSnapshot]:
    """Link an unlinked alert to an incident; its group too, when the group has no incident
    yet, so the group's later alerts follow it there."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    alert = await Alert.get_or_none(tenant_id=tenant_id, id=key_of(alert_id, "alertId"))
    if alert is None or not await alert_visible(alert, clearance):
        raise NotFound(f"no alert with id {alert_id!r}", field="alertId")
    incident = await Incident.get_or_none(tenant_id=tenant_id, id=key_of(incident_id, "incidentId"))
    if incident is None or not incident_visible(clearance, incident.classification):
        raise NotFound(f"no incident with id {incident_id!r}", field="incidentId")
    if incident.status in lifecycle.TERMINAL:
        raise InvalidTransition(
            f"incident INC-{incident.number} is {incident.status.value}; alerts cannot be "
            "linked to a closed or cancelled incident",
            field="incidentId",
        )
    if alert.incident_id is not None:
        if str(alert.incident_id) == str(incident.id):
            raise Conflict("the alert is already linked to this incident", field="alertId")
        raise Conflict("the alert is linked to another incident; unlink it first", field="alertId")
    now = utcnow()
    view = AlertView.of(alert, incident=None)
    fresh: list[AlertView] = []

    async def also(_: IncidentSnapshot) -> None:
        await lease.fence(PROCESSOR_LEASE)
        # Read again behind the fence: a batch that started the group over may have taken
        # the alert out of it.
        current = await Alert.get_or_none(id=alert.id)
        if current is None:
            raise NotFound(f"no alert with id {alert_id!r}", field="alertId")
        fresh.append(AlertView.of(current, incident=incident.classification))
        group_id = current.group_id
        followed = False
        if group_id is not None:
            followed = bool(
                await AlertGroup.filter(id=group_id, incident_id__isnull=True).update(
                    incident_id=incident.id, declare_pending=False
                )
            )
        moved = await Alert.filter(id=alert.id, incident_id__isnull=True).update(
            incident_id=incident.id, pending_event=None, updated_at=now
        )
        if not moved:
            raise Conflict("the alert was linked meanwhile; reload it", field="alertId")
        if followed:
            # The rest of the group's current alerts go along, as they would with a declared
            # incident; the processor announces them in its next coalesced event.
            await Alert.filter(group_id=group_id, incident_id__isnull=True).update(
                incident_id=incident.id, pending_event=_LINKED, updated_at=now
            )

    result = await append_events(
        caller=caller,
        incident_id=str(incident.id),
        events=[
            NewEvent(
                type=EventType.ALERTS_LINKED,
                data={
                    "count": 1,
                    "firing": 1 if view.status is AlertStatus.FIRING else 0,
                    "alerts": [view.summary()],
                    "more": 0,
                },
            )
        ],
        also=also,
    )
    linked = replace(
        fresh[-1] if fresh else view,
        incident_id=str(incident.id),
        classification=alert_classification(result.incident.classification),
    )
    return linked, result.incident


async def unlink_alert(*, caller: Caller, alert_id: str) -> tuple[AlertView, IncidentSnapshot]:
    """Take an alert off its incident (its group still follows the incident)."""
    tenant_id, clearance = caller.tenant_id, caller.clearance
    alert = await Alert.get_or_none(tenant_id=tenant_id, id=key_of(alert_id, "alertId"))
    if alert is None or not await alert_visible(alert, clearance):
        raise NotFound(f"no alert with id {alert_id!r}", field="alertId")
    if alert.incident_id is None:
        raise Conflict("the alert is not linked to an incident", field="alertId")
    previous = alert.incident_id
    now = utcnow()
    view = AlertView.of(alert, incident=None)

    async def also(_: IncidentSnapshot) -> None:
        await lease.fence(PROCESSOR_LEASE)
        moved = await Alert.filter(id=alert.id, incident_id=previous).update(
            incident_id=None, pending_event=None, updated_at=now
        )
        if not moved:
            raise Conflict("the alert was moved meanwhile; reload it", field="alertId")

    result = await append_events(
        caller=caller,
        incident_id=str(previous),
        events=[NewEvent(type=EventType.ALERT_UNLINKED, data={"alert": view.summary()})],
        also=also,
    )
    return replace(view, incident_id=None), result.incident

"""Vendor engagement: the incident waits on a supplier. Engaging one records who, how they
were reached and their reference (`com.incidents.vendor.engaged.v1`) and moves the incident
to PENDING with reason VENDOR in the same transaction (its SLA clocks pause); a second
vendor engaged while it waits is recorded without a move."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.core.ids import parse_uuid
from app.errors import ValidationFailed
from app.models import IncidentStatus, TimelineEvent
from app.services.access.caller import Caller
from app.services.incidents import commands as incident_commands
from app.services.incidents import validation
from app.services.incidents.commands import CommandResult
from app.services.incidents.snapshot import get_incident
from app.services.incidents.timeline import NewEvent

VENDOR_ENGAGED = "com.incidents.vendor.engaged.v1"
PENDING_REASON = "VENDOR"


class ContactMethod(StrEnum):
    PHONE = "PHONE"
    EMAIL = "EMAIL"
    VENDOR_PORTAL = "VENDOR_PORTAL"
    API = "API"


async def engage_vendor(
    *,
    caller: Caller,
    incident_id: str,
    vendor: str,
    method: ContactMethod,
    reference: str | None = None,
) -> CommandResult:
    name = validation.name(vendor, field="vendor")
    if name is None:
        raise ValidationFailed("name the vendor", field="vendor")
    ref = validation.name(reference, field="reference")
    event = NewEvent(
        type=VENDOR_ENGAGED,
        data={"vendor": name, "contactMethod": method.value, "reference": ref},
    )
    current = await get_incident(tenant_id=caller.tenant_id, incident_id=incident_id)
    if current.status is IncidentStatus.PENDING:
        return await incident_commands.append_events(
            caller=caller, incident_id=incident_id, events=[event], open_only=True
        )
    return await incident_commands.transition_incident(
        caller=caller,
        incident_id=incident_id,
        to=IncidentStatus.PENDING,
        reason=PENDING_REASON,
        with_events=[event],
    )


@dataclass(frozen=True, slots=True)
class EngagementView:
    vendor: str
    method: ContactMethod
    reference: str | None
    engaged_at: datetime
    engaged_by: str | None


async def engagements_of(
    *, tenant_id: str, incident_ids: Sequence[str]
) -> dict[str, list[EngagementView]]:
    """Each incident's vendors engaged, oldest first: one statement for any number."""
    keys = [k for k in (parse_uuid(i) for i in incident_ids) if k is not None]
    rows = (
        await TimelineEvent.filter(
            tenant_id=tenant_id, incident_id__in=keys, type=VENDOR_ENGAGED
        ).order_by("seq")
        if keys
        else []
    )
    found: dict[str, list[EngagementView]] = {i: [] for i in incident_ids}
    for row in rows:
        found.setdefault(str(row.incident_id), []).append(
            EngagementView(
                vendor=row.data["vendor"],
                method=ContactMethod(row.data["contactMethod"]),
                reference=row.data.get("reference"),
                engaged_at=row.time,
                engaged_by=row.actor,
            )
        )
    return found

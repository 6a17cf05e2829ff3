"""A realistic demo data set: incidents across the whole lifecycle, with notes."""

from __future__ import annotations

from app.models import Classification, Impact, IncidentStatus, NoteKind, Severity, Urgency
from app.services.access.caller import Caller
from app.services.incidents import commands as service

_S = IncidentStatus
_C = Classification
# (title, service, severity, impact, urgency, statuses to walk through, classification)
_DEMO = [
    (
        "Checkout API returning 502 for 30% of requests",
        "checkout",
        Severity.SEV1,
        Impact.HIGH,
        Urgency.HIGH,
        [_S.IN_PROGRESS, _S.ESCALATED],
        _C.INTERNAL,
    ),
    (
        "Elevated latency on search (p99 4s)",
        "search",
        Severity.SEV2,
        Impact.MEDIUM,
        Urgency.HIGH,
        [_S.IN_PROGRESS, _S.MITIGATED],
        _C.INTERNAL,
    ),
    (
        "Password reset emails delayed",
        "notifications",
        Severity.SEV3,
        Impact.MEDIUM,
        Urgency.MEDIUM,
        [_S.IN_PROGRESS, _S.PENDING],
        _C.INTERNAL,
    ),
    (
        "Disk 85% full on analytics replica",
        "analytics",
        Severity.SEV4,
        Impact.LOW,
        Urgency.LOW,
        [],
        _C.INTERNAL,
    ),
    (
        "Mobile app login failures in EU region",
        "auth",
        Severity.SEV2,
        Impact.HIGH,
        Urgency.MEDIUM,
        [_S.IN_PROGRESS, _S.RESOLVED],
        _C.INTERNAL,
    ),
    (
        "Status page certificate expires in 7 days",
        "status-page",
        Severity.SEV4,
        Impact.LOW,
        Urgency.MEDIUM,
        [_S.IN_PROGRESS, _S.RESOLVED, _S.CLOSED],
        _C.INTERNAL,
    ),
    (
        "Duplicate alert for payments queue depth",
        "payments",
        Severity.SEV3,
        Impact.LOW,
        Urgency.LOW,
        [_S.CANCELLED],
        _C.INTERNAL,
    ),
    (
        "Image thumbnails missing for new uploads",
        "media",
        Severity.SEV3,
        Impact.MEDIUM,
        Urgency.LOW,
        [_S.IN_PROGRESS],
        _C.INTERNAL,
    ),
    (
        "Customer records exported by a suspicious admin session",
        "admin-console",
        Severity.SEV2,
        Impact.HIGH,
        Urgency.HIGH,
        [_S.IN_PROGRESS],
        _C.RESTRICTED,
    ),
    (
        "Payroll vendor reports a breach on their side",
        "payroll",
        Severity.SEV3,
        Impact.MEDIUM,
        Urgency.MEDIUM,
        [_S.IN_PROGRESS],
        _C.CONFIDENTIAL,
    ),
]


async def load_demo(*, tenant_id: str) -> int:
    caller = Caller.system(tenant_id, actor="demo")
    for title, svc, severity, impact, urgency, path, classification in _DEMO:
        result = await service.declare_incident(
            caller=caller,
            title=title,
            severity=severity,
            impact=impact,
            urgency=urgency,
            service=svc,
            description=f"Demo incident on {svc}.",
            classification=classification,
        )
        incident_id = result.incident.id
        await service.add_note(
            caller=caller,
            incident_id=incident_id,
            body=f"Paging the {svc} on-call.",
            kind=NoteKind.GENERAL,
        )
        for status in path:
            await service.transition_incident(
                caller=caller,
                incident_id=incident_id,
                to=status,
                reason="demo",
                resolution_summary="Rolled back the faulty deploy."
                if status is _S.RESOLVED
                else None,
            )
    return len(_DEMO)

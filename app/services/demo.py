"""A realistic demo data set: incidents across the whole lifecycle, with notes, and the
services, problems, changes and articles around them."""

from __future__ import annotations

from datetime import timedelta

from app.models import (
    ArticleKind,
    ChangeRelation,
    ChangeStatus,
    ChangeType,
    Classification,
    Impact,
    Incident,
    IncidentStatus,
    NoteKind,
    ProblemStatus,
    Risk,
    ServiceTier,
    Severity,
    Urgency,
)
from app.services.access.caller import Caller
from app.services.access.tenants import get_policy
from app.services.catalog import queries as catalog_queries
from app.services.catalog import services as catalog
from app.services.changes import commands as changes
from app.services.incidents import commands as service
from app.services.knowledge import commands as knowledge
from app.services.problems import commands as problems

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


DEMO_ACTOR = "demo"


async def demo_loaded(*, tenant_id: str) -> bool:
    """Whether the tenant has the demo already (an incident the demo declared)."""
    return await Incident.filter(tenant_id=tenant_id, declared_by=DEMO_ACTOR).exists()


async def load_demo(*, tenant_id: str) -> int:
    """The demo data set, once: 0 when the tenant has it already (nothing is changed)."""
    await get_policy(tenant_id=tenant_id)  # NOT_FOUND for a tenant that does not exist
    if await demo_loaded(tenant_id=tenant_id):
        return 0
    caller = Caller.system(tenant_id, actor=DEMO_ACTOR)
    declared: dict[str, str] = {}
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
        declared[svc] = incident_id
    await _records(tenant_id, declared)
    return len(_DEMO)


async def _records(tenant_id: str, incidents: dict[str, str]) -> None:
    """The records around the demo incidents: the catalog the incidents made, given tiers
    and dependencies; a known error; changes in several states; a published article."""
    writer, reviewer = (Caller.system(tenant_id, actor=a) for a in ("demo-sre", "demo-lead"))
    page = await catalog_queries.list_services(tenant_id=tenant_id, first=100)
    ids = {view.name: view.id for _, view in page.items}
    for name, tier, depends_on in _CATALOG:
        if name in ids:
            await catalog.update_service(
                tenant_id=tenant_id,
                service_id=ids[name],
                changes={"tier": tier, "depends_on": [ids[d] for d in depends_on if d in ids]},
            )
    problem = await problems.create_problem(
        caller=writer,
        title="Checkout pods exhaust their database connection pool under load",
        description="Each checkout 502 burst follows pool exhaustion on the primary.",
        incident_ids=[incidents["checkout"]],
        force=True,
    )
    prb = problem.problem.id
    await problems.transition_problem(
        caller=writer, problem_id=prb, to=ProblemStatus.UNDER_INVESTIGATION,
        stability_window=timedelta(days=7),
    )  # fmt: skip
    await problems.record_workaround(
        caller=writer,
        problem_id=prb,
        workaround="Scale checkout to 12 pods and raise the pool to 40 per pod.",
    )
    standard = await changes.request_change(
        caller=writer, title="Rotate the status page certificate", type=ChangeType.STANDARD,
        risk=Risk.LOW,
    )  # fmt: skip
    for to in (ChangeStatus.IN_PROGRESS, ChangeStatus.IMPLEMENTED, ChangeStatus.CLOSED):
        await changes.transition_change(caller=writer, change_id=standard.change.id, to=to)
    normal = await changes.request_change(
        caller=writer, title="Raise the checkout connection pool to 40", type=ChangeType.NORMAL,
        risk=Risk.MEDIUM, service_ids=[ids["checkout"]] if "checkout" in ids else [],
    )  # fmt: skip
    await changes.approve_change(caller=reviewer, change_id=normal.change.id)
    await changes.link_change(
        caller=writer, change_id=normal.change.id, relation=ChangeRelation.FIXES, problem_id=prb
    )
    article = await knowledge.create_article(
        caller=writer,
        title="EU login failures: roll back the auth deploy",
        body="When mobile logins fail in one region after an auth deploy, roll the deploy "
        "back region by region and watch the login success rate recover.",
        kind=ArticleKind.RESOLUTION,
        incident_id=incidents["auth"],
    )
    await knowledge.submit_article(caller=writer, article_id=article.article.id)
    await knowledge.publish_article(caller=reviewer, article_id=article.article.id)


# (service, tier, depends on)
_CATALOG = [
    ("checkout", ServiceTier.TIER_1, ["payments", "auth", "search"]),
    ("payments", ServiceTier.TIER_1, []),
    ("auth", ServiceTier.TIER_1, []),
    ("search", ServiceTier.TIER_2, []),
    ("notifications", ServiceTier.TIER_2, ["auth"]),
    ("media", ServiceTier.TIER_3, []),
]

"""A realistic demo data set: four weeks of past incidents (services/demo_history.py), today's
incidents across the whole lifecycle, with notes and public updates, and the services,
problems, changes and articles around them.

Today's incidents were declared minutes to hours ago (the clock set back for each step, as
the history is), so their clocks have run: some public updates are overdue on the
communications board, and the customer board shows what customers were told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.config import Settings
from app.core import clock
from app.models import (
    ArticleKind,
    ChangeRelation,
    ChangeStatus,
    ChangeType,
    Classification,
    Impact,
    Incident,
    IncidentStatus,
    ItsmProvider,
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
from app.services.demo_history import IncidentSteps, load_history
from app.services.incidents import commands as service
from app.services.itsm import tickets
from app.services.itsm.connection import list_connections
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
        _C.PUBLIC,
    ),
    (
        "Elevated latency on search (p99 4s)",
        "search",
        Severity.SEV2,
        Impact.MEDIUM,
        Urgency.HIGH,
        [_S.IN_PROGRESS, _S.MITIGATED],
        _C.PUBLIC,
    ),
    (
        "Password reset emails delayed",
        "notifications",
        Severity.SEV3,
        Impact.MEDIUM,
        Urgency.MEDIUM,
        [_S.IN_PROGRESS, _S.PENDING],
        _C.PUBLIC,
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


# Today's incidents by service: declared this many minutes ago, acknowledged this many
# minutes after, and the public update customers last had (minutes ago), if any.
_TODAY: dict[str, tuple[float, float, tuple[str, float] | None]] = {
    "checkout": (95, 6, ("Some payments are failing at checkout. We have rolled back a "
                         "release and are watching the error rate.", 50)),
    "search": (180, 14, ("Search is slower than usual; results are still correct.", 20)),
    "notifications": (420, 35, ("Password reset e-mails may arrive late.", 300)),
    "analytics": (20, 0, None),
    "auth": (240, 9, None),
    "status-page": (600, 45, None),
    "payments": (30, 0, None),
    "media": (300, 40, None),
    "admin-console": (40, 5, None),
    "payroll": (180, 25, None),
}  # fmt: skip

DEMO_ACTOR = "demo"


@dataclass(frozen=True, slots=True)
class DemoLoaded:
    """What the demo loaded: today's incidents and the past ones (both 0: it was there), and
    the product the major incident got a ticket in (None without an ITSM connection)."""

    current: int
    past: int
    ticket_in: ItsmProvider | None = None


async def demo_loaded(*, tenant_id: str) -> bool:
    """Whether the tenant has the demo already (an incident the demo declared)."""
    return await Incident.filter(tenant_id=tenant_id, declared_by=DEMO_ACTOR).exists()


async def load_demo(*, tenant_id: str, settings: Settings) -> DemoLoaded:
    """The demo data set, once: nothing loaded when the tenant has it already (and nothing
    is changed)."""
    await get_policy(tenant_id=tenant_id)  # NOT_FOUND for a tenant that does not exist
    if await demo_loaded(tenant_id=tenant_id):
        return DemoLoaded(current=0, past=0)
    past = await load_history(tenant_id=tenant_id, declarer=DEMO_ACTOR, settings=settings)
    now = clock.utcnow()
    caller = Caller.system(tenant_id, actor=DEMO_ACTOR)
    declared: dict[str, str] = {}
    for title, svc, severity, impact, urgency, path, classification in _DEMO:
        age, ack, public = _TODAY[svc]
        start = now - timedelta(minutes=age)
        with clock.as_of(start):
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
        steps = IncidentSteps(tenant_id, incident_id, caller)
        await _today(steps, svc, start, now, path, ack, public)
        await steps.marks_until(now)
        declared[svc] = incident_id
    await _records(tenant_id, declared)
    ticket_in = await _ticket(caller, declared["checkout"])
    return DemoLoaded(current=len(_DEMO), past=past, ticket_in=ticket_in)


async def _ticket(caller: Caller, incident_id: str) -> ItsmProvider | None:
    """With an ITSM connection (ServiceNow or Jira) the tenant has enabled, the major incident
    gets a new ticket there: queued here, made by a server's sync worker like any other."""
    enabled = [c for c in await list_connections(tenant_id=caller.tenant_id) if c.enabled]
    if not enabled:
        return None
    provider = enabled[0].provider
    await tickets.link_ticket(
        caller=caller, incident_id=incident_id, provider=provider, external_key=None
    )
    return provider


async def _today(
    steps: IncidentSteps,
    svc: str,
    start: datetime,
    now: datetime,
    path: list[IncidentStatus],
    ack: float,
    public: tuple[str, float] | None,
) -> None:
    """An incident of today's, its steps in time order: the page, the moves along `path`
    (the first `ack` minutes after the declaration, the rest spread until a few minutes
    ago) and the public update."""
    first = start + timedelta(minutes=ack or 1)
    spread = (now - timedelta(minutes=3) - first) / max(len(path), 1)
    actions: list[tuple[datetime, int, str, IncidentStatus | None]] = [
        (start + timedelta(minutes=1), 0, f"Paging the {svc} on-call.", None)
    ]
    actions += [(first + spread * n, 1, "", status) for n, status in enumerate(path)]
    if public is not None:
        actions.append((now - timedelta(minutes=public[1]), 2, public[0], None))
    for at, kind, body, status in sorted(actions, key=lambda a: (a[0], a[1])):
        if status is not None:
            await steps.move(
                at,
                status,
                summary="Rolled back the faulty deploy." if status is _S.RESOLVED else None,
            )
        else:
            level = Classification.PUBLIC if kind == 2 else Classification.INTERNAL
            await steps.note(at, body, level)


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

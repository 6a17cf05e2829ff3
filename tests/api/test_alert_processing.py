"""The alert processor on each backend: deduplication, correlation, declaration, timeline.

Most tests run the processor in this process against a fresh, migrated database of each
kind, feeding it intake rows in the normalised shape the webhooks write. The last ones go
end to end through a real server: webhook in, incident and live timeline events out.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.models import (
    Alert,
    AlertGroup,
    AlertIntake,
    AlertStatus,
    Classification,
    CorrelationRule,
    DetectionSource,
    Impact,
    Incident,
    IncidentService,
    IncidentStatus,
    Lease,
    PlaybookApplication,
    Role,
    Service,
    ServiceTier,
    Severity,
    Task,
    TimelineEvent,
    Urgency,
)
from app.services import hooks
from app.services.access import tenants as tenant_service
from app.services.access.caller import Caller
from app.services.alerts import settling as settling_module
from app.services.alerts.links import link_alert
from app.services.alerts.processor import LEASE_NAME, AlertProcessor
from app.services.catalog.services import create_service
from app.services.incidents.commands import declare_incident, transition_incident
from app.services.incidents.timeline import EventType
from app.services.response.playbooks import PlaybookWorker, TemplateTask, create_playbook
from tests.support import (
    REDIS_URL,
    Backend,
    GraphQLClient,
    Server,
    connected,
    create_pg_database,
    create_tenant,
    create_token,
    drop_pg_database,
    subscribe_and_wait,
    subscriber,
)

# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """Connected to the module's database, with no intake left over; yields a new tenant."""
    async with connected(database_url):
        await AlertIntake.all().delete()
        # Processors of earlier tests are gone without releasing their lease.
        await Lease.filter(name=LEASE_NAME).delete()
        tenant = f"t-{uuid.uuid4().hex[:10]}"
        await tenant_service.create_tenant(tenant_id=tenant, name=tenant)
        yield tenant


def processor(**settings: Any) -> AlertProcessor:
    values: dict[str, Any] = {"alert_coalesce_seconds": 0.0, **settings}
    return AlertProcessor(Settings(**values), use_row_locks=False)


# --- helpers --------------------------------------------------------------------------------

NOW = datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def an_alert(
    fingerprint: str | None = None,
    *,
    status: str = "FIRING",
    alertname: str | None = "HighLatency",
    service: str | None = "checkout",
    severity: str | None = "critical",
    source: str = "alertmanager",
    starts_at: datetime = NOW,
    labels: dict[str, str] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """A normalised alert, as the intake stores it."""
    base = {"alertname": alertname, "service": service, "severity": severity}
    return {
        "source": source,
        "fingerprint": fingerprint or uuid.uuid4().hex,
        "status": status,
        "alertname": alertname,
        "service": service,
        "severity": severity,
        "title": title or f"{alertname} is high",
        "description": "p99 above 2 s for 5 minutes",
        "labels": {**{k: v for k, v in base.items() if v is not None}, **(labels or {})},
        "annotations": {"summary": title or f"{alertname} is high"},
        "url": "http://prometheus.example/graph",
        "startsAt": iso(starts_at),
        "endsAt": iso(datetime.now(UTC)) if status == "RESOLVED" else None,
        "groupKey": None,
        "receivedAt": iso(datetime.now(UTC)),
    }


async def intake(tenant: str, *alerts: dict[str, Any], received_at: datetime | None = None) -> None:
    at = received_at or datetime.now(UTC)
    await AlertIntake.bulk_create(
        [AlertIntake(tenant_id=tenant, payload=a, received_at=at) for a in alerts],
        batch_size=5_000,
    )


async def drain(worker: AlertProcessor) -> None:
    """Run the processor until the intake is empty and nothing is owed."""
    while await worker.run_once():
        pass
    for _ in range(100):
        await worker.settle()
        if not await Alert.filter(pending_event__isnull=False, incident_id__isnull=False).exists():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timeline events still owed after 10 s")


async def incidents_of(tenant: str) -> list[Incident]:
    return await Incident.filter(tenant_id=tenant).order_by("number")


async def alerts_of(tenant: str) -> list[Alert]:
    return await Alert.filter(tenant_id=tenant).order_by("first_received_at", "fingerprint")


async def events_of(incident: Incident, kind: str) -> list[TimelineEvent]:
    return await TimelineEvent.filter(incident_id=incident.id, type=kind).order_by("seq")


async def add_rule(tenant: str, position: int, **fields: Any) -> CorrelationRule:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "name": f"rule {position}",
        "matchers": {},
        "group_by": ["service", "alertname"],
        "window_seconds": 3600,
        "auto_declare": True,
        "min_alerts": 1,
        "severity": None,
        "impact": "MEDIUM",
        "urgency": "MEDIUM",
        "title_template": None,
        **fields,
    }
    return await CorrelationRule.create(
        id=uuid.uuid4(),
        tenant_id=tenant,
        position=position,
        created_at=now,
        updated_at=now,
        **values,
    )


# --- deduplication --------------------------------------------------------------------------


async def test_repeats_of_a_firing_alert_are_counted_not_stored_again(db: str) -> None:
    # given an alert sent three times (twice in one batch, once in the next)
    first = an_alert("fp-1", labels={"pod": "a"})
    await intake(db, first, first)
    worker = processor()
    await drain(worker)
    await intake(db, an_alert("fp-1", labels={"pod": "b"}))
    await drain(worker)

    # then one alert is stored, counted three times, with the latest labels
    [alert] = await alerts_of(db)
    assert alert.count == 3
    assert alert.status is AlertStatus.FIRING
    assert alert.labels["pod"] == "b"
    assert alert.last_received_at >= alert.first_received_at
    # and one incident links it, announced once
    [incident] = await incidents_of(db)
    assert alert.incident_id == incident.id
    [linked] = await events_of(incident, EventType.ALERTS_LINKED)
    assert linked.data["count"] == 1
    assert await AlertIntake.filter(tenant_id=db).count() == 0


async def test_repeats_in_one_batch_leave_the_labels_of_the_last(db: str) -> None:
    # given a stored alert, then three repeats of it and three notifications of a new alert
    worker = processor()
    await intake(db, an_alert("fp-old", labels={"pod": "a"}))
    await drain(worker)
    await intake(
        db,
        *(an_alert("fp-old", labels={"pod": pod}) for pod in "bcd"),
        *(an_alert("fp-new", labels={"pod": pod}) for pod in "xyz"),
    )

    # when one batch takes them all
    assert await worker.store_batch() == 6

    # then each alert is counted for each notification and keeps the labels of its last one
    old, new = await alerts_of(db)
    assert (old.fingerprint, old.count, old.labels["pod"]) == ("fp-old", 4, "d")
    assert (new.fingerprint, new.count, new.labels["pod"]) == ("fp-new", 3, "z")
    assert old.annotations == {"summary": "HighLatency is high"}


async def test_a_resolved_notification_resolves_the_alert_and_the_timeline_says_so(
    db: str,
) -> None:
    # given a firing alert linked to an incident
    worker = processor()
    await intake(db, an_alert("fp-r"))
    await drain(worker)

    # when it resolves, and the resolution is delivered twice
    await intake(db, an_alert("fp-r", status="RESOLVED"))
    await drain(worker)
    await intake(db, an_alert("fp-r", status="RESOLVED"))
    await drain(worker)

    # then the alert is resolved, counted, with an end, and free for a new lifetime
    [alert] = await alerts_of(db)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at is not None
    assert alert.active_key is None
    assert alert.count == 3
    # and the incident's timeline has one resolved event for it
    [incident] = await incidents_of(db)
    [resolved] = await events_of(incident, EventType.ALERTS_RESOLVED)
    assert resolved.data["count"] == 1
    assert resolved.data["firing"] == 0
    assert resolved.data["alerts"][0]["fingerprint"] == "fp-r"
    assert resolved.data["alerts"][0]["status"] == "RESOLVED"
    assert resolved.actor == "alerts"


async def test_a_late_firing_of_a_resolved_lifetime_counts_and_a_new_start_is_a_new_alert(
    db: str,
) -> None:
    # given an alert that fired and resolved
    worker = processor()
    await intake(db, an_alert("fp-l"), an_alert("fp-l", status="RESOLVED"))
    await drain(worker)

    # when a late firing notification of that same lifetime arrives
    await intake(db, an_alert("fp-l"))
    await drain(worker)

    # then it counts on the resolved alert and changes nothing else
    [alert] = await alerts_of(db)
    assert (alert.status, alert.count) == (AlertStatus.RESOLVED, 3)

    # when the same fingerprint fires again with a new start
    await intake(db, an_alert("fp-l", starts_at=NOW + timedelta(minutes=5)))
    await drain(worker)

    # then that is a second alert, firing
    alerts = await alerts_of(db)
    assert [a.status for a in alerts] == [AlertStatus.RESOLVED, AlertStatus.FIRING]


async def test_a_notification_without_start_belongs_to_the_latest_lifetime(db: str) -> None:
    # given a generic source that never says when its alerts started
    def generic(status: str = "FIRING") -> dict[str, Any]:
        return {**an_alert("disk-1", status=status, source="nagios"), "startsAt": None}

    worker = processor()

    # when its alert fires, resolves, and the resolution is sent twice more, each in a
    # batch of its own
    for status in ("FIRING", "RESOLVED", "RESOLVED", "RESOLVED"):
        await intake(db, generic(status))
        await drain(worker)

    # then that is one alert, resolved, counted four times
    [alert] = await alerts_of(db)
    assert (alert.status, alert.count) == (AlertStatus.RESOLVED, 4)

    # when it fires again, then resolves again (twice, in one batch)
    await intake(db, generic())
    await drain(worker)
    await intake(db, generic("RESOLVED"), generic("RESOLVED"))
    await drain(worker)

    # then the firing started a second lifetime, which the resolutions ended and counted
    first, second = await alerts_of(db)
    assert (first.status, first.count) == (AlertStatus.RESOLVED, 4)
    assert (second.status, second.count) == (AlertStatus.RESOLVED, 3)


async def test_an_alert_resolved_while_its_link_is_announced_shows_resolved_once(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an alert stored, whose incident is about to be declared and announced
    worker = processor()
    await intake(db, an_alert("fp-race"))
    assert await worker.store_batch() == 1

    # when its resolution is stored while the event announcing its link is being written
    append_events = settling_module.append_events
    raced = False

    async def resolved_meanwhile(**kwargs: Any) -> Any:
        nonlocal raced
        if not raced:
            raced = True
            await intake(db, an_alert("fp-race", status="RESOLVED"))
            assert await worker.store_batch() == 1
        return await append_events(**kwargs)

    monkeypatch.setattr(settling_module, "append_events", resolved_meanwhile)
    await drain(worker)

    # then the timeline shows the alert resolved, and exactly once so
    [incident] = await incidents_of(db)
    events = await TimelineEvent.filter(
        incident_id=incident.id, type__in=[EventType.ALERTS_LINKED, EventType.ALERTS_RESOLVED]
    ).order_by("seq")
    shown = [a["status"] for e in events for a in e.data["alerts"]]
    assert shown[-1] == "RESOLVED"
    assert shown.count("RESOLVED") == 1
    assert not await Alert.filter(tenant_id=db, pending_event__isnull=False).exists()


# --- correlation ----------------------------------------------------------------------------


async def test_alerts_of_one_service_and_alertname_make_one_incident(db: str) -> None:
    # given three alerts of one service and alertname and one of another alertname
    worker = processor()
    await intake(db, an_alert(labels={"pod": "a"}), an_alert(labels={"pod": "b"}))
    await drain(worker)
    await intake(db, an_alert(labels={"pod": "c"}), an_alert(alertname="DiskFull"))
    await drain(worker)

    # then two incidents, titled and graded from the default rule
    first, second = await incidents_of(db)
    assert first.title == "HighLatency on checkout"
    assert first.severity is Severity.SEV2  # critical
    assert first.service == "checkout"
    assert first.declared_by == "alerts"
    assert first.detection_source is DetectionSource.AUTOMATED_ALERT
    assert second.title == "DiskFull on checkout"
    alerts = await alerts_of(db)
    assert sum(1 for a in alerts if a.incident_id == first.id) == 3
    # and every linked alert was announced on its incident
    linked = await events_of(first, EventType.ALERTS_LINKED)
    assert sum(e.data["count"] for e in linked) == 3


async def test_after_the_window_or_once_the_incident_is_resolved_a_group_starts_over(
    db: str,
) -> None:
    # given a rule with a short window that declares at the second alert of a group
    await add_rule(db, 1, window_seconds=1, min_alerts=2)
    worker = processor()
    await intake(db, an_alert("w-1"))
    await drain(worker)

    # when the next alert of the group comes after the window, then a third at once
    await asyncio.sleep(1.3)
    await intake(db, an_alert("w-2"))
    await drain(worker)
    assert await incidents_of(db) == []
    await intake(db, an_alert("w-3"))
    await drain(worker)

    # then the first alert's group had gone quiet: the incident takes the other two only
    [first] = await incidents_of(db)
    linked = {a.fingerprint: a.incident_id for a in await alerts_of(db)}
    assert linked == {"w-1": None, "w-2": first.id, "w-3": first.id}

    # when that incident is resolved and two more alerts of the group arrive at once
    for to in (IncidentStatus.IN_PROGRESS, IncidentStatus.RESOLVED):
        await transition_incident(
            caller=Caller.system(db, actor="sam"),
            incident_id=str(first.id),
            to=to,
            resolution_summary="rolled back",
        )
    await intake(db, an_alert("w-4"), an_alert("w-5"))
    await drain(worker)

    # then they make a second incident
    [_, second] = await incidents_of(db)
    assert {a.incident_id for a in await alerts_of(db) if a.fingerprint in ("w-4", "w-5")} == {
        second.id
    }


async def test_a_group_whose_incident_is_still_worked_on_stays_open_past_its_window(
    db: str,
) -> None:
    # given a rule with a short window, and an incident declared for its group, in progress
    await add_rule(db, 1, window_seconds=1)
    worker = processor()
    await intake(db, an_alert("long-1"))
    await drain(worker)
    [incident] = await incidents_of(db)
    await transition_incident(
        caller=Caller.system(db, actor="sam"),
        incident_id=str(incident.id),
        to=IncidentStatus.IN_PROGRESS,
    )

    # when the alert keeps firing (repeats only) past the window, then a new alert of the group
    for _ in range(3):
        await asyncio.sleep(0.5)
        await intake(db, an_alert("long-1"))
        await drain(worker)
    await intake(db, an_alert("long-2"))
    await drain(worker)

    # then the new alert links to the incident still in progress; no second incident
    assert [i.id for i in await incidents_of(db)] == [incident.id]
    assert {a.incident_id for a in await alerts_of(db)} == {incident.id}


async def test_an_alert_matching_an_open_incident_links_to_it(db: str) -> None:
    # given an incident declared for a group, then worked on
    worker = processor()
    await intake(db, an_alert())
    await drain(worker)
    [incident] = await incidents_of(db)
    await transition_incident(
        caller=Caller.system(db, actor="sam"),
        incident_id=str(incident.id),
        to=IncidentStatus.IN_PROGRESS,
    )

    # when another alert of the group arrives
    await intake(db, an_alert(labels={"pod": "z"}))
    await drain(worker)

    # then it links to that incident; no new one
    assert len(await incidents_of(db)) == 1
    assert {a.incident_id for a in await alerts_of(db)} == {incident.id}
    linked = await events_of(incident, EventType.ALERTS_LINKED)
    assert [e.data["count"] for e in linked] == [1, 1]


async def test_a_rule_with_min_alerts_waits_for_enough_alerts(db: str) -> None:
    # given a rule that declares at the third alert of a group
    await add_rule(db, 1, min_alerts=3, severity="SEV1", impact="HIGH", urgency="HIGH")
    worker = processor()

    # when two alerts arrive, nothing is declared
    await intake(db, an_alert(), an_alert())
    await drain(worker)
    assert await incidents_of(db) == []
    assert {a.incident_id for a in await alerts_of(db)} == {None}

    # when the third arrives, one incident takes all three, with the rule's grading
    await intake(db, an_alert())
    await drain(worker)
    [incident] = await incidents_of(db)
    assert (incident.severity, incident.impact.value, incident.urgency.value) == (
        Severity.SEV1,
        "HIGH",
        "HIGH",
    )
    assert {a.incident_id for a in await alerts_of(db)} == {incident.id}
    [linked] = await events_of(incident, EventType.ALERTS_LINKED)
    assert linked.data["count"] == 3


async def test_a_rule_without_auto_declare_never_declares(db: str) -> None:
    # given a rule for warnings that only groups
    await add_rule(db, 1, matchers={"severity": "warning"}, auto_declare=False)
    worker = processor()

    # when warnings arrive
    await intake(db, *(an_alert(severity="warning") for _ in range(5)))
    await drain(worker)

    # then they are stored and grouped, but nothing is declared
    alerts = await alerts_of(db)
    assert len(alerts) == 5 and {a.incident_id for a in alerts} == {None}
    assert len({a.group_id for a in alerts}) == 1
    assert await incidents_of(db) == []


async def test_the_first_matching_rule_by_position_wins(db: str) -> None:
    # given two rules that both match critical checkout alerts: the lower position first
    await add_rule(
        db,
        2,
        matchers={"service": "checkout"},
        title_template="checkout: {alertname}",
        group_by=["service"],
    )
    await add_rule(
        db,
        1,
        matchers={"severity": ["critical", "error"], "service": "checkout"},
        title_template="[{severity}] {alertname} in {labels.region}",
        group_by=["service"],
    )
    worker = processor()

    # when a critical and a warning alert of checkout arrive
    await intake(
        db,
        an_alert(alertname="Errors", labels={"region": "eu-west-1"}),
        an_alert(alertname="Saturation", severity="warning"),
    )
    await drain(worker)

    # then each is grouped by the first rule that matches it
    titles = sorted(i.title for i in await incidents_of(db))
    assert titles == ["[critical] Errors in eu-west-1", "checkout: Saturation"]


async def test_an_alert_declared_incident_owes_the_playbooks_it_matches(db: str) -> None:
    # given an automatic playbook for SEV2 incidents and one for SEV4 ones
    for severity in ("SEV2", "SEV4"):
        await create_playbook(
            tenant_id=db,
            actor=None,
            name=f"On {severity}",
            tasks=[TemplateTask("Look at the dashboards")],
            match_severities=[Severity(severity)],
            auto_apply=True,
        )
    worker = processor()
    stop_hooks = hooks.register()  # as the server does

    # when a critical alert declares an incident
    await intake(db, an_alert())
    try:
        await drain(worker)
    finally:
        stop_hooks()

    # then the declaration owes the SEV2 playbook's application, and the worker makes it
    [incident] = await incidents_of(db)
    assert incident.severity is Severity.SEV2
    owed = await PlaybookApplication.filter(incident_id=incident.id).prefetch_related("playbook")
    assert [(o.playbook.name, o.applied_at) for o in owed] == [("On SEV2", None)]
    await PlaybookWorker().run_once()
    tasks = await Task.filter(incident_id=incident.id).values_list("title", flat=True)
    assert tasks == ["Look at the dashboards"]


async def test_alerts_correlate_by_the_catalog_service_and_its_tier(db: str) -> None:
    # given a tier-1 service in the catalog and a rule for tier-1 services first
    await create_service(tenant_id=db, name="Payments API", tier=ServiceTier.TIER_1)
    await add_rule(
        db,
        1,
        matchers={"service_tier": "TIER_1"},
        severity="SEV1",
        impact="HIGH",
        urgency="HIGH",
        title_template="Tier 1: {alertname}",
        group_by=["service", "alertname"],
    )
    await add_rule(db, 2, group_by=["service", "alertname"])
    worker = processor()
    stop_hooks = hooks.register()  # as the server does: incidents link their services

    # when senders spell the service three ways, and one names a service the catalog lacks
    await intake(
        db,
        an_alert(service="payments api"),
        an_alert(service="PAYMENTS API"),
        an_alert(service="Payments API", labels={"service_tier": "TIER_3"}),
        an_alert(service="ledger"),
    )
    try:
        await drain(worker)
    finally:
        stop_hooks()

    # then the catalog's service makes one group under the tier-1 rule, the other its own
    incidents = await incidents_of(db)
    assert sorted((i.title, i.severity) for i in incidents) == [
        ("HighLatency on ledger", Severity.SEV2),
        ("Tier 1: HighLatency", Severity.SEV1),
    ]
    tier_one = next(i for i in incidents if i.severity is Severity.SEV1)
    assert await Alert.filter(incident_id=tier_one.id).count() == 3
    # and it affects the catalog's service; no second service was made from a spelling
    linked = await IncidentService.filter(incident_id=tier_one.id).values_list(
        "service__name", flat=True
    )
    assert linked == ["Payments API"]
    names = await Service.filter(tenant_id=db).values_list("name", flat=True)
    assert sorted(names) == ["Payments API", "ledger"]


async def test_once_a_tenant_has_rules_an_alert_no_rule_matches_is_only_stored(db: str) -> None:
    # given one rule, for databases only
    await add_rule(db, 1, matchers={"service": "postgres"}, group_by=["service"])
    worker = processor()

    # when a database alert and a checkout alert arrive
    await intake(db, an_alert(service="postgres"), an_alert(service="checkout"))
    await drain(worker)

    # then only the database alert declares; the other is kept, ungrouped and unlinked
    incidents = await incidents_of(db)
    assert [i.service for i in incidents] == ["postgres"]
    stored = {a.service: a for a in await alerts_of(db)}
    assert stored["checkout"].group_id is None and stored["checkout"].incident_id is None
    assert stored["postgres"].incident_id == incidents[0].id


# --- storms, concurrency, crashes -----------------------------------------------------------


async def test_a_storm_of_ten_thousand_alerts_makes_one_incident_and_a_few_events(
    db: str,
) -> None:
    # given 10,000 distinct alerts of one service and alertname, a tenth of them repeated
    distinct = [an_alert(f"storm-{i}") for i in range(10_000)]
    await intake(db, *distinct, *distinct[:1_000])
    worker = processor(alert_coalesce_seconds=1.0)

    # when the processor works through them
    started = time.perf_counter()
    while await worker.run_once():
        pass
    elapsed = time.perf_counter() - started
    await drain(worker)

    # then one incident holds every alert, and a handful of events announce them all
    [incident] = await incidents_of(db)
    assert await Alert.filter(incident_id=incident.id).count() == 10_000
    assert await Alert.filter(tenant_id=db, count=2).count() == 1_000
    linked = await events_of(incident, EventType.ALERTS_LINKED)
    assert 1 <= len(linked) <= 10
    assert sum(e.data["count"] for e in linked) == 10_000
    assert all(len(e.data["alerts"]) <= 20 for e in linked)
    assert all(e.data["more"] == e.data["count"] - len(e.data["alerts"]) for e in linked)
    print(f"\n11,000 notifications stored in {elapsed:.2f} s ({11_000 / elapsed:,.0f}/s)")


async def test_two_processors_at_once_declare_one_incident_per_group(db: str) -> None:
    # given alerts of three groups, arriving in several batches
    await intake(
        db, *(an_alert(alertname=f"Alert{i % 3}", labels={"n": str(i)}) for i in range(300))
    )
    first, second = processor(alert_batch_size=50), processor(alert_batch_size=50)

    # when two processors run at the same time until the work is done
    await asyncio.gather(drain(first), drain(second), drain(first), drain(second))

    # then each group has exactly one incident, holding all of its alerts
    incidents = await incidents_of(db)
    assert sorted(i.title for i in incidents) == [
        "Alert0 on checkout",
        "Alert1 on checkout",
        "Alert2 on checkout",
    ]
    for incident in incidents:
        assert await Alert.filter(incident_id=incident.id).count() == 100
        linked = await events_of(incident, EventType.ALERTS_LINKED)
        assert sum(e.data["count"] for e in linked) == 100


async def test_declaring_does_not_wait_for_a_batch_under_way(db: str, database_url: str) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("row locks: PostgreSQL only (SQLite has one writer at a time)")
    import asyncpg

    # given a processor that has stored a batch whose group asks for an incident
    worker = processor()
    await intake(db, an_alert("fp-1"))
    assert await worker.store_batch() == 1
    batch = await asyncpg.connect(database_url)
    try:
        # and its next batch under way: the lease row locked by that batch's transaction
        transaction = batch.transaction()
        await transaction.start()
        await batch.execute("UPDATE lease SET expires_at = expires_at WHERE name = $1", LEASE_NAME)

        # when the processor declares meanwhile
        await asyncio.wait_for(worker.settle(), 30)

        # then the incident is declared and announced before that batch commits
        [incident] = await incidents_of(db)
        [linked] = await events_of(incident, EventType.ALERTS_LINKED)
        assert linked.data["count"] == 1
        await transaction.rollback()
    finally:
        await batch.close()


async def test_a_crash_between_storing_and_declaring_still_declares_once(db: str) -> None:
    # given a batch stored, and the process gone before it declared anything
    await intake(db, an_alert(), an_alert())
    crashed = processor()
    assert await crashed.store_batch() == 2
    assert await incidents_of(db) == []
    [group] = await AlertGroup.filter(tenant_id=db)
    assert group.declare_pending

    # when its lease expires and a fresh processor runs, twice
    await Lease.filter(name=LEASE_NAME).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    restarted = processor()
    await drain(restarted)
    await drain(restarted)

    # then the incident is declared once, with both alerts and their one event
    [incident] = await incidents_of(db)
    assert {a.incident_id for a in await alerts_of(db)} == {incident.id}
    [linked] = await events_of(incident, EventType.ALERTS_LINKED)
    assert linked.data["count"] == 2
    assert not (await AlertGroup.get(id=group.id)).declare_pending


async def test_an_alert_linked_by_hand_while_its_group_declares_leaves_no_empty_incident(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an alert stored, whose group is about to declare, and an incident declared by hand
    worker = processor()
    await intake(db, an_alert("hand-1"))
    assert await worker.store_batch() == 1
    [alert] = await alerts_of(db)
    by_hand = await declare_incident(
        caller=Caller.system(db, actor="sam"),
        title="Checkout is slow",
        severity=Severity.SEV3,
        impact=Impact.MEDIUM,
        urgency=Urgency.MEDIUM,
    )

    # when a responder links the alert to it just as the processor declares for its group
    declare = settling_module.declare_incident
    linked = False

    async def linked_meanwhile(**kwargs: Any) -> Any:
        nonlocal linked
        if not linked:
            linked = True
            await link_alert(
                caller=Caller(db, "sam", Role.RESPONDER, Classification.CONFIDENTIAL),
                alert_id=str(alert.id),
                incident_id=by_hand.incident.id,
            )
        return await declare(**kwargs)

    monkeypatch.setattr(settling_module, "declare_incident", linked_meanwhile)
    await drain(worker)

    # then the alert is on the incident declared by hand, and no other incident exists
    assert [str(i.id) for i in await incidents_of(db)] == [by_hand.incident.id]
    assert (await Alert.get(id=alert.id)).incident_id == uuid.UUID(by_hand.incident.id)
    assert not await AlertGroup.filter(tenant_id=db, declare_pending=True).exists()


async def test_a_batch_of_big_alerts_stops_at_its_byte_budget(db: str) -> None:
    # given three alerts of 40 kB each
    await intake(db, *({**an_alert(), "description": "x" * 40_000} for _ in range(3)))

    # when a processor whose batches hold 50 kB of alerts works through them
    worker = AlertProcessor(Settings(), use_row_locks=False, batch_max_bytes=50_000)
    taken = [await worker.store_batch() for _ in range(4)]

    # then each batch took one alert
    assert taken == [1, 1, 1, 0]
    assert len(await alerts_of(db)) == 3


# --- end to end: webhook in, incident and live timeline out ---------------------------------

INCIDENTS = """
query { incidents { totalCount edges { node { id title severity status
  alerts { totalCount edges { node { fingerprint status count } } } } } } }
"""

FOLLOW = """
subscription Follow($id: ID!) { timelineEventAdded(incidentId: $id) { type actor data } }
"""


def alertmanager_body(*alerts: tuple[str, str], service: str = "payments") -> dict[str, Any]:
    """Alertmanager's v4 webhook payload; alerts as (fingerprint, status)."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "status": "firing",
        "receiver": "incidentgraph",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "service": service},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "HighErrorRate",
                    "service": service,
                    "severity": "critical",
                    "instance": fingerprint,
                },
                "annotations": {"summary": "5xx above 5%"},
                "startsAt": iso(NOW),
                "endsAt": iso(datetime.now(UTC))
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example/graph",
                "fingerprint": fingerprint,
            }
            for fingerprint, status in alerts
        ],
    }


async def post_alerts(server: Server, token: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post(
            "/webhooks/alerts/alertmanager",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 202, response.text


async def wait_for_incidents(client: GraphQLClient, count: int) -> list[dict[str, Any]]:
    for _ in range(150):
        data = await client.execute(INCIDENTS)
        # The page and its totalCount are two reads: an incident committed between them is
        # counted but not listed, so wait for the page itself.
        if len(data["incidents"]["edges"]) >= count:
            return [e["node"] for e in data["incidents"]["edges"]]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {count} incident(s) after 15 s: {data}")


async def test_alertmanager_alerts_declare_an_incident_whose_subscribers_see_them(
    server: Server,
) -> None:
    # given a tenant with an Alertmanager posting with an INGEST token
    tenant = create_tenant(server, tenant_id=f"e2e-{uuid.uuid4().hex[:8]}", name="E2E")
    ingest = create_token(server, role="INGEST", name="alertmanager", tenant=tenant)
    admin = server.client(token=create_token(server, role="ADMIN", name="ops", tenant=tenant))

    # when two alerts of one service fire, one of them twice
    await post_alerts(server, ingest, alertmanager_body(("am-1", "firing"), ("am-2", "firing")))
    await post_alerts(server, ingest, alertmanager_body(("am-1", "firing")))

    # then one incident is declared from them, holding both alerts
    [incident] = await wait_for_incidents(admin, 1)
    assert incident["title"] == "HighErrorRate on payments"
    assert incident["severity"] == "SEV2"

    # when a responder follows its timeline, and a third alert fires and the first resolves
    sub = await subscriber(server, token=admin.token)
    await subscribe_and_wait(sub, server, FOLLOW, {"id": incident["id"]})
    await post_alerts(server, ingest, alertmanager_body(("am-3", "firing")))
    await post_alerts(server, ingest, alertmanager_body(("am-1", "resolved")))

    # then the live stream shows the newly linked alert and the resolved one
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < 2:
        event = (await sub.next_data(timeout=15))["timelineEventAdded"]
        seen[event["type"]] = event
    await sub.close()
    linked = seen[EventType.ALERTS_LINKED]
    assert (linked["actor"], linked["data"]["count"]) == ("alerts", 1)
    assert linked["data"]["alerts"][0]["fingerprint"] == "am-3"
    resolved = seen[EventType.ALERTS_RESOLVED]["data"]
    assert [a["fingerprint"] for a in resolved["alerts"]] == ["am-1"]

    # and the incident lists its three alerts, the first counted twice and resolved
    [incident] = await wait_for_incidents(admin, 1)
    alerts = {a["node"]["fingerprint"]: a["node"] for a in incident["alerts"]["edges"]}
    assert incident["alerts"]["totalCount"] == 3
    assert alerts["am-1"]["status"] == "RESOLVED"
    assert alerts["am-1"]["count"] == 3
    await admin.aclose()


@pytest.mark.integration
async def test_two_servers_on_one_database_declare_one_incident_per_group(
    log_dir: Path,
) -> None:
    # given two server processes sharing one PostgreSQL database and Redis
    from tests.support import require_real_services

    require_real_services()
    url = create_pg_database()
    backend = Backend("postgres", url, REDIS_URL)
    first = Server(backend).start(log_dir)
    second = Server(backend).start(log_dir)
    try:
        ingest = create_token(first, role="INGEST", name="alertmanager")
        admin = first.client()

        # when alerts of three groups are posted to both servers at once
        bodies = [
            alertmanager_body((f"two-{i}-{n}", "firing"), service=f"svc-{i % 3}")
            for i in range(30)
            for n in range(2)
        ]
        await asyncio.gather(
            *(post_alerts((first, second)[k % 2], ingest, b) for k, b in enumerate(bodies))
        )

        # then each group has exactly one incident, however the work was shared
        incidents = await wait_for_incidents(admin, 3)
        await asyncio.sleep(2)  # a second declaration, were there one, would show by now
        data = await admin.execute(INCIDENTS)
        titles = sorted(e["node"]["title"] for e in data["incidents"]["edges"])
        assert titles == [f"HighErrorRate on svc-{i}" for i in range(3)], incidents
        assert sum(e["node"]["alerts"]["totalCount"] for e in data["incidents"]["edges"]) == 60
        await admin.aclose()
    finally:
        first.stop()
        second.stop()
        drop_pg_database(url)

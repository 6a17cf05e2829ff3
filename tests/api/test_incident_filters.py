"""The integrators' filter language over a real server: every field of IncidentFilter, the
`and`/`or`/`not` combinators, the SLA orderings, and `timeline(filter:)`.

One tenant of these tests' own holds a handful of incidents built to tell the fields apart;
each assertion names the set of incidents a user would expect."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from bench import seed as bench_seed
from tests.api.test_people import new_team, new_user
from tests.support import (
    GraphQLClient,
    Server,
    create_tenant,
    create_token,
    declare,
    eventually,
    transition,
)

INCIDENTS = """
query($filter: IncidentFilter, $orderBy: IncidentOrder, $first: Int, $after: String) {
  incidents(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    edges { cursor node { id title slaResponseDue slaResolveDue updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""
POLICY = """
mutation($input: UpdateTenantPolicyInput!) { updateTenantPolicy(input: $input) {
  errors { field code message } } }"""
ASSIGN_ROLE = """
mutation($input: RoleInput!) { assignRole(input: $input) { errors { field code message } } }"""
ADD_TASK = """
mutation($input: AddTaskInput!) { addTask(input: $input) {
  task { id } errors { field code message } } }"""
TRANSITION_TASK = """
mutation($input: TransitionTaskInput!) { transitionTask(input: $input) {
  errors { field code message } } }"""
CREATE_SERVICE = """
mutation($input: CreateServiceInput!) { createService(input: $input) {
  service { id } errors { field code message } } }"""
AFFECTS = """
mutation($input: SetAffectedServicesInput!) { setAffectedServices(input: $input) {
  errors { field code message } } }"""
ASSIGN = """
mutation($input: AssignIncidentInput!) { assignIncident(input: $input) {
  errors { field code message } } }"""
ADD_NOTE = """
mutation($input: AddNoteInput!) { addNote(input: $input) { errors { code } } }"""
TIMELINE = """
query($id: ID!, $filter: TimelineFilter, $first: Int, $after: String) {
  incident(id: $id) { timeline(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { seq type data } } } }
}"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"filters-{uuid.uuid4().hex[:8]}", name="Filters")
    yield {
        "id": tenant_id,
        **{
            role: create_token(server, role=role, name=f"filters {role.lower()}", tenant=tenant_id)
            for role in ("ADMIN", "VIEWER", "INGEST")
        },
    }


def ok(data: dict[str, Any], name: str) -> dict[str, Any]:
    assert data[name]["errors"] == [], data
    return data[name]  # type: ignore[no-any-return]


async def ids(client: GraphQLClient, **filter: Any) -> set[str]:
    data = await client.execute(INCIDENTS, {"filter": filter, "first": 500})
    page = data["incidents"]
    assert page["totalCount"] == len(page["edges"]), page
    return {e["node"]["id"] for e in page["edges"]}


@pytest.fixture(scope="module")
async def world(server: Server, tenant: dict[str, str]) -> dict[str, Any]:
    """Five incidents: `a` a commanded SEV1 with an open task, a service and a problem,
    acknowledged in time; `b` a resolved drill with a change; `c` left unacknowledged past its
    1-second response clock; `d` a SECURITY incident whose only task is done; `e` declared
    by an alert."""
    admin = server.client(token=tenant["ADMIN"])
    targets = [
        {"priority": p, "responseMinutes": 1 / 60, "resolveMinutes": 600}
        for p in ("P1", "P2", "P3", "P4", "P5")
    ]
    ok(await admin.execute(POLICY, {"input": {"sla": targets}}), "updateTenantPolicy")
    commander = await new_user(admin)
    team = await new_team(admin)

    a = await declare(admin, title="Database down", severity="SEV1", impact="HIGH", urgency="HIGH")
    await transition(admin, a["id"], "IN_PROGRESS")
    b = await declare(admin, title="Game day", severity="SEV3", isDrill=True, drillScenario="x")
    c = await declare(admin, title="Slow search", severity="SEV2", description="Kibana lag")
    d = await declare(admin, title="Phishing", severity="SEV4", category="SECURITY")
    await transition(admin, d["id"], "IN_PROGRESS")

    ok(
        await admin.execute(
            ASSIGN_ROLE,
            {"input": {"incidentId": a["id"], "role": "COMMANDER", "userId": commander["id"]}},
        ),
        "assignRole",
    )
    ok(
        await admin.execute(ASSIGN, {"input": {"id": a["id"], "teamId": team["id"]}}),
        "assignIncident",
    )
    ok(
        await admin.execute(ADD_TASK, {"input": {"incidentId": a["id"], "title": "Failover"}}),
        "addTask",
    )
    done = ok(
        await admin.execute(ADD_TASK, {"input": {"incidentId": d["id"], "title": "Reset"}}),
        "addTask",
    )["task"]
    ok(
        await admin.execute(TRANSITION_TASK, {"input": {"id": done["id"], "to": "DONE"}}),
        "transitionTask",
    )
    service = ok(
        await admin.execute(CREATE_SERVICE, {"input": {"name": f"db-{uuid.uuid4().hex[:6]}"}}),
        "createService",
    )["service"]
    ok(
        await admin.execute(
            AFFECTS, {"input": {"incidentId": a["id"], "serviceIds": [service["id"]]}}
        ),
        "setAffectedServices",
    )
    problem = ok(
        await admin.execute(bench_seed.CREATE_PROBLEM, {"title": "Disk", "incident": a["id"]}),
        "createProblem",
    )["problem"]
    change = ok(
        await admin.execute(bench_seed.REQUEST_CHANGE, {"title": "Patch"}), "requestChange"
    )["change"]
    ok(
        await admin.execute(bench_seed.LINK_CHANGE, {"change": change["id"], "incident": b["id"]}),
        "linkChange",
    )
    await transition(admin, b["id"], "IN_PROGRESS")
    await transition(admin, b["id"], "RESOLVED", resolutionSummary="done")
    ok(
        await admin.execute(
            ADD_NOTE, {"input": {"incidentId": c["id"], "body": "Found it", "kind": "ROOT_CAUSE"}}
        ),
        "addNote",
    )

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post(
            "/webhooks/alerts/generic",
            json=[{"source": "prom", "id": "f1", "title": "Queue backlog", "service": "queue"}],
            headers={"Authorization": f"Bearer {tenant['INGEST']}"},
        )
    assert response.status_code == 202, response.text

    async def alerted() -> set[str] | None:
        found = await ids(admin, detectionSource=["AUTOMATED_ALERT"])
        return found or None

    (e,) = await eventually(alerted, what="an incident declared by the alert")
    # c's response clock (1 s) runs out; a's stopped in time.
    await asyncio.sleep(1.5)
    await admin.aclose()
    return {
        "a": a["id"],
        "b": b["id"],
        "c": c["id"],
        "d": d["id"],
        "e": e,
        "commander": commander["id"],
        "team": team["id"],
        "service": service["id"],
        "problem": problem["id"],
        "change": change["id"],
        "created": datetime.fromisoformat(a["createdAt"]),
    }


def named(world: dict[str, Any], *names: str) -> set[str]:
    return {world[n] for n in names}


async def test_each_new_field_narrows_to_the_incidents_it_names(api, world):
    admin = api()
    w = world
    assert await ids(admin, commanderIds=[w["commander"]]) == named(w, "a")
    assert await ids(admin, assignedTeamIds=[w["team"]]) == named(w, "a")
    assert await ids(admin, serviceIds=[w["service"]]) == named(w, "a")
    assert await ids(admin, problemIds=[w["problem"]]) == named(w, "a")
    assert await ids(admin, changeIds=[w["change"]]) == named(w, "b")
    assert await ids(admin, hasOpenTasks=True) == named(w, "a")
    assert await ids(admin, hasOpenTasks=False) == named(w, "b", "c", "d", "e")
    assert await ids(admin, hasAlerts=True) == named(w, "e")
    assert await ids(admin, hasAlerts=False) == named(w, "a", "b", "c", "d")
    assert await ids(admin, hasTickets=False) == named(w, "a", "b", "c", "d", "e")
    assert await ids(admin, isDrill=True) == named(w, "b")
    assert await ids(admin, category=["SECURITY"]) == named(w, "d")
    assert await ids(admin, classification=["INTERNAL"]) == named(w, "a", "b", "c", "d", "e")
    assert await ids(admin, resolved={"from": w["created"].isoformat()}) == named(w, "b")
    before = (w["created"] - timedelta(hours=1)).isoformat()
    assert await ids(admin, created={"to": before}) == set()
    assert await ids(admin, created={"from": before}) == named(w, "a", "b", "c", "d", "e")
    assert await ids(admin, updated={"from": datetime.now(UTC).isoformat()}) == set()


async def test_sla_breaches_are_found_by_clock(api, world):
    admin = api()
    breached = await ids(admin, slaResponseBreached=True)
    # c was never acknowledged; a, d and b were acknowledged within the second.
    assert world["c"] in breached
    assert world["a"] not in breached and world["d"] not in breached
    assert (
        await ids(admin, slaResponseBreached=False)
        == named(world, "a", "b", "c", "d", "e") - breached
    )
    assert await ids(admin, slaResolveBreached=True) == set()


async def test_and_or_not_combine_whole_filters(api, world):
    admin = api()
    w = world
    assert await ids(admin, **{"or": [{"isDrill": True}, {"category": ["SECURITY"]}]}) == named(
        w, "b", "d"
    )
    # NOT over a nullable column keeps the incidents without a category.
    assert await ids(admin, **{"not": {"category": ["SECURITY"]}}) == named(w, "a", "b", "c", "e")
    assert await ids(
        admin,
        **{
            "and": [{"hasOpenTasks": False}, {"not": {"hasAlerts": True}}],
            "or": [{"severity": ["SEV2"]}, {"changeIds": [w["change"]]}],
        },
    ) == named(w, "b", "c")
    assert await ids(admin, text="kibana", **{"not": {"isDrill": True}}) == named(w, "c")


async def test_sla_orderings_sort_by_the_deadline_and_page(api, world):
    admin = api()
    order = {"field": "SLA_RESOLVE_DUE", "direction": "ASC"}
    seen, after = [], None
    while True:
        data = await admin.execute(INCIDENTS, {"orderBy": order, "first": 2, "after": after})
        page = data["incidents"]
        seen += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert {n["id"] for n in seen} == named(world, "a", "b", "c", "d", "e")
    dues = [datetime.fromisoformat(n["slaResolveDue"]) for n in seen]
    assert dues == sorted(dues)


async def test_bad_filters_are_refused_on_their_field(api, world):
    admin = api()
    nested: dict[str, Any] = {"isMajor": True}
    for _ in range(6):
        nested = {"not": nested}
    cases = [
        ({"commanderIds": [world["team"]]}, "filter.commanderIds"),
        ({"serviceIds": ["svc_nope"]}, "filter.serviceIds"),
        (
            {"created": {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}},
            "filter.created",
        ),
        (nested, "filter"),
        ({"or": [{"isMajor": True}] * 51}, "filter"),
    ]
    for filter, field in cases:
        body = await admin.raw(INCIDENTS, {"filter": filter})
        errors = body["errors"]
        assert errors[0]["extensions"]["code"] == "VALIDATION", (filter, body)
        assert errors[0]["extensions"].get("field") == field, (filter, body)


async def test_a_viewer_cannot_learn_a_confidential_field_by_filtering(api, world):
    # The commander of an incident is INTERNAL: a viewer reads it, and may filter by it.
    viewer = api("VIEWER")
    assert await ids(viewer, commanderIds=[world["commander"]]) == named(world, "a")


async def test_the_timeline_filters_by_type_note_kind_and_time(api, world):
    admin = api()
    c = world["c"]

    async def timeline(**variables: Any) -> dict[str, Any]:
        data = await admin.execute(TIMELINE, {"id": c, **variables})
        return data["incident"]["timeline"]  # type: ignore[no-any-return]

    notes = await timeline(filter={"noteKinds": ["ROOT_CAUSE"]})
    assert [e["node"]["data"]["body"] for e in notes["edges"]] == ["Found it"]
    assert notes["totalCount"] == 1
    declared = await timeline(filter={"types": ["com.incidents.declared.v1"]})
    assert [e["node"]["seq"] for e in declared["edges"]] == [1]
    assert (await timeline(filter={"since": datetime.now(UTC).isoformat()}))["edges"] == []

    # paging a filtered timeline visits each match once, in seq order
    everything = await timeline(filter={"types": ["com.incidents.*"]}, first=500)
    seqs, after = [], None
    while True:
        page = await timeline(filter={"types": ["com.incidents.*"]}, first=1, after=after)
        seqs += [e["node"]["seq"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seqs == [e["node"]["seq"] for e in everything["edges"]] == sorted(seqs)
    assert len(seqs) == everything["totalCount"] >= 3

    bad = await admin.raw(TIMELINE, {"id": c, "filter": {"types": ["no.such.type"]}})
    assert bad["errors"][0]["extensions"]["code"] == "VALIDATION", bad


RECORDS = """
query($problems: ProblemFilter, $changes: ChangeFilter, $articles: KnowledgeArticleFilter,
      $alerts: AlertFilter) {
  problems(filter: $problems) { totalCount edges { node { id } } }
  changes(filter: $changes) { totalCount edges { node { id } } }
  knowledgeArticles(filter: $articles) { totalCount edges { node { id } } }
  alerts(filter: $alerts, first: 100) { edges { node { id source } } }
}"""
EVENTS = """
query($filter: EventFilter) {
  events(filter: $filter, first: 500) { edges { node { type subject } } }
}"""


async def records(client: GraphQLClient, **filters: Any) -> dict[str, set[str]]:
    data = await client.execute(RECORDS, filters)
    found = {}
    for name in ("problems", "changes", "knowledgeArticles", "alerts"):
        found[name] = {e["node"]["id"] for e in data[name]["edges"]}
    for name in ("problems", "changes", "knowledgeArticles"):
        assert data[name]["totalCount"] == len(found[name]), data
    return found


async def test_problems_changes_articles_and_alerts_take_the_same_language(api, world):
    admin = api()
    article = ok(
        await admin.execute(
            bench_seed.CREATE_ARTICLE, {"title": "Disk full", "problem": world["problem"]}
        ),
        "createArticle",
    )["article"]["id"]
    everything = await records(admin)
    assert everything["problems"] == {world["problem"]}
    assert everything["changes"] == {world["change"]}
    assert everything["knowledgeArticles"] == {article}
    (alert,) = everything["alerts"]

    before = (world["created"] - timedelta(hours=1)).isoformat()
    none = await records(
        admin,
        problems={"not": {"text": "disk"}},
        changes={"or": [{"text": "nothing like it"}, {"created": {"to": before}}]},
        articles={"not": {"kind": "RESOLUTION"}},
        alerts={"not": {"or": [{"source": ["prom"]}, {"linked": True}]}},
    )
    assert none == {
        "problems": set(),
        "changes": set(),
        "knowledgeArticles": set(),
        "alerts": set(),
    }
    some = await records(
        admin,
        problems={"and": [{"text": "disk"}, {"created": {"from": before}}]},
        changes={"or": [{"text": "patch"}, {"status": ["CLOSED"]}]},
        articles={"created": {"from": before}, "not": {"status": ["RETIRED"]}},
        alerts={"received": {"from": before}, "not": {"text": "nothing like it"}},
    )
    assert some == {
        "problems": {world["problem"]},
        "changes": {world["change"]},
        "knowledgeArticles": {article},
        "alerts": {alert},
    }
    refused = await admin.raw(
        RECORDS, {"articles": {"text": "disk", "not": {"kind": "WORKAROUND"}}}
    )
    assert refused["errors"][0]["extensions"]["code"] == "VALIDATION", refused


async def test_the_feed_takes_and_or_not(api, world):
    admin = api()
    subject = f"incidents/{world['c']}"
    data = await admin.execute(
        EVENTS,
        {
            "filter": {
                "or": [{"types": ["com.incidents.declared.v1"]}, {"subjects": [subject]}],
                "not": {"types": ["com.incidents.sla.*"]},
            }
        },
    )
    events = [e["node"] for e in data["events"]["edges"]]
    assert {e["subject"] for e in events if e["type"] == "com.incidents.declared.v1"} >= {
        f"incidents/{world[n]}" for n in "abcd"
    }
    assert all(e["type"] == "com.incidents.declared.v1" or e["subject"] == subject for e in events)
    assert not any(e["type"].startswith("com.incidents.sla.") for e in events)
    # c's own events are there, its breach left out
    assert {e["type"] for e in events if e["subject"] == subject} >= {
        "com.incidents.declared.v1",
        "com.incidents.note_added.v1",
    }


EXPORT = """
query($filter: IncidentFilter) {
  exportIncidents(format: NDJSON, filter: $filter) { path }
}"""


async def test_exports_take_the_whole_filter_language(api, world, server, tenant):
    admin = api()
    link = await admin.execute(
        EXPORT, {"filter": {"or": [{"isDrill": True}, {"hasOpenTasks": True}]}}
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        body = await http.get(
            link["exportIncidents"]["path"], headers={"Authorization": f"Bearer {tenant['ADMIN']}"}
        )
    assert body.status_code == 200, body.text
    rows = [json.loads(line) for line in body.text.splitlines() if line]
    assert {r["id"] for r in rows} == named(world, "a", "b")


async def test_times_with_any_offset_and_note_kinds_as_the_caller_may_read_them(api, world):
    admin, viewer = api(), api("VIEWER")
    # an hour before the first incident, written at +05:00, is the same instant
    before = (world["created"] - timedelta(hours=1)).astimezone(timezone(timedelta(hours=5)))
    assert await ids(admin, created={"from": before.isoformat()}) == named(
        world, "a", "b", "c", "d", "e"
    )
    assert await ids(admin, created={"to": before.isoformat()}) == set()

    # a CONFIDENTIAL root cause: its kind is not learnt by a caller who may not read it
    ok(
        await admin.execute(
            ADD_NOTE,
            {
                "input": {
                    "incidentId": world["c"],
                    "body": "Leaked key",
                    "kind": "ROOT_CAUSE",
                    "classification": "CONFIDENTIAL",
                }
            },
        ),
        "addNote",
    )
    wanted = {"id": world["c"], "filter": {"noteKinds": ["ROOT_CAUSE"]}}
    seen_by_admin = (await admin.execute(TIMELINE, wanted))["incident"]["timeline"]
    seen_by_viewer = (await viewer.execute(TIMELINE, wanted))["incident"]["timeline"]
    assert seen_by_admin["totalCount"] == 2
    assert seen_by_viewer["totalCount"] == 1
    assert [e["node"]["data"]["body"] for e in seen_by_viewer["edges"]] == ["Found it"]

"""Problems over a real server: PRB references, the lifecycle with evidence and the
stability window, duplicate detection, links to incidents on both timelines, workarounds,
visibility by clearance, and bad input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_people import errors
from tests.api.test_services import new_service
from tests.api.test_subscriptions import error_codes
from tests.support import (
    Server,
    answered_errors,
    create_tenant,
    create_token,
    declare,
    subscribe_and_wait,
    subscriber,
)

PROBLEM_FIELDS = """
id reference title status knownError workaround rootCause resolutionEvidence version
allowedTransitions services { name } incidents { id } timeline { seq type actor data }
"""
CREATE = f"""
mutation($input: CreateProblemInput!) {{
  createProblem(input: $input) {{
    problem {{ {PROBLEM_FIELDS} }} duplicates {{ id reference }} errors {{ field code message }}
  }}
}}"""
PAYLOAD = f"problem {{ {PROBLEM_FIELDS} }} errors {{ field code message }}"
TRANSITION = f"""
mutation($input: TransitionProblemInput!) {{ transitionProblem(input: $input) {{ {PAYLOAD} }} }}"""
WORKAROUND = f"""
mutation($input: RecordWorkaroundInput!) {{ recordWorkaround(input: $input) {{ {PAYLOAD} }} }}"""
LINK = f"""
mutation($input: ProblemIncidentInput!) {{
  linkProblem(input: $input) {{ problem {{ {PROBLEM_FIELDS} }} errors {{ field code message }} }}
}}"""
UNLINK = f"""
mutation($input: ProblemIncidentInput!) {{
  unlinkProblem(input: $input) {{ problem {{ {PROBLEM_FIELDS} }} errors {{ field code message }} }}
}}"""
INCIDENT = """
query($id: ID!) { incident(id: $id) {
  problems { reference } timeline(last: 3) { edges { node { type data } } } } }
"""
PROBLEMS = """
query($filter: ProblemFilter, $first: Int, $after: String) {
  problems(filter: $filter, first: $first, after: $after) {
    totalCount edges { node { reference title } } pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"prb-{uuid.uuid4().hex[:8]}", name="Problems")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="prb admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="prb r", tenant=tenant_id),
        "VIEWER": create_token(server, role="VIEWER", name="prb v", tenant=tenant_id),
    }


async def open_problem(client: Any, **fields: Any) -> dict[str, Any]:
    title = fields.pop("title", f"Problem {uuid.uuid4().hex}")
    data = await client.execute(CREATE, {"input": {"title": title, **fields}})
    assert data["createProblem"]["errors"] == [], data
    return data["createProblem"]["problem"]  # type: ignore[no-any-return]


async def test_a_problem_explains_incidents_with_a_link_on_both_timelines(api):
    # given two incidents of the same service
    responder = api("RESPONDER")
    service = f"search-{uuid.uuid4().hex[:4]}"
    first = await declare(responder, title="Search slow", service=service)
    second = await declare(responder, title="Search slow again", service=service)

    # when a responder opens a problem for the first and links the second
    problem = await open_problem(
        responder, title=f"Search index thrashes {uuid.uuid4().hex[:4]}", incidentIds=[first["id"]]
    )
    linked = await responder.execute(
        LINK, {"input": {"problemId": problem["id"], "incidentId": second["id"]}}
    )
    seen = (await responder.execute(INCIDENT, {"id": second["id"]}))["incident"]

    # then it has a PRB reference, the incidents' service, both incidents, and its timeline
    body = linked["linkProblem"]["problem"]
    assert problem["reference"].startswith("PRB-") and problem["status"] == "NEW"
    assert problem["services"] == [{"name": service}]
    assert [i["id"] for i in body["incidents"]] == [first["id"], second["id"]]
    assert [e["type"] for e in body["timeline"]] == [
        "com.incidents.problem.created.v1",
        "com.incidents.problem.incident_linked.v1",
        "com.incidents.problem.incident_linked.v1",
    ]
    assert [e["seq"] for e in body["timeline"]] == [1, 2, 3]
    # and the problems of that service are this one
    found = await responder.execute(
        "query($t: String!) { services(filter: {text: $t}) { edges { node { id } } } }",
        {"t": service},
    )
    service_id = found["services"]["edges"][0]["node"]["id"]
    by_service = await responder.execute(PROBLEMS, {"filter": {"serviceId": service_id}})
    assert [e["node"]["reference"] for e in by_service["problems"]["edges"]] == [
        problem["reference"]
    ]
    assert by_service["problems"]["totalCount"] == 1
    # and the incident shows the problem, with the link on its own timeline
    assert seen["problems"] == [{"reference": problem["reference"]}]
    last = seen["timeline"]["edges"][-1]["node"]
    assert last["type"] == "com.incidents.record.linked.v1"
    assert last["data"] == {
        "record": "problem",
        "id": problem["id"],
        "reference": problem["reference"],
    }

    # when it is unlinked, both sides say so
    unlinked = await responder.execute(
        UNLINK, {"input": {"problemId": problem["id"], "incidentId": second["id"]}}
    )
    after = (await responder.execute(INCIDENT, {"id": second["id"]}))["incident"]
    assert [i["id"] for i in unlinked["unlinkProblem"]["problem"]["incidents"]] == [first["id"]]
    assert after["problems"] == []
    assert after["timeline"]["edges"][-1]["node"]["type"] == "com.incidents.record.unlinked.v1"


async def test_the_lifecycle_needs_evidence_to_resolve_and_a_quiet_week_to_close(api):
    responder = api("RESPONDER")
    problem = await open_problem(responder)
    pid = problem["id"]

    investigating = await responder.execute(
        TRANSITION, {"input": {"id": pid, "to": "UNDER_INVESTIGATION"}}
    )
    workaround = await responder.execute(
        WORKAROUND,
        {
            "input": {
                "id": pid,
                "workaround": "Restart the indexer nightly",
                "articleTitle": "Workaround: restart the indexer",
            }
        },
    )
    articles = await responder.execute(
        "query($id: ID!) { node(id: $id) { ... on Problem { knowledgeArticles "
        "{ title body kind status } } } }",
        {"id": pid},
    )
    no_evidence = await responder.execute(TRANSITION, {"input": {"id": pid, "to": "RESOLVED"}})
    resolved = await responder.execute(
        TRANSITION,
        {
            "input": {
                "id": pid,
                "to": "RESOLVED",
                "evidence": "No recurrence in 14 days of load tests",
                "rootCause": "Index merges starve the query threads",
            }
        },
    )
    too_soon = await responder.execute(TRANSITION, {"input": {"id": pid, "to": "CLOSED"}})
    skipped = await responder.execute(TRANSITION, {"input": {"id": pid, "to": "NEW"}})

    assert investigating["transitionProblem"]["problem"]["status"] == "UNDER_INVESTIGATION"
    known = workaround["recordWorkaround"]["problem"]
    assert (known["status"], known["knownError"], known["workaround"]) == (
        "KNOWN_ERROR",
        True,
        "Restart the indexer nightly",
    )
    assert articles["node"]["knowledgeArticles"] == [
        {
            "title": "Workaround: restart the indexer",
            "body": "Restart the indexer nightly",
            "kind": "WORKAROUND",
            "status": "IN_REVIEW",
        }
    ]
    assert errors(no_evidence["transitionProblem"]) == [("evidence", "VALIDATION")]
    done = resolved["transitionProblem"]["problem"]
    assert done["status"] == "RESOLVED"
    assert done["rootCause"] == "Index merges starve the query threads"
    assert done["allowedTransitions"] == ["UNDER_INVESTIGATION", "CLOSED"]
    assert errors(too_soon["transitionProblem"]) == [("to", "INVALID_TRANSITION")]
    assert "stability window" in too_soon["transitionProblem"]["errors"][0]["message"]
    assert errors(skipped["transitionProblem"]) == [("to", "INVALID_TRANSITION")]
    assert [e["seq"] for e in done["timeline"]] == [1, 2, 3, 4]


async def test_a_likely_duplicate_is_refused_naming_it_unless_forced(api):
    responder = api("RESPONDER")
    marker = uuid.uuid4().hex[:6]
    original = await open_problem(responder, title=f"Checkout times out under load {marker}")

    again = await responder.execute(
        CREATE, {"input": {"title": f"Checkout timeouts under heavy load {marker}"}}
    )
    forced = await responder.execute(
        CREATE,
        {"input": {"title": f"Checkout timeouts under heavy load {marker}", "force": True}},
    )
    different = await responder.execute(
        CREATE, {"input": {"title": f"Printer jams on floor three {marker}zz"}}
    )

    payload = again["createProblem"]
    assert errors(payload) == [("title", "DUPLICATE")]
    assert original["reference"] in payload["errors"][0]["message"]
    assert payload["duplicates"][0]["id"] == original["id"]
    assert payload["problem"] is None
    assert forced["createProblem"]["errors"] == []
    assert different["createProblem"]["errors"] == []


async def test_a_duplicate_shares_a_service_and_is_one_the_caller_may_see(api):
    # given an active problem on one service, and a restricted one nobody below sees
    admin, responder = api("ADMIN"), api("RESPONDER")
    marker = uuid.uuid4().hex[:6]
    payments, search = await new_service(admin), await new_service(admin)
    title = f"Ledger writes stall during failover {marker}"
    original = await open_problem(responder, title=title, serviceIds=[payments["id"]])
    hidden = f"Vault unseal fails after rotation {marker}"
    await open_problem(admin, title=hidden, classification="RESTRICTED")

    # when the same title is opened on another service, on the same one, and with no service
    elsewhere = await responder.execute(
        CREATE, {"input": {"title": title + " again", "serviceIds": [search["id"]]}}
    )
    same = await responder.execute(
        CREATE, {"input": {"title": title + " again", "serviceIds": [payments["id"]]}}
    )
    unnamed = await responder.execute(CREATE, {"input": {"title": title + " again!"}})
    unseen = await responder.execute(CREATE, {"input": {"title": hidden}})

    # then only a problem sharing a service (or naming none) is a duplicate
    assert elsewhere["createProblem"]["errors"] == []
    assert errors(same["createProblem"]) == [("title", "DUPLICATE")]
    named = {d["id"] for d in same["createProblem"]["duplicates"]}
    assert original["id"] in named
    assert errors(unnamed["createProblem"]) == [("title", "DUPLICATE")]
    # and a problem above the caller's clearance is never named, so not a duplicate either
    assert unseen["createProblem"]["errors"] == []


async def test_bad_problem_requests_are_refused_and_write_nothing(api):
    responder = api("RESPONDER")
    problem = await open_problem(responder)
    before = (await responder.execute(PROBLEMS, {}))["problems"]["totalCount"]
    ghost = "inc_" + uuid.uuid4().hex
    cases = [
        (CREATE, {"title": " "}, "createProblem", [("title", "VALIDATION")]),
        (
            CREATE,
            {"title": "x", "incidentIds": [ghost]},
            "createProblem",
            [("incidentIds", "NOT_FOUND")],
        ),
        (
            CREATE,
            {"title": "x", "serviceIds": ["svc_" + uuid.uuid4().hex]},
            "createProblem",
            [("serviceIds", "NOT_FOUND")],
        ),
        (
            CREATE,
            {"title": "x", "classification": "RESTRICTED"},
            "createProblem",
            [("classification", "FORBIDDEN")],
        ),
        (
            LINK,
            {"problemId": problem["id"], "incidentId": ghost},
            "linkProblem",
            [("incidentId", "NOT_FOUND")],
        ),
        (
            LINK,
            {"problemId": "prb_" + uuid.uuid4().hex, "incidentId": ghost},
            "linkProblem",
            [("problemId", "NOT_FOUND")],
        ),
        (
            WORKAROUND,
            {"id": problem["id"], "workaround": "  "},
            "recordWorkaround",
            [("workaround", "VALIDATION")],
        ),
    ]
    for mutation, given, name, expected in cases:
        found = await answered_errors(responder, mutation, {"input": given}, name)
        assert found == expected, given
    assert (await responder.execute(PROBLEMS, {}))["problems"]["totalCount"] == before
    viewer = await api("VIEWER").raw(CREATE, {"input": {"title": "nope"}})
    assert viewer["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_problems_page_newest_first_and_filter(api):
    responder = api("RESPONDER")
    marker = uuid.uuid4().hex[:8]
    made = [
        await open_problem(responder, title=f"{marker} number {n}", force=True) for n in range(3)
    ]

    page = (await responder.execute(PROBLEMS, {"filter": {"text": marker}, "first": 2}))["problems"]
    rest = (
        await responder.execute(
            PROBLEMS,
            {"filter": {"text": marker}, "first": 2, "after": page["pageInfo"]["endCursor"]},
        )
    )["problems"]
    known = (await responder.execute(PROBLEMS, {"filter": {"text": marker, "knownError": True}}))[
        "problems"
    ]

    refs = [e["node"]["reference"] for e in page["edges"] + rest["edges"]]
    assert refs == [p["reference"] for p in reversed(made)]
    assert page["totalCount"] == 3 and not rest["pageInfo"]["hasNextPage"]
    assert known["totalCount"] == 0


async def test_another_tenants_problem_does_not_exist_here(server, api):
    other = create_tenant(server, tenant_id=f"prb-o-{uuid.uuid4().hex[:6]}", name="Other")
    outsider = server.client(create_token(server, role="RESPONDER", name="o", tenant=other))
    try:
        theirs = await open_problem(outsider)
    finally:
        await outsider.aclose()
    responder = api("RESPONDER")
    incident = await declare(responder, title="Ours")

    found = await responder.execute(
        "query($id: ID!) { node(id: $id) { id } }", {"id": theirs["id"]}
    )
    link = await responder.execute(
        LINK, {"input": {"problemId": theirs["id"], "incidentId": incident["id"]}}
    )

    assert found["node"] is None
    assert errors(link["linkProblem"]) == [("problemId", "NOT_FOUND")]


RECORD_UPDATED = """
subscription($id: ID!) { recordUpdated(id: $id) {
  __typename ... on Problem { reference status knownError } } }
"""


async def test_a_problem_is_pushed_live_after_every_change(server, api, tenant):
    # given a subscriber to a problem
    responder = api("RESPONDER")
    problem = await open_problem(responder)
    sub = await subscriber(server, token=tenant["RESPONDER"])
    try:
        await subscribe_and_wait(sub, server, RECORD_UPDATED, {"id": problem["id"]})

        # when it is moved on, then given a workaround
        await responder.execute(
            TRANSITION, {"input": {"id": problem["id"], "to": "UNDER_INVESTIGATION"}}
        )
        first = (await sub.next_data())["recordUpdated"]
        await responder.execute(
            WORKAROUND, {"input": {"id": problem["id"], "workaround": "Reboot"}}
        )
        second = (await sub.next_data())["recordUpdated"]
    finally:
        await sub.close()

    # then each state arrives, in order
    assert first == {
        "__typename": "Problem",
        "reference": problem["reference"],
        "status": "UNDER_INVESTIGATION",
        "knownError": False,
    }
    assert (second["status"], second["knownError"]) == ("KNOWN_ERROR", True)


async def test_a_subscription_to_no_record_is_refused(server, tenant):
    sub = await subscriber(server, token=tenant["RESPONDER"])
    try:
        await sub.subscribe(RECORD_UPDATED, {"id": "prb_" + uuid.uuid4().hex})
        message = await sub.next()
    finally:
        await sub.close()

    assert error_codes(message) == ["NOT_FOUND"]


async def test_a_problem_above_the_readers_clearance_reads_redacted(api):
    # given a CONFIDENTIAL problem explaining an INTERNAL incident, with a workaround
    manager = api("ADMIN")
    marker = f"zq{uuid.uuid4().hex[:6]}"
    incident = await declare(manager, title=f"Slow {marker}")
    problem = await open_problem(
        manager,
        title=f"Pool exhaustion {marker}",
        classification="CONFIDENTIAL",
        incidentIds=[incident["id"]],
    )
    await manager.execute(
        WORKAROUND, {"input": {"id": problem["id"], "workaround": f"Restart {marker}"}}
    )

    # when a VIEWER (cleared INTERNAL) lists problems, filters by text and reads the incident
    viewer = api("VIEWER")
    fields = "reference title workaround redactedFields timeline { redacted data }"
    listed = await viewer.execute(
        f"{{ problems(first: 50) {{ edges {{ node {{ {fields} }} }} }} }}"
    )
    searched = await viewer.execute(PROBLEMS, {"filter": {"text": marker}})
    via_incident = await viewer.execute(
        f"query($id: ID!) {{ incident(id: $id) {{ problems {{ {fields} }} }} }}",
        {"id": incident["id"]},
    )

    # then the problem is there, its text redacted, and its text matches no filter
    mine = [
        e["node"]
        for e in listed["problems"]["edges"]
        if e["node"]["reference"] == problem["reference"]
    ]
    assert len(mine) == 1 and mine[0] == via_incident["incident"]["problems"][0]
    assert mine[0]["title"] == mine[0]["workaround"] == "[REDACTED]"
    assert {"title", "workaround", "rootCause"} <= set(mine[0]["redactedFields"])
    assert all(e["redacted"] for e in mine[0]["timeline"])
    assert marker not in str(mine[0])
    assert searched["problems"]["totalCount"] == 0

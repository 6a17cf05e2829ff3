"""The boards show the records around the incident: a known error's workaround beside its
incidents for responders; change success and open problems by service for executives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support import Server, create_tenant, create_token, declare, subscriber

RESPONDER_BOARD = """
{ statusBoard(persona: RESPONDER) { ... on ResponderBoard { incidents { id knownWorkaround } } } }
"""
EXECUTIVE_BOARD = """
{ statusBoard(persona: EXECUTIVE) { ... on ExecutiveBoard {
  changeSuccessRate30d changesFinished30d openProblemsByService { service count } } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"rb-{uuid.uuid4().hex[:8]}", name="Boards")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="rb admin", tenant=tenant_id),
    }


async def test_responders_see_the_workaround_of_a_known_error_beside_its_incident(api):
    admin = api()
    incident = await declare(admin, title="Search slow", service="search")
    other = await declare(admin, title="Unrelated", service="mail")
    problem = await admin.execute(
        'mutation($i: ID!) { createProblem(input: {title: "Index thrash", force: true, '
        "incidentIds: [$i]}) { problem { id } errors { code } } }",
        {"i": incident["id"]},
    )
    problem_id = problem["createProblem"]["problem"]["id"]
    before = (await admin.execute(RESPONDER_BOARD))["statusBoard"]["incidents"]
    await admin.execute(
        "mutation($id: ID!) { transitionProblem(input: {id: $id, to: UNDER_INVESTIGATION}) "
        "{ errors { code } } }",
        {"id": problem_id},
    )
    recorded = await admin.execute(
        'mutation($id: ID!) { recordWorkaround(input: {id: $id, workaround: "Restart the '
        'indexer"}) { errors { code } } }',
        {"id": problem_id},
    )
    after = (await admin.execute(RESPONDER_BOARD))["statusBoard"]["incidents"]

    assert recorded["recordWorkaround"]["errors"] == []
    assert {i["id"]: i["knownWorkaround"] for i in before} == {
        incident["id"]: None,
        other["id"]: None,
    }
    assert {i["id"]: i["knownWorkaround"] for i in after} == {
        incident["id"]: "Restart the indexer",
        other["id"]: None,
    }


async def test_executives_see_change_success_and_open_problems_by_service(api):
    admin = api()
    service = await admin.execute(
        'mutation { createService(input: {name: "Payments"}) { service { id } } }'
    )
    service_id = service["createService"]["service"]["id"]
    for n in range(2):
        await admin.execute(
            "mutation($t: String!, $s: ID!) { createProblem(input: {title: $t, force: true, "
            "serviceIds: [$s]}) { errors { code } } }",
            {"t": f"Payments issue {n} {uuid.uuid4().hex}", "s": service_id},
        )
    incident = await declare(admin, title="Broke after deploy")
    outcomes = ["IMPLEMENTED", "IMPLEMENTED", "FAILED", "IMPLEMENTED"]
    for n, outcome in enumerate(outcomes):
        change = await admin.execute(
            'mutation { requestChange(input: {title: "Deploy", type: STANDARD, risk: LOW}) '
            "{ change { id } } }"
        )
        change_id = change["requestChange"]["change"]["id"]
        for to in ("IN_PROGRESS", outcome, "CLOSED"):
            moved = await admin.execute(
                "mutation($id: ID!, $to: ChangeStatus!) { transitionChange(input: "
                "{id: $id, to: $to}) { errors { code message } } }",
                {"id": change_id, "to": to},
            )
            assert moved["transitionChange"]["errors"] == [], moved
        if n == 3:  # implemented, but it caused an incident
            await admin.execute(
                "mutation($c: ID!, $i: ID!) { linkChange(input: {changeId: $c, incidentId: $i, "
                "relation: CAUSED_BY}) { errors { code } } }",
                {"c": change_id, "i": incident["id"]},
            )

    board = (await admin.execute(EXECUTIVE_BOARD))["statusBoard"]

    assert board["changesFinished30d"] == 4
    assert board["changeSuccessRate30d"] == 0.5  # one failed, one caused an incident
    # most first: Payments' two, then the search problem of the test before, if it ran
    assert board["openProblemsByService"][0] == {"service": "Payments", "count": 2}
    assert [e["service"] for e in board["openProblemsByService"]].count("Payments") == 1


async def test_a_recorded_workaround_reaches_the_live_responder_board(api, server, tenant):
    # given an incident explained by a problem under investigation, on a live responder board
    admin = api()
    incident = await declare(admin, title="Queue stuck", service=f"queue-{uuid.uuid4().hex[:4]}")
    created = await admin.execute(
        'mutation($i: ID!) { createProblem(input: {title: "Consumer deadlock", force: true, '
        "incidentIds: [$i]}) { problem { id } errors { code } } }",
        {"i": incident["id"]},
    )
    problem_id = created["createProblem"]["problem"]["id"]
    await admin.execute(
        "mutation($id: ID!) { transitionProblem(input: {id: $id, to: UNDER_INVESTIGATION}) "
        "{ errors { code } } }",
        {"id": problem_id},
    )
    sub = await subscriber(server, token=tenant["ADMIN"])
    try:
        await sub.subscribe(
            "subscription { boardUpdated(persona: RESPONDER) { ... on ResponderBoard "
            "{ incidents { id knownWorkaround } } } }"
        )
        first = (await sub.next_data())["boardUpdated"]["incidents"]
        assert {i["id"]: i["knownWorkaround"] for i in first}[incident["id"]] is None

        # when the workaround is recorded: the problem changes, no incident does
        await admin.execute(
            'mutation($id: ID!) { recordWorkaround(input: {id: $id, workaround: "Restart the '
            'consumers"}) { errors { code } } }',
            {"id": problem_id},
        )

        # then the board is pushed with it
        pushed = (await sub.next_data(timeout=5))["boardUpdated"]["incidents"]
        assert {i["id"]: i["knownWorkaround"] for i in pushed}[incident["id"]] == (
            "Restart the consumers"
        )
    finally:
        await sub.close()

"""Real identities behind every action: tokens that act as users, assignment to users and
teams, `me`, and deactivation that locks a person out within seconds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from tests.api.test_people import a_handle, errors, new_team, new_user
from tests.support import (
    GraphQLClient,
    Server,
    cli,
    create_tenant,
    create_token,
    declare,
    refused_transition,
    subscribe_and_wait,
    subscriber,
    transition,
)

CREATE_TOKEN = """
mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    token { id name role revokedAt user { handle } } secret errors { field code message }
  }
}"""
TOKENS = "{ apiTokens(first: 100) { edges { node { id name revokedAt user { handle } } } } }"
ASSIGN = """
mutation($input: AssignIncidentInput!) {
  assignIncident(input: $input) {
    incident { assignee assignedUser { id handle } assignedTeam { id name } version }
    errors { field code message }
  }
}"""
TIMELINE = """
query($id: ID!) {
  incident(id: $id) {
    declaredBy timeline(last: 5) { edges { node { type actor actorUser { handle } data } } }
  }
}"""
ME = "{ me { id handle assignedIncidents { totalCount edges { node { id title } } } } }"
INCIDENTS_CHANGED = "subscription { incidentsChanged { id } }"
DEACTIVATE = """
mutation($id: ID!) { deactivateUser(input: {id: $id}) { user { active } errors { code } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"ident-{uuid.uuid4().hex[:8]}", name="Identity")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="identity admin", tenant=tenant_id),
    }


async def user_token(
    admin: GraphQLClient, user: dict[str, Any], role: str, name: str | None = None
) -> dict[str, Any]:
    data = await admin.execute(
        CREATE_TOKEN, {"input": {"userId": user["id"], "role": role, "name": name}}
    )
    payload = data["createApiToken"]
    assert payload["errors"] == [], payload
    return payload  # type: ignore[no-any-return]


async def person(
    server: Server, admin: GraphQLClient, role: str
) -> tuple[dict[str, Any], GraphQLClient]:
    user = await new_user(admin)
    return user, server.client((await user_token(admin, user, role))["secret"])


async def test_a_users_token_acts_as_the_user_on_the_timeline_and_in_the_audit_log(server, api):
    # given a user and a token issued for them
    admin = api()
    user = await new_user(admin)
    issued = await user_token(admin, user, "RESPONDER")
    dana = server.client(issued["secret"])
    try:
        # when they ask who they are and declare an incident
        me = (await dana.execute(ME))["me"]
        incident = await declare(dana, title="Printer on fire")
        timeline = (await dana.execute(TIMELINE, {"id": incident["id"]}))["incident"]
        audit = await admin.execute(
            "query($t: String!) { auditLog(filter: {target: $t}) { edges { node { actor } } } }",
            {"t": incident["id"]},
        )
    finally:
        await dana.aclose()

    # then the token is the user's, named after their handle, and every record names the
    # user's id rather than the token
    assert issued["token"]["user"] == {"handle": user["handle"]}
    assert issued["token"]["name"] == user["handle"]
    assert (me["id"], me["handle"]) == (user["id"], user["handle"])
    assert timeline["declaredBy"] == user["id"]
    assert [e["node"]["actor"] for e in timeline["timeline"]["edges"]] == [user["id"]]
    assert timeline["timeline"]["edges"][0]["node"]["actorUser"] == {"handle": user["handle"]}
    assert {e["node"]["actor"] for e in audit["auditLog"]["edges"]} == {user["id"]}
    # and a service token is nobody: `me` is null for it
    assert (await admin.execute(ME))["me"] is None


async def test_separation_of_duties_follows_the_person_not_the_token(server, api):
    # given two incident managers, A holding two tokens under different names
    admin = api()
    a_user, a_first = await person(server, admin, "INCIDENT_MANAGER")
    a_second = server.client(
        (await user_token(admin, a_user, "INCIDENT_MANAGER", name="a's laptop"))["secret"]
    )
    _, b = await person(server, admin, "INCIDENT_MANAGER")
    try:
        # and a P1 that A declared and resolved
        incident = await declare(a_first, severity="SEV1", impact="HIGH", urgency="HIGH")
        assert incident["priority"] == "P1"
        for status in ("IN_PROGRESS", "RESOLVED"):
            extra = {"resolutionSummary": "fixed"} if status == "RESOLVED" else {}
            assert (await transition(a_first, incident["id"], status, **extra))["errors"] == []

        # when A closes it with the other token, then B closes it
        refused = await refused_transition(a_second, incident["id"], "CLOSED")
        closed = await transition(b, incident["id"], "CLOSED")
    finally:
        for c in (a_first, a_second, b):
            await c.aclose()

    # then A's second token is refused as A, and B may close it
    assert [(e["field"], e["code"]) for e in refused] == [("to", "FORBIDDEN")]
    assert "segregation of duties" in refused[0]["message"]
    assert closed["errors"] == [] and closed["incident"]["status"] == "CLOSED"


async def test_deactivating_a_user_revokes_their_tokens_and_closes_their_sockets(server, api):
    # given a user whose token holds a live subscription
    admin = api()
    user, holder = await person(server, admin, "RESPONDER")
    secret = holder.token
    sub = await subscriber(server, token=secret)
    await subscribe_and_wait(sub, server, INCIDENTS_CHANGED, {})
    try:
        # when an admin deactivates the user
        done = await admin.execute(DEACTIVATE, {"id": user["id"]})
        assert done["deactivateUser"] == {"user": {"active": False}, "errors": []}

        # then the socket closes with 4403 within seconds
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await sub.ws.recv()
        refused = await holder.post("{ me { id } }")
    finally:
        await holder.aclose()

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # and the token is revoked, and refused over HTTP
    assert refused.status_code == 401
    tokens = (await admin.execute(TOKENS))["apiTokens"]["edges"]
    mine = [t["node"] for t in tokens if (t["node"]["user"] or {}).get("handle") == user["handle"]]
    assert mine and all(t["revokedAt"] is not None for t in mine)
    # and a deactivated user gets no new token
    again = await admin.execute(CREATE_TOKEN, {"input": {"userId": user["id"], "role": "VIEWER"}})
    assert errors(again["createApiToken"]) == [("userId", "VALIDATION")]


async def test_bad_token_requests_are_refused_and_issue_nothing(api):
    admin = api()
    before = len((await admin.execute(TOKENS))["apiTokens"]["edges"])
    cases = [
        ({"userId": "usr_" + uuid.uuid4().hex, "role": "VIEWER"}, [("userId", "NOT_FOUND")]),
        ({"userId": "inc_" + uuid.uuid4().hex, "role": "VIEWER"}, [("userId", "NOT_FOUND")]),
        ({"role": "VIEWER"}, [("name", "VALIDATION")]),
        ({"role": "VIEWER", "name": "   "}, [("name", "VALIDATION")]),
    ]
    for given, expected in cases:
        data = await admin.execute(CREATE_TOKEN, {"input": given})
        assert errors(data["createApiToken"]) == expected, given
        assert data["createApiToken"]["secret"] is None
    assert len((await admin.execute(TOKENS))["apiTokens"]["edges"]) == before


async def test_an_incident_is_assigned_to_a_user_and_a_team(server, api):
    # given a responder, a user and a team
    admin = api()
    user = await new_user(admin)
    team = await new_team(admin)
    _, responder = await person(server, admin, "RESPONDER")
    try:
        incident = await declare(responder, title="Disk full")

        # when the responder assigns it to the user and the team
        both = await responder.execute(
            ASSIGN, {"input": {"id": incident["id"], "userId": user["id"], "teamId": team["id"]}}
        )
        # and later hands it to free text, leaving the team as it is
        text = await responder.execute(
            ASSIGN, {"input": {"id": incident["id"], "assignee": "vendor support"}}
        )
        timeline = (await responder.execute(TIMELINE, {"id": incident["id"]}))["incident"]
    finally:
        await responder.aclose()

    # then the user and team are objects, and `assignee` keeps the handle for old clients
    assert both["assignIncident"]["errors"] == []
    assert both["assignIncident"]["incident"]["assignee"] == user["handle"]
    assert both["assignIncident"]["incident"]["assignedUser"] == {
        "id": user["id"],
        "handle": user["handle"],
    }
    assert both["assignIncident"]["incident"]["assignedTeam"] == {
        "id": team["id"],
        "name": team["name"],
    }
    # and free text unlinks the user but keeps the team
    after = text["assignIncident"]["incident"]
    assert (after["assignee"], after["assignedUser"]) == ("vendor support", None)
    assert after["assignedTeam"]["id"] == team["id"]
    # and the timeline says who and which team, by id
    assigned = [
        e["node"]["data"]
        for e in timeline["timeline"]["edges"]
        if e["node"]["type"] == "com.incidents.assigned.v1"
    ]
    assert assigned[0] == {
        "from": None,
        "to": user["handle"],
        "user": {"from": None, "to": user["id"]},
        "team": {"from": None, "to": team["id"]},
    }
    assert assigned[1] == {
        "from": user["handle"],
        "to": "vendor support",
        "user": {"from": user["id"], "to": None},
    }


async def test_me_lists_the_incidents_waiting_for_me_and_incidents_filter_by_assignee(server, api):
    # given a user with three incidents assigned, one of them resolved, and one for a team
    admin = api()
    user, holder = await person(server, admin, "RESPONDER")
    team = await new_team(admin)
    try:
        titles = [f"Waiting {n} {uuid.uuid4().hex[:4]}" for n in range(3)]
        made = [await declare(holder, title=t) for t in titles]
        for incident in made:
            assigned = await holder.execute(
                ASSIGN, {"input": {"id": incident["id"], "userId": user["id"]}}
            )
            assert assigned["assignIncident"]["errors"] == []
        for status in ("IN_PROGRESS", "RESOLVED"):
            extra = {"resolutionSummary": "ok"} if status == "RESOLVED" else {}
            assert (await transition(holder, made[0]["id"], status, **extra))["errors"] == []
        await holder.execute(ASSIGN, {"input": {"id": made[1]["id"], "teamId": team["id"]}})

        # when they ask what waits for them, and an integrator filters by user and by team
        me = (await holder.execute(ME))["me"]
        by_user = await admin.execute(
            "query($u: [ID!]) { incidents(filter: {assignedUserIds: $u}) { totalCount } }",
            {"u": [user["id"]]},
        )
        by_team = await admin.execute(
            "query($t: [ID!]) { incidents(filter: {assignedTeamIds: $t}) "
            "{ edges { node { id } } } }",
            {"t": [team["id"]]},
        )
        bad = await admin.raw(
            "query($t: [ID!]) { incidents(filter: {assignedTeamIds: $t}) { totalCount } }",
            {"t": [user["id"]]},
        )
    finally:
        await holder.aclose()

    # then `me` lists the two still open, newest first
    assert me["assignedIncidents"]["totalCount"] == 2
    assert [e["node"]["title"] for e in me["assignedIncidents"]["edges"]] == titles[:0:-1]
    assert by_user["incidents"]["totalCount"] == 3
    assert [e["node"]["id"] for e in by_team["incidents"]["edges"]] == [made[1]["id"]]
    assert bad["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_bad_assignments_are_refused_and_change_nothing(server, api):
    admin = api()
    gone = await new_user(admin)
    await admin.execute(DEACTIVATE, {"id": gone["id"]})
    incident = await declare(admin, title="Assign me")
    cases = [
        ({"userId": "usr_" + uuid.uuid4().hex}, [("userId", "NOT_FOUND")]),
        ({"userId": "team_" + uuid.uuid4().hex}, [("userId", "NOT_FOUND")]),
        ({"teamId": "team_" + uuid.uuid4().hex}, [("teamId", "NOT_FOUND")]),
        ({"userId": gone["id"]}, [("userId", "VALIDATION")]),
        ({"userId": gone["id"], "assignee": "x"}, [("assignee", "VALIDATION")]),
        ({}, [("userId", "VALIDATION")]),
    ]
    for given, expected in cases:
        data = await admin.execute(ASSIGN, {"input": {"id": incident["id"], **given}})
        assert errors(data["assignIncident"]) == expected, given
    timeline = (await admin.execute(TIMELINE, {"id": incident["id"]}))["incident"]
    assert [e["node"]["type"] for e in timeline["timeline"]["edges"]] == [
        "com.incidents.declared.v1"
    ]


async def test_another_tenants_user_cannot_be_assigned_or_given_a_token(server, api):
    # given a user of another tenant
    other = create_tenant(server, tenant_id=f"other-{uuid.uuid4().hex[:8]}", name="Other")
    outsider_admin = server.client(create_token(server, role="ADMIN", name="o", tenant=other))
    try:
        outsider = await new_user(outsider_admin)
    finally:
        await outsider_admin.aclose()
    admin = api()
    incident = await declare(admin, title="Ours")

    # when our admin assigns our incident to them or issues a token for them
    assign = await admin.execute(
        ASSIGN, {"input": {"id": incident["id"], "userId": outsider["id"]}}
    )
    token = await admin.execute(
        CREATE_TOKEN, {"input": {"userId": outsider["id"], "role": "VIEWER"}}
    )

    # then neither finds them
    assert errors(assign["assignIncident"]) == [("userId", "NOT_FOUND")]
    assert errors(token["createApiToken"]) == [("userId", "NOT_FOUND")]


async def test_the_cli_creates_a_user_with_a_token_and_tokens_for_a_handle(server, tenant):
    handle = a_handle()

    # when an operator creates a user with a role, then another token by handle
    made = cli(
        server, "user", "create", "--tenant", tenant["id"], "--handle", handle,
        "--email", f"{handle}@example.com", "--role", "RESPONDER",
    )  # fmt: skip
    more = cli(
        server, "token", "create", "--tenant", tenant["id"], "--role", "VIEWER",
        "--user", handle,
    )  # fmt: skip
    nobody = cli(
        server, "token", "create", "--tenant", tenant["id"], "--role", "VIEWER",
        "--user", "nosuch",
    )  # fmt: skip
    unnamed = cli(server, "token", "create", "--tenant", tenant["id"], "--role", "VIEWER")
    no_tenant = cli(
        server, "user", "create", "--tenant", "no-such-tenant", "--handle", a_handle(),
        "--email", "x@example.com",
    )  # fmt: skip
    posing = cli(
        server, "token", "create", "--tenant", tenant["id"], "--role", "RESPONDER",
        "--name", "usr_" + "0" * 32,
    )  # fmt: skip

    # then both tokens act as the user
    assert made.returncode == 0, made.stderr
    assert more.returncode == 0, more.stderr
    for secret in (made.stdout.splitlines()[-1], more.stdout.strip()):
        client = server.client(secret)
        try:
            assert (await client.execute("{ me { handle } }"))["me"] == {"handle": handle}
        finally:
            await client.aclose()
    # and an unknown handle or a nameless service token is a clear error
    assert nobody.returncode == 2 and "no user with handle 'nosuch'" in nobody.stderr
    assert unnamed.returncode == 2 and "--name" in unnamed.stderr
    # and neither a missing tenant nor a service token named like a person's id gets through
    assert no_tenant.returncode == 2, no_tenant.stderr
    assert no_tenant.stderr.strip() == "error: no tenant 'no-such-tenant'"
    assert posing.returncode == 2 and "may not begin with 'usr_'" in posing.stderr


ADD_NOTE = """
mutation($input: AddNoteInput!) {
  addNote(input: $input) {
    event { seq data mentions { id handle } } errors { field code message }
  }
}"""
MY_MENTIONS = """
query($first: Int, $after: String) { me { mentions(first: $first, after: $after) {
  edges { cursor node { by incident { id } note { seq data } } }
  pageInfo { hasNextPage endCursor }
} } }"""


async def test_mentions_resolve_to_users_and_wait_for_them_in_me(server, api):
    # given two users, one holding a token, and an incident
    admin = api()
    dana, holder = await person(server, admin, "RESPONDER")
    fox = await new_user(admin)
    writer = await new_user(admin)
    writer_client = server.client((await user_token(admin, writer, "RESPONDER"))["secret"])
    incident = await declare(admin, title="Mentions")
    try:
        # when notes mention dana by name, and by @handle in the body (fox too), and an
        # e-mail address and an @word that is nobody stay text
        named = await writer_client.execute(
            ADD_NOTE,
            {"input": {"incidentId": incident["id"], "body": "look", "mentions": [dana["handle"]]}},
        )
        body = f"@{dana['handle']} and @{fox['handle'].upper()}: see ops@example.com, @nobody"
        inline = await writer_client.execute(
            ADD_NOTE, {"input": {"incidentId": incident["id"], "body": body}}
        )
        first = (await holder.execute(MY_MENTIONS, {"first": 1}))["me"]["mentions"]
        rest = (
            await holder.execute(MY_MENTIONS, {"first": 5, "after": first["pageInfo"]["endCursor"]})
        )["me"]["mentions"]
    finally:
        await holder.aclose()
        await writer_client.aclose()

    # then each note's mentions are the users, in order
    assert named["addNote"]["event"]["mentions"] == [{"id": dana["id"], "handle": dana["handle"]}]
    assert [u["handle"] for u in inline["addNote"]["event"]["mentions"]] == [
        dana["handle"],
        fox["handle"],
    ]
    # and dana's mentions list both notes, newest first, by who wrote them, page by page
    pages = first["edges"] + rest["edges"]
    assert [e["node"]["note"]["seq"] for e in pages] == [3, 2]
    assert {e["node"]["by"] for e in pages} == {writer["id"]}
    assert {e["node"]["incident"]["id"] for e in pages} == {incident["id"]}
    assert first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]


async def test_a_mention_of_unknown_or_deactivated_handles_is_refused_naming_them(api):
    admin = api()
    gone = await new_user(admin)
    await admin.execute(DEACTIVATE, {"id": gone["id"]})
    known = await new_user(admin)
    incident = await declare(admin, title="Bad mentions")

    refused = await admin.execute(
        ADD_NOTE,
        {
            "input": {
                "incidentId": incident["id"],
                "body": "hi",
                "mentions": [known["handle"], "@ghost", gone["handle"]],
            }
        },
    )

    assert errors(refused["addNote"]) == [("mentions", "VALIDATION")]
    message = refused["addNote"]["errors"][0]["message"]
    assert "@ghost" in message and f"@{gone['handle']}" in message
    assert known["handle"] not in message
    timeline = (await admin.execute(TIMELINE, {"id": incident["id"]}))["incident"]
    assert len(timeline["timeline"]["edges"]) == 1, "nothing was written"


async def test_a_mention_in_a_note_above_the_readers_clearance_is_not_shown(server, api):
    # given a viewer (clearance INTERNAL) mentioned in a CONFIDENTIAL note
    admin = api()
    viewer, holder = await person(server, admin, "VIEWER")
    incident = await declare(admin, title="Secret mention")
    note = await admin.execute(
        ADD_NOTE,
        {
            "input": {
                "incidentId": incident["id"],
                "body": f"@{viewer['handle']} the root cause is the vault",
                "classification": "CONFIDENTIAL",
            }
        },
    )
    assert note["addNote"]["errors"] == []
    try:
        mine = (await holder.execute(MY_MENTIONS))["me"]["mentions"]["edges"]
    finally:
        await holder.aclose()

    # then the viewer does not see the note through their mentions
    assert mine == []

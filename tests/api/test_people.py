"""Users and teams over a real server: what an ADMIN sets up and everyone reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import GraphQLClient, Server, create_tenant, create_token

USER_FIELDS = "id handle name email timeZone phone chatIds active teams { name }"
CREATE_USER = f"""
mutation($input: CreateUserInput!) {{
  createUser(input: $input) {{ user {{ {USER_FIELDS} }} errors {{ field code message }} }}
}}"""
UPDATE_USER = f"""
mutation($input: UpdateUserInput!) {{
  updateUser(input: $input) {{ user {{ {USER_FIELDS} }} errors {{ field code message }} }}
}}"""
DEACTIVATE_USER = """
mutation($id: ID!) {
  deactivateUser(input: {id: $id}) { user { handle active } errors { field code message } }
}"""
USERS = f"""
query($filter: UserFilter, $first: Int, $after: String) {{
  users(filter: $filter, first: $first, after: $after) {{
    totalCount edges {{ cursor node {{ {USER_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage endCursor }}
  }}
}}"""
TEAM_FIELDS = "id name tier members { role user { handle } }"
CREATE_TEAM = f"""
mutation($input: CreateTeamInput!) {{
  createTeam(input: $input) {{ team {{ {TEAM_FIELDS} }} errors {{ field code message }} }}
}}"""
UPDATE_TEAM = f"""
mutation($input: UpdateTeamInput!) {{
  updateTeam(input: $input) {{ team {{ {TEAM_FIELDS} }} errors {{ field code message }} }}
}}"""
ADD_MEMBER = f"""
mutation($input: TeamMemberInput!) {{
  addTeamMember(input: $input) {{ team {{ {TEAM_FIELDS} }} errors {{ field code message }} }}
}}"""
REMOVE_MEMBER = f"""
mutation($input: RemoveTeamMemberInput!) {{
  removeTeamMember(input: $input) {{ team {{ {TEAM_FIELDS} }} errors {{ field code message }} }}
}}"""
TEAMS = f"""
query($filter: TeamFilter) {{
  teams(filter: $filter) {{ totalCount edges {{ node {{ {TEAM_FIELDS} }} }} }}
}}"""
NODE = "query($id: ID!) { node(id: $id) { id ... on User { handle } ... on Team { name } } }"
AUDIT = """
query($target: String!) { auditLog(filter: {target: $target}) { edges { node { action } } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    """A tenant of these tests' own: its users and teams are nobody else's."""
    tenant_id = create_tenant(server, tenant_id=f"people-{uuid.uuid4().hex[:8]}", name="People")
    yield {
        "id": tenant_id,
        **{
            role: create_token(server, role=role, name=f"people {role.lower()}", tenant=tenant_id)
            for role in ("ADMIN", "RESPONDER", "VIEWER", "STAKEHOLDER")
        },
    }


def errors(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


def a_handle() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


async def new_user(admin: GraphQLClient, **fields: Any) -> dict[str, Any]:
    handle = fields.pop("handle", a_handle())
    data = await admin.execute(
        CREATE_USER,
        {
            "input": {
                "handle": handle,
                "name": fields.pop("name", f"User {handle}"),
                "email": fields.pop("email", f"{handle}@example.com"),
                **fields,
            }
        },
    )
    assert data["createUser"]["errors"] == [], data
    return data["createUser"]["user"]  # type: ignore[no-any-return]


async def new_team(admin: GraphQLClient, **fields: Any) -> dict[str, Any]:
    name = fields.pop("name", f"Team {uuid.uuid4().hex[:6]}")
    data = await admin.execute(CREATE_TEAM, {"input": {"name": name, **fields}})
    assert data["createTeam"]["errors"] == [], data
    return data["createTeam"]["team"]  # type: ignore[no-any-return]


async def test_an_admin_creates_a_user_that_everyone_with_a_person_role_can_read(api):
    # given an admin
    admin = api("ADMIN")

    # when they create a user with every field
    user = await new_user(
        admin,
        handle="  @Dana.Ops ".replace("Dana.Ops", f"dana.{uuid.uuid4().hex[:6]}"),
        name="  Dana   Scully ",
        email="Dana.Scully@Example.COM".replace("Dana", f"dana{uuid.uuid4().hex[:4]}"),
        timeZone="Europe/Berlin",
        phone="+49 30 1234567",
        chatIds={"Slack": "U024BE7LH"},
    )

    # then it is stored cleaned up: handle and e-mail lower case, the name's spaces collapsed
    assert user["handle"].startswith("dana.") and user["handle"] == user["handle"].lower()
    assert user["email"] == user["email"].lower() and user["name"] == "Dana Scully"
    assert (user["timeZone"], user["phone"], user["active"]) == (
        "Europe/Berlin",
        "+49 30 1234567",
        True,
    )
    assert user["chatIds"] == {"slack": "U024BE7LH"} and user["teams"] == []
    assert user["id"].startswith("usr_")
    # and a responder and a viewer find it by node id and in the list
    for role in ("RESPONDER", "VIEWER"):
        node = await api(role).execute(NODE, {"id": user["id"]})
        assert node["node"] == {"id": user["id"], "handle": user["handle"]}
        listed = await api(role).execute(USERS, {"filter": {"text": user["handle"]}})
        assert [e["node"]["id"] for e in listed["users"]["edges"]] == [user["id"]]
    # and the creation is audited
    audit = await admin.execute(AUDIT, {"target": str(uuid.UUID(user["id"][4:]))})
    assert [e["node"]["action"] for e in audit["auditLog"]["edges"]] == ["user.create"]


async def test_only_an_admin_manages_people_and_a_stakeholder_reads_none(api):
    # given a responder and a stakeholder
    responder, stakeholder = api("RESPONDER"), api("STAKEHOLDER")
    handle = a_handle()

    # when they try to create a user, and the stakeholder to list them
    refused = await responder.raw(
        CREATE_USER, {"input": {"handle": handle, "name": "X", "email": f"{handle}@example.com"}}
    )
    hidden = await stakeholder.raw(USERS)

    # then both are FORBIDDEN and nothing is written
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    listed = await api("ADMIN").execute(USERS, {"filter": {"text": handle}})
    assert listed["users"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"handle": "Not A Handle!"}, "handle"),
        ({"handle": ""}, "handle"),
        ({"email": "no-at-sign"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"timeZone": "Mars/Olympus_Mons"}, "timeZone"),
        ({"phone": "call me"}, "phone"),
        ({"chatIds": {"slack": 42}}, "chatIds"),
        ({"chatIds": ["U1"]}, "chatIds"),
        ({"name": "bad\u0000byte"}, "name"),
    ],
)
async def test_bad_user_fields_are_refused_on_their_field_and_nothing_is_written(
    api, fields, field
):
    admin = api("ADMIN")
    handle = a_handle()
    base = {"handle": handle, "name": "Valid Name", "email": f"{handle}@example.com"}

    data = await admin.execute(CREATE_USER, {"input": {**base, **fields}})

    assert errors(data["createUser"]) == [(field, "VALIDATION")]
    assert data["createUser"]["user"] is None
    listed = await admin.execute(USERS, {"filter": {"text": handle}})
    assert listed["users"]["totalCount"] == 0


async def test_a_duplicate_handle_or_email_is_a_conflict_naming_the_field(api):
    # given a user
    admin = api("ADMIN")
    user = await new_user(admin)
    other = await new_user(admin)

    # when another is created with its handle (any case), or its e-mail, or renamed onto it
    same_handle = await admin.execute(
        CREATE_USER,
        {"input": {"handle": user["handle"].upper(), "name": "B", "email": f"b{a_handle()}@x.io"}},
    )
    same_email = await admin.execute(
        CREATE_USER, {"input": {"handle": a_handle(), "name": "C", "email": user["email"]}}
    )
    renamed = await admin.execute(
        UPDATE_USER, {"input": {"id": other["id"], "email": user["email"].upper()}}
    )

    # then each is a CONFLICT on the field at fault, and the other user is unchanged
    assert errors(same_handle["createUser"]) == [("handle", "CONFLICT")]
    assert errors(same_email["createUser"]) == [("email", "CONFLICT")]
    assert errors(renamed["updateUser"]) == [("email", "CONFLICT")]
    listed = await admin.execute(USERS, {"filter": {"text": other["handle"]}})
    assert listed["users"]["edges"][0]["node"]["email"] == other["email"]


async def test_a_user_is_updated_field_by_field_and_deactivated_without_being_forgotten(api):
    admin = api("ADMIN")
    user = await new_user(admin, timeZone="UTC", phone="+1 212 555 0100")

    # when the time zone changes and the phone is cleared
    updated = await admin.execute(
        UPDATE_USER, {"input": {"id": user["id"], "timeZone": "America/New_York", "phone": None}}
    )
    # and the user is deactivated, twice
    first = await admin.execute(DEACTIVATE_USER, {"id": user["id"]})
    again = await admin.execute(DEACTIVATE_USER, {"id": user["id"]})

    # then only those fields changed, and the user is still listed, inactive
    changed = updated["updateUser"]["user"]
    assert (changed["timeZone"], changed["phone"], changed["name"]) == (
        "America/New_York",
        None,
        user["name"],
    )
    assert first["deactivateUser"]["user"] == {"handle": user["handle"], "active": False}
    assert again["deactivateUser"]["errors"] == []
    inactive = await admin.execute(USERS, {"filter": {"text": user["handle"], "active": False}})
    active = await admin.execute(USERS, {"filter": {"text": user["handle"], "active": True}})
    assert inactive["users"]["totalCount"] == 1 and active["users"]["totalCount"] == 0
    audit = await admin.execute(AUDIT, {"target": str(uuid.UUID(user["id"][4:]))})
    actions = [e["node"]["action"] for e in audit["auditLog"]["edges"]]
    assert actions == ["user.deactivate", "user.update", "user.create"]


async def test_unknown_and_malformed_ids_are_not_found(api):
    admin = api("ADMIN")
    team = await new_team(admin)
    unknown_user = "usr_" + uuid.uuid4().hex

    for data, key in [
        (
            await admin.execute(UPDATE_USER, {"input": {"id": unknown_user, "name": "X"}}),
            "updateUser",
        ),
        (await admin.execute(DEACTIVATE_USER, {"id": "not-an-id"}), "deactivateUser"),
        (
            await admin.execute(
                ADD_MEMBER, {"input": {"teamId": team["id"], "userId": unknown_user}}
            ),
            "addTeamMember",
        ),
    ]:
        assert [e["code"] for e in data[key]["errors"]] == ["NOT_FOUND"], data


async def test_teams_hold_members_with_roles_and_users_list_their_teams(api):
    # given a team and two users
    admin = api("ADMIN")
    team = await new_team(admin, name=f"Payments {uuid.uuid4().hex[:6]}", tier="L2")
    lead, member = await new_user(admin), await new_user(admin)

    # when both join, one as lead, and the member's role is then changed and changed back
    for user, role in ((member, "MEMBER"), (lead, "LEAD"), (member, "MANAGER"), (member, "MEMBER")):
        data = await admin.execute(
            ADD_MEMBER, {"input": {"teamId": team["id"], "userId": user["id"], "role": role}}
        )
        assert data["addTeamMember"]["errors"] == []

    # then the team lists the lead first, and each user lists the team
    teams = await api("VIEWER").execute(TEAMS, {"filter": {"text": team["name"][-6:]}})
    [found] = [e["node"] for e in teams["teams"]["edges"]]
    assert found["tier"] == "L2"
    assert [(m["role"], m["user"]["handle"]) for m in found["members"]] == [
        ("LEAD", lead["handle"]),
        ("MEMBER", member["handle"]),
    ]
    users = await api("VIEWER").execute(USERS, {"filter": {"teamId": team["id"]}})
    assert sorted(e["node"]["handle"] for e in users["users"]["edges"]) == sorted(
        [lead["handle"], member["handle"]]
    )
    assert {e["node"]["teams"][0]["name"] for e in users["users"]["edges"]} == {team["name"]}

    # when the member leaves, and leaves again
    removed = await admin.execute(
        REMOVE_MEMBER, {"input": {"teamId": team["id"], "userId": member["id"]}}
    )
    twice = await admin.execute(
        REMOVE_MEMBER, {"input": {"teamId": team["id"], "userId": member["id"]}}
    )

    # then only the lead is left, and the second removal is NOT_FOUND on userId
    assert [m["user"]["handle"] for m in removed["removeTeamMember"]["team"]["members"]] == [
        lead["handle"]
    ]
    assert errors(twice["removeTeamMember"]) == [("userId", "NOT_FOUND")]


async def test_team_names_are_unique_in_any_case_and_deactivated_users_cannot_join(api):
    admin = api("ADMIN")
    name = f"Network {uuid.uuid4().hex[:6]}"
    team = await new_team(admin, name=name)
    other = await new_team(admin)
    gone = await new_user(admin)
    await admin.execute(DEACTIVATE_USER, {"id": gone["id"]})

    duplicate = await admin.execute(CREATE_TEAM, {"input": {"name": name.upper()}})
    renamed = await admin.execute(UPDATE_TEAM, {"input": {"id": other["id"], "name": name}})
    joined = await admin.execute(
        ADD_MEMBER, {"input": {"teamId": team["id"], "userId": gone["id"]}}
    )
    retiered = await admin.execute(UPDATE_TEAM, {"input": {"id": team["id"], "tier": "DEVOPS"}})
    untiered = await admin.execute(UPDATE_TEAM, {"input": {"id": team["id"], "tier": None}})

    assert errors(duplicate["createTeam"]) == [("name", "CONFLICT")]
    assert errors(renamed["updateTeam"]) == [("name", "CONFLICT")]
    assert errors(joined["addTeamMember"]) == [("userId", "CONFLICT")]
    assert retiered["updateTeam"]["team"]["tier"] == "DEVOPS"
    assert untiered["updateTeam"]["team"]["tier"] is None


async def test_users_page_by_handle_without_gaps_or_repeats(api):
    # given seven users sharing a marker
    admin = api("ADMIN")
    marker = uuid.uuid4().hex[:6]
    made = sorted([(await new_user(admin, handle=f"p{marker}-{n}"))["handle"] for n in range(7)])

    # when they are read three at a time
    seen: list[str] = []
    after = None
    while True:
        page = await admin.execute(USERS, {"filter": {"text": marker}, "first": 3, "after": after})
        seen += [e["node"]["handle"] for e in page["users"]["edges"]]
        if not page["users"]["pageInfo"]["hasNextPage"]:
            break
        after = page["users"]["pageInfo"]["endCursor"]

    # then every user came once, in handle order, and the total was known from the start
    assert seen == made
    assert page["users"]["totalCount"] == 7
    bad = await admin.raw(USERS, {"after": "garbage"})
    assert bad["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_another_tenants_people_are_invisible(server, api):
    # given a user and a team of this tenant, and an admin of another tenant
    user = await new_user(api("ADMIN"))
    team = await new_team(api("ADMIN"))
    other_tenant = create_tenant(server, tenant_id=f"other-{uuid.uuid4().hex[:8]}", name="Other")
    other = server.client(token=create_token(server, role="ADMIN", name="o", tenant=other_tenant))
    try:
        # when that admin looks them up, lists them, and tries to change them
        node = await other.execute(NODE, {"id": user["id"]})
        team_node = await other.execute(NODE, {"id": team["id"]})
        listed = await other.execute(USERS, {"filter": {"text": user["handle"]}})
        changed = await other.execute(UPDATE_USER, {"input": {"id": user["id"], "name": "Owned"}})
        joined = await other.execute(
            ADD_MEMBER, {"input": {"teamId": team["id"], "userId": user["id"]}}
        )
    finally:
        await other.aclose()

    # then nothing of them exists for it
    assert node["node"] is None and team_node["node"] is None
    assert listed["users"]["totalCount"] == 0
    assert errors(changed["updateUser"]) == [("id", "NOT_FOUND")]
    assert errors(joined["addTeamMember"]) == [("teamId", "NOT_FOUND")]

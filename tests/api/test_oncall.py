"""On-call over a real server: rotations with layers and overrides, Team.onCall at any
instant (across a daylight-saving change), whoIsOnCall for the tenant, and bad input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_people import errors, new_team, new_user
from tests.support import Server, create_tenant, create_token

ROTATION_FIELDS = """
id name team { id }
layers { shiftDays shiftHours handoffTime timeZone startDate participants { handle } }
"""
PAYLOAD = f"rotation {{ {ROTATION_FIELDS} }} errors {{ field code message }}"
CREATE_ROTATION = f"""
mutation($input: CreateRotationInput!) {{ createRotation(input: $input) {{ {PAYLOAD} }} }}"""
UPDATE_ROTATION = f"""
mutation($input: UpdateRotationInput!) {{ updateRotation(input: $input) {{ {PAYLOAD} }} }}"""
ADD_OVERRIDE = """
mutation($input: AddOverrideInput!) {
  addOverride(input: $input) {
    override { id startsAt endsAt user { handle } } errors { field code message }
  }
}"""
REMOVE_OVERRIDE = """
mutation($id: ID!) { removeOverride(input: {id: $id}) { override { id } errors { code } } }
"""
ON_CALL = """
query($id: ID!, $at: DateTime) {
  node(id: $id) { ... on Team { onCall(at: $at) { handle } rotations { name } } }
}"""
WHO = """
query($teams: [ID!], $at: DateTime) {
  whoIsOnCall(teamIds: $teams, at: $at) {
    since until override user { handle } team { name } rotation { name }
  }
}"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"oncall-{uuid.uuid4().hex[:8]}", name="OnCall")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="oncall admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="oncall r", tenant=tenant_id),
    }


async def rotation(admin: Any, team: dict[str, Any], *layers: dict[str, Any]) -> dict[str, Any]:
    data = await admin.execute(
        CREATE_ROTATION,
        {"input": {"teamId": team["id"], "name": f"Primary {team['name']}", "layers": layers}},
    )
    assert data["createRotation"]["errors"] == [], data
    return data["createRotation"]["rotation"]  # type: ignore[no-any-return]


async def on_call(client: Any, team: dict[str, Any], at: str) -> list[str]:
    data = await client.execute(ON_CALL, {"id": team["id"], "at": at})
    return [u["handle"] for u in data["node"]["onCall"]]


async def test_a_daily_berlin_rotation_hands_over_at_nine_local_across_the_spring_change(api):
    # given a team whose three members take daily turns at 09:00 Berlin time from 27 March
    admin = api()
    people = [await new_user(admin) for _ in range(3)]
    team = await new_team(admin)
    made = await rotation(
        admin,
        team,
        {
            "participantIds": [p["id"] for p in people],
            "startDate": "2026-03-27",
            "shiftDays": 1,
            "handoffTime": "09:00",
            "timeZone": "Europe/Berlin",
        },
    )
    handles = [p["handle"] for p in people]

    # when a responder asks around the 29 March change (CET -> CEST at 02:00)
    responder = api("RESPONDER")
    asked = {
        at: await on_call(responder, team, at)
        for at in (
            "2026-03-27T07:59:00Z",  # 08:59 CET, before the first handoff
            "2026-03-27T08:00:00Z",  # 09:00 CET
            "2026-03-29T07:59:00Z",  # 09:59 CEST: the third handoff was at 07:00Z
            "2026-03-29T06:59:00Z",  # 08:59 CEST: still the second turn
            "2026-03-30T07:00:00Z",  # 09:00 CEST: back to the first
        )
    }

    # then the turns follow the local clock, not a fixed 24 hours of UTC
    assert made["layers"][0]["participants"] == [{"handle": h} for h in handles]
    assert asked == {
        "2026-03-27T07:59:00Z": [],
        "2026-03-27T08:00:00Z": [handles[0]],
        "2026-03-29T07:59:00Z": [handles[2]],
        "2026-03-29T06:59:00Z": [handles[1]],
        "2026-03-30T07:00:00Z": [handles[0]],
    }


async def test_a_new_york_override_wins_and_who_is_on_call_covers_the_tenant(api):
    # given two teams with weekly rotations in New York, crossing the 1 November change
    admin = api()
    alice, bob, carol, dave = [await new_user(admin) for _ in range(4)]
    ops = await new_team(admin)
    db = await new_team(admin)
    weekly = {"shiftDays": 7, "handoffTime": "10:00", "timeZone": "America/New_York"}
    ops_rotation = await rotation(
        admin,
        ops,
        {"participantIds": [alice["id"], bob["id"]], "startDate": "2026-10-26", **weekly},
    )
    await rotation(
        admin, db, {"participantIds": [carol["id"]], "startDate": "2026-10-01", **weekly}
    )

    # when dave covers ops for an afternoon, and everyone asks who is on call then and after
    cover = await admin.execute(
        ADD_OVERRIDE,
        {
            "input": {
                "rotationId": ops_rotation["id"],
                "userId": dave["id"],
                "startsAt": "2026-11-03T18:00:00Z",
                "endsAt": "2026-11-03T22:00:00Z",
            }
        },
    )
    during = (await admin.execute(WHO, {"at": "2026-11-03T19:00:00Z"}))["whoIsOnCall"]
    # bob took over on Monday 2 Nov 10:00 EST (15:00Z, after the change back from EDT)
    before = await admin.execute(WHO, {"teams": [ops["id"]], "at": "2026-11-02T14:59:00Z"})
    after = await admin.execute(WHO, {"teams": [ops["id"]], "at": "2026-11-02T15:00:00Z"})
    removed = await admin.execute(REMOVE_OVERRIDE, {"id": cover["addOverride"]["override"]["id"]})
    again = await admin.execute(WHO, {"teams": [ops["id"]], "at": "2026-11-03T19:00:00Z"})

    # then the override wins during its period, and ends the shift it interrupts
    assert cover["addOverride"]["errors"] == []
    by_team = {e["team"]["name"]: e for e in during}
    assert by_team[ops["name"]]["user"]["handle"] == dave["handle"]
    assert by_team[ops["name"]]["override"] is True
    assert by_team[ops["name"]]["until"] == "2026-11-03T22:00:00+00:00"
    assert by_team[db["name"]]["user"]["handle"] == carol["handle"]
    assert before["whoIsOnCall"][0]["user"]["handle"] == alice["handle"]
    shift = after["whoIsOnCall"][0]
    assert shift["user"]["handle"] == bob["handle"]
    assert (shift["since"], shift["until"]) == (
        "2026-11-02T15:00:00+00:00",
        "2026-11-03T18:00:00+00:00",  # cut short by dave's override
    )
    assert removed["removeOverride"]["errors"] == []
    assert again["whoIsOnCall"][0]["user"]["handle"] == bob["handle"]


async def test_a_deactivated_participant_is_nobody_on_call(api):
    admin = api()
    gone = await new_user(admin)
    team = await new_team(admin)
    await rotation(
        admin, team, {"participantIds": [gone["id"]], "startDate": "2026-01-01", "shiftDays": 1}
    )
    deactivated = await admin.execute(
        "mutation($id: ID!) { deactivateUser(input: {id: $id}) { errors { code } } }",
        {"id": gone["id"]},
    )
    assert deactivated["deactivateUser"]["errors"] == []

    assert await on_call(admin, team, "2026-06-01T12:00:00Z") == []


async def test_layers_are_replaced_and_a_later_layer_takes_precedence(api):
    admin = api()
    low, high = await new_user(admin), await new_user(admin)
    team = await new_team(admin)
    made = await rotation(
        admin, team, {"participantIds": [low["id"]], "startDate": "2026-01-01", "shiftDays": 1}
    )

    updated = await admin.execute(
        UPDATE_ROTATION,
        {
            "input": {
                "id": made["id"],
                "name": "Follow the sun",
                "layers": [
                    {"participantIds": [low["id"]], "startDate": "2026-01-01", "shiftDays": 1},
                    {"participantIds": [high["id"]], "startDate": "2026-05-01", "shiftDays": 1},
                ],
            }
        },
    )

    assert updated["updateRotation"]["errors"] == []
    assert updated["updateRotation"]["rotation"]["name"] == "Follow the sun"
    assert await on_call(admin, team, "2026-04-01T12:00:00Z") == [low["handle"]]
    assert await on_call(admin, team, "2026-05-02T12:00:00Z") == [high["handle"]]


async def test_bad_rotations_and_overrides_are_refused_on_their_field(api):
    admin = api()
    user = await new_user(admin)
    team = await new_team(admin)
    good = {"participantIds": [user["id"]], "startDate": "2026-01-01", "shiftDays": 1}
    cases = [
        ({"layers": []}, ("layers", "VALIDATION")),
        ({"layers": [{**good, "participantIds": []}]}, ("layers[0].participantIds", "VALIDATION")),
        ({"layers": [{**good, "shiftDays": 0}]}, ("layers[0].shiftDays", "VALIDATION")),
        ({"layers": [{**good, "shiftDays": 400}]}, ("layers[0].shiftDays", "VALIDATION")),
        ({"layers": [{**good, "handoffTime": "25:00"}]}, ("layers[0].handoffTime", "VALIDATION")),
        ({"layers": [{**good, "timeZone": "Mars/Olympus"}]}, ("layers[0].timeZone", "VALIDATION")),
        (
            {"layers": [{**good, "participantIds": ["usr_" + uuid.uuid4().hex]}]},
            ("layers.participantIds", "NOT_FOUND"),
        ),
        ({"teamId": "team_" + uuid.uuid4().hex}, ("teamId", "NOT_FOUND")),
        ({"name": "  "}, ("name", "VALIDATION")),
    ]
    for change, expected in cases:
        given = {"teamId": team["id"], "name": "R", "layers": [good], **change}
        data = await admin.execute(CREATE_ROTATION, {"input": given})
        assert errors(data["createRotation"]) == [expected], change
    teams = await admin.execute(ON_CALL, {"id": team["id"], "at": "2026-02-01T00:00:00Z"})
    assert teams["node"]["rotations"] == [], "nothing was written"

    made = await rotation(admin, team, good)
    window = {"startsAt": "2026-02-01T10:00:00Z", "endsAt": "2026-02-01T09:00:00Z"}
    backwards = await admin.execute(
        ADD_OVERRIDE, {"input": {"rotationId": made["id"], "userId": user["id"], **window}}
    )
    unknown = await admin.execute(
        ADD_OVERRIDE,
        {
            "input": {
                "rotationId": "rot_" + uuid.uuid4().hex,
                "userId": user["id"],
                "startsAt": "2026-02-01T09:00:00Z",
                "endsAt": "2026-02-01T10:00:00Z",
            }
        },
    )
    assert errors(backwards["addOverride"]) == [("endsAt", "VALIDATION")]
    assert errors(unknown["addOverride"]) == [("rotationId", "NOT_FOUND")]


async def test_only_an_admin_manages_rotations(api):
    admin = api()
    user = await new_user(admin)
    team = await new_team(admin)
    layer = {"participantIds": [user["id"]], "startDate": "2026-01-01", "shiftDays": 1}

    refused = await api("RESPONDER").raw(
        CREATE_ROTATION, {"input": {"teamId": team["id"], "name": "R", "layers": [layer]}}
    )

    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

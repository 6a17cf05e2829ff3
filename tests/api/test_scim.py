"""SCIM 2.0 over a real server, with the requests Okta and Entra ID send: users and groups
provisioned, changed, deactivated; every bad request answered in SCIM's error shape with
nothing written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support import Server, create_tenant, create_token

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"scim-{uuid.uuid4().hex[:8]}", name="SCIM")
    yield {
        "id": tenant_id,
        "SCIM": create_token(server, role="SCIM", name="okta", tenant=tenant_id),
        "ADMIN": create_token(server, role="ADMIN", name="scim admin", tenant=tenant_id),
    }


@pytest.fixture
async def idp(server: Server, tenant: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {tenant['SCIM']}", "Content-Type": "application/scim+json"}
    async with httpx.AsyncClient(base_url=server.url + "/scim/v2", headers=headers) as client:
        yield client


def okta_user(login: str, **extra: Any) -> dict[str, Any]:
    """A user as Okta creates one."""
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": login,
        "name": {"givenName": "Dana", "familyName": "Scully"},
        "emails": [{"primary": True, "value": login, "type": "work"}],
        "displayName": "Dana Scully",
        "locale": "en-US",
        "externalId": f"00u{uuid.uuid4().hex[:10]}",
        "groups": [],
        "password": "never-stored-1!",
        "active": True,
        ENTERPRISE: {"department": "Operations"},
        **extra,
    }


def login() -> str:
    return f"dana.{uuid.uuid4().hex[:8]}@example.com"


def scim_error(response: httpx.Response) -> tuple[int, str | None]:
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(response.status_code), body
    assert response.headers["content-type"].startswith("application/scim+json")
    return response.status_code, body.get("scimType")


async def gql_users(server: Server, tenant: dict[str, str], text: str) -> list[dict[str, Any]]:
    client = server.client(tenant["ADMIN"])
    try:
        data = await client.execute(
            "query($t: String) { users(filter: {text: $t}) { edges { node { id handle name "
            "email active teams { name } } } } }",
            {"t": text},
        )
    finally:
        await client.aclose()
    return [e["node"] for e in data["users"]["edges"]]


async def test_okta_provisions_a_user_finds_them_by_user_name_and_deactivates_them(
    idp, server, tenant
):
    # given a user Okta provisions
    name = login()
    created = await idp.post("/Users", json=okta_user(name))
    assert created.status_code == 201, created.text
    user = created.json()

    # when Okta looks them up the way it does, then deactivates them
    found = await idp.get("/Users", params={"filter": f'userName eq "{name}"'})
    gone = await idp.patch(
        f"/Users/{user['id']}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    after = await gql_users(server, tenant, name)

    # then the user exists with Okta's userName and our handle, and is deactivated
    assert user["userName"] == name and user["active"] is True
    assert user["emails"][0]["value"] == name
    assert created.headers["location"].endswith(f"/scim/v2/Users/{user['id']}")
    assert found.json()["totalResults"] == 1
    assert found.json()["Resources"][0]["id"] == user["id"]
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert after == [
        {
            "id": "usr_" + user["id"].replace("-", ""),
            "handle": name.split("@")[0],
            "name": "Dana Scully",
            "email": name,
            "active": False,
            "teams": [],
        }
    ]


async def test_entra_patches_with_paths_and_string_booleans_and_deletes(idp, server, tenant):
    # given a user created by Entra ID (no enterprise extension, userName an e-mail)
    name = login()
    created = (await idp.post("/Users", json={"schemas": [USER], "userName": name})).json()

    # when Entra replaces attributes by path, as it does, and then deletes the user
    patched = await idp.patch(
        f"/Users/{created['id']}",
        json={
            "schemas": [PATCH],
            "Operations": [
                {"op": "Replace", "path": "displayName", "value": "Fox Mulder"},
                {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "fox@x.org"},
                {"op": "Add", "path": "timezone", "value": "Europe/Berlin"},
                {"op": "Replace", "path": "active", "value": "False"},
            ],
        },
    )
    restored = await idp.patch(
        f"/Users/{created['id']}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "active", "value": "True"}],
        },
    )
    deleted = await idp.delete(f"/Users/{created['id']}")
    fetched = await idp.get(f"/Users/{created['id']}")

    # then each change took, and DELETE deactivated (the user stays on their records)
    body = patched.json()
    assert patched.status_code == 200, patched.text
    assert (body["displayName"], body["emails"][0]["value"], body["timezone"]) == (
        "Fox Mulder",
        "fox@x.org",
        "Europe/Berlin",
    )
    assert body["active"] is False and restored.json()["active"] is True
    assert deleted.status_code == 204
    assert fetched.json()["active"] is False


async def test_put_replaces_a_user_and_a_taken_user_name_is_a_conflict(idp):
    first, second = login(), login()
    a = (await idp.post("/Users", json=okta_user(first))).json()
    await idp.post("/Users", json=okta_user(second))

    replaced = await idp.put(
        f"/Users/{a['id']}",
        json=okta_user(
            first, displayName="Dana K. Scully", phoneNumbers=[{"value": "+1 555 0100"}]
        ),
    )
    taken = await idp.put(f"/Users/{a['id']}", json=okta_user(second))
    again = await idp.post("/Users", json=okta_user(first))

    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["displayName"] == "Dana K. Scully"
    assert replaced.json()["phoneNumbers"] == [{"value": "+1 555 0100", "type": "work"}]
    assert scim_error(taken) == (409, "uniqueness")
    assert scim_error(again) == (409, "uniqueness")


async def test_groups_are_teams_with_members_added_and_removed_as_entra_does(idp, server, tenant):
    # given three provisioned users
    people = [(await idp.post("/Users", json=okta_user(login()))).json() for _ in range(3)]
    a, b, c = (p["id"] for p in people)
    team_name = f"SRE {uuid.uuid4().hex[:6]}"

    # when a group is pushed with two members, then one is added and one removed by PATCH
    created = await idp.post(
        "/Groups",
        json={
            "schemas": [GROUP],
            "displayName": team_name,
            "members": [{"value": a}, {"value": b}],
        },
    )
    group = created.json()
    patched = await idp.patch(
        f"/Groups/{group['id']}",
        json={
            "schemas": [PATCH],
            "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": c}]},
                {"op": "Remove", "path": f'members[value eq "{a}"]'},
            ],
        },
    )
    found = await idp.get("/Groups", params={"filter": f'displayName eq "{team_name}"'})
    renamed = await idp.put(
        f"/Groups/{group['id']}",
        json={"schemas": [GROUP], "displayName": team_name + " EU", "members": [{"value": c}]},
    )
    teams = await gql_users(server, tenant, people[2]["userName"])

    # then the team holds exactly the members said, and GraphQL sees the same
    assert created.status_code == 201, created.text
    assert sorted(m["value"] for m in patched.json()["members"]) == sorted([b, c])
    assert found.json()["totalResults"] == 1
    assert [m["value"] for m in renamed.json()["members"]] == [c]
    assert teams[0]["teams"] == [{"name": team_name + " EU"}]

    # and deleting the group removes the team
    assert (await idp.delete(f"/Groups/{group['id']}")).status_code == 204
    assert scim_error(await idp.get(f"/Groups/{group['id']}")) == (404, None)


async def test_bad_requests_get_scim_errors_and_write_nothing(idp, server, tenant):
    name = login()
    user = (await idp.post("/Users", json=okta_user(name))).json()
    users_before = (await idp.get("/Users", params={"count": 0})).json()["totalResults"]
    groups_before = (await idp.get("/Groups", params={"count": 0})).json()["totalResults"]
    cases = [
        (idp.post("/Users", json={**okta_user(login()), "shoeSize": 44}), (400, "invalidSyntax")),
        (
            idp.post("/Users", json={**okta_user(login()), "schemas": [GROUP]}),
            (400, "invalidSyntax"),
        ),
        (idp.post("/Users", json={"schemas": [USER]}), (400, "invalidValue")),
        (idp.post("/Users", json=okta_user(login(), timezone="Mars/Base")), (400, "invalidValue")),
        (
            idp.post("/Users", json={"schemas": [USER], "userName": "no-mail"}),
            (400, "invalidValue"),
        ),
        (idp.get("/Users", params={"filter": 'title co "x"'}), (400, "invalidFilter")),
        (
            idp.patch(
                f"/Users/{user['id']}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "path": "x", "value": 1}],
                },
            ),
            (400, "invalidPath"),
        ),
        (
            idp.patch(
                f"/Users/{user['id']}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "path": "active", "value": "maybe"}],
                },
            ),
            (400, "invalidValue"),
        ),
        (idp.patch(f"/Users/{user['id']}", json={"Operations": []}), (400, "invalidSyntax")),
        (idp.get(f"/Users/{uuid.uuid4()}"), (404, None)),
        (idp.get("/Users/not-an-id"), (404, None)),
        (idp.post("/Users", content=b"{not json"), (400, "invalidSyntax")),
        (
            idp.post(
                "/Groups",
                json={
                    "schemas": [GROUP],
                    "displayName": "X",
                    "members": [{"value": str(uuid.uuid4())}],
                },
            ),
            (400, "invalidValue"),
        ),
        (idp.post("/Users", content=b"{}", headers={"Content-Type": "text/plain"}), (415, None)),
    ]
    for request, expected in cases:
        assert scim_error(await request) == expected

    # nothing was written: no new user or group, and the user untouched
    assert (await idp.get("/Users", params={"count": 0})).json()["totalResults"] == users_before
    assert (await idp.get("/Groups", params={"count": 0})).json()["totalResults"] == groups_before
    assert (await idp.get(f"/Users/{user['id']}")).json() == user


async def test_only_a_scim_token_provisions(server, tenant):
    async with httpx.AsyncClient(base_url=server.url + "/scim/v2") as client:
        anonymous = await client.get("/Users")
        admin = await client.get("/Users", headers={"Authorization": f"Bearer {tenant['ADMIN']}"})

    assert scim_error(anonymous) == (401, None)
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert scim_error(admin) == (403, None)


async def test_users_page_by_start_index_and_count(idp):
    for _ in range(3):
        assert (await idp.post("/Users", json=okta_user(login()))).status_code == 201
    total = (await idp.get("/Users", params={"count": 0})).json()["totalResults"]

    pages = [
        (await idp.get("/Users", params={"startIndex": start, "count": 2})).json()
        for start in range(1, total + 1, 2)
    ]

    ids = [r["id"] for page in pages for r in page["Resources"]]
    assert len(ids) == total == len(set(ids))
    assert all(p["itemsPerPage"] <= 2 and p["totalResults"] == total for p in pages)


async def test_a_scim_token_sees_and_changes_only_its_own_tenant(idp, server):
    # given a user provisioned in another tenant
    other = create_tenant(server, tenant_id=f"scim-o-{uuid.uuid4().hex[:6]}", name="Other")
    token = create_token(server, role="SCIM", name="entra", tenant=other)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    async with httpx.AsyncClient(base_url=server.url + "/scim/v2", headers=headers) as theirs:
        name = login()
        created = (await theirs.post("/Users", json=okta_user(name))).json()

    # when our identity provider looks for them, reads, patches or deletes them
    found = await idp.get("/Users", params={"filter": f'userName eq "{name}"'})
    read = await idp.get(f"/Users/{created['id']}")
    patched = await idp.patch(
        f"/Users/{created['id']}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    deleted = await idp.delete(f"/Users/{created['id']}")

    # then they do not exist here, and stay active there
    assert found.json()["totalResults"] == 0
    assert [scim_error(r) for r in (read, patched, deleted)] == [(404, None)] * 3
    async with httpx.AsyncClient(base_url=server.url + "/scim/v2", headers=headers) as theirs:
        assert (await theirs.get(f"/Users/{created['id']}")).json()["active"] is True

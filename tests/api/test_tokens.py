"""API tokens over GraphQL: an admin lists, creates and revokes its tenant's tokens."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import websockets

from tests.support import (
    DECLARE,
    GraphQLClient,
    answered_errors,
    cli,
    subscribe_and_wait,
    subscriber,
)

API_TOKENS = """
query Tokens($first: Int, $after: String) {
  apiTokens(first: $first, after: $after) {
    edges { cursor node { id name role createdAt revokedAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

CREATE = """
mutation Create($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    token { id name role createdAt revokedAt }
    secret
    errors { field code message }
  }
}
"""

REVOKE = """
mutation Revoke($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) {
    token { id name revokedAt }
    errors { field code message }
  }
}
"""

INCIDENTS_CHANGED = "subscription { incidentsChanged { id } }"


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:8]}"


async def create_token(client: GraphQLClient, name: str, role: str) -> dict[str, Any]:
    data = await client.execute(CREATE, {"input": {"name": name, "role": role}})
    payload = data["createApiToken"]
    assert payload["errors"] == [], payload
    return payload  # type: ignore[no-any-return]


async def revoke(client: GraphQLClient, token_id: str) -> dict[str, Any]:
    data = await client.execute(REVOKE, {"input": {"id": token_id}})
    return data["revokeApiToken"]  # type: ignore[no-any-return]


async def all_tokens(client: GraphQLClient) -> list[dict[str, Any]]:
    tokens: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await client.execute(API_TOKENS, {"first": 2, "after": after}))["apiTokens"]
        tokens += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return tokens
        after = page["pageInfo"]["endCursor"]


async def test_an_admin_creates_lists_and_revokes_a_token(server, client):
    # given an admin creates a token for a responder
    name = unique("pager bot")
    created = await create_token(client, name, "RESPONDER")
    secret, token = created["secret"], created["token"]
    assert secret.startswith("igt_") and token["role"] == "RESPONDER"
    responder = server.client(secret)
    try:
        assert (await responder.post(API_TOKENS)).status_code == 200

        # when the admin lists the tenant's tokens, page by page
        listed = {t["id"]: t for t in await all_tokens(client)}

        # then the new token is there, without its secret, and not revoked
        assert listed[token["id"]] == token and token["revokedAt"] is None
        assert secret not in str(listed)

        # when the admin revokes it
        revoked = await revoke(client, token["id"])

        # then it is stamped revoked, and this server refuses it at once
        assert revoked["errors"] == [] and revoked["token"]["revokedAt"] is not None
        response = await responder.post(API_TOKENS)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        listed = {t["id"]: t for t in await all_tokens(client)}
        assert listed[token["id"]]["revokedAt"] == revoked["token"]["revokedAt"]
    finally:
        await responder.aclose()


async def test_revoking_an_unknown_token_is_not_found(client):
    # given ids that name no token of this tenant
    for token_id in ("tok_" + uuid.uuid4().hex, "not-an-id"):
        # when one is revoked
        payload = await revoke(client, token_id)

        # then the answer says so
        assert payload["token"] is None
        assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"]


async def test_a_viewer_may_not_manage_tokens(server, client):
    # given a viewer's token
    viewer = server.client((await create_token(client, unique("wall"), "VIEWER"))["secret"])
    victim = (await create_token(client, unique("victim"), "RESPONDER"))["token"]
    before = await all_tokens(client)
    try:
        # when the viewer lists, creates and revokes tokens
        listing = await viewer.raw(API_TOKENS)
        create = {"input": {"name": "x", "role": "ADMIN"}}
        created = await answered_errors(viewer, CREATE, create, "createApiToken")
        revoke = {"input": {"id": victim["id"]}}
        revoked = await answered_errors(viewer, REVOKE, revoke, "revokeApiToken")

        # then each is refused as FORBIDDEN, a top-level error answering nothing
        assert listing["data"] is None
        assert listing["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert [code for _, code in created] == ["FORBIDDEN"]
        assert [code for _, code in revoked] == ["FORBIDDEN"]

        # and nothing was written
        assert await all_tokens(client) == before
    finally:
        await viewer.aclose()


async def test_an_admin_sees_and_revokes_only_its_own_tenants_tokens(server, client):
    # given a second tenant with an admin of its own, made on the command line
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    assert cli(server, "tenant", "create", "--id", tenant, "--name", "Acme").returncode == 0
    made = cli(server, "token", "create", "--tenant", tenant, "--role", "ADMIN", "--name", "ops")
    assert made.returncode == 0, made.stderr
    acme = server.client(made.stdout.strip())
    ours = (await create_token(client, unique("ours"), "VIEWER"))["token"]
    try:
        # when acme's admin lists tokens and tries to revoke one of ours
        listed = await all_tokens(acme)
        attempt = await revoke(acme, ours["id"])

        # then it sees only its own token, and ours is not found for it and still live
        assert [t["name"] for t in listed] == ["ops"]
        assert [e["code"] for e in attempt["errors"]] == ["NOT_FOUND"]
        mine = {t["id"]: t for t in await all_tokens(client)}
        assert mine[ours["id"]]["revokedAt"] is None
    finally:
        await acme.aclose()


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_revoking_a_token_closes_its_open_subscriptions(server, client, protocol):
    # given a responder's token with a live subscription
    created = await create_token(client, unique("dashboard"), "RESPONDER")
    sub = await subscriber(server, protocol=protocol, token=created["secret"])
    await subscribe_and_wait(sub, server, INCIDENTS_CHANGED, {})

    # when an admin revokes the token
    assert (await revoke(client, created["token"]["id"]))["errors"] == []

    # then the server closes the socket with 4403 soon after
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(10):
            while True:
                await sub.ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "token revoked")


async def test_revoking_a_token_closes_every_socket_holding_it_and_no_other(server, client):
    # given two dashboards on one token (one per protocol) and a third on another token
    shared = await create_token(client, unique("wall"), "VIEWER")
    other = await create_token(client, unique("desk"), "VIEWER")
    walls = [
        await subscriber(server, protocol=protocol, token=shared["secret"])
        for protocol in ("graphql-transport-ws", "graphql-ws")
    ]
    desk = await subscriber(server, token=other["secret"])
    for sub in [*walls, desk]:
        await subscribe_and_wait(sub, server, INCIDENTS_CHANGED, {})

    # when an admin revokes the shared token
    assert (await revoke(client, shared["token"]["id"]))["errors"] == []

    # then both of its sockets close with 4403
    for sub in walls:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await sub.ws.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "token revoked")
    # and the other token's subscription still delivers, over its open socket
    declared = await client.execute(
        DECLARE,
        {
            "input": {
                "title": unique("still live"),
                "severity": "SEV3",
                "impact": "LOW",
                "urgency": "LOW",
            }
        },
    )
    incident = declared["declareIncident"]["incident"]
    async with asyncio.timeout(10):
        while True:
            pushed = await desk.next_data()
            if pushed["incidentsChanged"]["id"] == incident["id"]:
                break
    await desk.close()

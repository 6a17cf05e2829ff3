"""Single sign-on: OpenID Connect JWTs from a configured issuer, verified against its JWKS
(a local provider with real RSA and EC keys), and everything that must be refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from app.services.people.oidc import REFETCH_SECONDS
from tests.fakes.idp import JWKS_PATH, FakeIdP
from tests.support import (
    Backend,
    Server,
    create_tenant,
    create_token,
    declare,
    refused_transition,
    subscribe_and_wait,
    subscriber,
    transition,
)

ME = "{ me { id handle name email } }"


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeIdP]:
    with FakeIdP() as provider:
        yield provider


@pytest.fixture(scope="module")
def sso(backend: Backend, server: Server, idp: FakeIdP, log_dir: Path) -> Iterator[Server]:
    """A server that accepts the provider's tokens into a tenant of its own."""
    tenant = create_tenant(server, tenant_id=f"sso-{uuid.uuid4().hex[:8]}", name="SSO")
    issuers = [
        {
            "issuer": idp.issuer,
            "audience": idp.audience,
            "jwksUrl": idp.jwks_url,
            "roleClaim": "realm_access.roles",
            "roles": {"ops-managers": "INCIDENT_MANAGER", "ops": "RESPONDER"},
            "tenant": tenant,
        }
    ]
    srv = Server(backend, extra_env={"INCIDENTGRAPH_OIDC_ISSUERS": json.dumps(issuers)})
    srv.start(log_dir)
    yield srv
    srv.stop()


def roles(*names: str) -> dict[str, Any]:
    return {"realm_access": {"roles": list(names)}}


async def ask(server: Server, token: str, query: str = ME) -> httpx.Response:
    client = server.client(token)
    try:
        return await client.post(query)
    finally:
        await client.aclose()


def refusal(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["extensions"]["code"]


async def test_a_signed_in_user_is_created_from_the_claims_and_acts_as_themself(sso, idp):
    # given a token from the provider for a new person
    sub = f"sub-{uuid.uuid4().hex[:8]}"
    handle = f"ann.{uuid.uuid4().hex[:6]}"
    claims = idp.claims(
        sub=sub,
        preferred_username=handle,
        email=f"{handle}@example.com",
        name="Ann  Example",
        **roles("ops-managers", "ops"),
    )

    # when they call the API twice, once with an ES256 token
    first = await ask(sso, idp.sign(claims))
    second = await ask(sso, idp.sign(claims, key=idp.ec))
    incident_client = sso.client(idp.sign(claims))
    try:
        incident = await declare(incident_client, severity="SEV1", impact="HIGH", urgency="HIGH")
    finally:
        await incident_client.aclose()

    # then one user is made just in time from the claims, the same one both times
    me = first.json()["data"]["me"]
    assert first.status_code == 200 and second.json()["data"]["me"] == me
    assert (me["handle"], me["name"], me["email"]) == (
        handle,
        "Ann Example",
        f"{handle}@example.com",
    )
    # and the highest mapped role applies: an incident manager may declare a P1
    assert incident["priority"] == "P1"


async def test_separation_of_duties_holds_across_an_api_token_and_a_sign_in(sso, idp, server):
    # given a P1 declared by a signed-in incident manager, resolved
    claims = idp.claims(preferred_username=f"mo{uuid.uuid4().hex[:6]}", **roles("ops-managers"))
    declarer = sso.client(idp.sign(claims))
    other = sso.client(idp.sign(idp.claims(preferred_username="other", **roles("ops-managers"))))
    try:
        incident = await declare(declarer, severity="SEV1", impact="HIGH", urgency="HIGH")
        for status in ("IN_PROGRESS", "RESOLVED"):
            extra = {"resolutionSummary": "ok"} if status == "RESOLVED" else {}
            assert (await transition(declarer, incident["id"], status, **extra))["errors"] == []

        # when the same person, with a fresh token, closes it; then someone else does
        again = sso.client(idp.sign(claims, key=idp.ec))
        try:
            refused = await refused_transition(again, incident["id"], "CLOSED")
        finally:
            await again.aclose()
        closed = await transition(other, incident["id"], "CLOSED")
    finally:
        await declarer.aclose()
        await other.aclose()

    # then the person is refused whatever token they hold, and the other may close it
    assert [e["code"] for e in refused] == ["FORBIDDEN"]
    assert closed["incident"]["status"] == "CLOSED"


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def hmac_confused(idp: FakeIdP, claims: dict[str, Any]) -> str:
    """The classic attack: HS256 "signed" with the provider's public key as the secret
    (JOSE libraries refuse to make one, so it is made by hand)."""
    signing_input = f"{_b64({'alg': 'HS256', 'kid': 'rsa-1'})}.{_b64(claims)}"
    secret = idp.rsa.as_pem(private=False)
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"


async def test_bad_tokens_are_refused_as_unauthenticated(sso, idp):
    now = int(time.time())
    stranger = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})  # the provider's kid
    header = {"alg": "none", "typ": "JWT"}
    cases = {
        "expired": idp.sign(idp.claims(exp=now - 3600, iat=now - 7200, **roles("ops"))),
        "wrong audience": idp.sign(idp.claims(aud="someone-else", **roles("ops"))),
        "wrong issuer": idp.sign(idp.claims(iss="https://evil.example", **roles("ops"))),
        "no subject": idp.sign(idp.claims(sub=None, **roles("ops"))),
        "no expiry": idp.sign(idp.claims(exp=None, **roles("ops"))),
        "signed by another key": idp.sign(idp.claims(**roles("ops")), key=stranger),
        "alg none": f"{_b64(header)}.{_b64(idp.claims(**roles('ops')))}.",
        "HMAC with the public key": hmac_confused(idp, idp.claims(**roles("ops"))),
        "malformed": "eyJhbGciOiJSUzI1NiJ9.not-json.sig",
        "100 KB": idp.sign(idp.claims(padding="x" * 100_000, **roles("ops"))),
        "no mapped role": idp.sign(idp.claims(**roles("marketing"))),
    }
    for what, token in cases.items():
        started = time.monotonic()
        response = await ask(sso, token)
        assert refusal(response) == (401, "UNAUTHENTICATED"), what
        assert time.monotonic() - started < 2, what
    # and a tampered payload fails its signature
    good = idp.sign(idp.claims(**roles("ops")))
    head, _, sig = good.split(".")
    forged = f"{head}.{_b64(idp.claims(**roles('ops-managers')))}.{sig}"
    assert refusal(await ask(sso, forged)) == (401, "UNAUTHENTICATED")


async def test_a_rotated_key_is_fetched_and_trusted(sso, idp):
    # given the server has the provider's keys cached
    claims = idp.claims(preferred_username=f"rot{uuid.uuid4().hex[:6]}", **roles("ops"))
    assert (await ask(sso, idp.sign(claims))).status_code == 200

    # when the provider rotates to a new key and signs with it, a little later
    new = idp.rotate()
    await asyncio.sleep(REFETCH_SECONDS)
    fetched = len(idp.calls_to("GET", JWKS_PATH))
    response = await ask(sso, idp.sign(claims, key=new))

    # then the server fetches the new key set once and accepts the token
    assert response.status_code == 200, response.text
    assert len(idp.calls_to("GET", JWKS_PATH)) == fetched + 1
    assert response.json()["data"]["me"]["handle"] == claims["preferred_username"]


async def test_a_deactivated_user_cannot_sign_in(sso, idp):
    # given a signed-in user whom the tenant's admin deactivates
    claims = idp.claims(preferred_username=f"gone{uuid.uuid4().hex[:6]}", **roles("ops"))
    me = (await ask(sso, idp.sign(claims))).json()["data"]["me"]
    assert me["handle"] == claims["preferred_username"]  # nobody else's cached answer
    tenant = json.loads(sso.env()["INCIDENTGRAPH_OIDC_ISSUERS"])[0]["tenant"]
    admin = sso.client(create_token(sso, role="ADMIN", name="sso admin", tenant=tenant))
    try:
        done = await admin.execute(
            "mutation($id: ID!) { deactivateUser(input: {id: $id}) { errors { code } } }",
            {"id": me["id"]},
        )
    finally:
        await admin.aclose()
    assert done["deactivateUser"]["errors"] == []

    # when they sign in again (a token the server has not seen: ES256 signs afresh)
    response = await ask(sso, idp.sign(claims, key=idp.ec))

    # then they are refused
    assert refusal(response) == (401, "UNAUTHENTICATED")


async def test_a_signed_in_dashboard_subscribes_over_a_websocket(sso, idp):
    token = idp.sign(idp.claims(preferred_username="wall", **roles("ops")))
    sub = await subscriber(sso, token=token)
    try:
        await subscribe_and_wait(sub, sso, "subscription { incidentsChanged { id } }", {})
    finally:
        await sub.close()

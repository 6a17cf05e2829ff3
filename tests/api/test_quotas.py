"""Plans and quotas over real servers: a tenant's plan limits its active incidents, users,
webhook endpoints and monthly events; over a limit a command is refused with QUOTA_EXCEEDED
and writes nothing; `tenant { plan limits usage }` shows where it stands."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_people import CREATE_USER, a_handle
from tests.support import DECLARE, Server, cli, create_tenant, create_token, transition

TENANT = """
query { tenant { id plan
  limits { activeIncidents users webhookEndpoints eventsPerMonth }
  usage { activeIncidents users webhookEndpoints eventsPerMonth } } }
"""
COUNT = "query { incidents(first: 1) { totalCount } }"
NOTE = """
mutation($input: AddNoteInput!) { addNote(input: $input) { errors { field code message } } }
"""
ENDPOINT = """
mutation($url: String!) {
  createWebhookEndpoint(input: {url: $url}) { endpoint { id } errors { code message } }
}"""
TIMELINE = "query($id: ID!) { incident(id: $id) { timeline { totalCount } } }"


@pytest.fixture
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"quota-{uuid.uuid4().hex[:8]}", name="Quota")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="quota admin", tenant=tenant_id),
    }


def plan(server: Server, tenant_id: str, name: str, *limits: str) -> str:
    args = [a for limit in limits for a in ("--limit", limit)]
    done = cli(server, "tenant", "plan", "--tenant", tenant_id, "--plan", name, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def declare_one(client: Any, title: str) -> dict[str, Any]:
    values = {"title": title, "severity": "SEV3", "impact": "LOW", "urgency": "LOW"}
    data = await client.execute(DECLARE, {"input": values})
    return data["declareIncident"]  # type: ignore[no-any-return]


async def test_a_free_tenant_holds_five_active_incidents(api, server, tenant):
    # given a tenant on the FREE plan with five active incidents
    printed = plan(server, tenant["id"], "FREE")
    assert "FREE plan: activeIncidents 5" in printed
    admin = api("ADMIN")
    declared = [await declare_one(admin, f"incident {n}") for n in range(5)]
    assert all(d["errors"] == [] for d in declared)

    # when a sixth is declared
    sixth = await declare_one(admin, "one too many")

    # then it is refused, saying why, and nothing was written
    assert [e["code"] for e in sixth["errors"]] == ["QUOTA_EXCEEDED"]
    assert "limit of 5 active incidents (FREE plan)" in sixth["errors"][0]["message"]
    assert sixth["incident"] is None
    assert (await admin.execute(COUNT))["incidents"]["totalCount"] == 5
    seen = (await admin.execute(TENANT))["tenant"]
    assert seen["plan"] == "FREE"
    assert seen["limits"]["activeIncidents"] == 5 and seen["usage"]["activeIncidents"] == 5

    # and once one is resolved there is room again
    first = declared[0]["incident"]["id"]
    await transition(admin, first, "IN_PROGRESS")
    await transition(admin, first, "RESOLVED", resolutionSummary="done")
    assert (await declare_one(admin, "room again"))["errors"] == []


async def test_concurrent_declarations_never_overshoot_the_limit(api, server, tenant):
    plan(server, tenant["id"], "FREE", "activeIncidents=3")
    admin = api("ADMIN")
    results = await asyncio.gather(*(declare_one(admin, f"race {n}") for n in range(8)))
    codes = sorted(r["errors"][0]["code"] if r["errors"] else "OK" for r in results)
    assert codes == ["OK"] * 3 + ["QUOTA_EXCEEDED"] * 5
    assert (await admin.execute(COUNT))["incidents"]["totalCount"] == 3


async def test_limits_of_its_own_bound_users_endpoints_and_monthly_events(api, server, tenant):
    admin = api("ADMIN")
    incident = (await declare_one(admin, "metered"))["incident"]
    usage = (await admin.execute(TENANT))["tenant"]["usage"]
    events = usage["eventsPerMonth"]
    assert events >= 1
    plan(
        server,
        tenant["id"],
        "ENTERPRISE",
        f"eventsPerMonth={events + 2}",
        "users=1",
        "webhookEndpoints=1",
    )

    # events: two more notes fit, the third is refused and not on the timeline
    results = []
    for n in range(3):
        body = {"incidentId": incident["id"], "body": f"note {n}"}
        results.append((await admin.execute(NOTE, {"input": body}))["addNote"]["errors"])
    assert [r == [] for r in results] == [True, True, False]
    assert results[2][0]["code"] == "QUOTA_EXCEEDED"
    timeline = await admin.execute(TIMELINE, {"id": incident["id"]})
    assert timeline["incident"]["timeline"]["totalCount"] == 3  # declared and two notes
    assert (await admin.execute(TENANT))["tenant"]["usage"]["eventsPerMonth"] == events + 2

    # users: one fits, the second is refused
    made = []
    for _ in range(2):
        handle = a_handle()
        data = await admin.execute(
            CREATE_USER,
            {"input": {"handle": handle, "name": handle, "email": f"{handle}@example.com"}},
        )
        made.append(data["createUser"])
    assert made[0]["errors"] == []
    assert [e["code"] for e in made[1]["errors"]] == ["QUOTA_EXCEEDED"]

    # webhook endpoints: one fits, the second is refused
    first = await admin.execute(ENDPOINT, {"url": "http://127.0.0.1:9/a"})
    second = await admin.execute(ENDPOINT, {"url": "http://127.0.0.1:9/b"})
    assert first["createWebhookEndpoint"]["errors"] == []
    assert [e["code"] for e in second["createWebhookEndpoint"]["errors"]] == ["QUOTA_EXCEEDED"]
    seen = (await admin.execute(TENANT))["tenant"]
    assert seen["limits"] == {
        "activeIncidents": None,
        "users": 1,
        "webhookEndpoints": 1,
        "eventsPerMonth": events + 2,
    }
    assert seen["usage"]["users"] == 1 and seen["usage"]["webhookEndpoints"] == 1


def test_the_plan_command_refuses_what_it_cannot_set(server, tenant):
    for args, message in [
        (["--tenant", tenant["id"], "--plan", "GOLD"], "invalid choice"),
        (["--tenant", tenant["id"], "--plan", "TEAM", "--limit", "colour=3"], "unknown limit"),
        (["--tenant", tenant["id"], "--plan", "TEAM", "--limit", "users=-1"], "NAME=NUMBER"),
        (["--tenant", "no-such-tenant", "--plan", "TEAM"], "no tenant 'no-such-tenant'"),
    ]:
        done = cli(server, "tenant", "plan", *args)
        assert done.returncode == 2, (args, done.stdout)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr

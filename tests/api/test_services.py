"""The service catalog over a real server: services with owners and dependencies (no
cycles), health from the incidents that affect them, incidents linked by their service,
and the upgrade that turns stored service names into services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.config import Settings
from app.models import Incident, IncidentService, Service
from tests.api.test_people import errors, new_team
from tests.support import (
    Server,
    connected,
    create_pg_database,
    create_tenant,
    create_token,
    declare,
    drop_pg_database,
    old_tenant,
    postgres_available,
    transition,
)

SERVICE_FIELDS = "id name description tier owner { name } dependsOn { name } health"
CREATE = f"""
mutation($input: CreateServiceInput!) {{
  createService(input: $input) {{ service {{ {SERVICE_FIELDS} }} errors {{ field code message }} }}
}}"""
UPDATE = f"""
mutation($input: UpdateServiceInput!) {{
  updateService(input: $input) {{ service {{ {SERVICE_FIELDS} }} errors {{ field code message }} }}
}}"""
SERVICES = f"""
query($filter: ServiceFilter, $first: Int, $after: String) {{
  services(filter: $filter, first: $first, after: $after) {{
    totalCount edges {{ cursor node {{ {SERVICE_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
AFFECTED = "query($id: ID!) { incident(id: $id) { service affectedServices { name health } } }"
UPDATE_INCIDENT = """
mutation($input: UpdateIncidentInput!) { updateIncident(input: $input) { errors { code } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"svc-{uuid.uuid4().hex[:8]}", name="Services")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="svc admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="svc r", tenant=tenant_id),
    }


async def new_service(admin: Any, **fields: Any) -> dict[str, Any]:
    name = fields.pop("name", f"svc-{uuid.uuid4().hex[:6]}")
    data = await admin.execute(CREATE, {"input": {"name": name, **fields}})
    assert data["createService"]["errors"] == [], data
    return data["createService"]["service"]  # type: ignore[no-any-return]


async def test_an_admin_builds_the_catalog_that_everyone_reads(api):
    # given an owning team and a database service
    admin = api()
    team = await new_team(admin)
    db = await new_service(admin, tier="TIER_1")

    # when the admin adds a service depending on it, owned by the team
    api_service = await new_service(
        admin,
        description="Public REST API",
        tier="TIER_2",
        ownerTeamId=team["id"],
        dependsOnIds=[db["id"]],
    )
    listed = await api("RESPONDER").execute(SERVICES, {"filter": {"text": "public rest"}})

    # then a responder reads it with its owner, dependencies and health
    assert api_service["owner"] == {"name": team["name"]}
    assert api_service["dependsOn"] == [{"name": db["name"]}]
    assert api_service["health"] == "OPERATIONAL"
    assert listed["services"]["totalCount"] == 1
    assert listed["services"]["edges"][0]["node"]["id"] == api_service["id"]


async def test_a_dependency_cycle_is_refused_naming_the_loop_and_nothing_changes(api):
    admin = api()
    db = await new_service(admin, name=f"db-{uuid.uuid4().hex[:4]}")
    app_service = await new_service(
        admin, name=f"app-{uuid.uuid4().hex[:4]}", dependsOnIds=[db["id"]]
    )
    web = await new_service(
        admin, name=f"web-{uuid.uuid4().hex[:4]}", dependsOnIds=[app_service["id"]]
    )

    loop = await admin.execute(UPDATE, {"input": {"id": db["id"], "dependsOnIds": [web["id"]]}})
    itself = await admin.execute(UPDATE, {"input": {"id": db["id"], "dependsOnIds": [db["id"]]}})

    assert errors(loop["updateService"]) == [("dependsOnIds", "VALIDATION")]
    message = loop["updateService"]["errors"][0]["message"]
    assert f"{db['name']} -> {web['name']} -> {app_service['name']} -> {db['name']}" in message
    assert errors(itself["updateService"]) == [("dependsOnIds", "VALIDATION")]
    fetched = await admin.execute(
        "query($id: ID!) { node(id: $id) { ... on Service { dependsOn { name } } } }",
        {"id": db["id"]},
    )
    assert fetched["node"]["dependsOn"] == []


async def test_bad_services_are_refused_on_their_field(api):
    admin = api()
    taken = await new_service(admin)
    cases = [
        ({"name": taken["name"].upper()}, ("name", "CONFLICT")),
        ({"name": "  "}, ("name", "VALIDATION")),
        ({"ownerTeamId": "team_" + uuid.uuid4().hex}, ("ownerTeamId", "NOT_FOUND")),
        ({"dependsOnIds": ["svc_" + uuid.uuid4().hex]}, ("dependsOnIds", "NOT_FOUND")),
        ({"description": "x" * 10_001}, ("description", "VALIDATION")),
    ]
    for given, expected in cases:
        data = await admin.execute(
            CREATE, {"input": {"name": f"n-{uuid.uuid4().hex[:6]}", **given}}
        )
        assert errors(data["createService"]) == [expected], given
    refused = await api("RESPONDER").raw(CREATE, {"input": {"name": "nope"}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    unknown = await admin.execute(
        UPDATE, {"input": {"id": "svc_" + uuid.uuid4().hex, "tier": "TIER_1"}}
    )
    assert errors(unknown["updateService"]) == [("id", "NOT_FOUND")]


async def test_an_incident_affects_the_service_it_names_and_sets_its_health(api):
    # given an existing service, and an incident naming it in another case
    admin = api()
    name = f"Checkout-{uuid.uuid4().hex[:4]}"
    service = await new_service(admin, name=name)
    incident = await declare(
        admin, service=name.lower(), severity="SEV1", impact="HIGH", urgency="HIGH"
    )

    # when it is read, then moved to another, new service name, then resolved
    first = (await admin.execute(AFFECTED, {"id": incident["id"]}))["incident"]
    other = f"payments-{uuid.uuid4().hex[:4]}"
    moved = await admin.execute(
        UPDATE_INCIDENT, {"input": {"id": incident["id"], "service": other}}
    )
    second = (await admin.execute(AFFECTED, {"id": incident["id"]}))["incident"]
    old = await admin.execute(
        "query($id: ID!) { node(id: $id) { ... on Service { health } } }", {"id": service["id"]}
    )
    for status in ("IN_PROGRESS", "RESOLVED"):
        extra = {"resolutionSummary": "ok"} if status == "RESOLVED" else {}
        assert (await transition(admin, incident["id"], status, **extra))["errors"] == []
    after = (await admin.execute(AFFECTED, {"id": incident["id"]}))["incident"]

    # then the P1 is a major outage of the service it names, which moves with the name
    assert first["affectedServices"] == [{"name": name, "health": "MAJOR_OUTAGE"}]
    assert moved["updateIncident"]["errors"] == []
    assert second["affectedServices"] == [{"name": other, "health": "MAJOR_OUTAGE"}]
    assert old["node"]["health"] == "OPERATIONAL"
    # and once resolved it no longer weighs on the service
    assert after["affectedServices"] == [{"name": other, "health": "OPERATIONAL"}]
    created = await admin.execute(SERVICES, {"filter": {"text": other}})
    assert created["services"]["totalCount"] == 1, "the new name became a service"


async def test_services_page_by_name_without_gaps_or_repeats(api):
    admin = api()
    prefix = f"page-{uuid.uuid4().hex[:4]}"
    names = sorted(f"{prefix}-{n}" for n in range(5))
    for name in reversed(names):
        await new_service(admin, name=name)

    seen: list[str] = []
    after = None
    while True:
        page = await admin.execute(
            SERVICES, {"filter": {"text": prefix}, "first": 2, "after": after}
        )
        seen += [e["node"]["name"] for e in page["services"]["edges"]]
        if not page["services"]["pageInfo"]["hasNextPage"]:
            break
        after = page["services"]["pageInfo"]["endCursor"]

    assert seen == names


# --- the upgrade ----------------------------------------------------------------------------


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)])
async def old_database(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """A database at the version before the service catalog."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.api import migrate

    from app.database import tortoise_config

    if request.param == "embedded":
        url = f"sqlite://{tmp_path / 'old.db'}"
    else:
        if not postgres_available():
            pytest.skip("PostgreSQL not reachable on 127.0.0.1")
        url = create_pg_database()
    async with TortoiseContext():
        await migrate(
            config=tortoise_config(Settings(database_url=url)), target="models.0020_scim_ids"
        )
    try:
        yield url
    finally:
        if request.param == "postgres":
            drop_pg_database(url)


async def test_the_upgrade_makes_a_service_of_each_name_incidents_gave(old_database):
    # given incidents stored with free-text service names, one in two spellings
    from app.database import migrate

    tenant = "legacy"
    now = datetime.now(UTC)
    names = ["Checkout", "checkout", "Search", None]
    async with connected(old_database):
        # the tenant row alone: the tenant service of today writes tables of later versions
        await old_tenant(tenant)
        # The columns of that version: today's model has more.
        conn = Incident._meta.db
        postgres = conn.capabilities.dialect == "postgres"
        columns = (
            "id, tenant_id, number, title, service, severity, impact, urgency, priority, "
            "status, is_major, classification, sla_paused_seconds, version, last_seq, "
            "created_at, updated_at"
        )
        marks = ", ".join(f"${n}" if postgres else "?" for n in range(1, 18))
        for number, name in enumerate(names, 1):
            key, at = (uuid.uuid4(), now) if postgres else (str(uuid.uuid4()), now.isoformat(" "))
            await conn.execute_query(
                f"INSERT INTO incident ({columns}) VALUES ({marks})",
                [key, tenant, number, f"Old {number}", name, "SEV3", "LOW", "LOW", "P4",
                 "OPEN", False, "INTERNAL", 0.0, 1, 0, at, at],
            )  # fmt: skip

    # when the database is upgraded
    await migrate(Settings(database_url=old_database))

    # then each name is one service, whatever its case, linked to the incidents naming it
    async with connected(old_database):
        services = {s.name_key: s for s in await Service.filter(tenant_id=tenant)}
        links = await IncidentService.filter(tenant_id=tenant).count()
    assert sorted(services) == ["checkout", "search"]
    assert services["checkout"].name == "Checkout"  # the first spelling seen
    assert links == 3


SET_AFFECTED = """
mutation($input: SetAffectedServicesInput!) {
  setAffectedServices(input: $input) {
    incident { affectedServices { name } timeline(last: 3) { edges { node { type data } } } }
    errors { field code }
  }
}"""


async def test_an_incident_affects_several_services_each_change_on_its_timeline(api):
    admin = api()
    a, b, c = [await new_service(admin, name=f"{n}-{uuid.uuid4().hex[:4]}") for n in "abc"]
    incident = await declare(admin, title="Several", service=a["name"])

    both = await admin.execute(
        SET_AFFECTED, {"input": {"incidentId": incident["id"], "serviceIds": [a["id"], b["id"]]}}
    )
    swapped = await admin.execute(
        SET_AFFECTED, {"input": {"incidentId": incident["id"], "serviceIds": [b["id"], c["id"]]}}
    )
    unknown = await admin.execute(
        SET_AFFECTED,
        {"input": {"incidentId": incident["id"], "serviceIds": ["svc_" + uuid.uuid4().hex]}},
    )

    first = both["setAffectedServices"]["incident"]
    assert [s["name"] for s in first["affectedServices"]] == [a["name"], b["name"]]
    last = first["timeline"]["edges"][-1]["node"]
    assert last["type"] == "com.incidents.record.linked.v1"
    assert last["data"] == {"record": "service", "id": b["id"], "reference": b["name"]}
    second = swapped["setAffectedServices"]["incident"]
    assert [s["name"] for s in second["affectedServices"]] == [b["name"], c["name"]]
    assert [e["node"]["type"].split(".")[-2] for e in second["timeline"]["edges"][-2:]] == [
        "linked",
        "unlinked",
    ]
    assert errors(unknown["setAffectedServices"]) == [("serviceIds", "NOT_FOUND")]


async def test_the_customer_board_shows_every_service_an_incident_affects(api):
    admin = api()
    a, b = [await new_service(admin, name=f"pub-{n}-{uuid.uuid4().hex[:4]}") for n in "ab"]
    incident = await declare(
        admin, title="Outage", service=a["name"], classification="PUBLIC",
        severity="SEV1", impact="HIGH", urgency="HIGH",
    )  # fmt: skip
    await admin.execute(
        SET_AFFECTED, {"input": {"incidentId": incident["id"], "serviceIds": [a["id"], b["id"]]}}
    )

    board = await admin.execute(
        "{ statusBoard(persona: CUSTOMER) { ... on CustomerBoard "
        "{ services { service status } } } }"
    )

    rows = {r["service"]: r["status"] for r in board["statusBoard"]["services"]}
    assert rows[a["name"]] == rows[b["name"]] == "MAJOR_OUTAGE"


async def test_a_service_keeps_its_own_timeline(api):
    admin = api()
    service = await new_service(admin, name=f"tl-{uuid.uuid4().hex[:4]}")
    await admin.execute(UPDATE, {"input": {"id": service["id"], "tier": "TIER_1"}})
    incident = await declare(admin, title="On it", service=service["name"])
    await admin.execute(SET_AFFECTED, {"input": {"incidentId": incident["id"], "serviceIds": []}})

    data = await admin.execute(
        "query($id: ID!) { node(id: $id) { ... on Service { timeline { seq type data } } } }",
        {"id": service["id"]},
    )

    events = data["node"]["timeline"]
    assert [e["type"].split(".")[-2] for e in events] == [
        "created", "updated", "incident_linked", "incident_unlinked",
    ]  # fmt: skip
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert events[1]["data"] == {"tier": {"from": "TIER_3", "to": "TIER_1"}}
    assert events[2]["data"]["incident"] and events[2]["data"]["reference"].startswith("INC-")

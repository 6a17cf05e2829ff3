"""SLA clocks as events over real servers: a warning at 80% and a breach at 100% of each
clock, written by the server on time, once, paused with the clock; three processes racing
write each once; a mark that fell while every server was down is written at start-up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    REDIS_URL,
    Backend,
    GraphQLClient,
    Server,
    create_pg_database,
    create_tenant,
    create_token,
    declare,
    drop_pg_database,
    transition,
)

WARNING = "com.incidents.sla.warning.v1"
BREACHED = "com.incidents.sla.breached.v1"
# Seconds: response 3, resolve 6 (targets take fractional minutes).
RESPONSE, RESOLVE = 3.0, 6.0
POLICY = """
mutation($input: UpdateTenantPolicyInput!) { updateTenantPolicy(input: $input) {
  errors { field code message } } }
"""
TIMELINE = """
query($id: ID!) { incident(id: $id) { createdAt
  timeline(first: 100) { edges { node { seq type time actor data } } } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"sla-{uuid.uuid4().hex[:8]}", name="SLA")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="sla admin", tenant=tenant_id),
    }


async def fast_clocks(admin: GraphQLClient) -> None:
    targets = [
        {"priority": p, "responseMinutes": RESPONSE / 60, "resolveMinutes": RESOLVE / 60}
        for p in ("P1", "P2", "P3", "P4", "P5")
    ]
    data = await admin.execute(POLICY, {"input": {"sla": targets}})
    assert data["updateTenantPolicy"]["errors"] == []


async def marks_of(client: GraphQLClient, incident_id: str) -> tuple[datetime, list[Any]]:
    data = (await client.execute(TIMELINE, {"id": incident_id}))["incident"]
    events = [e["node"] for e in data["timeline"]["edges"]]
    found = [
        (e["type"], e["data"]["clock"], datetime.fromisoformat(e["time"]), e)
        for e in events
        if e["type"] in (WARNING, BREACHED)
    ]
    return datetime.fromisoformat(data["createdAt"]), found


async def wait_for_marks(
    client: GraphQLClient, incident_id: str, count: int, timeout: float
) -> tuple[datetime, list[Any]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        created, found = await marks_of(client, incident_id)
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return created, found
        await asyncio.sleep(0.2)


async def test_each_clock_warns_at_80_percent_and_breaches_on_time_once(api):
    # given SLA targets of 3 s to respond and 6 s to resolve
    admin = api()
    await fast_clocks(admin)

    # when an incident is declared and left alone
    incident = await declare(admin, title="Nobody looks", severity="SEV2")
    created, found = await wait_for_marks(admin, incident["id"], 4, timeout=RESOLVE + 5)
    await asyncio.sleep(1.5)  # and a little longer: nothing more comes
    _, settled = await marks_of(admin, incident["id"])

    # then four marks, each within a second of when it falls, written by the SLA scheduler
    expected = [
        (WARNING, "RESPONSE", 0.8 * RESPONSE),
        (BREACHED, "RESPONSE", RESPONSE),
        (WARNING, "RESOLVE", 0.8 * RESOLVE),
        (BREACHED, "RESOLVE", RESOLVE),
    ]
    assert [(t, c) for t, c, _, _ in found] == [(t, c) for t, c, _ in expected]
    for (_, _, at, event), (_, _, offset) in zip(found, expected, strict=True):
        late = (at - (created + timedelta(seconds=offset))).total_seconds()
        assert -0.05 <= late <= 1.0, (event, late)
        assert event["actor"] == "sla"
    assert len(settled) == 4


async def test_a_paused_clock_moves_its_marks_by_the_pause(api):
    # given an acknowledged incident (its response clock stops) with fast clocks
    admin = api()
    await fast_clocks(admin)
    incident = await declare(admin, title="Waiting on the vendor", severity="SEV3")
    assert (await transition(admin, incident["id"], "IN_PROGRESS"))["errors"] == []

    # when it waits PENDING for 3 s from 1 s in, then work resumes
    await asyncio.sleep(1.0)
    assert (await transition(admin, incident["id"], "PENDING", reason="vendor"))["errors"] == []
    await asyncio.sleep(3.0)
    _, during = await marks_of(admin, incident["id"])
    assert (await transition(admin, incident["id"], "IN_PROGRESS"))["errors"] == []
    created, found = await wait_for_marks(admin, incident["id"], 2, timeout=RESOLVE + 5)

    # then nothing fell while paused, no response mark at all, and the resolve marks came
    # the pause later than they would have
    assert during == []
    assert [(t, c) for t, c, _, _ in found] == [(WARNING, "RESOLVE"), (BREACHED, "RESOLVE")]
    warned = (found[0][2] - created).total_seconds()
    assert 0.8 * RESOLVE + 2.8 <= warned <= 0.8 * RESOLVE + 3.0 + 1.5, warned


@pytest.mark.integration
async def test_three_processes_write_each_mark_once_and_a_restart_writes_what_fell(
    log_dir: Path,
) -> None:
    # given three servers on one PostgreSQL database and Redis
    url = create_pg_database()
    backend = Backend("postgres", url, REDIS_URL)
    servers = [Server(backend).start(log_dir) for _ in range(3)]
    try:
        tenant = create_tenant(servers[0], tenant_id=f"race-{uuid.uuid4().hex[:6]}", name="R")
        admin = servers[0].client(create_token(servers[0], role="ADMIN", name="a", tenant=tenant))
        try:
            await fast_clocks(admin)
            # when ten incidents' clocks run out while all three race to write their marks
            incidents = [await declare(admin, title=f"Race {n}") for n in range(10)]
            await asyncio.sleep(RESOLVE + 2.5)
            raced = [await marks_of(admin, i["id"]) for i in incidents]

            # and, every server stopped, another incident's clocks run out unseen
            unseen = await declare(admin, title="While everyone slept")
        finally:
            await admin.aclose()
        for server in servers:
            server.stop()
        await asyncio.sleep(RESOLVE + 1)
        restarted = Server(backend).start(log_dir)
        servers.append(restarted)
        client = restarted.client(create_token(restarted, role="ADMIN", name="b", tenant=tenant))
        try:
            _, late = await wait_for_marks(client, unseen["id"], 4, timeout=5)
        finally:
            await client.aclose()
    finally:
        for server in servers:
            server.stop()
        drop_pg_database(url)

    # then every incident has each of its four marks exactly once
    for _, found in raced:
        assert sorted((t, c) for t, c, _, _ in found) == sorted(
            [(WARNING, "RESPONSE"), (BREACHED, "RESPONSE"), (WARNING, "RESOLVE"),
             (BREACHED, "RESOLVE")]
        )  # fmt: skip
    # and the marks that fell while no server ran are written at start-up, saying how late
    assert len(late) == 4
    assert all(event["data"]["lateSeconds"] > 0.5 for _, _, _, event in late)


UPDATE_DUE = "com.incidents.comms.update_due.v1"
NOTE = """
mutation($input: AddNoteInput!) { addNote(input: $input) { event { seq } errors { code } } }
"""


async def test_an_overdue_stakeholder_update_is_announced_once_per_due_time(api):
    # given stakeholders expect a public update every 3 s on P4 incidents
    admin = api()
    cadence = {"priority": "P4", "minutes": RESPONSE / 60}
    data = await admin.execute(POLICY, {"input": {"updateCadence": [cadence]}})
    assert data["updateTenantPolicy"]["errors"] == []
    incident = await declare(admin, title="Quiet", severity="SEV4", impact="MEDIUM", urgency="LOW")

    async def announced() -> list[dict[str, Any]]:
        data = (await admin.execute(TIMELINE, {"id": incident["id"]}))["incident"]
        return [e["node"] for e in data["timeline"]["edges"] if e["node"]["type"] == UPDATE_DUE]

    # when nobody posts one for 4.5 s
    await asyncio.sleep(RESPONSE + 1.5)
    first = await announced()
    # and then a public update is posted, and again nobody posts for 4.5 s
    note = {"incidentId": incident["id"], "body": "Still on it", "classification": "PUBLIC"}
    assert (await admin.execute(NOTE, {"input": note}))["addNote"]["errors"] == []
    await asyncio.sleep(RESPONSE + 1.5)
    second = await announced()

    # then each due time was announced once, the second counting from the public update
    assert len(first) == 1 and len(second) == 2
    assert first[0]["data"]["lastPublicUpdateAt"] is None
    assert second[1]["data"]["lastPublicUpdateAt"] is not None
    assert first[0]["actor"] == "sla"

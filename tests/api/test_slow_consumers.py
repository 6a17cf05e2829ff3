"""A subscriber that stops reading is closed as a slow consumer; the others are not slowed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    DECLARE,
    Backend,
    Server,
    StalledClient,
    subscribe_and_wait,
    subscriber,
)

UPDATE = """
mutation Update($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { id version } errors { code message } }
}
"""
FOLLOW = "subscription ($id: ID!) { incidentUpdated(id: $id) { id title version description } }"


@pytest.fixture
def impatient(backend: Backend, log_dir: Path) -> Iterator[Server]:
    srv = Server(backend, extra_env={"INCIDENTGRAPH_WS_SEND_TIMEOUT_SECONDS": "1"})
    srv.start(log_dir)
    try:
        yield srv
    finally:
        srv.stop()


async def scrape(server: Server, name: str) -> float:
    client = server.client()
    try:
        response = await client.http.get(f"{server.url}/metrics")
    finally:
        await client.aclose()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return 0.0


async def test_a_client_that_stops_reading_is_closed_and_the_others_are_served(impatient):
    server = impatient
    client = server.client()
    # given an incident whose every push is about 60 KB
    declared = await client.execute(
        DECLARE,
        {
            "input": {
                "title": "Large description",
                "description": "x" * 60_000,
                "severity": "SEV3",
                "impact": "LOW",
                "urgency": "LOW",
            }
        },
    )
    incident = declared["declareIncident"]["incident"]
    # and two subscribers to it: one that reads, one that stops reading once subscribed
    reader = await subscriber(server)
    await subscribe_and_wait(reader, server, FOLLOW, {"id": incident["id"]})
    stalled = await asyncio.to_thread(StalledClient, server)
    stalled.subscribe(FOLLOW, {"id": incident["id"]})
    await asyncio.sleep(1)

    # when the incident keeps changing (about 60 KB to each subscriber a change)
    versions = []
    closed = False
    while not closed:
        assert len(versions) < 600, "the stalled subscriber was never closed"
        updated = await client.execute(
            UPDATE, {"input": {"id": incident["id"], "title": f"Large description {len(versions)}"}}
        )
        assert updated["updateIncident"]["errors"] == []
        versions.append(updated["updateIncident"]["incident"]["version"])
        # the reader gets each change as it happens, however full the other's buffers are
        pushed = await reader.next_data()
        assert pushed["incidentUpdated"]["version"] == versions[-1]
        # then, once its buffers are full, the server closes the stalled client
        closed = await scrape(server, "incidentgraph_slow_consumers_closed_total") >= 1

    pushes, close = await asyncio.to_thread(stalled.read_to_the_end)
    stalled.close()
    assert close is not None
    assert (close.code, close.reason) == (1013, "SLOW_CONSUMER: the client stopped reading")
    # having buffered fewer pushes than there were changes: the rest were never written
    assert 0 < pushes < len(versions)
    # and only the reader's subscription is left running
    async with asyncio.timeout(10):
        while await scrape(server, "incidentgraph_subscribers") != 1:
            await asyncio.sleep(0.2)
    await reader.close()
    await client.aclose()

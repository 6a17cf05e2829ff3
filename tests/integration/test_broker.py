"""The broker layer against a real Redis: the three faults of broadcaster 0.3.1, fixed.

- many clients subscribing to one channel at the same moment all receive;
- after a Redis restart, subscribers on two server processes receive again, without reconnecting;
- events committed while Redis is down are delivered when it returns; the mutations succeed.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pubsub.broker import Broker, Message
from tests.support import (
    Backend,
    Server,
    declare,
    free_port,
    port_open,
    require_real_services,
    subscribe_and_wait,
    subscriber,
    transition,
)

pytestmark = pytest.mark.integration

INCIDENT_UPDATED = """
subscription Watch($id: ID!) { incidentUpdated(id: $id) { id status version } }
"""
TIMELINE_EVENT_ADDED = """
subscription Follow($id: ID!) { timelineEventAdded(incidentId: $id) { seq type } }
"""


class RedisProcess:
    """A redis-server of the test's own, so it can be stopped and started again."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=open(self.log_dir / f"redis-{self.port}.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            if port_open("127.0.0.1", self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_process(log_dir: Path) -> Iterator[RedisProcess]:
    require_real_services()
    redis = RedisProcess(log_dir)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def two_servers(
    pg_database: str, redis_process: RedisProcess, log_dir: Path
) -> Iterator[list[Server]]:
    backend = Backend("postgres", pg_database, redis_process.url)
    servers = [Server(backend).start(log_dir), Server(backend).start(log_dir)]
    yield servers
    for server in servers:
        server.stop()


@pytest.mark.parametrize("url", ["memory://", "redis://127.0.0.1:6379/0"])
async def test_500_clients_subscribing_at_once_all_receive(url):
    # given 500 clients subscribing to one channel at the same moment
    if url.startswith("redis"):
        require_real_services()
    broker = Broker(url)
    await broker.connect()
    channel = f"test:stampede:{id(broker)}"
    ready = asyncio.Event()
    received: list[str] = []

    async def client(n: int, started: list[int]) -> None:
        async with broker.subscribe(channel) as sub:
            started.append(n)
            if len(started) == 500:
                ready.set()
            item = await asyncio.wait_for(sub.get(), 10)
            assert isinstance(item, Message)
            received.append(item.raw)

    started: list[int] = []
    clients = [asyncio.create_task(client(n, started)) for n in range(500)]
    await asyncio.wait_for(ready.wait(), 10)

    # when one message is published
    await broker.publish(channel, "hello")

    # then every one of them receives it
    await asyncio.gather(*clients)
    assert received == ["hello"] * 500
    await broker.disconnect()


async def test_redis_restart_resumes_delivery_on_both_processes(two_servers, redis_process):
    # given subscribers on two server processes sharing PostgreSQL and Redis
    a, b = two_servers
    client = a.client()
    incident = await declare(client, title="Survives a Redis restart")
    subs = []
    for server in (a, b):
        sub = await subscriber(server)
        await subscribe_and_wait(sub, server, TIMELINE_EVENT_ADDED, {"id": incident["id"]})
        subs.append(sub)

    # when Redis goes away, a change is committed, and Redis comes back
    redis_process.stop()
    payload = await transition(client, incident["id"], "IN_PROGRESS")
    assert payload["errors"] == [] and payload["incident"]["status"] == "IN_PROGRESS"
    await asyncio.sleep(0.5)
    redis_process.start()

    # then both subscribers get the change made during the outage, without reconnecting
    for sub in subs:
        event = (await sub.next_data(timeout=20))["timelineEventAdded"]
        assert (event["seq"], event["type"]) == (2, "com.incidents.state_change.v1")

    # and changes after the restart flow as before, published from the other process
    other = b.client()
    await transition(other, incident["id"], "PENDING")
    for sub in subs:
        event = (await sub.next_data(timeout=20))["timelineEventAdded"]
        assert event["seq"] == 3
        await sub.close()
    await client.aclose()
    await other.aclose()


async def test_mutations_succeed_while_redis_is_down_and_events_follow(two_servers, redis_process):
    # given an incident watched on one process
    a, b = two_servers
    client = a.client()
    incident = await declare(client, title="Outbox holds events")
    sub = await subscriber(b)
    await subscribe_and_wait(sub, b, INCIDENT_UPDATED, {"id": incident["id"]})

    # when Redis is down for several changes
    redis_process.stop()
    for to in ("IN_PROGRESS", "ESCALATED", "MITIGATED"):
        payload = await transition(client, incident["id"], to)
        assert payload["errors"] == [], payload
    redis_process.start()

    # then the subscriber ends at the newest state, and never goes backwards
    versions = []
    while not versions or versions[-1] < incident["version"] + 3:
        data = (await sub.next_data(timeout=20))["incidentUpdated"]
        versions.append(data["version"])
    assert versions == sorted(set(versions))
    assert data["status"] == "MITIGATED"
    await sub.close()
    await client.aclose()


async def test_subscribe_on_one_process_mutate_on_the_other(two_servers):
    # given
    a, b = two_servers
    incident = await declare(b.client(), title="Cross-process")
    sub = await subscriber(a)
    await subscribe_and_wait(sub, a, INCIDENT_UPDATED, {"id": incident["id"]})

    # when
    await transition(b.client(), incident["id"], "IN_PROGRESS")

    # then
    data = (await sub.next_data())["incidentUpdated"]
    assert (data["id"], data["status"]) == (incident["id"], "IN_PROGRESS")
    await sub.close()


async def test_deployments_sharing_redis_do_not_hear_each_other():
    # given two deployments with their own channel prefix on one Redis
    require_real_services()
    ours = Broker("redis://127.0.0.1:6379/0", namespace="deployment-a")
    theirs = Broker("redis://127.0.0.1:6379/0", namespace="deployment-b")
    await ours.connect()
    await theirs.connect()
    async with ours.subscribe("t:default:incidents") as sub:
        # when both publish on the same tenant channel
        await theirs.publish("t:default:incidents", "theirs")
        await ours.publish("t:default:incidents", "ours")

        # then only our own message arrives
        item = await asyncio.wait_for(sub.get(), 5)
        assert isinstance(item, Message) and item.raw == "ours"
    await ours.disconnect()
    await theirs.disconnect()

"""Identical queries are answered from cache until the tenant changes, on every process."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support import REDIS_URL, Backend, Server, declare, require_real_services, transition

COUNT_OPEN = """
query Board($text: String!) {
  incidents(filter: {text: $text, status: [OPEN]}) { totalCount edges { node { id title } } }
}
"""

TITLE = "query Title($id: ID!) { incident(id: $id) { title } }"


async def board(client, marker):
    response = await client.post(COUNT_OPEN, {"text": marker})
    assert response.status_code == 200, response.text
    return response.headers.get("x-cache"), response.json()["data"]["incidents"]["totalCount"]


async def test_a_repeated_query_is_served_from_cache_until_a_mutation(client):
    # given
    marker = uuid.uuid4().hex
    await declare(client, title=f"Cached {marker}")

    # when the same query is asked again and again
    first = await board(client, marker)
    later = [await board(client, marker) for _ in range(5)]

    # then after the first answer (or two, while the process starts listening for changes
    # to this tenant) they come from cache, identical
    assert first == ("miss", 1)
    assert later[-3:] == [("hit", 1)] * 3

    # and the next answer after a mutation is fresh
    await declare(client, title=f"Cached too {marker}")
    assert await board(client, marker) == ("miss", 2)


async def test_mutation_errors_and_subscriptions_over_post_are_not_cached(client):
    # given a query that fails validation
    bad = "{ incidents(first: -1) { totalCount } }"

    # when it is sent twice
    answers = [await client.post(bad) for _ in range(2)]

    # then neither answer comes from cache
    assert [a.headers.get("x-cache") for a in answers] == ["miss", "miss"]

    # and a subscription over plain HTTP is refused clearly
    response = await client.post("subscription { incidentsChanged { id } }")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_an_answer_is_cached_by_its_result_not_by_the_words_in_it(client):
    # given an incident titled with the word a response's errors are listed under
    incident = await declare(client, title="errors")

    # when it is read again and again
    answers = [await client.post(TITLE, {"id": incident["id"]}) for _ in range(5)]

    # then it is answered from cache: its result had no error
    assert [a.json()["data"]["incident"]["title"] for a in answers] == ["errors"] * 5
    assert [a.headers.get("x-cache") for a in answers][-3:] == ["hit"] * 3


@pytest.fixture
def cached_pair(pg_database, log_dir):
    require_real_services()
    backend = Backend("postgres", pg_database, REDIS_URL)
    # A long ttl, so only the invalidation can make the change visible.
    env = {"INCIDENTGRAPH_QUERY_CACHE_SECONDS": "600"}
    servers = [Server(backend, extra_env=env).start(log_dir) for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


@pytest.mark.integration
async def test_a_change_on_another_process_invalidates_this_ones_cache(cached_pair):
    # given a cached answer on process A
    a, b = cached_pair
    on_a, on_b = a.client(), b.client()
    marker = uuid.uuid4().hex
    incident = await declare(on_a, title=f"Shared {marker}")
    answers = [await board(on_a, marker) for _ in range(5)]
    assert answers[-1] == ("hit", 1)

    # when process B changes the incident
    await transition(on_b, incident["id"], "IN_PROGRESS")

    # then A's next answers show it, without waiting for the ttl
    for _ in range(100):
        cache_status, count = await board(on_a, marker)
        if count == 0:
            break
        await asyncio.sleep(0.05)
    assert count == 0 and cache_status == "miss"
    await on_a.aclose()
    await on_b.aclose()


async def test_the_cache_can_be_turned_off(tmp_path, log_dir):
    # given a server with the cache off
    backend = Backend("embedded", f"sqlite://{tmp_path}/nocache.db", "memory://")
    server = Server(backend, extra_env={"INCIDENTGRAPH_QUERY_CACHE_SECONDS": "0"}).start(log_dir)
    client = server.client()
    try:
        # when the same query is asked twice
        answers = [await client.post(COUNT_OPEN, {"text": "x"}) for _ in range(2)]

        # then both are computed
        assert [a.headers.get("x-cache") for a in answers] == [None, None]
    finally:
        await client.aclose()
        server.stop()


async def test_a_change_committed_outside_a_mutation_drops_the_cached_answers_at_once():
    # given a cache that follows this process's commits, as the app wires it
    from app.pubsub import outbox
    from app.pubsub.broker import Broker
    from app.web.query_cache import QueryCache

    cache = QueryCache(Broker("memory://"), ttl=60, max_query_length=65_536)
    stop = outbox.message_committed.connect(lambda m: cache.invalidate(m.tenant_id))
    tenant = f"t-{uuid.uuid4().hex}"
    before = cache.generation(tenant)

    # when a webhook's or the alert processor's change commits (no mutation, no broker hop)
    outbox.committed(outbox.Pending(1, tenant, str(uuid.uuid4()), "{}"))
    stop()
    outbox.committed(outbox.Pending(2, tenant, str(uuid.uuid4()), "{}"))

    # then answers computed before it are no longer served, and only while wired
    assert cache.generation(tenant) == before + 1

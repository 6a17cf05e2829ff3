"""Concurrent operations never see each other's documents or results."""

from __future__ import annotations

import asyncio

from tests.support import (
    declare,
    subscriber,
    subscriber_count,
    transition,
    wait_for_subscribers,
)

WATCH = "subscription W{n}($id: ID!) {{ incidentUpdated(id: $id) {{ id{n}: id status }} }}"


async def test_concurrent_queries_each_get_their_own_answer(client):
    # given 200 different documents sent at once
    async def ask(n: int) -> dict:
        return await client.execute(f"query Q{n} {{ answer{n}: __typename }}")

    # when
    answers = await asyncio.gather(*(ask(n) for n in range(200)))

    # then each answer is to its own question
    assert [list(a) for a in answers] == [[f"answer{n}"] for n in range(200)]


async def test_concurrent_subscriptions_each_get_their_own_selection(server, client):
    # given 30 subscribers on one connection, each with a different document
    incident = await declare(client, title="Many documents")
    sub = await subscriber(server)
    before = await asyncio.to_thread(subscriber_count, server)
    ops = {}
    for n in range(30):
        ops[await sub.subscribe(WATCH.format(n=n), {"id": incident["id"]})] = n
    await wait_for_subscribers(server, before + 30)

    # when
    await transition(client, incident["id"], "IN_PROGRESS")

    # then every operation receives its own aliases
    seen = {}
    while len(seen) < 30:
        message = await sub.next()
        assert message["type"] == "next", message
        seen[message["id"]] = message["payload"]["data"]["incidentUpdated"]
    for op_id, data in seen.items():
        assert f"id{ops[op_id]}" in data, (op_id, data)
    await sub.close()

"""The broker counts a live stream once it has read what it starts from."""

from __future__ import annotations

from app.pubsub.broker import Broker


async def test_a_stream_counts_once_started_and_not_after_it_ends() -> None:
    async with Broker("memory://") as broker:
        async with broker.subscribe("incident:t:1", started=False) as reading:
            # still reading its starting state: not live yet
            assert broker.subscriber_count() == 0
            async with broker.subscribe("incident:t:2"):
                # one that starts from nothing counts at once
                assert broker.subscriber_count() == 1
                reading.started()
                reading.started()  # a second call changes nothing
                assert broker.subscriber_count() == 2
            assert broker.subscriber_count() == 1
        assert broker.subscriber_count() == 0


async def test_a_stream_that_ends_before_it_started_is_not_counted() -> None:
    async with Broker("memory://") as broker:
        async with broker.subscribe("incident:t:1", "incident:t:2", started=False):
            assert broker.subscriber_count() == 0
        async with broker.subscribe("incident:t:3"):
            assert broker.subscriber_count() == 1

"""Many subscribers resuming at once (`timelineEventAdded(after:)` after a restart): each
gets exactly the events it missed, and their read-backs share a few SQL statements instead
of one or two per subscriber."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator

import uvicorn
from tortoise.backends.base.executor import EXECUTOR_CACHE

from app.config import Settings
from app.main import create_app
from tests.support import (
    SECRET_KEY,
    TOKEN,
    GraphQLClient,
    Server,
    Subscriber,
    declare,
    free_port,
    subscriber,
)

FOLLOW = """
subscription Follow($id: ID!, $after: String) {
  timelineEventAdded(incidentId: $id, after: $after) { seq cursor }
}
"""
ADD_NOTE = """
mutation Note($input: AddNoteInput!) {
  addNote(input: $input) { event { seq cursor } errors { code message } }
}
"""
SUBSCRIBERS = 200
# The statements a stream's read-back sends: the incident by id, the timeline past a seq.
_INCIDENT_READ = re.compile(r'\bFROM\s+"?incident"?\s', re.I)
_EVENTS_READ = re.compile(r'\bFROM\s+"?timeline_event"?\s.*"seq"\s*>', re.I | re.S)


class Statements(logging.Handler):
    """The SELECTs Tortoise sends for live streams' read-backs while attached."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.incidents = 0
        self.events = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.args[0] if isinstance(record.args, tuple) and record.args else record.msg
        if not isinstance(text, str) or not text.lstrip().upper().startswith("SELECT"):
            return
        if _EVENTS_READ.search(text):
            self.events += 1
        elif _INCIDENT_READ.search(text):
            self.incidents += 1

    @contextlib.contextmanager
    def attached(self) -> Iterator[Statements]:
        logger = logging.getLogger("tortoise.db_client")
        level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)


@contextlib.asynccontextmanager
async def served(database_url: str) -> AsyncIterator[str]:
    """The app under uvicorn in this process (so its SQL can be observed); yields the URL."""
    settings = Settings(
        database_url=database_url,
        bootstrap_token=TOKEN,
        outbox_sweep_interval=3600.0,
        rate_limit_per_second=0.0,
        max_connections_per_token=0,
        secret_keys=(SECRET_KEY,),
    )
    EXECUTOR_CACHE.clear()  # Tortoise's INSERT cache of the other backend (see test_security_cost)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def add_notes(client: GraphQLClient, incident_id: str, count: int) -> list[dict]:
    events = []
    for i in range(count):
        data = await client.execute(
            ADD_NOTE, {"input": {"incidentId": incident_id, "body": f"note {i}"}}
        )
        assert data["addNote"]["errors"] == [], data
        events.append(data["addNote"]["event"])
    return events


async def seqs_until(sub: Subscriber, last: int) -> list[int]:
    seqs: list[int] = []
    while not seqs or seqs[-1] < last:
        seqs.append((await sub.next_data(30))["timelineEventAdded"]["seq"])
    return seqs


async def resume_all(subs: list[Subscriber], incident_id: str, cursors: list[str]) -> None:
    """Every subscriber sends its `subscribe` at once, each after its own cursor."""
    await asyncio.gather(
        *(
            sub.subscribe(FOLLOW, {"id": incident_id, "after": cursors[i % len(cursors)]})
            for i, sub in enumerate(subs)
        )
    )


async def connected(url: str, count: int) -> list[Subscriber]:
    async def one() -> Subscriber:
        sub = Subscriber(url, token=TOKEN)
        ack = await sub.connect()
        assert ack["type"] == "connection_ack", ack
        return sub

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_subscribers_resuming_at_once_share_a_few_read_statements(database_url):
    async with served(database_url) as host:
        client = GraphQLClient(f"http://{host}", token=TOKEN)
        # given an incident with 10 notes, and 200 clients that saw up to note 3, 5 or 7
        incident = await declare(client, title="Resumed by many at once")
        notes = await add_notes(client, incident["id"], 10)
        cursors = [notes[2]["cursor"], notes[4]["cursor"], notes[6]["cursor"]]
        subs = await connected(f"ws://{host}/graphql", SUBSCRIBERS)

        # when they all resume at once
        with Statements().attached() as log:
            await resume_all(subs, incident["id"], cursors)
            replayed = await asyncio.gather(*(seqs_until(sub, 11) for sub in subs))
        later = await add_notes(client, incident["id"], 2)
        live = await asyncio.gather(*(seqs_until(sub, 13) for sub in subs))

        # then each got exactly what it missed, then the live events, no gap, no duplicate
        for i, (missed, followed) in enumerate(zip(replayed, live, strict=True)):
            start = notes[(2, 4, 6)[i % 3]]["seq"]
            assert missed + followed == list(range(start + 1, later[-1]["seq"] + 1))
        # and their reads were batched: a few statements, not one or two per subscriber
        assert log.incidents + log.events <= SUBSCRIBERS // 10, (log.incidents, log.events)
        assert log.incidents >= 1 and log.events >= 1
        await asyncio.gather(*(sub.close() for sub in subs))
        await client.aclose()


async def test_subscribers_resuming_while_events_are_written_miss_nothing(server: Server, client):
    # given an incident being written to, and clients resuming from several cursors
    incident = await declare(client, title="Resumed during writes")
    notes = await add_notes(client, incident["id"], 6)
    cursors = [n["cursor"] for n in notes[1:6:2]]
    subs = [await subscriber(server) for _ in range(SUBSCRIBERS // 2)]

    # when they all resume at once while more notes are committed
    writing = asyncio.create_task(add_notes(client, incident["id"], 20))
    await resume_all(subs, incident["id"], cursors)
    written = await writing
    final = written[-1]["seq"]
    received = await asyncio.gather(*(seqs_until(sub, final) for sub in subs))

    # then every client has every event after its cursor exactly once, in order
    for i, seqs in enumerate(received):
        start = notes[(1, 3, 5)[i % 3]]["seq"]
        assert seqs == list(range(start + 1, final + 1))
    await asyncio.gather(*(sub.close() for sub in subs))

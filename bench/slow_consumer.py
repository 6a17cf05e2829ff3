"""A subscriber that stops reading, beside readers that keep up (part of section (a)).

One server process on the fan-out's database, with `INCIDENTGRAPH_WS_SEND_TIMEOUT_SECONDS`
set short; an incident whose every push is about 60 KB; `READERS` subscribers that read
everything. First `CALM` changes with the readers alone, then `STORM` changes with one more
subscriber on a 4 KB receive buffer that reads nothing once subscribed. Each change's latency
runs from just before the mutation to each reader's receipt of the new version.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from bench.servers import running
from bench.stats import Summary, ms
from tests.support import DECLARE, Backend, Server, StalledClient, Subscriber, subscriber

READERS = 50
CALM = 50
STORM = 200
SEND_TIMEOUT = 2.0
FOLLOW = "subscription ($id: ID!) { incidentUpdated(id: $id) { id title version description } }"
UPDATE = """
mutation Update($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { version } errors { code message } }
}
"""


@dataclass(frozen=True, slots=True)
class SlowResult:
    calm: Summary
    storm: Summary
    closed_after: float | None
    changes: int
    pushes_buffered: int
    close_code: int | None
    rss_before: int
    rss_peak: int


def _rss(server: Server) -> int:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def _closed(server: Server) -> bool:
    client = server.client()
    try:
        page = (await client.http.get(f"{server.url}/metrics")).text
    finally:
        await client.aclose()
    return any(
        line.startswith("incidentgraph_slow_consumers_closed_total ")
        and float(line.split()[1]) >= 1
        for line in page.splitlines()
    )


async def _change(
    server: Server, readers: list[Subscriber], incident_id: str, n: int
) -> list[float]:
    client = server.client()
    try:
        sent = time.monotonic()
        updated = await client.execute(
            UPDATE, {"input": {"id": incident_id, "title": f"Slow consumer {n}"}}
        )
    finally:
        await client.aclose()
    version = updated["updateIncident"]["incident"]["version"]

    async def receipt(reader: Subscriber) -> float:
        while (await reader.next_data())["incidentUpdated"]["version"] != version:
            pass
        return time.monotonic() - sent

    return list(await asyncio.gather(*(receipt(r) for r in readers)))


async def run(backend: Backend, logs: Path) -> SlowResult:
    env = {"INCIDENTGRAPH_WS_SEND_TIMEOUT_SECONDS": str(SEND_TIMEOUT)}
    with running(backend, 1, logs, env) as (server,):
        client = server.client()
        try:
            declared = await client.execute(
                DECLARE,
                {
                    "input": {
                        "title": "Slow consumer",
                        "description": "x" * 60_000,
                        "severity": "SEV3",
                        "impact": "LOW",
                        "urgency": "LOW",
                    }
                },
            )
        finally:
            await client.aclose()
        incident_id = declared["declareIncident"]["incident"]["id"]
        readers = [await subscriber(server) for _ in range(READERS)]
        for reader in readers:
            await reader.subscribe(FOLLOW, {"id": incident_id})
        await asyncio.sleep(1.0)
        calm: list[float] = []
        for n in range(CALM):
            calm.extend(await _change(server, readers, incident_id, n))
        stalled = await asyncio.to_thread(StalledClient, server)
        stalled.subscribe(FOLLOW, {"id": incident_id})
        await asyncio.sleep(0.5)
        rss_before = peak = _rss(server)
        stopped = time.monotonic()
        closed_after: float | None = None
        storm: list[float] = []
        changes = 0
        # Changes go on until the server closes the stalled subscriber (or STORM of them).
        while changes < STORM and closed_after is None:
            storm.extend(await _change(server, readers, incident_id, CALM + changes))
            changes += 1
            peak = max(peak, _rss(server))
            if await _closed(server):
                closed_after = time.monotonic() - stopped
        pushes, close = await asyncio.to_thread(stalled.read_to_the_end)
        stalled.close()
        for reader in readers:
            await reader.close()
    return SlowResult(
        calm=Summary.of(calm),
        storm=Summary.of(storm),
        closed_after=closed_after,
        changes=changes,
        pushes_buffered=pushes,
        close_code=close.code if close is not None else None,
        rss_before=rss_before,
        rss_peak=peak,
    )


def render(result: SlowResult) -> str:
    closed = (
        f"closed by the server with {result.close_code} `SLOW_CONSUMER` "
        f"{result.closed_after:.1f} s and {result.changes} changes after it stopped reading"
        if result.closed_after is not None and result.close_code == 1013
        else f"**not closed** (close code {result.close_code})"
    )
    growth = (result.rss_peak - result.rss_before) / 2**20
    return "\n".join(
        [
            "### A subscriber that stops reading",
            "",
            f"One server, send timeout {SEND_TIMEOUT:.0f} s; {READERS} readers of an incident "
            f"whose pushes are about 60 KB; {CALM} changes with the readers alone, then "
            f"at most {STORM} with one more subscriber on a 4 KB receive buffer that reads "
            "nothing, until the server closes it.",
            "",
            "| | Changes | Receipts | p50 | p99 | max |",
            "|---|---|---|---|---|---|",
            f"| Readers alone | {CALM} | {result.calm.count:,} | {ms(result.calm.p50)} | "
            f"{ms(result.calm.p99)} | {ms(result.calm.max)} |",
            f"| With the stalled subscriber | {result.changes} | {result.storm.count:,} | "
            f"{ms(result.storm.p50)} | {ms(result.storm.p99)} | {ms(result.storm.max)} |",
            "",
            f"The stalled subscriber was {closed}; it had {result.pushes_buffered} pushes "
            f"buffered between the two sockets when it read again. Server RSS grew by "
            f"{growth:.1f} MB while it was stalled (peak, sampled after each change).",
            "",
        ]
    )

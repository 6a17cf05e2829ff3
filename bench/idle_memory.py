"""Where an idle subscription's memory goes (the profile of section (r)'s idle figure).

One server runs in this process, as `incidentgraph serve` runs it (the same uvicorn
options), on a fresh PostgreSQL database with Redis, and Python's tracemalloc traces it.
A first round of subscribers warms it up and leaves; N client connections (in client
processes) then each follow one incident's timeline, and the heap grown meanwhile is
shared out by the package whose code allocated it (the innermost frame of a package, so a
queue that uvicorn makes counts as uvicorn's), and by allocation site.

    python -m bench.idle_memory --subscribers 2000

Traced memory is the Python heap only; the RSS figures of section (r) add the allocator's
own overhead, so they run a little higher.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import uvicorn

from app import database
from app.cli import uvicorn_options
from app.config import Settings
from app.main import bootstrap, create_app
from bench import seed
from bench.resume import WARM_UP, TimelinePool, timeline_plans, until_subscribed
from bench.servers import Server, postgres_backend, raise_open_file_limit, require_services

# Packages an allocation is credited to, by a frame's file name; the rest is the stdlib's.
PACKAGES = (
    "uvicorn",
    "websockets",
    "strawberry",
    "graphql",
    "starlette",
    "broadcaster",
    "redis",
    "tortoise",
    "asyncpg",
)
_APP = "/app/"
_SITES = 15
# Deep enough to reach the package behind an allocation in the stdlib (a queue, a lock).
_FRAMES = 16


@dataclass(frozen=True, slots=True)
class Breakdown:
    subscribers: int
    by_package: list[tuple[str, int]]  # bytes grown, most first
    by_site: list[tuple[str, int]]

    @property
    def total(self) -> int:
        return sum(size for _, size in self.by_package)


def owner(filename: str) -> str | None:
    if _APP in filename and "site-packages" not in filename:
        return "app"
    for package in PACKAGES:
        if f"site-packages/{package}/" in filename:
            return package
    return None


def breakdown(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, subscribers: int
) -> Breakdown:
    packages: Counter[str] = Counter()
    sites: Counter[str] = Counter()
    for stat in after.compare_to(before, "traceback"):
        if stat.size_diff <= 0:
            continue
        owners = [(o, f) for f in stat.traceback if (o := owner(f.filename)) is not None]
        name, frame = owners[-1] if owners else ("stdlib", stat.traceback[-1])
        packages[name] += stat.size_diff
        path = frame.filename.split("site-packages/")[-1].split("/work/main/")[-1]
        sites[f"{name}: {path}:{frame.lineno}"] += stat.size_diff
    return Breakdown(subscribers, packages.most_common(), sites.most_common(_SITES))


async def measure(subscribers: int, clients: int) -> Breakdown:
    require_services()
    raise_open_file_limit()
    with postgres_backend() as backend:
        server = Server(backend)
        settings = Settings.from_env(server.env())
        await database.migrate(settings)
        await database.init(settings)
        try:
            await bootstrap(settings)
        finally:
            await database.close()
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=server.port,
            log_level="warning",
            **uvicorn_options(settings),
        )
        running = uvicorn.Server(config)
        task = asyncio.create_task(running.serve())
        try:
            while not running.started:
                await asyncio.sleep(0.05)
            return await _traced(server, subscribers, clients)
        finally:
            running.should_exit = True
            await task


async def _traced(server: Server, subscribers: int, clients: int) -> Breakdown:
    gql = server.client()
    try:
        incident = await seed.declare(gql, title=f"{subscribers} idle subscribers")
    finally:
        await gql.aclose()
    # The server shares this event loop, slowed by tracing: a kept-alive connection can be
    # closed by its keep-alive timer just as a poll is sent on it, so each poll opens its own.
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=120, trust_env=False, limits=no_reuse) as http:
        async with TimelinePool(timeline_plans(WARM_UP, [server], 1, incident["id"])):
            await until_subscribed(http, [server], WARM_UP, timeout=60)
        await until_subscribed(http, [server], 0, timeout=60)
        await asyncio.sleep(1.0)
        gc.collect()
        tracemalloc.start(_FRAMES)
        try:
            before = tracemalloc.take_snapshot()
            async with TimelinePool(timeline_plans(subscribers, [server], clients, incident["id"])):
                await until_subscribed(http, [server], subscribers, timeout=60 + subscribers / 50)
                await asyncio.sleep(2.0)
                gc.collect()
                after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    return breakdown(before, after, subscribers)


def render(result: Breakdown) -> str:
    n = result.subscribers
    lines = [
        f"{n:,} idle subscriptions, traced heap growth per subscription: "
        f"**{result.total / n / 1024:.1f} KB**",
        "",
        "| Allocated by | per subscription |",
        "|---|---|",
        *(f"| {name} | {size / n / 1024:.1f} KB |" for name, size in result.by_package),
        "",
        "| Allocation site | bytes per subscription |",
        "|---|---|",
        *(f"| `{site}` | {size / n:,.0f} |" for site, size in result.by_site),
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_memory", description=__doc__)
    parser.add_argument("--subscribers", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    args = parser.parse_args(argv)
    if args.subscribers < 1 or args.clients < 1:
        parser.error("--subscribers and --clients must be at least 1")
    print(render(asyncio.run(measure(args.subscribers, args.clients))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

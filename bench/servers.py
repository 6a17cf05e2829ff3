"""The system under test: fresh databases and real `incidentgraph serve` processes.

Everything started here is stopped and dropped on the way out, whether the benchmark
succeeded or not. Processes come from the test harness (`tests.support.Server`).
"""

from __future__ import annotations

import contextlib
import os
import resource
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from tests.support import (
    REDIS_URL,
    TOKEN,
    Backend,
    Server,
    create_pg_database,
    drop_pg_database,
    postgres_available,
    redis_available,
)

__all__ = [
    "REDIS_URL",
    "TOKEN",
    "Backend",
    "Server",
    "cpu_seconds",
    "log_directory",
    "machine_cpu_seconds",
    "postgres_backend",
    "raise_open_file_limit",
    "require_services",
    "running",
    "sqlite_backend",
    "subscriber_count",
]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def require_services() -> None:
    missing = [
        n
        for n, ok in (("PostgreSQL", postgres_available()), ("Redis", redis_available()))
        if not ok
    ]
    if missing:
        raise SystemExit(
            f"{' and '.join(missing)} not reachable on 127.0.0.1; the benchmarks need both"
        )


def raise_open_file_limit(wanted: int | None = None) -> int:
    """Raise this process's soft RLIMIT_NOFILE (children inherit it); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if wanted is None else min(max(wanted, soft), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return max(target, soft)


@contextlib.contextmanager
def log_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="incidentgraph-bench-") as path:
        yield Path(path)


@contextlib.contextmanager
def postgres_backend() -> Iterator[Backend]:
    """A fresh PostgreSQL database with Redis as the broker; the database is dropped after."""
    url = create_pg_database()
    try:
        yield Backend("postgres", url, REDIS_URL)
    finally:
        drop_pg_database(url)


@contextlib.contextmanager
def sqlite_backend() -> Iterator[Backend]:
    """A fresh SQLite file with the in-process broker (one server process only)."""
    with tempfile.TemporaryDirectory(prefix="incidentgraph-bench-db-") as path:
        yield Backend("sqlite", f"sqlite://{Path(path) / 'bench.db'}", "memory://")


@contextlib.contextmanager
def running(
    backend: Backend, count: int, log_dir: Path, env: Mapping[str, str] | None = None
) -> Iterator[list[Server]]:
    """`count` server processes on one backend, each on its own port, stopped on exit."""
    servers: list[Server] = []
    try:
        for _ in range(count):
            server = Server(backend, extra_env=dict(env or {}))
            servers.append(server)
            server.start(log_dir)
        yield servers
    finally:
        for server in servers:
            server.stop()


def cpu_seconds(server: Server) -> float:
    """User plus system CPU time the server process has used so far."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_cpu_seconds() -> float:
    """CPU time all processors have spent busy since boot (everything but idle and iowait)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(f) for f in fields]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / _CLOCK_TICKS


async def subscriber_count(http: httpx.AsyncClient, server: Server) -> int:
    """Live subscriptions in one server process, from its /metrics page."""
    response = await http.get(f"{server.url}/metrics")
    response.raise_for_status()
    for line in response.text.splitlines():
        if line.startswith("incidentgraph_subscribers "):
            return int(float(line.split()[1]))
    raise RuntimeError(f"{server.url}/metrics has no incidentgraph_subscribers")

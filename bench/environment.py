"""The machine and software a run measured: printed at the top of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "strawberry-graphql",
    "graphql-core",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "websockets",
    "tortoise-orm",
    "asyncpg",
    "aiosqlite",
    "broadcaster",
    "redis",
    "httpx",
)


@dataclass(frozen=True, slots=True)
class Environment:
    date: str
    cpus: int
    cpu_model: str
    memory: str
    kernel: str
    python: str
    postgres: str
    redis: str
    commit: str
    packages: dict[str, str] = field(default_factory=dict)

    @classmethod
    def capture(cls, root: Path, redis_url: str) -> Environment:
        return cls(
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            cpus=os.cpu_count() or 0,
            cpu_model=_cpu_model(),
            memory=_memory(),
            kernel=f"{platform.system()} {platform.release()}",
            python=f"{platform.python_implementation()} {platform.python_version()}",
            postgres=_command(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"]
            )
            or "unknown",
            redis=_redis_version(redis_url),
            commit=_commit(root),
            packages={name: _version(name) for name in PACKAGES},
        )

    def render(self) -> str:
        rows = [
            ("Date", self.date),
            ("CPUs (`nproc`)", str(self.cpus)),
            ("CPU model", self.cpu_model),
            ("Memory", self.memory),
            ("Kernel", self.kernel),
            ("Python", self.python),
            ("PostgreSQL", self.postgres),
            ("Redis", self.redis),
            ("Commit measured", self.commit),
        ]
        table = ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
        packages = ", ".join(f"{name} {version}" for name, version in self.packages.items())
        return "\n".join(table) + f"\n\nPackages: {packages}.\n"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command(argv: list[str]) -> str:
    """The command's output, stripped; empty when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def _commit(root: Path) -> str:
    commit = _command(["git", "-C", str(root), "rev-parse", "--short", "HEAD"]) or "unknown"
    if _command(["git", "-C", str(root), "status", "--porcelain", "--", "app"]):
        return f"{commit} with uncommitted changes in app/"
    return commit


def _redis_version(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        info: dict[str, object] = client.info("server")  # type: ignore[assignment]
        return str(info.get("redis_version", "unknown"))
    except redis.RedisError:
        return "unknown"
    finally:
        client.close()

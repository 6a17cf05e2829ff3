"""WebSocket subscribers in separate client processes, for the fan-out benchmark.

Each client process runs its own event loop (uvloop when installed) and holds many
graphql-transport-ws connections. It stamps every `next` message with `time.monotonic()` as it
arrives; CLOCK_MONOTONIC is system-wide on Linux, so the stamps compare with the moment the
parent process sent the mutation. The parent drives the processes through a pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import resource
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

_PONG = json.dumps({"type": "pong"})
_OPEN_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Plan:
    """What one client process opens: `counts[i]` connections to `urls[i]`, interleaved."""

    urls: tuple[str, ...]
    counts: tuple[int, ...]
    token: str
    query: str
    variables: dict[str, Any]
    field: str
    compression: str | None = "deflate"
    connect_concurrency: int = 64


@dataclass(frozen=True, slots=True)
class Ready:
    connected: tuple[int, ...]
    failed: int
    first_failure: str | None


@dataclass(frozen=True, slots=True)
class Collect:
    version: int
    deadline: float


@dataclass(frozen=True, slots=True)
class Collected:
    times: dict[int, list[float]]
    errors: int
    first_error: str | None
    closed: int
    cpu_seconds: float


@dataclass(frozen=True, slots=True)
class Close:
    pass


@dataclass
class _Receipts:
    expected: int
    times: dict[int, dict[int, list[float]]] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    done: dict[int, asyncio.Event] = field(default_factory=dict)
    errors: int = 0
    first_error: str | None = None

    def add(self, version: int, target: int, at: float) -> None:
        self.times.setdefault(version, {}).setdefault(target, []).append(at)
        self.counts[version] = self.counts.get(version, 0) + 1
        if self.counts[version] >= self.expected:
            self._event(version).set()

    def error(self, message: Any) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = json.dumps(message)[:300]

    async def wait(self, version: int, deadline: float) -> dict[int, list[float]]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event(version).wait(), max(deadline - time.monotonic(), 0))
        self.counts.pop(version, None)
        self.done.pop(version, None)
        return self.times.pop(version, {})

    def _event(self, version: int) -> asyncio.Event:
        event = self.done.get(version)
        if event is None:
            event = self.done[version] = asyncio.Event()
        return event


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _raise_open_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


async def _open(plan: Plan, target: int, gate: asyncio.Semaphore) -> ClientConnection:
    async with gate:
        ws = await connect(
            plan.urls[target],
            subprotocols=[Subprotocol("graphql-transport-ws")],
            compression=plan.compression,
            proxy=None,
            ping_interval=None,
            open_timeout=_OPEN_TIMEOUT,
        )
        try:
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {plan.token}"}}
            await ws.send(json.dumps(init))
            ack = json.loads(await asyncio.wait_for(ws.recv(), _OPEN_TIMEOUT))
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"connection refused: {ack}")
            payload = {"query": plan.query, "variables": plan.variables}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        except BaseException:
            await ws.close()
            raise
        return ws


async def _read(ws: ClientConnection, target: int, field: str, receipts: _Receipts) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            arrived = time.monotonic()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "next":
                payload = message.get("payload") or {}
                data = payload.get("data")
                if payload.get("errors") or not data:
                    receipts.error(message)
                else:
                    receipts.add(int(data[field]["version"]), target, arrived)
            elif kind == "ping":
                await ws.send(_PONG)
            elif kind in ("error", "complete"):
                receipts.error(message)


async def _serve(conn: Connection, plan: Plan) -> None:
    receipts = _Receipts(expected=sum(plan.counts))
    gate = asyncio.Semaphore(plan.connect_concurrency)
    order = _interleave(plan.counts)
    opened = await asyncio.gather(*(_open(plan, t, gate) for t in order), return_exceptions=True)
    sockets = [
        (t, ws) for t, ws in zip(order, opened, strict=True) if not isinstance(ws, BaseException)
    ]
    failures = [ws for ws in opened if isinstance(ws, BaseException)]
    readers = [asyncio.create_task(_read(ws, t, plan.field, receipts)) for t, ws in sockets]
    connected = tuple(sum(1 for t, _ in sockets if t == i) for i in range(len(plan.urls)))
    receipts.expected = len(sockets)
    conn.send(
        Ready(
            connected=connected,
            failed=len(failures),
            first_failure=repr(failures[0]) if failures else None,
        )
    )
    try:
        while True:
            command = await asyncio.to_thread(conn.recv)
            if isinstance(command, Close):
                break
            assert isinstance(command, Collect)
            times = await receipts.wait(command.version, command.deadline)
            conn.send(
                Collected(
                    times=times,
                    errors=receipts.errors,
                    first_error=receipts.first_error,
                    closed=sum(1 for r in readers if r.done()),
                    cpu_seconds=_cpu_seconds(),
                )
            )
    finally:
        await asyncio.gather(*(ws.close() for _, ws in sockets), return_exceptions=True)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


def _interleave(counts: Sequence[int]) -> list[int]:
    """Target indexes, alternating between targets: [0, 1, 0, 1, ...]."""
    order: list[int] = []
    left = list(counts)
    while any(left):
        for i, n in enumerate(left):
            if n:
                order.append(i)
                left[i] -= 1
    return order


def client_main(conn: Connection, plan: Plan) -> None:
    """Entry point of a client process."""
    run_client(_serve, conn, plan, sum(plan.counts))


def run_client(
    serve: Callable[[Connection, Any], Coroutine[Any, Any, None]],
    conn: Connection,
    plan: Any,
    connections: int,
) -> None:
    """A client process's body: its open-file limit raised for `connections` sockets, `serve`
    run on uvloop (when installed), then Close sent to say it is done."""
    _raise_open_file_limit(connections + 256)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(conn, plan))
    else:
        uvloop.run(serve(conn, plan))
    conn.send(Close())


class SubscriberPool:
    """Client processes holding WebSocket subscribers; `async with` stops them on exit.

    `target` is the processes' entry point (a module-level function: spawn pickles it), by
    default this module's client."""

    def __init__(
        self, plans: Sequence[Any], target: Callable[[Connection, Any], None] = client_main
    ) -> None:
        self._plans = list(plans)
        self._target = target
        self._processes: list[BaseProcess] = []
        self._pipes: list[Connection] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def spawn(self) -> None:
        """One process per plan, each with its pipe."""
        context = multiprocessing.get_context("spawn")
        for plan in self._plans:
            parent, child = context.Pipe()
            process = context.Process(target=self._target, args=(child, plan), daemon=True)
            process.start()
            child.close()
            self._processes.append(process)
            self._pipes.append(parent)

    async def start(self, timeout: float) -> list[Ready]:
        self.spawn()
        return [self._expect(await receive(p, timeout), Ready) for p in self._pipes]

    async def ask(self, message: object, timeout: float) -> list[object]:
        """`message` sent to every process; their answers, in order."""
        for pipe in self._pipes:
            pipe.send(message)
        return [await receive(p, timeout) for p in self._pipes]

    async def collect(self, version: int, deadline: float) -> list[Collected]:
        wait = max(deadline - time.monotonic(), 0) + 30
        return [
            self._expect(m, Collected) for m in await self.ask(Collect(version, deadline), wait)
        ]

    async def status(self) -> list[Collected]:
        """Errors and CPU time so far, without waiting for any message."""
        return await self.collect(-1, time.monotonic())

    async def close(self) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError, EOFError):
                pipe.send(Close())
        for pipe in self._pipes:
            with contextlib.suppress(OSError, EOFError, TimeoutError):
                await receive(pipe, 30)
        for process in self._processes:
            await asyncio.to_thread(process.join, 10)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 5)
        for pipe in self._pipes:
            pipe.close()
        self._processes.clear()
        self._pipes.clear()

    @staticmethod
    def _expect(message: object, kind: type[Any]) -> Any:
        if not isinstance(message, kind):
            raise RuntimeError(f"client process sent {message!r}, expected {kind.__name__}")
        return message


async def receive(pipe: Connection, timeout: float) -> object:
    if not await asyncio.to_thread(pipe.poll, timeout):
        raise TimeoutError(f"no answer from a client process in {timeout:.0f}s")
    return pipe.recv()

"""A real HTTP/1.1 server on 127.0.0.1 in a background thread, with the faults tests need.

Products subclass `FakeServer` and implement `route`. What every fake offers:

- `start()` / `stop()`, or `with Fake(...) as fake:`; `url` is `http://127.0.0.1:<port>`.
- `calls`: every request received, in order (`Call`: method, path, query, body, status),
  faulted ones included; `calls_to(method, path_prefix)` filters them; `reset_calls()`.
- Faults, each for the next `times` matching requests (`method`, `path` prefix filter):
  `fail_next(times, status=500)` answers with the product's error body;
  `rate_limit_next(times, retry_after="7")` answers 429 with that Retry-After;
  `delay_next(times, seconds)` holds the request, then handles it normally (a client that
  timed out may still have written: that is what idempotent creates are for).
- `down()` closes the listening socket and every open connection (connection refused);
  `up()` listens again on the same port, tickets kept.
- `clock`: where timestamps come from (defaults to the wall clock, UTC); tests may set it.
- `wait_idle()`: until no request is in flight (a delayed one, say).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-encoded unless None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    kind: str  # "status", "rate_limit", "delay"
    remaining: int
    method: str | None
    path: str | None
    status: int = 500
    seconds: float = 0.0
    retry_after: str = ""

    def matches(self, call: Call) -> bool:
        return (self.method is None or self.method == call.method) and (
            self.path is None or call.path.startswith(self.path)
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, fake: FakeServer) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (timeouts, down()) are part of the tests

    def drop_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        response = self.server.fake._dispatch(self.command, self.path, self.headers, raw)
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class FakeServer:
    name = "fake"

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.calls: list[Call] = []
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.lock = threading.RLock()  # guards the product's data and the call log
        self._faults: list[_Fault] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._in_flight = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # lifecycle

    def start(self) -> Self:
        self.up()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.down()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def up(self) -> None:
        if self._server is not None:
            return
        self._stopping.clear()
        self._server = _Server(self.port, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def down(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def wait_idle(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self._in_flight, f"{self._in_flight} requests still in flight"

    # faults

    def fail_next(
        self,
        times: int = 1,
        *,
        status: int = 500,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self._add(_Fault("status", times, method, path, status=status))

    def rate_limit_next(
        self,
        times: int = 1,
        *,
        retry_after: str = "7",
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self._add(_Fault("rate_limit", times, method, path, retry_after=retry_after))

    def delay_next(
        self, times: int = 1, *, seconds: float, method: str | None = None, path: str | None = None
    ) -> None:
        self._add(_Fault("delay", times, method, path, seconds=seconds))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _add(self, fault: _Fault) -> None:
        with self.lock:
            self._faults.append(fault)

    # call log

    def calls_to(self, method: str, path_prefix: str = "") -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    # for subclasses

    def authorized(self, authorization: str | None) -> bool:
        raise NotImplementedError

    def route(self, call: Call) -> Response:
        raise NotImplementedError

    def error(self, status: int, message: str) -> Response:
        """The product's error body for this status."""
        raise NotImplementedError

    # the request path

    def _dispatch(self, method: str, target: str, headers: Any, raw: bytes) -> Response:
        with self.lock:
            self._in_flight += 1
        try:
            return self._respond(method, target, headers, raw)
        finally:
            with self.lock:
                self._in_flight -= 1

    def _respond(self, method: str, target: str, headers: Any, raw: bytes) -> Response:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body: Any = json.loads(raw) if raw else None
            bad_json = False
        except ValueError:
            body, bad_json = raw.decode(errors="replace"), True
        call = Call(method, parts.path, query, body, headers=dict(headers.items()), raw=raw)
        with self.lock:
            self.calls.append(call)
            fault = self._take_fault(call, "delay")
        if fault is not None and self._stopping.wait(fault.seconds):
            call.status = 503
            return self.error(503, "shutting down")
        with self.lock:
            response = self._faulted(call)
            if response is None:
                if not self.authorized(headers.get("Authorization")):
                    response = self.error(401, "unauthorized")
                elif bad_json:
                    response = self.error(400, "invalid json")
                else:
                    response = self.route(call)
            call.status = response.status
            return response

    def _take_fault(self, call: Call, kind: str) -> _Fault | None:
        for fault in self._faults:
            if fault.kind == kind and fault.remaining > 0 and fault.matches(call):
                fault.remaining -= 1
                return fault
        return None

    def _faulted(self, call: Call) -> Response | None:
        limited = self._take_fault(call, "rate_limit")
        if limited is not None:
            response = self.error(429, "rate limited")
            response.headers["Retry-After"] = limited.retry_after
            return response
        failed = self._take_fault(call, "status")
        if failed is not None:
            return self.error(failed.status, HTTPStatus(failed.status).phrase)
        return None

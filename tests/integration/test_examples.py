"""The client examples in examples/ against a real server, built as a reader would build them.

- dashboard-ts: `npm ci` from its committed package-lock.json, graphql-codegen over the
  committed schema.graphql, `tsc --noEmit`, then the dashboard runs while the test changes
  incidents, and must print the active ones and each live change.
- integrator-py: gql from its pinned requirements.txt, in a venv of its own, lists, declares,
  notes, reads and follows; what it prints must be what the API holds.

Each is copied (without what its .gitignore leaves out) to a temporary folder beside a copy
of schema.graphql, so a build never writes into the work tree. The installs come from the
npm registry and PyPI. Without npm the dashboard's tests skip, except under CI=true, where
they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    IN_CI,
    ROOT,
    TRANSITION,
    Backend,
    GraphQLClient,
    Server,
    create_tenant,
    create_token,
    declare,
    subscriber_count,
    wait_for_subscribers,
)

EXAMPLES = ROOT / "examples"
# What the examples' .gitignore files leave out of a fresh clone.
NOT_COMMITTED = shutil.ignore_patterns("node_modules", "generated", "dist", "__pycache__", ".venv")
BAD_TOKEN = "igt_not-a-token-of-this-server"

INCIDENTS = """
query Incidents($filter: IncidentFilter, $after: String) {
  incidents(filter: $filter, orderBy: {field: NUMBER, direction: ASC}, first: 100, after: $after) {
    edges { node { id reference priority status severity title } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

TIMELINE = """
query Timeline($id: ID!) {
  incident(id: $id) {
    reference title
    timeline(first: 100) { edges { node { seq type data } } }
  }
}
"""


def _require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        message = f"`{program}` is not on PATH (the examples' tests need Node.js 20+ and npm)"
        if IN_CI:
            pytest.fail(f"{message}: required when CI=true")
        pytest.skip(message)
    return path


def _run(
    args: list[str], cwd: Path, *, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result


def _copy_example(name: str, into: Path) -> Path:
    """The example as a fresh clone has it, at the same depth under a copy of schema.graphql
    (codegen reads ../../schema.graphql)."""
    shutil.copy2(ROOT / "schema.graphql", into / "schema.graphql")
    return Path(shutil.copytree(EXAMPLES / name, into / "examples" / name, ignore=NOT_COMMITTED))


def _one_line_error(result: subprocess.CompletedProcess[str], program: str) -> str:
    """A refusal is one line on stderr naming the setting to check: no stack trace."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{program}: "), result.stderr
    assert "Traceback" not in result.stderr and "    at " not in result.stderr
    return lines[0]


@dataclass
class Tenant:
    """A tenant of one test: its incidents are the only ones the examples see."""

    id: str
    viewer: str
    responder: str
    client: GraphQLClient


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[Server]:
    """A server of this module's own, so its subscriber count is the dashboard's alone."""
    path = tmp_path_factory.mktemp("examples-db") / "incidentgraph.db"
    srv = Server(Backend("embedded", f"sqlite://{path}", "memory://")).start(log_dir)
    yield srv
    srv.stop()


@pytest.fixture
async def tenant(examples_server: Server) -> AsyncIterator[Tenant]:
    tenant_id = create_tenant(
        examples_server, tenant_id=f"examples-{uuid.uuid4().hex[:8]}", name="Examples"
    )

    def token(role: str) -> str:
        return create_token(examples_server, role=role, name=f"example {role}", tenant=tenant_id)

    responder = token("RESPONDER")
    client = examples_server.client(responder)
    yield Tenant(tenant_id, token("VIEWER"), responder, client)
    await client.aclose()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """dashboard-ts installed, generated, type-checked and built."""
    npm = _require("npm")
    _require("node")
    folder = _copy_example("dashboard-ts", tmp_path_factory.mktemp("dashboard"))
    # Offline-first: a machine that installed these before needs no network for them.
    _run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], folder, timeout=300)
    _run([npm, "run", "codegen"], folder, timeout=120)
    assert (folder / "src" / "generated" / "graphql.ts").exists()
    _run([npm, "run", "typecheck"], folder, timeout=180)
    _run([npm, "run", "build"], folder, timeout=180)
    yield folder
    # pytest keeps the last few runs' temporary folders: not 150 MB of packages each.
    shutil.rmtree(folder / "node_modules", ignore_errors=True)


@pytest.fixture(scope="module")
def integrator(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """integrator-py and a Python with its requirements.txt installed, apart from ours."""
    base = tmp_path_factory.mktemp("integrator")
    folder = _copy_example("integrator-py", base)
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], base, timeout=120)
    python = venv / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
        folder,
        timeout=300,
    )
    return python, folder / "integrator.py"


# -- dashboard-ts ---------------------------------------------------------------------------


async def test_the_dashboard_lists_active_incidents_then_prints_each_live_change(
    dashboard: Path, examples_server: Server, tenant: Tenant
) -> None:
    # given an active incident, and one already cancelled
    standing = await declare(tenant.client, title="Standing incident", severity="SEV2")
    ended = await declare(tenant.client, title="Finished incident", severity="SEV4")
    await tenant.client.execute(TRANSITION, {"input": {"id": ended["id"], "to": "CANCELLED"}})
    subscribers = await asyncio.to_thread(subscriber_count, examples_server)

    # when the dashboard runs with a VIEWER token, to stop after two live changes
    process = await asyncio.create_subprocess_exec(
        "node",
        "dist/dashboard.js",
        "--exit-after",
        "2",
        cwd=dashboard,
        env={
            **os.environ,
            "INCIDENTGRAPH_URL": examples_server.url,
            "INCIDENTGRAPH_TOKEN": tenant.viewer,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None and process.stderr is not None
        # it has subscribed, and printed the list (changes from now on are live ones)
        await wait_for_subscribers(examples_server, subscribers + 1, timeout=30)
        while not lines or not lines[-1].startswith("watching"):
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, (lines, await process.stderr.read())
            lines.append(line.decode().rstrip("\n"))
        # and an incident is declared, and the standing one cancelled
        fresh = await declare(tenant.client, title="Fresh incident", severity="SEV1")
        await tenant.client.execute(
            TRANSITION, {"input": {"id": standing["id"], "to": "CANCELLED"}}
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines += stdout.decode().splitlines()
    out = "\n".join(lines)
    assert process.returncode == 0, (out, stderr.decode())

    # then it listed the one active incident
    assert lines[0] == f"{examples_server.url}/graphql: 1 active incident", out
    reference = f"INC-{standing['number']}"
    assert lines[1] == f"  {reference}  {standing['priority']}  OPEN  Standing incident"
    assert lines[2] == "watching incidentsChanged until 2 changes"
    # and printed each change as it came, keeping count of what is active
    assert lines[3:] == [
        f"changed  INC-{fresh['number']}  {fresh['priority']}  OPEN  Fresh incident"
        + ("  [major]" if fresh["isMajor"] else "")
        + "  (2 active)",
        f"changed  {reference}  {standing['priority']}  CANCELLED  Standing incident"
        "  (no longer active; 1 active)",
    ], out
    assert "Finished incident" not in out


def test_the_dashboard_says_when_the_token_is_refused(
    dashboard: Path, examples_server: Server
) -> None:
    result = subprocess.run(
        ["node", "dist/dashboard.js", "--exit-after", "1"],
        cwd=dashboard,
        env={
            **os.environ,
            "INCIDENTGRAPH_URL": examples_server.url,
            "INCIDENTGRAPH_TOKEN": BAD_TOKEN,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = _one_line_error(result, "dashboard")
    assert "(is INCIDENTGRAPH_TOKEN right?)" in line
    assert result.stdout == ""


# -- integrator-py --------------------------------------------------------------------------


def _integrator(
    integrator: tuple[Path, Path], server: Server, token: str, *args: str
) -> subprocess.CompletedProcess[str]:
    python, script = integrator
    return subprocess.run(
        [str(python), str(script), *args],
        env={**os.environ, "INCIDENTGRAPH_URL": server.url, "INCIDENTGRAPH_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> list[list[str]]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return [line.split("\t") for line in result.stdout.splitlines()]


async def _incidents(client: GraphQLClient, filter_: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await client.execute(INCIDENTS, {"filter": filter_, "after": after}))["incidents"]
        found += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def test_the_integrator_pages_declares_notes_and_reads_back_what_the_api_holds(
    integrator: tuple[Path, Path], examples_server: Server, tenant: Tenant
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _integrator(integrator, examples_server, tenant.responder, *args)

    # given incidents some of which a filter takes
    for title, severity in [
        ("Payments slow in EU", "SEV2"),
        ("Payments failing", "SEV2"),
        ("Payments report late", "SEV4"),
    ]:
        await declare(tenant.client, title=title, severity=severity)

    # when it pages through them one at a time with that filter
    listed = run("incidents", "--severity", "SEV2", "--text", "payments", "--page-size", "1")

    # then it printed every incident the API holds for that filter, in order
    expected = await _incidents(tenant.client, {"severity": ["SEV2"], "text": "payments"})
    assert len(expected) == 2
    fields = ["reference", "id", "priority", "status", "severity", "title"]
    assert _ok(listed) == [[node[f] for f in fields] for node in expected]
    assert listed.stderr.strip() == "2 of 2 incidents"

    # when it declares an incident with a first note, twice with one idempotency key
    key = f"monitor-{uuid.uuid4().hex[:8]}"
    title = "Checkout errors from the monitor"
    flags = {"--title": title, "--severity": "SEV3", "--impact": "MEDIUM", "--urgency": "HIGH"}
    flags |= {"--service": "checkout", "--note": "seen by the synthetic monitor", "--key": key}
    declaring = ["declare", *(part for pair in flags.items() for part in pair)]
    first = _ok(run(*declaring))
    again = _ok(run(*declaring))

    # then one incident exists, as it said
    assert first == again
    (declared, reference, incident_id, priority, status), (noted, note_seq) = first
    assert (declared, status, noted, note_seq) == ("declared", "OPEN", "noted", "2")
    found = await _incidents(tenant.client, {"text": title})
    assert [(i["id"], i["reference"], i["priority"]) for i in found] == [
        (incident_id, reference, priority)
    ]

    # when it adds a note, then reads the timeline back over HTTP and over the WebSocket
    noted_again = _ok(run("note", incident_id, "rolled back", "--kind", "MITIGATION"))
    timeline = _ok(run("timeline", incident_id))
    followed = _ok(run("follow", incident_id, "--from-start", "--count", "3"))

    # then both are the timeline the API holds
    assert noted_again == [["noted", "3"]]
    held = (await tenant.client.execute(TIMELINE, {"id": incident_id}))["incident"]
    events = [edge["node"] for edge in held["timeline"]["edges"]]
    assert [(int(seq), type_) for seq, _, type_, _, _ in timeline] == [
        (e["seq"], e["type"]) for e in events
    ]
    assert [e["type"] for e in events] == [
        "com.incidents.declared.v1",
        "com.incidents.note_added.v1",
        "com.incidents.note_added.v1",
    ]
    assert [e["data"]["body"] for e in events[1:]] == [
        "seen by the synthetic monitor",
        "rolled back",
    ]
    assert followed == timeline


async def test_the_integrator_says_what_was_refused(
    integrator: tuple[Path, Path], examples_server: Server, tenant: Tenant
) -> None:
    incident = await declare(tenant.client, title="Refusals")

    def run(token: str, *args: str) -> subprocess.CompletedProcess[str]:
        return _integrator(integrator, examples_server, token, *args)

    # a wrong token, over HTTP and over the WebSocket
    for args in (["incidents"], ["follow", incident["id"], "--count", "1"]):
        line = _one_line_error(run(BAD_TOKEN, *args), "integrator")
        assert line.endswith("(is INCIDENTGRAPH_TOKEN right?)"), line
    # a role that may not declare: the permission error, as the server words it
    declaring = ["declare", "--title", "x", "--severity", "SEV3", "--impact", "LOW"]
    line = _one_line_error(run(tenant.viewer, *declaring, "--urgency", "LOW"), "integrator")
    assert "FORBIDDEN" in line
    # a refused change: the payload's error code and field
    line = _one_line_error(run(tenant.responder, "note", "inc_nope", "x"), "integrator")
    assert line == "integrator: NOT_FOUND on incidentId: no incident with id 'inc_nope'"

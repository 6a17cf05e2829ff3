"""The `incidentgraph` command line (README, "Command line")."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.support import ROOT


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["migrate"],
        ["token", "create"],
        ["token", "list"],
        ["token", "revoke"],
        ["tenant", "create"],
        ["demo"],
        ["incident", "create"],
        ["incident", "list"],
        ["incident", "get"],
        ["notify"],
        ["comms", "list"],
        ["comms", "lookup-ref"],
        ["report"],
    ],
)
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: incidentgraph" in result.stdout


def test_migrate_token_and_demo_on_a_fresh_database(tmp_path):
    # given an empty embedded database
    env = {"INCIDENTGRAPH_DATABASE_URL": f"sqlite://{tmp_path}/cli.db"}

    # when it is migrated twice
    first = run("migrate", env=env)
    second = run("migrate", env=env)

    # then the first run applies the migrations and the second has nothing to do
    assert first.returncode == 0 and "applied models.0001_initial" in first.stdout
    assert second.returncode == 0 and "up to date" in second.stdout

    # and a token can be created, printed once
    token = run(
        "token", "create", "--tenant", "default", "--role", "RESPONDER", "--name", "ci", env=env
    )
    assert token.returncode == 0 and token.stdout.strip().startswith("igt_")

    # and an unknown tenant is refused clearly
    bad = run("token", "create", "--tenant", "nope", "--role", "VIEWER", "--name", "x", env=env)
    assert bad.returncode == 2 and "no tenant" in bad.stderr

    # and the demo data loads
    demo = run("demo", env=env)
    assert demo.returncode == 0 and "loaded 10 demo incidents" in demo.stdout


def test_tenants_are_created_with_a_valid_unique_id(tmp_path):
    # given an empty embedded database
    env = {"INCIDENTGRAPH_DATABASE_URL": f"sqlite://{tmp_path}/tenants.db"}

    # when a second tenant is created
    created = run("tenant", "create", "--id", "acme-2", "--name", "Acme", env=env)

    # then it exists, and tokens can be made for it
    assert created.returncode == 0 and "acme-2" in created.stdout
    token = run(
        "token", "create", "--tenant", "acme-2", "--role", "ADMIN", "--name", "ops", env=env
    )
    assert token.returncode == 0 and token.stdout.strip().startswith("igt_")

    # and the same id again, or an id with capitals or underscores, is refused clearly
    again = run("tenant", "create", "--id", "acme-2", "--name", "Acme again", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    for bad_id in ("Acme", "acme_2", "", "a" * 65):
        bad = run("tenant", "create", "--id", bad_id, "--name", "x", env=env)
        assert bad.returncode == 2 and "lowercase letters, digits or '-'" in bad.stderr


def test_tokens_are_listed_and_revoked(tmp_path):
    # given a tenant with two tokens
    env = {"INCIDENTGRAPH_DATABASE_URL": f"sqlite://{tmp_path}/tokens.db"}
    pager = run(
        "token", "create", "--tenant", "default", "--role", "RESPONDER", "--name", "pager", env=env
    )
    run("token", "create", "--tenant", "default", "--role", "VIEWER", "--name", "wall", env=env)

    # when they are listed
    listed = run("token", "list", "--tenant", "default", env=env)

    # then each shows its id, name, role, clearance and times, but never its secret
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "ROLE", "CLEARANCE", "CREATED", "REVOKED"]
    by_name = {row.split()[1]: row.split() for row in rows}
    assert by_name["pager"][2:4] == ["RESPONDER", "CONFIDENTIAL"] and by_name["pager"][5] == "-"
    assert pager.stdout.strip() not in listed.stdout

    # when the pager's token is revoked
    revoked = run("token", "revoke", "--id", by_name["pager"][0], env=env)

    # then the list shows when, and the other token is untouched
    assert revoked.returncode == 0 and "revoked token" in revoked.stdout
    after = {
        row.split()[1]: row.split()
        for row in run("token", "list", "--tenant", "default", env=env).stdout.splitlines()[1:]
    }
    assert after["pager"][5] != "-" and after["wall"][5] == "-"

    # and an unknown id or tenant is refused clearly
    unknown = run("token", "revoke", "--id", "00000000-0000-0000-0000-000000000000", env=env)
    assert unknown.returncode == 2 and "no token" in unknown.stderr
    nobody = run("token", "list", "--tenant", "nope", env=env)
    assert nobody.returncode == 2 and "no tenant" in nobody.stderr


def test_a_token_may_be_given_its_own_clearance(tmp_path):
    # given an embedded database
    env = {"INCIDENTGRAPH_DATABASE_URL": f"sqlite://{tmp_path}/clearance.db"}
    assert run("migrate", env=env).returncode == 0

    # when a security responder's token is cleared for restricted incidents
    args = ["token", "create", "--tenant", "default", "--role", "RESPONDER", "--name", "sec"]
    cleared = run(*args, "--clearance", "RESTRICTED", env=env)
    wrong = run(*args, "--clearance", "SECRET", env=env)

    # then the list shows it, and a clearance that does not exist is refused
    assert cleared.returncode == 0, cleared.stderr
    rows = [
        r.split() for r in run("token", "list", "--tenant", "default", env=env).stdout.splitlines()
    ]
    assert [r[2:4] for r in rows if r[1] == "sec"] == [["RESPONDER", "RESTRICTED"]]
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr


def test_bad_configuration_is_reported_not_a_traceback():
    result = run("migrate", env={"INCIDENTGRAPH_DATABASE_URL": "mysql://nope"})
    assert result.returncode == 2
    assert "INCIDENTGRAPH_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_several_workers_need_a_shared_broker(tmp_path):
    # given the embedded in-process broker
    env = {
        "INCIDENTGRAPH_DATABASE_URL": f"sqlite://{tmp_path}/w.db",
        "INCIDENTGRAPH_BROADCAST_URL": "memory://",
    }

    # when several workers are asked for
    result = run("serve", "--workers", "2", env=env)

    # then serve refuses, saying why, instead of silently splitting subscribers
    assert result.returncode == 2 and "redis://" in result.stderr


def test_version_and_tenant_list(tmp_path):
    env = {"INCIDENTGRAPH_DATABASE_URL": f"sqlite://{tmp_path}/t.db"}
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("incidentgraph 0.")

    assert run("tenant", "create", "--id", "acme", "--name", "Acme Corp", env=env).returncode == 0
    assert run("demo", "--tenant", "acme", env=env).returncode == 0
    listed = run("tenant", "list", env=env)

    assert listed.returncode == 0, listed.stderr
    rows = [line.split(maxsplit=3) for line in listed.stdout.splitlines()]
    assert rows[0] == ["ID", "PLAN", "INCIDENTS", "NAME"]
    found = {r[0]: r for r in rows[1:]}
    assert found["default"][2] == "0"
    assert found["acme"][3] == "Acme Corp" and int(found["acme"][2]) > 0

    # and the demo loaded again changes nothing
    again = run("demo", "--tenant", "acme", env=env)
    assert again.returncode == 0 and "has the demo already: nothing changed" in again.stdout
    assert run("tenant", "list", env=env).stdout == listed.stdout


@pytest.mark.parametrize(
    "url, said",
    [
        ("postgres://postgres:hunter2@127.0.0.1:1/x", "Connect call failed"),
        ("postgres://postgres@127.0.0.1:5432/no_such_database_here", "does not exist"),
    ],
)
def test_an_unusable_database_is_one_line_not_a_traceback(url, said):
    result = run("tenant", "list", env={"INCIDENTGRAPH_DATABASE_URL": url})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and said in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "hunter2" not in result.stderr


def test_a_refused_command_is_one_line_not_a_traceback(tmp_path):
    result = run(
        "demo",
        "--tenant",
        "nosuch",
        env={"INCIDENTGRAPH_DATABASE_URL": f"sqlite://{tmp_path}/d.db"},
    )
    assert result.returncode == 2
    assert result.stderr == "error: no tenant 'nosuch'\n"


def test_a_taken_port_stops_serve_before_the_first_admin_token_is_made(tmp_path):
    # given a port something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"INCIDENTGRAPH_DATABASE_URL": f"sqlite://{tmp_path}/s.db"}

        # when the server is started on it for the first time
        result = run("serve", "--port", str(port), env=env)

    # then it says so in one line and makes no token it could not show in use
    assert result.returncode == 2, result.stderr
    assert (
        f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    )
    assert "admin token" not in result.stdout
    assert not (tmp_path / "s.db").exists()

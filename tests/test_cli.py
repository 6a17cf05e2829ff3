"""The `incidentgraph` command line (CONTRACT section 3)."""

from __future__ import annotations

import os
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


@pytest.mark.parametrize("command", [[], ["serve"], ["migrate"], ["token", "create"], ["demo"]])
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
    assert demo.returncode == 0 and "loaded 8 demo incidents" in demo.stdout


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

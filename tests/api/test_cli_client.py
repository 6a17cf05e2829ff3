"""The command line's client commands against a real server, through its API with a token:
declare, list and read incidents, run a notification rule, list and look up messages, and
print a report; refusals and an unreachable server said plainly."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.api.test_communications import log
from tests.support import ROOT, Server, create_tenant, create_token

RULE = """
mutation($input: CreateNotificationRuleInput!) { createNotificationRule(input: $input) {
  rule { id } errors { field code message } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"cli-{uuid.uuid4().hex[:8]}", name="CLI")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="cli admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="cli r", tenant=tenant_id),
        "VIEWER": create_token(server, role="VIEWER", name="cli v", tenant=tenant_id),
    }


async def cli(server: Server, token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INCIDENTGRAPH_URL": server.url}
    env.pop("INCIDENTGRAPH_TOKEN", None)
    if token is not None:
        env["INCIDENTGRAPH_TOKEN"] = token
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_an_incident_is_declared_listed_read_and_reported_from_the_command_line(
    server, tenant, api
):
    responder = tenant["RESPONDER"]
    made = await cli(
        server, responder, "incident", "create", "--title", "CLI checkout 502",
        "--severity", "SEV2", "--impact", "HIGH", "--urgency", "HIGH", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    incident = json.loads(made.stdout)
    assert incident["title"] == "CLI checkout 502" and incident["status"] == "OPEN"

    listed = await cli(server, responder, "incident", "list", "--status", "OPEN")
    got = await cli(server, responder, "incident", "get", incident["id"])
    report = await cli(server, responder, "report", incident["id"], "--format", "text")

    assert incident["id"] in listed.stdout and "CLI checkout 502" in listed.stdout
    assert got.returncode == 0 and "com.incidents.declared.v1" in got.stdout
    assert report.returncode == 0
    assert report.stdout.startswith(f"{incident['reference']}: CLI checkout 502")


async def test_messages_are_listed_looked_up_and_a_rule_is_run(server, tenant, api):
    admin = api("ADMIN")
    rule = await admin.execute(
        RULE,
        {"input": {"name": "cli page", "event": "DECLARED", "recipients": ["ASSIGNEE"],
                   "channels": ["PAGERDUTY"]}},
    )  # fmt: skip
    assert rule["createNotificationRule"]["errors"] == []
    made = await cli(
        server, tenant["RESPONDER"], "incident", "create", "--title", "CLI comms",
        "--severity", "SEV3", "--impact", "MEDIUM", "--urgency", "MEDIUM", "--json",
    )  # fmt: skip
    incident = json.loads(made.stdout)
    logged = await log(api("RESPONDER"), incident["id"], channel="EMAIL", direction="INBOUND")
    ref = logged["communication"]["shortRef"]

    listed = await cli(
        server, tenant["VIEWER"], "comms", "list", incident["id"], "--channel", "EMAIL"
    )
    found = await cli(server, tenant["VIEWER"], "comms", "lookup-ref", ref.lower())
    missing = await cli(server, tenant["VIEWER"], "comms", "lookup-ref", "REF-20200101-AAAA")
    ran = await cli(server, tenant["RESPONDER"], "notify", incident["id"], "cli page")

    assert ref in listed.stdout and "1 of 1" in listed.stdout
    assert found.returncode == 0 and "Caller reports 502s" in found.stdout
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    # no PagerDuty is configured for this tenant: the rule reaches no one, and says so
    assert ran.returncode == 1 and "reaches no one" in ran.stderr


async def test_refusals_and_an_unreachable_server_are_said_plainly(server, tenant):
    no_token = await cli(server, None, "incident", "list")
    viewer = await cli(
        server, tenant["VIEWER"], "incident", "create", "--title", "x",
        "--severity", "SEV3", "--impact", "LOW", "--urgency", "LOW",
    )  # fmt: skip
    bad_format = await cli(server, tenant["VIEWER"], "report", "inc_nope", "--format", "text")
    env_down = {**os.environ, "INCIDENTGRAPH_URL": "http://127.0.0.1:9", "INCIDENTGRAPH_TOKEN": "x"}
    down = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "app.cli", "incident", "list"], cwd=ROOT,
        env=env_down, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert no_token.returncode == 1 and "INCIDENTGRAPH_TOKEN" in no_token.stderr
    assert viewer.returncode == 1 and viewer.stderr.startswith("FORBIDDEN")
    assert bad_format.returncode == 1 and "NOT_FOUND" in bad_format.stderr
    assert down.returncode == 3 and "cannot be reached" in down.stderr
    assert "Traceback" not in no_token.stderr + viewer.stderr + down.stderr

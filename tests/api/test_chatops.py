"""Slack slash commands over real servers: `/incident declare|status|ack|note|assign|resolve`
signed as Slack signs them (v0 HMAC of the timestamp and body), acting as the person linked
to the Slack user, answered within Slack's three seconds; unsigned, badly signed or stale
requests and unlinked users change nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.api.test_identity import ASSIGN
from tests.api.test_people import a_handle, new_user
from tests.fakes.messaging import BOT_TOKEN, FakeReceiver, FakeSlack
from tests.support import (
    Server,
    create_tenant,
    create_token,
    declare,
    eventually,
    transition,
)

CONFIGURE = """
mutation($input: ConfigureNotificationsInput!) {
  configureNotifications(input: $input) {
    settings { slackTeamId slackSigningSecretSet slackIncidentChannels }
    errors { field code message }
  }
}"""
INCIDENTS = """
query { incidents(first: 10) { edges { node {
  number title status severity declaredBy assignee resolutionSummary
  timeline { edges { node { type actor data } } }
} } } }"""
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
async def slack(server: Server) -> Any:
    """A tenant answering a Slack workspace, with a person linked to a Slack user."""
    tenant_id = create_tenant(server, tenant_id=f"ops-{uuid.uuid4().hex[:8]}", name="ChatOps")
    admin = server.client(token=create_token(server, role="ADMIN", name="ops", tenant=tenant_id))
    team = "T" + uuid.uuid4().hex[:10].upper()
    configured = await admin.execute(
        CONFIGURE, {"input": {"slackTeamId": team, "slackSigningSecret": SECRET}}
    )
    assert configured["configureNotifications"]["errors"] == []
    slack_user = "U" + uuid.uuid4().hex[:8].upper()
    person = await new_user(admin, chatIds={"slack": slack_user})
    other = await new_user(admin, handle=a_handle())
    yield {
        "server": server,
        "admin": admin,
        "team": team,
        "user": slack_user,
        "person": person,
        "other": other,
    }
    await admin.aclose()


def post(
    ctx: dict[str, Any],
    text: str,
    *,
    secret: str = SECRET,
    age: int = 0,
    user: str | None = None,
    team: str | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> httpx.Response:
    """`/incident <text>` as Slack posts it."""
    body = urlencode(
        {
            "token": "deprecated",
            "team_id": team or ctx["team"],
            "user_id": user or ctx["user"],
            "command": "/incident",
            "text": text,
            "response_url": "https://hooks.slack.com/commands/T/1/x",
            "channel_id": "C0OPS",
        }
    ).encode()
    stamp = str(int(time.time()) - age)
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return httpx.post(
        f"{ctx['server'].url}/chatops/slack",
        content=body,
        headers={
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": "v0=" + digest.hexdigest(),
        },
        timeout=10,
    )


async def incidents(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    data = await ctx["admin"].execute(INCIDENTS)
    return [e["node"] for e in data["incidents"]["edges"]]


async def test_an_incident_is_worked_from_slack_as_the_linked_person(slack):
    me = f"usr_{slack['person']['id'].removeprefix('usr_')}"

    # declare, answered in the channel within Slack's three seconds
    started = time.monotonic()
    declared = post(slack, "declare Checkout is down sev2")
    assert time.monotonic() - started < 3
    assert declared.status_code == 200, declared.text
    assert declared.json()["response_type"] == "in_channel"
    assert "declared INC-1" in declared.json()["text"]
    assert "Checkout is down" in declared.json()["text"]
    [incident] = await incidents(slack)
    assert incident["severity"] == "SEV2" and incident["declaredBy"] == me

    # status, ack, note, assign, resolve, each as the same person
    status = post(slack, "status INC-1").json()
    assert status["response_type"] == "ephemeral" and "INC-1" in status["text"]
    assert "OPEN" in status["text"]
    for text, said in [
        ("ack #1", "acknowledged INC-1"),
        ("note 1 rolled back the deploy", "noted INC-1"),
        (f"assign INC-1 @{slack['other']['handle']}", "assigned INC-1"),
        ("resolve INC-1 rolled back release 4.2", "resolved INC-1"),
    ]:
        answer = post(slack, text)
        assert answer.status_code == 200
        assert said in answer.json()["text"], (text, answer.json())
        assert answer.json()["response_type"] == "in_channel"
    [incident] = await incidents(slack)
    assert incident["status"] == "RESOLVED"
    assert incident["resolutionSummary"] == "rolled back release 4.2"
    assert incident["assignee"] == slack["other"]["handle"]
    events = [e["node"] for e in incident["timeline"]["edges"]]
    assert {e["actor"] for e in events} == {me}
    assert any(e["data"].get("body") == "rolled back the deploy" for e in events)
    assert post(slack, "status").json()["text"] == "No active incidents."


async def test_what_the_channel_sees_is_read_as_the_channel_may_read_it(slack):
    # given a CONFIDENTIAL incident
    admin = slack["admin"]
    secret = await declare(admin, title="Customer 4711 data exposed", classification="CONFIDENTIAL")

    # when it is acknowledged from Slack, where the whole channel reads the answer
    answer = post(slack, f"ack INC-{secret['number']}").json()

    # then the answer names it without its title
    assert answer["response_type"] == "in_channel"
    assert f"acknowledged INC-{secret['number']}" in answer["text"]
    assert "[REDACTED]" in answer["text"] and "4711" not in answer["text"]


async def test_requests_slack_did_not_sign_change_nothing(slack):
    refused = [
        post(slack, "declare forged", secret="not-the-secret"),
        post(slack, "declare stale", age=600),
        post(slack, "declare elsewhere", team="TNOBODY"),
    ]
    for answer in refused:
        assert answer.status_code == 401, answer.text
        assert answer.json()["code"] == "UNAUTHENTICATED"
    assert "older than five minutes" in refused[1].json()["error"]
    wrong_type = post(slack, "declare json", content_type="application/json")
    assert wrong_type.status_code == 415
    assert await incidents(slack) == []


async def test_unlinked_users_and_bad_commands_get_answers_only_they_see(slack):
    stranger = post(slack, "declare not mine", user="UNKNOWN1").json()
    assert stranger["response_type"] == "ephemeral"
    assert "not linked" in stranger["text"] and "UNKNOWN1" in stranger["text"]
    for text, said in [
        ("", "Usage"),
        ("dance", "Usage"),
        ("declare", "Usage"),
        ("ack INC-99", "Refused (NOT_FOUND)"),
        ("note INC-99 hello", "Refused (NOT_FOUND)"),
        ("resolve", "Usage"),
    ]:
        answer = post(slack, text).json()
        assert answer["response_type"] == "ephemeral", text
        assert said in answer["text"], (text, answer)
    assert await incidents(slack) == []


async def test_a_slack_workspace_answers_one_tenant(server, slack):
    other_tenant = create_tenant(server, tenant_id=f"ops2-{uuid.uuid4().hex[:8]}", name="Other")
    other = server.client(
        token=create_token(server, role="ADMIN", name="ops2", tenant=other_tenant)
    )
    try:
        taken = await other.execute(CONFIGURE, {"input": {"slackTeamId": slack["team"]}})
        bad = await other.execute(CONFIGURE, {"input": {"slackTeamId": "not a team"}})
    finally:
        await other.aclose()
    errors = taken["configureNotifications"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("slackTeamId", "CONFLICT")]
    assert [e["field"] for e in bad["configureNotifications"]["errors"]] == ["slackTeamId"]


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def channel_named(fake: FakeSlack, prefix: str, suffix: str) -> dict[str, Any] | None:
    for channel_id, channel in list(fake.channels.items()):
        if channel["name"].startswith(prefix) and channel["name"].endswith(suffix):
            return {"id": channel_id, **channel}
    return None


def posted_to(fake: FakeSlack, channel_id: str) -> list[str]:
    return [p["text"] for p in list(fake.posted) if p["channel"] == channel_id]


async def test_a_declared_incident_gets_a_channel_kept_up_with_it(slack, fake_slack):
    # given a tenant whose incidents get Slack channels of their own
    admin = slack["admin"]
    configured = await admin.execute(
        CONFIGURE,
        {
            "input": {
                "slackBotToken": BOT_TOKEN,
                "slackApiUrl": f"{fake_slack.url}/api",
                "slackIncidentChannels": True,
            }
        },
    )
    assert configured["configureNotifications"]["errors"] == []

    # when an incident is declared
    tag = uuid.uuid4().hex[:6]
    incident = await declare(
        admin, title=f"Checkout down {tag}", severity="SEV2", impact="HIGH", urgency="MEDIUM"
    )
    number = incident["number"]

    # then its channel is made, named after it, with its status in the topic and the
    # declaration posted
    async def made() -> dict[str, Any] | None:
        found = channel_named(fake_slack, f"inc-{number}-sev2-checkout-down-{tag}", "")
        return found if found and found["topic"] and posted_to(fake_slack, found["id"]) else None

    channel = await eventually(made, timeout=15, what="the incident's channel")
    assert channel["is_private"] is False
    assert f"INC-{number} | OPEN" in channel["topic"]
    assert any("declared" in text for text in posted_to(fake_slack, channel["id"]))

    # when it is assigned to the person linked to a Slack user and acknowledged
    assigned = await admin.execute(
        ASSIGN, {"input": {"id": incident["id"], "userId": slack["person"]["id"]}}
    )
    assert assigned["assignIncident"]["errors"] == []
    await transition(admin, incident["id"], "IN_PROGRESS")

    # then that person is invited, the topic follows the status and the move is posted
    async def caught_up() -> bool:
        now = fake_slack.channels[channel["id"]]
        moved = any("OPEN -> IN_PROGRESS" in t for t in posted_to(fake_slack, channel["id"]))
        return slack["user"] in now["members"] and "IN_PROGRESS" in now["topic"] and moved

    await eventually(caught_up, timeout=15, what="the channel to follow the incident")

    # and a classified incident's channel is private and never carries its title
    secret = await declare(
        admin,
        title=f"Payroll leak {tag}",
        severity="SEV2",
        impact="HIGH",
        urgency="MEDIUM",
        classification="RESTRICTED",
    )

    async def private() -> dict[str, Any] | None:
        return channel_named(fake_slack, f"inc-{secret['number']}-sev2-restricted", "")

    hidden = await eventually(private, timeout=15, what="the restricted channel")
    assert hidden["is_private"] is True
    assert not any(f"Payroll leak {tag}".encode() in c.raw for c in list(fake_slack.calls))


async def channels_on(admin: Any, fake: FakeSlack) -> None:
    configured = await admin.execute(
        CONFIGURE,
        {
            "input": {
                "slackBotToken": BOT_TOKEN,
                "slackApiUrl": f"{fake.url}/api",
                "slackIncidentChannels": True,
            }
        },
    )
    assert configured["configureNotifications"]["errors"] == []


def post_event(
    ctx: dict[str, Any], message: dict[str, Any], *, secret: str = SECRET
) -> httpx.Response:
    """A call of Slack's Events API, signed as Slack signs it."""
    body = json.dumps(message).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return httpx.post(
        f"{ctx['server'].url}/chatops/slack/events",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": "v0=" + digest.hexdigest(),
        },
        timeout=10,
    )


CHAT_EVENTS = """
query($id: ID!) { incident(id: $id) { timeline { edges { node { type actor data } } } } }
"""


async def test_thread_messages_in_an_incident_channel_are_kept_once(slack, fake_slack):
    # given an incident with its channel
    admin = slack["admin"]
    await channels_on(admin, fake_slack)
    tag = uuid.uuid4().hex[:6]
    incident = await declare(admin, title=f"Queue stuck {tag}")

    async def made() -> dict[str, Any] | None:
        return channel_named(fake_slack, f"inc-{incident['number']}-", f"queue-stuck-{tag}")

    channel = await eventually(made, timeout=15, what="the incident's channel")

    # Slack checks the URL first, signed with the app's secret
    check = post_event(slack, {"type": "url_verification", "challenge": "c-123"})
    assert check.status_code == 200 and check.json() == {"challenge": "c-123"}
    forged = post_event(slack, {"type": "url_verification", "challenge": "x"}, secret="nope")
    assert forged.status_code == 401

    # when a message in a thread of the channel arrives, twice (Slack retries), beside a
    # message outside any thread and one of the bot's own
    def message(**event: Any) -> dict[str, Any]:
        return {
            "type": "event_callback",
            "team_id": slack["team"],
            "event_id": f"Ev{uuid.uuid4().hex[:8]}",
            "event": {"type": "message", "channel": channel["id"], **event},
        }

    threaded = message(user=slack["user"], text="DB failover done", ts="1700000100.000200",
                       thread_ts="1700000000.000100")  # fmt: skip
    for payload in (
        threaded,
        threaded,
        message(user=slack["user"], text="not in a thread", ts="1700000101.000300"),
        message(bot_id="B1", text="a bot post", ts="1700000102.0004", thread_ts="1700000000.1"),
    ):
        assert post_event(slack, payload).status_code == 200

    # then the thread message is on the timeline once, as the linked person
    data = await admin.execute(CHAT_EVENTS, {"id": incident["id"]})
    chats = [
        e["node"]
        for e in data["incident"]["timeline"]["edges"]
        if e["node"]["type"] == "com.incidents.chat.message.v1"
    ]
    assert len(chats) == 1
    assert chats[0]["data"]["text"] == "DB failover done"
    assert chats[0]["actor"] == slack["person"]["id"]


# --- buttons ----------------------------------------------------------------------------------


def press(
    ctx: dict[str, Any],
    action_id: str,
    value: str,
    response_url: str,
    *,
    secret: str = SECRET,
) -> httpx.Response:
    """A button of a reply pressed, as Slack posts it (a `payload` form field, signed)."""
    payload = {
        "type": "block_actions",
        "team": {"id": ctx["team"], "domain": "ops"},
        "user": {"id": ctx["user"], "username": "someone"},
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "value": value}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return httpx.post(
        f"{ctx['server'].url}/chatops/slack",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": "v0=" + digest.hexdigest(),
        },
        timeout=10,
    )


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    with FakeReceiver() as fake:
        yield fake


async def test_buttons_run_their_command_and_answer_through_the_response_url(slack, receiver):
    # given an incident declared from Slack, whose reply carries buttons
    declared = post(slack, "declare Login errors sev3").json()
    actions = [b for b in declared["blocks"] if b["type"] == "actions"][0]["elements"]
    buttons = {a["action_id"]: a["value"] for a in actions}
    assert set(buttons) == {"incident_ack", "incident_status"}
    ref = buttons["incident_ack"]
    url = f"{receiver.url}/commands/{uuid.uuid4().hex}"

    def replies() -> list[dict[str, Any]]:
        return [c.body for c in receiver.calls_to("POST", "/commands/")]

    async def reply(number: int) -> dict[str, Any] | None:
        found = replies()
        return found[number] if len(found) > number else None

    # when Acknowledge is pressed
    started = time.monotonic()
    pressed = press(slack, "incident_ack", ref, url)

    # then Slack is answered at once, the incident moves as the linked person, and the reply
    # is posted to the response_url beside the original message
    assert pressed.status_code == 200 and time.monotonic() - started < 3
    posted = await eventually(lambda: reply(0), what="the reply to the button")
    assert f"acknowledged {ref}" in posted["text"], posted
    assert posted["response_type"] == "in_channel" and posted["replace_original"] is False
    [incident] = [i for i in await incidents(slack) if f"INC-{i['number']}" == ref]
    assert incident["status"] == "IN_PROGRESS"

    # and Status answers only the one who pressed it, without Acknowledge any more
    press(slack, "incident_status", ref, url)
    posted = await eventually(lambda: reply(1), what="the status reply")
    assert posted["response_type"] == "ephemeral" and "IN_PROGRESS" in posted["text"]
    assert [e["action_id"] for e in posted["blocks"][1]["elements"]] == ["incident_status"]

    # a button that is not ours does nothing but say so; a badly signed press is refused
    press(slack, "incident_delete", ref, url)
    posted = await eventually(lambda: reply(2), what="the unknown button's reply")
    assert "not one of ours" in posted["text"]
    forged = press(slack, "incident_ack", ref, url, secret="not the secret")
    assert forged.status_code == 401
    receiver.wait_idle()
    assert len(replies()) == 3


async def test_a_channel_slack_could_not_be_reached_for_is_made_on_a_later_attempt(
    slack, fake_slack
):
    # given incident channels on, and Slack unreachable
    await channels_on(slack["admin"], fake_slack)
    fake_slack.down()

    # when an incident is declared, and Slack comes back after the first attempts failed
    tag = uuid.uuid4().hex[:6]
    incident = await declare(slack["admin"], title=f"Queue stuck {tag}", severity="SEV3")
    name = f"inc-{incident['number']}-sev3-queue-stuck-{tag}"
    await asyncio.sleep(2)
    fake_slack.up()

    # then its channel is made, exactly once, with the declaration posted
    async def made() -> dict[str, Any] | None:
        found = channel_named(fake_slack, name, "")
        return found if found and posted_to(fake_slack, found["id"]) else None

    channel = await eventually(made, timeout=60, what="the channel once Slack is back")
    assert any("declared" in text for text in posted_to(fake_slack, channel["id"]))
    assert [c["name"] for c in list(fake_slack.channels.values())].count(name) == 1

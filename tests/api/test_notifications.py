"""Sending messages about incidents over real channels: e-mail to a local SMTP server
(aiosmtpd), Slack, a Standard Webhooks receiver and PagerDuty's Events API (fake servers
speaking their shapes), each recipient a communication with its ref in the text; failures
retried with backoff and FAILED after the last attempt, nothing lost."""

from __future__ import annotations

import asyncio
import email
import ipaddress
import ssl
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from standardwebhooks import Webhook

from tests.api.test_communications import ADD_ITEM, START, UPDATE_ITEM
from tests.api.test_oncall import rotation
from tests.api.test_people import ADD_MEMBER, errors, new_team, new_user
from tests.api.test_response import ASSIGN as ASSIGN_ROLE
from tests.api.test_sla_marks import POLICY
from tests.fakes.messaging import BOT_TOKEN, ROUTING_KEY, FakePagerDuty, FakeReceiver, FakeSlack
from tests.support import (
    Server,
    answered_errors,
    create_tenant,
    create_token,
    declare,
    eventually,
    free_port,
    fresh_backend,
    transition,
)

SEND = """
mutation($input: SendCommunicationInput!) { sendCommunication(input: $input) {
  sent failed pending
  communications { id shortRef channel recipient status error attempts externalId subject
    message direction }
  errors { field code message } } }
"""
CONFIGURE = """
mutation($input: ConfigureNotificationsInput!) { configureNotifications(input: $input) {
  settings { webhookUrl webhookSecret webhookSecretSet slackBotTokenSet slackWebhookSet
    pagerdutyRoutingKeySet audiences { audience emails slackChannel } }
  errors { field code message } } }
"""
BY_REF = """
query($ref: String!) { communicationByRef(shortRef: $ref) {
  shortRef status error attempts nextAttemptAt sentAt } }
"""
RETRY = """
mutation($input: RetryCommunicationInput!) { retryCommunication(input: $input) {
  communication { status attempts error } errors { field code message } } }
"""
TIMELINE = """
query($id: ID!) { incident(id: $id) { timeline(last: 20) { edges { node { type data } } } } }
"""


class Mailbox:
    """An SMTP server on 127.0.0.1 keeping what it accepts; refuses `refused@...`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        self._controller: Controller | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:  # noqa: N802
        if address.startswith("refused@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def up(self) -> None:
        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.up()
    yield box
    box.down()


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def pagerduty() -> Iterator[FakePagerDuty]:
    with FakePagerDuty() as fake:
        yield fake


@pytest.fixture(scope="module")
def receiver() -> Iterator[FakeReceiver]:
    with FakeReceiver() as fake:
        yield fake


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)],
)
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    log_dir: Path,
    mailbox: Mailbox,
) -> Iterator[Server]:
    """A server of its own (its own database: no other server's worker delivers its mail)
    with an SMTP server and quick retries."""
    with fresh_backend(request.param, tmp_path_factory.mktemp("notify")) as backend:
        srv = Server(
            backend,
            extra_env={
                "INCIDENTGRAPH_SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
                "INCIDENTGRAPH_NOTIFY_MAX_ATTEMPTS": "4",
                "INCIDENTGRAPH_NOTIFY_RETRY_BASE_SECONDS": "0.2",
                "INCIDENTGRAPH_NOTIFY_RETRY_MAX_SECONDS": "0.5",
                "INCIDENTGRAPH_NOTIFY_POLL_SECONDS": "0.1",
                "INCIDENTGRAPH_NOTIFY_TIMEOUT_SECONDS": "2",
            },
        ).start(log_dir)
        yield srv
        srv.stop()


@pytest.fixture(scope="module")
def tenant(
    server: Server, slack: FakeSlack, pagerduty: FakePagerDuty, receiver: FakeReceiver
) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"ntf-{uuid.uuid4().hex[:8]}", name="Notify")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="ntf admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="ntf r", tenant=tenant_id),
        "VIEWER": create_token(server, role="VIEWER", name="ntf v", tenant=tenant_id),
    }


async def configure(admin: Any, **fields: Any) -> dict[str, Any]:
    data = await admin.execute(CONFIGURE, {"input": fields})
    return data["configureNotifications"]  # type: ignore[no-any-return]


async def send(client: Any, incident_id: str, **fields: Any) -> dict[str, Any]:
    values = {"message": "Checkout is degraded; next update in 30 minutes.", **fields}
    data = await client.execute(SEND, {"input": {"incidentId": incident_id, **values}})
    return data["sendCommunication"]  # type: ignore[no-any-return]


def address(name: str) -> str:
    """An address no other test writes to (the SMTP server is shared by this module's runs
    on both backends)."""
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


async def status_of(client: Any, message: dict[str, Any], status: str) -> dict[str, Any] | None:
    """The message as communicationByRef reads it, once it has `status`."""
    data = await client.execute(BY_REF, {"ref": message["shortRef"]})
    found: dict[str, Any] = data["communicationByRef"]
    return found if found["status"] == status else None


async def test_an_email_to_a_team_reaches_each_member_with_its_own_ref(api, mailbox):
    # given a team of two and an incident
    admin = api()
    people = [await new_user(admin) for _ in range(2)]
    team = await new_team(admin)
    for person in people:
        await admin.execute(ADD_MEMBER, {"input": {"teamId": team["id"], "userId": person["id"]}})
    responder = api("RESPONDER")
    incident = await declare(responder, title="Checkout 502 for EU shoppers")

    # when a responder e-mails the team
    result = await send(responder, incident["id"], channels=["EMAIL"], teamIds=[team["id"]])

    # then each member got one message, delivered at once, its ref in subject and body
    assert result["errors"] == [] and (result["sent"], result["failed"]) == (2, 0)
    by_recipient = {c["recipient"]: c for c in result["communications"]}
    assert set(by_recipient) == {p["email"] for p in people}
    for person in people:
        sent = by_recipient[person["email"]]
        assert (sent["status"], sent["direction"], sent["attempts"]) == ("SENT", "OUTBOUND", 1)
        [message] = mailbox.to(person["email"])
        assert message["Subject"].startswith(f"[{sent['shortRef']}] Incident ")
        assert "Checkout 502 for EU shoppers" in message["Subject"]
        assert f"Ref: {sent['shortRef']}" in message.get_payload()
        assert message["Message-ID"] == sent["externalId"]
    assert len({c["shortRef"] for c in result["communications"]}) == 2
    # and the timeline has one update_sent event per message, without its text
    data = await responder.execute(TIMELINE, {"id": incident["id"]})
    sent_events = [
        e["node"]["data"]
        for e in data["incident"]["timeline"]["edges"]
        if e["node"]["type"] == "com.incidents.comms.update_sent.v1"
    ]
    assert sorted(e["shortRef"] for e in sent_events) == sorted(
        by_recipient[p["email"]]["shortRef"] for p in people
    )
    assert all("message" not in e for e in sent_events)


async def test_a_refused_recipient_is_failed_at_once_and_the_others_still_sent(api, mailbox):
    responder = api("RESPONDER")
    incident = await declare(responder, title="Mail bounce")

    result = await send(
        responder,
        incident["id"],
        channels=["EMAIL"],
        addresses=["ops@example.com", "refused@example.com"],
    )

    statuses = {c["recipient"]: (c["status"], c["error"]) for c in result["communications"]}
    assert statuses["ops@example.com"] == ("SENT", None)
    status, error = statuses["refused@example.com"]
    assert status == "FAILED" and "550" in error
    assert (result["sent"], result["failed"], result["pending"]) == (1, 1, 0)


async def test_smtp_down_keeps_the_message_pending_and_delivers_it_when_back(api, mailbox):
    to = address("a")
    # given the SMTP server is down
    responder = api("RESPONDER")
    incident = await declare(responder, title="SMTP outage")
    mailbox.down()
    try:
        # when a message is sent
        result = await send(responder, incident["id"], channels=["EMAIL"], addresses=[to])
        # then it is kept PENDING with the error, to be retried
        [message] = result["communications"]
        assert (result["sent"], result["failed"], result["pending"]) == (0, 0, 1)
        assert message["status"] == "PENDING" and "unreachable" in message["error"]
    finally:
        mailbox.up()

    # and once the server is back, the worker delivers it
    found = await eventually(lambda: status_of(responder, message, "SENT"), timeout=15)
    assert found["attempts"] >= 2 and found["nextAttemptAt"] is None
    assert len(mailbox.to(to)) == 1


async def test_smtp_down_for_good_fails_the_message_after_the_last_attempt(api, mailbox):
    to = address("b")
    responder = api("RESPONDER")
    incident = await declare(responder, title="SMTP gone")
    mailbox.down()
    try:
        result = await send(responder, incident["id"], channels=["EMAIL"], addresses=[to])
        [message] = result["communications"]

        found = await eventually(lambda: status_of(responder, message, "FAILED"), timeout=20)
    finally:
        mailbox.up()
    assert found["attempts"] == 4 and "unreachable" in found["error"]
    assert found["nextAttemptAt"] is None

    # and once the server is back, the dead letter is retried by hand and delivered
    retried = await responder.execute(RETRY, {"input": {"id": message["id"]}})
    assert retried["retryCommunication"]["communication"]["status"] == "SENT"
    assert len(mailbox.to(to)) == 1
    again = await responder.execute(RETRY, {"input": {"id": message["id"]}})
    assert errors(again["retryCommunication"]) == [("id", "VALIDATION")]


async def test_slack_webhook_and_pagerduty_each_get_the_message_in_their_shape(
    api, slack, pagerduty, receiver
):
    # given a tenant with Slack (bot token and default channel), a webhook and PagerDuty
    admin = api()
    configured = await configure(
        admin,
        slackBotToken=BOT_TOKEN,
        slackApiUrl=f"{slack.url}/api",
        slackChannel="C0INCIDENTS",
        webhookUrl=f"{receiver.url}/hooks/incidents",
        pagerdutyRoutingKey=ROUTING_KEY,
        pagerdutyEventsUrl=f"{pagerduty.url}/v2/enqueue",
    )
    assert configured["errors"] == []
    settings = configured["settings"]
    secret = settings["webhookSecret"]
    assert secret.startswith("whsec_") and settings["slackBotTokenSet"]
    # the secret is shown once
    again = await admin.execute("{ notificationSettings { webhookSecret webhookSecretSet } }")
    assert again["notificationSettings"] == {"webhookSecret": None, "webhookSecretSet": True}
    on_slack = await new_user(admin, chatIds={"slack": "U0ALICE"})
    incident = await declare(api("RESPONDER"), title="Payments down", severity="SEV1")

    # when a message goes out on all three
    result = await send(
        api("RESPONDER"),
        incident["id"],
        channels=["SLACK", "WEBHOOK", "PAGERDUTY"],
        userIds=[on_slack["id"]],
    )

    # then each was delivered once, carrying its own ref
    assert result["errors"] == [] and result["sent"] == 3, result
    refs = {c["channel"]: c["shortRef"] for c in result["communications"]}
    [posted] = [p for p in slack.posted if refs["SLACK"] in p["text"]]
    assert posted["channel"] == "U0ALICE"
    [event] = [
        e
        for e in pagerduty.events
        if e["payload"]["custom_details"]["shortRef"] == refs["PAGERDUTY"]
    ]
    assert event["event_action"] == "trigger" and event["payload"]["severity"] == "critical"
    assert (
        event["dedup_key"]
        == f"incidentgraph-{event['payload']['custom_details']['incident']['id']}"
    )
    [call] = [c for c in receiver.calls if refs["WEBHOOK"] in c.raw.decode()]
    # the signature verifies with the Standard Webhooks reference library
    verified = Webhook(secret).verify(call.raw, call.headers)
    assert verified["data"]["shortRef"] == refs["WEBHOOK"]
    assert verified["data"]["incident"]["title"] == "Payments down"


async def test_a_rate_limited_slack_is_retried_after_its_retry_after(api, slack):
    admin = api()
    await configure(
        admin, slackBotToken=BOT_TOKEN, slackApiUrl=f"{slack.url}/api", slackChannel="C0OPS"
    )
    incident = await declare(api("RESPONDER"), title="Busy Slack")
    slack.rate_limit_next(1, retry_after="1", path="/api/chat.postMessage")

    result = await send(api("RESPONDER"), incident["id"], channels=["SLACK"])

    [message] = result["communications"]
    assert message["status"] == "PENDING" and "429" in message["error"]

    await eventually(lambda: status_of(api("RESPONDER"), message, "SENT"), timeout=15)
    assert sum(message["shortRef"] in p["text"] for p in slack.posted) == 1


async def test_bad_sends_are_refused_and_write_nothing(api):
    admin = api()
    responder = api("RESPONDER")
    incident = await declare(responder, title="Bad sends")
    cases = [
        ({"channels": []}, ("channels", "VALIDATION")),
        ({"channels": ["PHONE"]}, ("channels", "VALIDATION")),
        ({"channels": ["EMAIL"]}, ("channels", "VALIDATION")),  # nobody named
        ({"channels": ["EMAIL"], "addresses": ["not an address"]}, ("email", "VALIDATION")),
        ({"channels": ["EMAIL"], "userIds": [str(uuid.uuid4())]}, ("userIds", "VALIDATION")),
        (
            {"channels": ["EMAIL"], "addresses": ["x@example.com"], "audience": "END_USERS"},
            ("classification", "VALIDATION"),
        ),
        (
            {"channels": ["EMAIL"], "addresses": ["x@example.com"], "classification": "RESTRICTED"},
            ("classification", "FORBIDDEN"),
        ),
        (
            {"channels": ["EMAIL"], "addresses": ["x@example.com"], "message": "  "},
            ("message", "VALIDATION"),
        ),
    ]
    for given, expected in cases:
        values = {"message": "Checkout is degraded; next update in 30 minutes.", **given}
        asked = {"input": {"incidentId": incident["id"], **values}}
        found = await answered_errors(responder, SEND, asked, "sendCommunication")
        assert found == [expected], given
    viewer = await api("VIEWER").raw(
        SEND,
        {
            "input": {
                "incidentId": incident["id"],
                "message": "hi",
                "channels": ["EMAIL"],
                "addresses": ["x@example.com"],
            }
        },
    )
    assert viewer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    data = await admin.execute(TIMELINE, {"id": incident["id"]})
    types = [e["node"]["type"] for e in data["incident"]["timeline"]["edges"]]
    assert "com.incidents.comms.update_sent.v1" not in types


async def test_whoever_is_on_call_is_reached_and_an_end_user_message_must_be_public(api, mailbox):
    subscribers = address("status-subscribers")
    admin = api()
    person = await new_user(admin)
    team = await new_team(admin)
    await rotation(
        admin,
        team,
        {
            "participantIds": [person["id"]],
            "startDate": "2026-01-01",
            "shiftDays": 7,
            "handoffTime": "09:00",
            "timeZone": "UTC",
        },
    )
    await configure(admin, audiences=[{"audience": "END_USERS", "emails": [subscribers]}])
    responder = api("RESPONDER")
    incident = await declare(responder, title="Internal codename Falcon")

    on_call = await send(responder, incident["id"], channels=["EMAIL"], onCallTeamIds=[team["id"]])
    public = await send(
        responder,
        incident["id"],
        channels=["EMAIL"],
        audience="END_USERS",
        classification="PUBLIC",
        message="We are investigating slow checkouts.",
    )

    assert [c["recipient"] for c in on_call["communications"]] == [person["email"]]
    [notice] = public["communications"]
    assert notice["recipient"] == subscribers and notice["status"] == "SENT"
    # a PUBLIC message about an INTERNAL incident does not carry its title
    [mail] = mailbox.to(subscribers)
    assert "Falcon" not in mail["Subject"] and "Falcon" not in mail.get_payload()


async def test_configuring_refuses_bad_urls_and_is_for_admins(api):
    admin = api()
    bad = await configure(admin, webhookUrl="ftp://example.com/x")
    assert errors(bad) == [("webhookUrl", "VALIDATION")]
    creds = await configure(admin, slackWebhookUrl="https://user:pw@hooks.example.com/x")
    assert errors(creds) == [("slackWebhookUrl", "VALIDATION")]
    twice = await configure(
        admin, audiences=[{"audience": "EXECUTIVES"}, {"audience": "EXECUTIVES"}]
    )
    assert errors(twice) == [("audiences", "VALIDATION")]
    denied = await api("RESPONDER").raw(CONFIGURE, {"input": {"slackChannel": "C1"}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_message_is_sent_once_even_when_two_polls_race(api, receiver):
    # the request's claim keeps the worker off a message it is delivering
    admin = api()
    await configure(admin, webhookUrl=f"{receiver.url}/hooks/race")
    receiver.delay_next(1, seconds=1.5)
    incident = await declare(api("RESPONDER"), title="Slow receiver")

    result = await send(api("RESPONDER"), incident["id"], channels=["WEBHOOK"])

    [message] = result["communications"]
    assert message["status"] == "SENT"
    await asyncio.sleep(1)
    assert sum(message["shortRef"] in c.raw.decode() for c in receiver.calls) == 1


EMAIL_REPORT = """
mutation($input: EmailReportInput!) { emailReport(input: $input) {
  sent failed communications { shortRef recipient status classification subject }
  errors { field code message } } }
"""


async def test_a_report_is_emailed_showing_only_what_its_classification_may_read(api, mailbox):
    board = address("board")
    # given a resolved incident with a CONFIDENTIAL root cause
    responder = api("RESPONDER")
    incident = await declare(responder, title="Checkout latency")
    await transition(responder, incident["id"], "IN_PROGRESS")
    await transition(
        responder,
        incident["id"],
        "RESOLVED",
        resolutionSummary="Cache warmed",
        rootCause="Cold cache after a deploy",
    )

    # when the report is e-mailed to stakeholders as INTERNAL
    data = await responder.execute(
        EMAIL_REPORT,
        {"input": {"incidentId": incident["id"], "addresses": [board]}},
    )

    # then the mail holds the report, its ref, and not the root cause
    result = data["emailReport"]
    assert result["errors"] == [] and result["sent"] == 1
    [sent] = result["communications"]
    assert sent["classification"] == "INTERNAL"
    assert sent["subject"] == f"Incident report INC-{incident['number']}"
    [mail] = mailbox.to(board)
    body = mail.get_payload()
    assert f"INC-{incident['number']}: Checkout latency" in body
    assert "Resolution: Cache warmed" in body and f"Ref: {sent['shortRef']}" in body
    assert "Cold cache after a deploy" not in body

    # and a report about no incident is refused
    missing = await responder.execute(
        EMAIL_REPORT, {"input": {"incidentId": str(uuid.uuid4()), "addresses": ["x@example.com"]}}
    )
    assert errors(missing["emailReport"]) == [("incidentId", "NOT_FOUND")]


async def test_an_overdue_action_item_reminds_its_owner_once_and_again_when_moved(api, mailbox):
    # given a resolved incident under review, with an action item already past its due time
    admin = api()
    owner = await new_user(admin)
    responder = api("RESPONDER")
    incident = await declare(responder, title="Reminder case")
    await transition(responder, incident["id"], "IN_PROGRESS")
    await transition(responder, incident["id"], "RESOLVED", resolutionSummary="done")
    assert (await responder.execute(START, {"input": {"incidentId": incident["id"]}}))[
        "startReview"
    ]["errors"] == []
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    added = await responder.execute(
        ADD_ITEM,
        {"input": {"incidentId": incident["id"], "title": "Add a pool alarm",
                   "ownerId": owner["id"], "dueAt": past}},
    )  # fmt: skip
    item = added["addActionItem"]["actionItem"]

    # then its owner is e-mailed, and the timeline says so, once
    async def reminded(count: int) -> list[Message] | None:
        mails = mailbox.to(owner["email"])
        return mails if len(mails) >= count else None

    [mail] = await eventually(lambda: reminded(1), timeout=15)
    assert "Action item overdue on INC-" in mail["Subject"]
    assert "Add a pool alarm" in mail.get_payload()
    await asyncio.sleep(2.5)  # more looks, no second reminder
    assert len(mailbox.to(owner["email"])) == 1
    events = await responder.execute(TIMELINE, {"id": incident["id"]})
    overdue = [
        e["node"]["data"]
        for e in events["incident"]["timeline"]["edges"]
        if e["node"]["type"] == "com.incidents.review.action_item_overdue.v1"
    ]
    assert [o["actionItem"] for o in overdue] == [item["id"]]

    # and a new due time, passed too, is reminded of anew
    moved = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    await responder.execute(UPDATE_ITEM, {"input": {"id": item["id"], "dueAt": moved}})
    await eventually(lambda: reminded(2), timeout=15)


async def test_an_overdue_stakeholder_update_emails_the_communications_lead(api, mailbox):
    # given P4 stakeholders expect an update every 2 s, and an incident with a comms lead
    admin = api()
    lead = await new_user(admin)
    policy = {"input": {"updateCadence": [{"priority": "P4", "minutes": 2 / 60}]}}
    assert (await admin.execute(POLICY, policy))["updateTenantPolicy"]["errors"] == []
    try:
        incident = await declare(
            admin, title="Slow export", severity="SEV4", impact="MEDIUM", urgency="LOW"
        )
        role = {"incidentId": incident["id"], "role": "COMMUNICATIONS_LEAD", "userId": lead["id"]}
        assert (await admin.execute(ASSIGN_ROLE, {"input": role}))["assignRole"]["errors"] == []

        # when nobody posts an update, then the tenant's default rule e-mails the lead
        mail = await eventually(
            lambda: _first_mail(mailbox, lead["email"]), timeout=15, what="the lead's e-mail"
        )
        assert "a stakeholder update is due" in mail["Subject"]
        rules = await admin.execute("{ notificationRules { name event recipients } }")
        assert {
            "name": "Stakeholder update overdue",
            "event": "UPDATE_DUE",
            "recipients": ["COMMUNICATIONS_LEAD"],
        } in rules["notificationRules"]
    finally:
        reset = {"input": {"updateCadence": [{"priority": "P4", "minutes": 240}]}}
        await admin.execute(POLICY, reset)


async def _first_mail(mailbox: Mailbox, address: str) -> Message | None:
    found = mailbox.to(address)
    return found[0] if found else None


def _certificate_authority(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA file, and a server TLS context whose certificate (for 127.0.0.1) it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test mail CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


class TlsMailbox(Mailbox):
    """A mailbox that offers STARTTLS and accepts nothing before it."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.encrypted.append(session.ssl is not None)
        return await super().handle_DATA(server, session, envelope)

    def up(self) -> None:
        if self._controller is None:
            self._controller = Controller(
                self,
                hostname="127.0.0.1",
                port=self.port,
                tls_context=self.context,
                require_starttls=True,
            )
            self._controller.start()


async def test_email_goes_over_starttls_when_the_server_offers_it(
    tmp_path_factory: pytest.TempPathFactory, log_dir: Path
):
    # given an SMTP server that requires STARTTLS, with a certificate of a private CA
    directory = tmp_path_factory.mktemp("smtp-tls")
    ca_file, context = _certificate_authority(directory)
    box = TlsMailbox(context)
    box.up()
    try:
        with fresh_backend("embedded", directory) as backend:
            srv = Server(
                backend,
                extra_env={
                    "INCIDENTGRAPH_SMTP_URL": f"smtp://127.0.0.1:{box.port}",
                    "INCIDENTGRAPH_SMTP_CA_FILE": str(ca_file),
                    "INCIDENTGRAPH_NOTIFY_MAX_ATTEMPTS": "1",
                },
            ).start(log_dir)
            try:
                client = srv.client()
                incident = await declare(client, title="Over TLS")

                # when a message is e-mailed
                result = await send(
                    client, incident["id"], channels=["EMAIL"], addresses=["tls@example.com"]
                )
                await client.aclose()
            finally:
                srv.stop()
            # and, from a server that does not trust that CA, another
            untrusting = Server(
                backend,
                extra_env={
                    "INCIDENTGRAPH_SMTP_URL": f"smtp://127.0.0.1:{box.port}",
                    "INCIDENTGRAPH_NOTIFY_MAX_ATTEMPTS": "1",
                },
            ).start(log_dir)
            try:
                client = untrusting.client()
                refused = await send(
                    client, incident["id"], channels=["EMAIL"], addresses=["mitm@example.com"]
                )
                await client.aclose()
            finally:
                untrusting.stop()
    finally:
        box.down()

    # then the first was delivered, over the encrypted session
    assert result["sent"] == 1, result
    assert box.encrypted == [True] and len(box.to("tls@example.com")) == 1
    # and the second was not sent to a server whose certificate could not be checked
    [failed] = refused["communications"]
    assert failed["status"] == "FAILED" and "certificate" in failed["error"].lower()
    assert box.to("mitm@example.com") == []


async def test_without_a_bot_token_slack_gets_the_message_by_incoming_webhook(api, slack):
    admin = api()
    configured = await configure(
        admin, slackBotToken=None, slackWebhookUrl=f"{slack.url}/services/T000/B000/XXXX"
    )
    assert configured["errors"] == [] and configured["settings"]["slackWebhookSet"]
    assert not configured["settings"]["slackBotTokenSet"]
    incident = await declare(api("RESPONDER"), title="Webhook only")

    result = await send(api("RESPONDER"), incident["id"], channels=["SLACK"])

    [message] = result["communications"]
    assert (message["recipient"], message["status"]) == ("webhook", "SENT")
    [posted] = [p for p in slack.posted if message["shortRef"] in p["text"]]
    assert posted["channel"] == "webhook" and "Webhook only" in posted["text"]

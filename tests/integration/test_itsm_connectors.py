"""The ServiceNow and Jira connectors against fake products on loopback sockets."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from app.core.backoff import retry_after_seconds
from app.services.itsm.connector import Connector, ProviderError, checked_base_url
from app.services.itsm.jira import JiraConnector, adf_from_text, text_from_adf
from app.services.itsm.servicenow import ServiceNowConnector
from tests.fakes.base import FakeServer
from tests.fakes.jira import FakeJira
from tests.fakes.servicenow import FakeServiceNow

SN_PASSWORD = "sn-pw-Zq81-never-shown"
SN_TOKEN = "sn-oauth-Zq81-never-shown"
JIRA_TOKEN = "jira-token-Zq81-never-shown"
SN_TABLE = "/api/now/table/incident"
JIRA_ISSUE = "/rest/api/3/issue"


@pytest.fixture
def servicenow() -> Iterator[FakeServiceNow]:
    with FakeServiceNow(username="incidentgraph", password=SN_PASSWORD, token=SN_TOKEN) as fake:
        yield fake


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira(email="bot@example.com", api_token=JIRA_TOKEN) as fake:
        yield fake


def sn_connector(fake: FakeServiceNow, **overrides: Any) -> ServiceNowConnector:
    options: dict[str, Any] = {"username": "incidentgraph", "password": SN_PASSWORD, "timeout": 2}
    options.update(overrides)
    return ServiceNowConnector(fake.url, **options)


def jira_connector(fake: FakeJira, **overrides: Any) -> JiraConnector:
    options: dict[str, Any] = {
        "email": "bot@example.com",
        "api_token": JIRA_TOKEN,
        "project_key": "OPS",
        "timeout": 2,
    }
    options.update(overrides)
    return JiraConnector(fake.url, **options)


@pytest.fixture
async def sn(servicenow: FakeServiceNow) -> AsyncIterator[ServiceNowConnector]:
    connector = sn_connector(servicenow)
    yield connector
    await connector.aclose()


@pytest.fixture
async def jc(jira: FakeJira) -> AsyncIterator[JiraConnector]:
    connector = jira_connector(jira)
    yield connector
    await connector.aclose()


@dataclass
class Product:
    """One product, for the tests that hold for both."""

    fake: FakeServer
    connector: Connector
    fields: dict[str, Any]
    create_path: str


@pytest.fixture(params=["servicenow", "jira"])
async def product(request: pytest.FixtureRequest) -> AsyncIterator[Product]:
    if request.param == "servicenow":
        sn_fake: FakeServiceNow = request.getfixturevalue("servicenow")
        connector: Connector = sn_connector(sn_fake, timeout=1.0)
        yield Product(sn_fake, connector, {"short_description": "Checkout down"}, SN_TABLE)
    else:
        jira_fake: FakeJira = request.getfixturevalue("jira")
        connector = jira_connector(jira_fake, timeout=1.0)
        yield Product(jira_fake, connector, {"summary": "Checkout down"}, JIRA_ISSUE)
    await connector.aclose()


# ServiceNow


async def test_servicenow_ticket_lifecycle(
    servicenow: FakeServiceNow, sn: ServiceNowConnector
) -> None:
    # given a ticket created from an incident
    created = await sn.create(
        {
            "short_description": "Checkout is down",
            "description": "Payments fail with 502",
            "urgency": "1",
            "impact": "2",
        },
        idempotency_key="inc-1",
    )
    # then ServiceNow numbered it and computed its priority
    assert created.number == "INC0010001"
    assert created.url == f"{servicenow.url}/nav_to.do?uri=incident.do?sys_id={created.key}"
    assert created.fields["priority"] == "2"
    assert created.fields["correlation_id"] == "inc-1"
    assert created.updated_at.tzinfo is UTC

    # when it moves on, gets a work note, and is resolved
    await sn.update(created.key, {"state": "2", "urgency": "2"})
    await sn.add_comment(created.key, "Rolled back the release")
    resolved = await sn.update(created.key, {"state": "6"})

    # then the product holds all of it, and fetch reads it back
    assert resolved.fields["state"] == "6"
    assert resolved.fields["close_code"] == "Solution provided"
    assert servicenow.work_notes(created.key) == ["Rolled back the release"]
    fetched = await sn.fetch(created.key)
    assert fetched.fields["state"] == "6"
    assert fetched.comments == ("Rolled back the release",)
    requests = servicenow.calls_to("PATCH", SN_TABLE) + servicenow.calls_to("GET", SN_TABLE)
    assert all(c.query["sysparm_display_value"] == "false" for c in requests)


async def test_servicenow_sees_what_a_person_changed(
    servicenow: FakeServiceNow, sn: ServiceNowConnector
) -> None:
    # given a ticket
    created = await sn.create({"short_description": "Slow search"}, idempotency_key="inc-2")
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    servicenow.clock = lambda: later

    # when an agent puts it on hold in ServiceNow with a work note
    servicenow.edit(created.key, by="jane.doe", state="3", work_notes="Waiting on vendor")

    # then a fetch shows the change and when it happened
    fetched = await sn.fetch(created.key)
    assert fetched.fields["state"] == "3"
    assert fetched.fields["sys_updated_by"] == "jane.doe"
    assert fetched.updated_at == later
    assert fetched.comments == ("Waiting on vendor",)
    # and the business rule's webhook body carries the same
    payload = servicenow.webhook_payload(created.key)
    assert payload["sys_id"] == created.key
    assert payload["state"] == "3"
    assert payload["sys_updated_on"] == "2030-01-02 03:04:05"
    assert payload["work_notes"] == "Waiting on vendor"
    assert payload["correlation_id"] == "inc-2"


async def test_servicenow_versions_tell_apart_writes_in_the_same_second(
    servicenow: FakeServiceNow, sn: ServiceNowConnector
) -> None:
    # given ServiceNow's clock standing still: every write stamped the same second
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    servicenow.clock = lambda: now

    # when a ticket is created, updated by us, edited by a person and given a work note
    created = await sn.create({"short_description": "Flapping"}, idempotency_key="inc-v")
    updated = await sn.update(created.key, {"urgency": "1"})
    servicenow.edit(created.key, short_description="Flapping badly")
    await sn.add_comment(created.key, "Looking")
    fetched = await sn.fetch(created.key)

    # then each read shows the same time but a later version (sys_mod_count)
    assert created.updated_at == updated.updated_at == fetched.updated_at == now
    assert created.version is not None
    assert [updated.version, fetched.version] == [created.version + 1, created.version + 3]
    assert servicenow.webhook_payload(created.key)["sys_mod_count"] == str(fetched.version)


async def test_servicenow_fetch_by_number(sn: ServiceNowConnector) -> None:
    created = await sn.create({"short_description": "x"}, idempotency_key="inc-n")
    assert (await sn.fetch(created.number)).key == created.key
    with pytest.raises(ProviderError) as caught:
        await sn.fetch("INC9999999")
    assert (caught.value.status, caught.value.retryable) == (404, False)


async def test_servicenow_bearer_token(servicenow: FakeServiceNow) -> None:
    connector = ServiceNowConnector(servicenow.url, token=SN_TOKEN)
    try:
        created = await connector.create({"short_description": "x"}, idempotency_key="inc-3")
        assert (await connector.fetch(created.key)).number == created.number
    finally:
        await connector.aclose()


async def test_servicenow_unknown_ticket_is_not_retryable(sn: ServiceNowConnector) -> None:
    with pytest.raises(ProviderError) as caught:
        await sn.fetch("0" * 32)
    assert caught.value.status == 404
    assert not caught.value.retryable
    assert "No Record found" in caught.value.message


async def test_servicenow_bad_request_carries_servicenow_message(
    servicenow: FakeServiceNow, sn: ServiceNowConnector
) -> None:
    # given a ticket, and ServiceNow refusing the next write
    created = await sn.create({"short_description": "x"}, idempotency_key="inc-4")
    servicenow.fail_next(status=400, method="PATCH")
    # when we write, then the error is final and says what ServiceNow said
    with pytest.raises(ProviderError) as caught:
        await sn.update(created.key, {"urgency": "1"})
    assert (caught.value.status, caught.value.retryable) == (400, False)
    assert "Exception while reading request" in caught.value.message


async def test_servicenow_data_policy_refusal_is_not_retryable(
    sn: ServiceNowConnector,
) -> None:
    created = await sn.create({"short_description": "x"}, idempotency_key="inc-5")
    with pytest.raises(ProviderError) as caught:
        await sn.update(created.key, {"state": "6", "close_code": "", "close_notes": ""})
    assert (caught.value.status, caught.value.retryable) == (403, False)
    assert "Data Policy Exception" in caught.value.message


# Jira


async def test_jira_issue_lifecycle(jira: FakeJira, jc: JiraConnector) -> None:
    # given an issue created from an incident
    created = await jc.create(
        {
            "summary": "Checkout is down",
            "description": "Payments fail with 502.\nSince 10:02.\n\nRollback started.",
            "priority": {"name": "High"},
        },
        idempotency_key="inc-1",
    )
    # then Jira holds it with an ADF description, and we read it back as text
    assert created.key == created.number == "OPS-1"
    assert created.url == f"{jira.url}/browse/OPS-1"
    assert created.fields["status"]["name"] == "Open"
    assert created.fields["priority"]["name"] == "High"
    assert "incidentgraph-inc-1" in created.fields["labels"]
    assert created.fields["description"] == (
        "Payments fail with 502.\nSince 10:02.\n\nRollback started."
    )
    assert jira.issue("OPS-1")["fields"]["description"]["type"] == "doc"
    sent = jira.calls_to("POST", JIRA_ISSUE)[0].body["fields"]
    assert sent["project"] == {"key": "OPS"}
    assert sent["issuetype"] == {"name": "Incident"}

    # when it is edited, commented on, and moved to In Progress
    updated = await jc.update("OPS-1", {"summary": "Checkout is slow", "priority": "Medium"})
    await jc.add_comment("OPS-1", "Rolled back the release")
    moved = await jc.update("OPS-1", {"status": {"name": "In Progress"}})

    # then all of it is in Jira: fields by PUT, status by transition, the comment in ADF
    assert updated.fields["summary"] == "Checkout is slow"
    assert updated.fields["priority"]["name"] == "Medium"
    assert moved.fields["status"]["name"] == "In Progress"
    assert moved.comments == ("Rolled back the release",)
    assert jira.comments("OPS-1") == ["Rolled back the release"]
    assert len(jira.calls_to("POST", f"{JIRA_ISSUE}/OPS-1/transitions")) == 1
    assert all("status" not in c.body["fields"] for c in jira.calls_to("PUT", JIRA_ISSUE))
    assert moved.updated_at >= created.updated_at


async def test_jira_create_with_a_status_transitions_after_creating(jc: JiraConnector) -> None:
    created = await jc.create(
        {"summary": "x", "status": "In Progress"}, idempotency_key="inc-status"
    )
    assert created.fields["status"]["name"] == "In Progress"


async def test_jira_unreachable_status_names_the_reachable_ones(jc: JiraConnector) -> None:
    # given an Open issue
    created = await jc.create({"summary": "x"}, idempotency_key="inc-2")
    # when asked to jump straight to Closed
    with pytest.raises(ProviderError) as caught:
        await jc.update(created.key, {"status": "Closed"})
    # then it is a final error that says where the issue can go
    assert not caught.value.retryable
    assert "'Closed'" in caught.value.message
    assert "'In Progress'" in caught.value.message and "'Canceled'" in caught.value.message
    assert (await jc.fetch(created.key)).fields["status"]["name"] == "Open"


async def test_jira_sees_what_a_person_changed(jira: FakeJira, jc: JiraConnector) -> None:
    created = await jc.create({"summary": "x"}, idempotency_key="inc-3")
    later = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    jira.clock = lambda: later

    # when an agent starts work in Jira and comments
    jira.edit(created.key, status="In Progress", priority="Highest", comment="On it")

    # then a fetch shows it
    fetched = await jc.fetch(created.key)
    assert fetched.fields["status"]["name"] == "In Progress"
    assert fetched.fields["priority"]["name"] == "Highest"
    assert fetched.updated_at == later
    assert fetched.comments == ("On it",)
    # and the webhook carries the issue and the changelog
    payload = jira.webhook_payload(created.key)
    assert payload["webhookEvent"] == "jira:issue_updated"
    assert payload["issue"]["key"] == created.key
    assert payload["issue"]["fields"]["updated"] == "2030-01-02T03:04:05.678+0000"
    items = {i["field"]: (i["fromString"], i["toString"]) for i in payload["changelog"]["items"]}
    assert items == {"status": ("Open", "In Progress"), "priority": ("Medium", "Highest")}
    assert text_from_adf(payload["comment"]["body"]) == "On it"


async def test_jira_bad_request_carries_jira_messages(jc: JiraConnector) -> None:
    created = await jc.create({"summary": "x"}, idempotency_key="inc-4")
    with pytest.raises(ProviderError) as caught:
        await jc.update(created.key, {"priority": "Urgent-ish"})
    assert (caught.value.status, caught.value.retryable) == (400, False)
    assert "priority: Specify a valid 'id' or 'name' for Priority" in caught.value.message


async def test_jira_unknown_issue_is_not_retryable(jc: JiraConnector) -> None:
    with pytest.raises(ProviderError) as caught:
        await jc.fetch("OPS-999")
    assert (caught.value.status, caught.value.retryable) == (404, False)
    assert "Issue does not exist" in caught.value.message


def test_adf_round_trip() -> None:
    text = "First line\nsecond line\n\nNext paragraph"
    doc = adf_from_text(text)
    assert doc["type"] == "doc" and doc["version"] == 1
    assert [block["type"] for block in doc["content"]] == ["paragraph", "paragraph"]
    assert text_from_adf(doc) == text
    assert text_from_adf(adf_from_text("")) == ""


# Both products


async def test_same_idempotency_key_makes_one_ticket(product: Product) -> None:
    # when the same create is delivered twice
    first = await product.connector.create(product.fields, idempotency_key="inc-dup")
    second = await product.connector.create(product.fields, idempotency_key="inc-dup")
    # then there is one ticket, created once
    assert second.key == first.key
    assert len(product.fake.calls_to("POST", product.create_path)) == 1
    # and another key is another ticket
    other = await product.connector.create(product.fields, idempotency_key="inc-other")
    assert other.key != first.key


async def test_create_that_timed_out_is_not_duplicated_by_the_retry(product: Product) -> None:
    # given a product that writes the ticket but answers after the client gave up
    product.fake.delay_next(seconds=2.0, method="POST", path=product.create_path)
    with pytest.raises(ProviderError) as caught:
        await product.connector.create(product.fields, idempotency_key="inc-slow")
    assert caught.value.retryable
    product.fake.wait_idle()
    # when the sync engine retries
    ticket = await product.connector.create(product.fields, idempotency_key="inc-slow")
    # then it finds the ticket the first attempt made
    assert len(product.fake.calls_to("POST", product.create_path)) == 1
    assert (await product.connector.fetch(ticket.key)).key == ticket.key


async def test_server_error_is_retryable(product: Product) -> None:
    product.fake.fail_next(status=500)
    with pytest.raises(ProviderError) as caught:
        await product.connector.create(product.fields, idempotency_key="inc-500")
    assert (caught.value.status, caught.value.retryable) == (500, True)
    # and the next attempt goes through
    await product.connector.create(product.fields, idempotency_key="inc-500")


async def test_503_is_retryable(product: Product) -> None:
    product.fake.fail_next(status=503)
    with pytest.raises(ProviderError) as caught:
        await product.connector.create(product.fields, idempotency_key="inc-503")
    assert caught.value.retryable


async def test_timeout_is_retryable(product: Product) -> None:
    ticket = await product.connector.create(product.fields, idempotency_key="inc-t")
    product.fake.delay_next(seconds=3.0)
    with pytest.raises(ProviderError) as caught:
        await product.connector.fetch(ticket.key)
    assert caught.value.retryable
    assert caught.value.status is None
    assert caught.value.timed_out
    assert caught.value.message.endswith(": provider unreachable")


async def test_429_is_retryable_after_the_time_asked(product: Product) -> None:
    product.fake.rate_limit_next(retry_after="7")
    with pytest.raises(ProviderError) as caught:
        await product.connector.create(product.fields, idempotency_key="inc-429")
    assert (caught.value.status, caught.value.retryable) == (429, True)
    assert caught.value.retry_after == 7


async def test_429_with_an_http_date(product: Product) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    product.fake.rate_limit_next(retry_after=format_datetime(when, usegmt=True))
    with pytest.raises(ProviderError) as caught:
        await product.connector.create(product.fields, idempotency_key="inc-429d")
    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 31


async def test_connection_refused_is_retryable_and_recovers(product: Product) -> None:
    # given a ticket, then the product goes away
    ticket = await product.connector.create(product.fields, idempotency_key="inc-down")
    product.fake.down()
    # when we call, then it is a retryable failure
    with pytest.raises(ProviderError) as caught:
        await product.connector.fetch(ticket.key)
    assert caught.value.retryable
    assert caught.value.status is None
    # and once the product is back, the same connector works again
    product.fake.up()
    assert (await product.connector.fetch(ticket.key)).key == ticket.key


async def test_bad_credentials_are_final_and_never_shown(
    servicenow: FakeServiceNow, jira: FakeJira, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-Zq81-secret-value"
    connectors: list[Connector] = [
        sn_connector(servicenow, password=wrong),
        ServiceNowConnector(servicenow.url, token=wrong),
        jira_connector(jira, api_token=wrong),
    ]
    try:
        for connector in connectors:
            with pytest.raises(ProviderError) as caught:
                await connector.create({"summary": "x"}, idempotency_key="inc-auth")
            assert (caught.value.status, caught.value.retryable) == (401, False)
            shown = [str(caught.value), repr(caught.value), repr(connector), str(connector)]
            for text in shown:
                assert wrong not in text
        for text in (caplog.text, repr(connectors)):
            assert wrong not in text
            assert SN_PASSWORD not in text and JIRA_TOKEN not in text
    finally:
        for connector in connectors:
            await connector.aclose()


async def test_working_credentials_are_never_shown(
    sn: ServiceNowConnector, jc: JiraConnector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await sn.create({"short_description": "x"}, idempotency_key="inc-s")
    await jc.create({"summary": "x"}, idempotency_key="inc-s")
    with pytest.raises(ProviderError) as caught:
        await jc.fetch("OPS-404")
    for text in (repr(sn), repr(jc), str(caught.value), caplog.text):
        assert SN_PASSWORD not in text and JIRA_TOKEN not in text


def test_base_url_with_credentials_is_refused() -> None:
    with pytest.raises(ValueError) as caught:
        checked_base_url("https://admin:hunter2@example.service-now.com")
    assert "hunter2" not in str(caught.value)
    assert checked_base_url("https://example.atlassian.net/") == "https://example.atlassian.net"


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:12 GMT", now=now) == 12
    assert retry_after_seconds("Wed, 31 Dec 2025 23:59:00 GMT", now=now) == 0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None

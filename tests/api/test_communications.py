"""Communications over real servers: every message about an incident logged with a short
ref people quote back, found again by that ref, listed on the incident by channel, and
classified like the incident's own text."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_people import errors
from tests.support import Server, answered_errors, create_tenant, create_token, declare

LOG = """
mutation($input: LogCommunicationInput!) { logCommunication(input: $input) {
  communication { id shortRef channel direction audience recipient message status sentAt
    redacted incident { id } }
  errors { field code message } } }
"""
BY_REF = """
query($ref: String!) { communicationByRef(shortRef: $ref) { id shortRef message redacted } }
"""
LIST = """
query($id: ID!, $channel: CommunicationChannel, $first: Int, $after: String) {
  incident(id: $id) {
    communications(channel: $channel, first: $first, after: $after) {
      totalCount edges { cursor node { shortRef channel message } }
      pageInfo { hasNextPage endCursor } }
    timeline(last: 1) { edges { node { type data } } } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"com-{uuid.uuid4().hex[:8]}", name="Comms")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="com admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="com r", tenant=tenant_id),
        "VIEWER": create_token(server, role="VIEWER", name="com v", tenant=tenant_id),
    }


async def log(client: Any, incident_id: str, **fields: Any) -> dict[str, Any]:
    values = {"channel": "PHONE", "direction": "INBOUND", "message": "Caller reports 502s"}
    data = await client.execute(LOG, {"input": {"incidentId": incident_id, **values, **fields}})
    return data["logCommunication"]  # type: ignore[no-any-return]


async def test_a_logged_call_gets_a_ref_that_finds_it_again(api):
    # given an incident
    responder = api("RESPONDER")
    incident = await declare(responder, title="Checkout 502")

    # when a phone call about it is logged
    logged = await log(responder, incident["id"], recipient="+44 20 7946 0000")

    # then it has a short ref of today, and the ref finds it, however it is typed back
    assert logged["errors"] == []
    message = logged["communication"]
    ref = message["shortRef"]
    assert ref.startswith("REF-") and len(ref) == 17
    assert (message["channel"], message["direction"], message["status"]) == (
        "PHONE",
        "INBOUND",
        "SENT",
    )
    assert message["incident"] == {"id": incident["id"]}
    found = await responder.execute(BY_REF, {"ref": f"  {ref.lower()} "})
    assert found["communicationByRef"]["id"] == message["id"]
    # and the incident's timeline says a message was logged, without its text
    data = await responder.execute(LIST, {"id": incident["id"]})
    [event] = [e["node"] for e in data["incident"]["timeline"]["edges"]]
    assert event["type"] == "com.incidents.comms.logged.v1"
    assert event["data"]["shortRef"] == ref and "message" not in event["data"]


async def test_an_incidents_messages_are_listed_by_channel_and_paged(api):
    responder = api("RESPONDER")
    incident = await declare(responder, title="Many messages")
    sent = []
    for n, channel in enumerate(["PHONE", "EMAIL", "MEETING", "EMAIL", "EMAIL"]):
        logged = await log(responder, incident["id"], channel=channel, message=f"Message {n}")
        sent.append(logged["communication"]["shortRef"])

    everything = await responder.execute(LIST, {"id": incident["id"]})
    first = await responder.execute(LIST, {"id": incident["id"], "channel": "EMAIL", "first": 2})
    page = first["incident"]["communications"]
    rest = await responder.execute(
        LIST,
        {
            "id": incident["id"],
            "channel": "EMAIL",
            "first": 2,
            "after": page["pageInfo"]["endCursor"],
        },
    )

    listed = everything["incident"]["communications"]
    assert listed["totalCount"] == 5
    assert [e["node"]["shortRef"] for e in listed["edges"]] == sent  # oldest first
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is True
    emails = [e["node"]["message"] for e in page["edges"]]
    emails += [e["node"]["message"] for e in rest["incident"]["communications"]["edges"]]
    assert emails == ["Message 1", "Message 3", "Message 4"]


async def test_bad_communications_are_refused_and_unknown_refs_are_null(api):
    admin, responder, viewer = api("ADMIN"), api("RESPONDER"), api("VIEWER")
    incident = await declare(responder, title="Bad messages")
    cases = [
        ({"message": "  "}, [("message", "VALIDATION")]),
        ({"audience": "END_USERS"}, [("classification", "VALIDATION")]),
        ({"occurredAt": "2099-01-01T00:00:00Z"}, [("occurredAt", "VALIDATION")]),
        ({"recipient": "x" * 513}, [("recipient", "VALIDATION")]),
        ({"classification": "RESTRICTED"}, [("classification", "FORBIDDEN")]),
        ({"incidentId": str(uuid.uuid4())}, [("incidentId", "NOT_FOUND")]),
    ]
    for fields, expected in cases:
        values = {"channel": "PHONE", "direction": "INBOUND", "message": "Caller reports 502s"}
        given = {"incidentId": fields.pop("incidentId", incident["id"]), **values, **fields}
        found = await answered_errors(responder, LOG, {"input": given}, "logCommunication")
        assert found == expected, fields
    public = await log(
        responder, incident["id"], audience="END_USERS", classification="PUBLIC",
        direction="OUTBOUND", channel="STATUS_PAGE", message="We are investigating",
    )  # fmt: skip
    assert public["errors"] == []
    attempt = {"incidentId": incident["id"], "channel": "PHONE", "direction": "INBOUND",
               "message": "x"}  # fmt: skip
    refused = await viewer.post(LOG, {"input": attempt})
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    unknown = await admin.execute(BY_REF, {"ref": "REF-20200101-ZZZZ"})
    malformed = await admin.post(BY_REF, {"ref": "REF-1"})
    assert unknown["communicationByRef"] is None
    assert malformed.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
    data = await responder.execute(LIST, {"id": incident["id"]})
    assert data["incident"]["communications"]["totalCount"] == 1  # only the good one


async def test_a_confidential_message_reads_redacted_below_it_and_a_restricted_incidents_not_at_all(
    api,
):
    admin, viewer = api("ADMIN"), api("VIEWER")
    incident = await declare(admin, title="Sensitive")
    secret = await log(
        admin, incident["id"], message="Customer X lost data", classification="CONFIDENTIAL"
    )
    hidden_incident = await declare(admin, title="Breach", classification="RESTRICTED")
    hidden = await log(admin, hidden_incident["id"], message="Forensics engaged")

    seen = await viewer.execute(BY_REF, {"ref": secret["communication"]["shortRef"]})
    unseen = await viewer.execute(BY_REF, {"ref": hidden["communication"]["shortRef"]})

    assert seen["communicationByRef"]["message"] == "[REDACTED]"
    assert seen["communicationByRef"]["redacted"] is True
    assert unseen["communicationByRef"] is None


# --- post-incident reviews ------------------------------------------------------------------

REVIEW = """
review { version status summary impact timelineExcerpt contributingFactors wentWell
  actionItems { id title status overdue owner { handle } } }
errors { field code message }
"""
START = f"mutation($input: ReviewIncidentInput!) {{ startReview(input: $input) {{ {REVIEW} }} }}"
EDIT = f"mutation($input: UpdateReviewInput!) {{ updateReview(input: $input) {{ {REVIEW} }} }}"
PUBLISH = (
    f"mutation($input: ReviewIncidentInput!) {{ publishReview(input: $input) {{ {REVIEW} }} }}"
)
ADD_ITEM = """
mutation($input: AddActionItemInput!) { addActionItem(input: $input) {
  actionItem { id title status overdue } errors { field code } } }
"""
UPDATE_ITEM = """
mutation($input: UpdateActionItemInput!) { updateActionItem(input: $input) {
  actionItem { status overdue } errors { field code } } }
"""
REVIEWED = """
query($id: ID!) { incident(id: $id) { reviewRequired reviewDueAt
  review { version status summary actionItems { title status } }
  timeline(last: 30) { edges { node { type } } } } }
"""


async def resolved(client: Any, **fields: Any) -> dict[str, Any]:
    from tests.support import transition

    incident = await declare(client, **fields)
    for status in ("IN_PROGRESS", "RESOLVED"):
        extra = {"resolutionSummary": "pool size raised"} if status == "RESOLVED" else {}
        assert (await transition(client, incident["id"], status, **extra))["errors"] == []
    return incident


async def test_a_review_is_drafted_published_and_corrected_in_a_new_version(api):
    from tests.api.test_people import new_user

    admin, responder = api("ADMIN"), api("RESPONDER")
    owner = await new_user(admin)
    incident = await resolved(responder, title="Pool exhausted", severity="SEV1")
    target = {"incidentId": incident["id"]}

    started = (await responder.execute(START, {"input": target}))["startReview"]
    twice = (await responder.execute(START, {"input": target}))["startReview"]
    edited = (await responder.execute(EDIT, {"input": {
        **target, "summary": "Connection pool too small for the sale",
        "impact": "Checkout down 40 min",
        "contributingFactors": ["pool size 10", "no alert on saturation"], "status": "IN_REVIEW",
    }}))["updateReview"]  # fmt: skip
    item = (await responder.execute(ADD_ITEM, {"input": {
        **target, "title": "Alert on pool saturation", "ownerId": owner["id"],
        "dueAt": "2020-01-01T00:00:00Z",
    }}))["addActionItem"]  # fmt: skip
    refused = await responder.post(PUBLISH, {"input": target})
    published = (await admin.execute(PUBLISH, {"input": target}))["publishReview"]
    corrected = (await responder.execute(
        EDIT, {"input": {**target, "summary": "Pool too small; autoscaling off"}}
    ))["updateReview"]  # fmt: skip
    done = (await responder.execute(
        UPDATE_ITEM, {"input": {"id": item["actionItem"]["id"], "status": "DONE"}}
    ))["updateActionItem"]  # fmt: skip

    review = started["review"]
    assert (review["version"], review["status"]) == (1, "DRAFT")
    assert any(
        "state change: IN_PROGRESS -> RESOLVED" in line for line in review["timelineExcerpt"]
    )
    assert errors(twice) == [("incidentId", "CONFLICT")]
    assert edited["review"]["status"] == "IN_REVIEW"
    assert edited["review"]["contributingFactors"] == ["pool size 10", "no alert on saturation"]
    assert item["actionItem"]["overdue"] is True
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert published["review"]["status"] == "PUBLISHED"
    assert published["review"]["actionItems"][0]["title"] == "Alert on pool saturation"
    # a published review is not changed: the correction is version 2, a draft
    fixed = corrected["review"]
    assert (fixed["version"], fixed["status"]) == (2, "DRAFT")
    assert fixed["summary"] == "Pool too small; autoscaling off"
    assert fixed["impact"] == "Checkout down 40 min"
    assert done["actionItem"] == {"status": "DONE", "overdue": False}
    data = (await responder.execute(REVIEWED, {"id": incident["id"]}))["incident"]
    assert data["reviewRequired"] is True and data["reviewDueAt"] is not None
    kinds = [e["node"]["type"] for e in data["timeline"]["edges"]]
    for kind in ("started", "updated", "published", "action_item_added", "action_item_updated"):
        assert f"com.incidents.review.{kind}.v1" in kinds, kind


async def test_a_review_needs_a_resolved_incident_and_a_summary_to_publish(api):
    admin, responder = api("ADMIN"), api("RESPONDER")
    open_incident = await declare(responder, title="Still burning")
    minor = await resolved(responder, title="Minor", severity="SEV4", impact="LOW", urgency="LOW")

    early = await responder.execute(START, {"input": {"incidentId": open_incident["id"]}})
    no_review = (await responder.execute(
        EDIT, {"input": {"incidentId": minor["id"], "summary": "x"}}
    ))["updateReview"]  # fmt: skip
    await responder.execute(START, {"input": {"incidentId": minor["id"]}})
    bare = (await admin.execute(PUBLISH, {"input": {"incidentId": minor["id"]}}))["publishReview"]
    no_title = (await responder.execute(
        ADD_ITEM, {"input": {"incidentId": minor["id"], "title": " "}}
    ))["addActionItem"]  # fmt: skip
    required = (await responder.execute(REVIEWED, {"id": minor["id"]}))["incident"]

    assert errors(early["startReview"]) == [("incidentId", "INVALID_TRANSITION")]
    assert errors(no_review) == [("incidentId", "NOT_FOUND")]
    assert errors(bare) == [("summary", "VALIDATION")]
    assert errors(no_title) == [("title", "VALIDATION")]
    assert required["reviewRequired"] is False and required["reviewDueAt"] is None


async def test_the_executive_board_counts_required_reviews_past_due(api, server):
    from datetime import UTC, datetime, timedelta

    from app.models import Incident
    from tests.support import connected

    admin = api("ADMIN")
    board = "{ statusBoard(persona: EXECUTIVE) { ... on ExecutiveBoard { reviewsOverdue } } }"
    before = (await admin.execute(board))["statusBoard"]["reviewsOverdue"]
    # given a P1 resolved ten days ago with no published review
    incident = await resolved(admin, title="Old P1", severity="SEV1")
    async with connected(server.backend.database_url):
        await Incident.filter(id=uuid.UUID(incident["id"].removeprefix("inc_"))).update(
            resolved_at=datetime.now(UTC) - timedelta(days=10)
        )
    late = (await admin.execute(board))["statusBoard"]["reviewsOverdue"]

    # when its review is published
    target = {"incidentId": incident["id"]}
    await admin.execute(START, {"input": target})
    await admin.execute(EDIT, {"input": {**target, "summary": "Learnt"}})
    assert (await admin.execute(PUBLISH, {"input": target}))["publishReview"]["errors"] == []
    after = (await admin.execute(board))["statusBoard"]["reviewsOverdue"]

    # then it counted as overdue until then
    assert (late, after) == (before + 1, before)

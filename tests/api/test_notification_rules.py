"""Notification rules over real servers: an assignment, a mention or a resolution notifies
the people a rule names over its channels with its templates, each person's preferences and
quiet hours apply (but never hold back a P1), and a rule that could not work is refused
when saved."""

# The servers and fakes of test_notifications are this module's fixtures too (imported by
# name, so each test names them as parameters).
# ruff: noqa: F811

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.api.test_identity import ASSIGN, person
from tests.api.test_notifications import (  # noqa: F401 (fixtures)
    Mailbox,
    configure,
    mailbox,
    pagerduty,
    receiver,
    server,
    slack,
    tenant,
)
from tests.api.test_people import ADD_MEMBER, errors, new_team, new_user
from tests.api.test_response import ASSIGN as ASSIGN_ROLE
from tests.fakes.messaging import ROUTING_KEY
from tests.support import declare, eventually, transition

CREATE_RULE = """
mutation($input: CreateNotificationRuleInput!) { createNotificationRule(input: $input) {
  rule { id name event recipients channels subjectTemplate } errors { field code message } } }
"""
DELETE_RULE = """
mutation($id: ID!) { deleteNotificationRule(input: {id: $id}) { rule { id } errors { code } } }
"""
PREFERENCES = """
mutation($input: NotificationPreferencesInput!) { setNotificationPreferences(input: $input) {
  preferences { channels mutedEvents quietStart quietEnd } errors { field code message } } }
"""
COMMUNICATIONS = """
query($id: ID!) { incident(id: $id) { communications(first: 50) { edges { node {
  shortRef channel recipient status subject message createdBy nextAttemptAt } } } } }
"""
NOTE = """
mutation($input: AddNoteInput!) { addNote(input: $input) { errors { field code message } } }
"""


async def rule(admin: Any, **fields: Any) -> dict[str, Any]:
    data = await admin.execute(CREATE_RULE, {"input": {"name": "rule", **fields}})
    payload = data["createNotificationRule"]
    assert payload["errors"] == [], payload
    return payload["rule"]  # type: ignore[no-any-return]


async def messages(client: Any, incident_id: str) -> list[dict[str, Any]]:
    data = await client.execute(COMMUNICATIONS, {"id": incident_id})
    return [e["node"] for e in data["incident"]["communications"]["edges"]]


async def delivered_to(mailbox: Mailbox, address: str) -> Any:
    return await eventually(lambda: _mail(mailbox, address), timeout=10, what=f"mail to {address}")


async def _mail(mailbox: Mailbox, address: str) -> Any:
    found = mailbox.to(address)
    return found[0] if found else None


async def test_an_assignment_emails_the_assignee_with_the_rules_words(api, mailbox):
    admin = api()
    made = await rule(
        admin,
        name="Tell the assignee",
        event="ASSIGNED",
        recipients=["ASSIGNEE"],
        channels=["EMAIL"],
        subjectTemplate="{reference} is yours ({priority})",
        bodyTemplate="{title}\nResponse due {sla_response_due}",
    )
    try:
        assignee = await new_user(admin)
        incident = await declare(api("RESPONDER"), title="Disk full on db-3")

        assigned = await admin.execute(
            ASSIGN, {"input": {"id": incident["id"], "userId": assignee["id"]}}
        )
        assert assigned["assignIncident"]["errors"] == []

        mail = await delivered_to(mailbox, assignee["email"])
        reference = f"INC-{incident['number']}"
        assert mail["Subject"].endswith(f"] {reference} is yours ({incident['priority']})")
        assert "Disk full on db-3" in mail.get_payload() and "Response due 20" in mail.get_payload()
        [sent] = await messages(admin, incident["id"])
        assert (
            sent["createdBy"] == "rule:Tell the assignee" and sent["recipient"] == assignee["email"]
        )
        assert f"Ref: {sent['shortRef']}" in mail.get_payload()
    finally:
        await admin.execute(DELETE_RULE, {"id": made["id"]})


async def test_a_mention_emails_only_the_people_mentioned(api, mailbox, server):
    admin = api()
    made = await rule(admin, event="MENTIONED", recipients=["MENTIONED"], channels=["EMAIL"])
    try:
        wanted = await new_user(admin)
        bystander = await new_user(admin)
        incident = await declare(api("RESPONDER"), title="Queue backlog")

        noted = await api("RESPONDER").execute(
            NOTE,
            {"input": {"incidentId": incident["id"], "body": f"@{wanted['handle']} can you look?"}},
        )
        assert noted["addNote"]["errors"] == []

        mail = await delivered_to(mailbox, wanted["email"])
        assert "mentioned you" in mail["Subject"]
        assert mailbox.to(bystander["email"]) == []
    finally:
        await admin.execute(DELETE_RULE, {"id": made["id"]})


async def test_preferences_mute_events_and_quiet_hours_hold_all_but_a_p1(api, mailbox, server):
    admin = api()
    made = await rule(admin, event="ASSIGNED", recipients=["ASSIGNEE"], channels=["EMAIL"])
    try:
        # given a person whose quiet hours (in their time zone) hold now
        sleeper, client = await person(server, admin, "RESPONDER")
        zone = ZoneInfo("UTC")
        now = datetime.now(zone)
        start = (now - timedelta(hours=1)).strftime("%H:%M")
        end = (now + timedelta(hours=1)).strftime("%H:%M")
        set_quiet = await client.execute(
            PREFERENCES, {"input": {"quietStart": start, "quietEnd": end}}
        )
        assert set_quiet["setNotificationPreferences"]["errors"] == []

        # when a P4 and a P1 are assigned to them
        low = await declare(
            api("RESPONDER"), title="Slow report", severity="SEV4", impact="LOW", urgency="LOW"
        )
        high = await declare(
            api("RESPONDER"), title="Site down", severity="SEV1", impact="HIGH", urgency="HIGH"
        )
        for incident in (low, high):
            await admin.execute(ASSIGN, {"input": {"id": incident["id"], "userId": sleeper["id"]}})

        # then the P1 reaches them at once and the other waits for the quiet hours to end
        mail = await delivered_to(mailbox, sleeper["email"])
        assert "Site down" in mail["Subject"]
        [waiting] = await messages(admin, low["id"])
        assert waiting["status"] == "PENDING"
        held_until = datetime.fromisoformat(waiting["nextAttemptAt"])
        assert held_until > datetime.now(UTC) + timedelta(minutes=50)
        assert len(mailbox.to(sleeper["email"])) == 1

        # and an event they muted does not reach them at all
        muted = await client.execute(
            PREFERENCES,
            {"input": {"mutedEvents": ["ASSIGNED"], "quietStart": None, "quietEnd": None}},
        )
        assert muted["setNotificationPreferences"]["preferences"]["mutedEvents"] == ["ASSIGNED"]
        again = await declare(
            api("RESPONDER"), title="Muted one", severity="SEV1", impact="HIGH", urgency="HIGH"
        )
        await admin.execute(ASSIGN, {"input": {"id": again["id"], "userId": sleeper["id"]}})
        assert await messages(admin, again["id"]) == []
    finally:
        await admin.execute(DELETE_RULE, {"id": made["id"]})


async def test_pagerduty_follows_the_incident_trigger_acknowledge_resolve(api, pagerduty):
    admin = api()
    await configure(
        admin, pagerdutyRoutingKey=ROUTING_KEY, pagerdutyEventsUrl=f"{pagerduty.url}/v2/enqueue"
    )
    made = [
        await rule(
            admin, name=f"pd {event}", event=event, recipients=["ASSIGNEE"], channels=["PAGERDUTY"]
        )
        for event in ("DECLARED", "ACKNOWLEDGED", "RESOLVED")
    ]
    try:
        incident = await declare(api("RESPONDER"), title="Paging test")
        await transition(api("RESPONDER"), incident["id"], "IN_PROGRESS")
        await transition(api("RESPONDER"), incident["id"], "RESOLVED", resolutionSummary="ok")

        key = f"incidentgraph-{uuid.UUID(hex=incident['id'].split('_', 1)[-1])}"

        async def both() -> list[str] | None:
            actions = [e["event_action"] for e in pagerduty.events if e["dedup_key"] == key]
            return actions if len(actions) == 3 else None

        assert await eventually(both, timeout=10) == ["trigger", "acknowledge", "resolve"]
    finally:
        for each in made:
            await admin.execute(DELETE_RULE, {"id": each["id"]})


async def test_rules_that_could_not_work_are_refused_when_saved(api):
    admin = api()
    base = {"name": "bad", "event": "DECLARED", "recipients": ["TEAM"], "channels": ["EMAIL"]}
    cases = [
        ({"subjectTemplate": "{reference} {colour}"}, ("subjectTemplate", "VALIDATION")),
        ({"bodyTemplate": "{title.upper}"}, ("bodyTemplate", "VALIDATION")),
        ({"bodyTemplate": "{title!r}"}, ("bodyTemplate", "VALIDATION")),
        ({"bodyTemplate": "unclosed {title"}, ("bodyTemplate", "VALIDATION")),
        ({"recipients": ["AUDIENCE"]}, ("audience", "VALIDATION")),
        ({"recipients": ["AUDIENCE"], "audience": "END_USERS"}, ("audience", "VALIDATION")),
        ({"channels": ["PHONE"]}, ("channels", "VALIDATION")),
        ({"channels": []}, ("channels", "VALIDATION")),
        ({"name": "  "}, ("name", "VALIDATION")),
    ]
    for change, expected in cases:
        data = await admin.execute(CREATE_RULE, {"input": {**base, **change}})
        assert errors(data["createNotificationRule"]) == [expected], change
    unknown = await admin.execute(CREATE_RULE, {"input": {**base, "subjectTemplate": "{colour}"}})
    assert "{colour}" in unknown["createNotificationRule"]["errors"][0]["message"]
    listed = await admin.execute("{ notificationRules { name } }")
    assert all(r["name"] != "bad" for r in listed["notificationRules"])
    denied = await api("RESPONDER").raw(CREATE_RULE, {"input": base})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    service = await api("RESPONDER").raw(PREFERENCES, {"input": {"quietStart": "22:00"}})
    assert errors(service["data"]["setNotificationPreferences"]) == [("token", "VALIDATION")]


async def test_a_team_assignment_reaches_every_member_and_escalation_the_commander(api, mailbox):
    admin = api()
    made = [
        await rule(admin, name="team", event="ASSIGNED", recipients=["TEAM"], channels=["EMAIL"]),
        await rule(
            admin, name="commander", event="ESCALATED", recipients=["COMMANDER"], channels=["EMAIL"]
        ),
    ]
    try:
        members = [await new_user(admin) for _ in range(2)]
        commander = await new_user(admin)
        team = await new_team(admin)
        for member in members:
            await admin.execute(
                ADD_MEMBER, {"input": {"teamId": team["id"], "userId": member["id"]}}
            )
        incident = await declare(api("RESPONDER"), title="Team case")
        role = {"incidentId": incident["id"], "role": "COMMANDER", "userId": commander["id"]}
        assert (await admin.execute(ASSIGN_ROLE, {"input": role}))["assignRole"]["errors"] == []

        # when it is assigned to the team, then escalated
        await admin.execute(ASSIGN, {"input": {"id": incident["id"], "teamId": team["id"]}})
        await transition(api("RESPONDER"), incident["id"], "IN_PROGRESS")
        escalated = await transition(api("RESPONDER"), incident["id"], "ESCALATED")
        assert escalated["errors"] == [], escalated

        # then each member heard of the assignment, and the commander of the escalation
        for member in members:
            mail = await delivered_to(mailbox, member["email"])
            assert "assigned" in mail["Subject"]
        mail = await delivered_to(mailbox, commander["email"])
        assert "escalated" in mail["Subject"]
    finally:
        for each in made:
            await admin.execute(DELETE_RULE, {"id": each["id"]})

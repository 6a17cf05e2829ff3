"""Reading incidents: by id, by node id, filtered, ordered, paged; and paging a timeline.

The database is shared by the whole session, so each test marks its incidents with a unique
token in the title (or description) and narrows every list to it with `filter: {text: ...}`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.support import GraphQLClient, declare, transition

INCIDENT = """
query Incident($id: ID!) {
  incident(id: $id) {
    id number reference title description service severity impact urgency priority status
    isMajor assignee version createdAt updatedAt
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Incident { title status }
    ... on TimelineEvent { seq type subject }
  }
}
"""

INCIDENTS = """
query Incidents($filter: IncidentFilter, $orderBy: IncidentOrder, $first: Int, $after: String) {
  incidents(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges {
      cursor
      node { id number title status severity priority isMajor createdAt updatedAt }
    }
  }
}
"""

TIMELINE = """
query Timeline($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  incident(id: $id) {
    timeline(first: $first, after: $after, last: $last, before: $before) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id seq type } }
    }
  }
}
"""

UPDATE = """
mutation Update($input: UpdateIncidentInput!) {
  updateIncident(input: $input) { incident { id updatedAt } errors { code } }
}
"""

ADD_NOTE = """
mutation AddNote($input: AddNoteInput!) {
  addNote(input: $input) { event { id seq } errors { code } }
}
"""

ORDER_FIELDS = ["CREATED_AT", "UPDATED_AT", "PRIORITY", "SEVERITY", "NUMBER"]
_ORDER_KEY = {
    "CREATED_AT": lambda n: datetime.fromisoformat(n["createdAt"]),
    "UPDATED_AT": lambda n: datetime.fromisoformat(n["updatedAt"]),
    "PRIORITY": lambda n: ["P1", "P2", "P3", "P4", "P5"].index(n["priority"]),
    "SEVERITY": lambda n: ["SEV1", "SEV2", "SEV3", "SEV4"].index(n["severity"]),
    "NUMBER": lambda n: 0,
}


def marker() -> str:
    return f"mk{uuid.uuid4().hex}"


async def listing(client: GraphQLClient, **variables: Any) -> dict[str, Any]:
    return (await client.execute(INCIDENTS, variables))["incidents"]  # type: ignore[no-any-return]


async def ids_matching(client: GraphQLClient, **filter: Any) -> set[str]:
    page = await listing(client, filter=filter, first=500)
    assert page["totalCount"] == len(page["edges"])
    return {e["node"]["id"] for e in page["edges"]}


async def walk_pages(client: GraphQLClient, size: int, **variables: Any) -> list[dict[str, Any]]:
    pages, after = [], None
    while True:
        page = await listing(client, first=size, after=after, **variables)
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]
        assert len(pages) < 100, "pagination does not end"


async def timeline_page(
    client: GraphQLClient, incident_id: str, **variables: Any
) -> dict[str, Any]:
    data = await client.execute(TIMELINE, {"id": incident_id, **variables})
    return data["incident"]["timeline"]  # type: ignore[no-any-return]


async def seeded(client: GraphQLClient, tag: str) -> dict[str, dict[str, Any]]:
    """Five incidents with ties in severity and priority, one escalated, two updated later."""
    specs = {
        "db": dict(severity="SEV1", impact="HIGH", urgency="HIGH"),  # P1
        "cdn": dict(severity="SEV3", impact="HIGH", urgency="HIGH"),  # P1
        "login": dict(severity="SEV2", impact="LOW", urgency="LOW"),  # P2
        "search": dict(severity="SEV3", impact="MEDIUM", urgency="LOW"),  # P3
        "mail": dict(severity="SEV4", impact="LOW", urgency="LOW"),  # P5
    }
    made = {}
    for name, spec in specs.items():
        made[name] = await declare(client, title=f"{name} is slow [{tag}]", **spec)
    await transition(client, made["cdn"]["id"], "IN_PROGRESS")
    await transition(client, made["cdn"]["id"], "ESCALATED")
    await transition(client, made["search"]["id"], "IN_PROGRESS")
    await client.execute(UPDATE, {"input": {"id": made["db"]["id"], "service": "postgres"}})
    return made


# --- one incident ---------------------------------------------------------------------------


async def test_an_incident_is_found_by_its_id(client):
    # given
    tag = marker()
    declared = await declare(
        client,
        title=f"Checkout errors [{tag}]",
        description="5xx on /pay",
        service="checkout",
        severity="SEV1",
        impact="HIGH",
        urgency="HIGH",
    )

    # when
    found = (await client.execute(INCIDENT, {"id": declared["id"]}))["incident"]

    # then
    assert found["id"] == declared["id"]
    assert found["reference"] == f"INC-{declared['number']}"
    assert found["title"] == f"Checkout errors [{tag}]"
    assert found["description"] == "5xx on /pay"
    assert found["service"] == "checkout"
    assert (found["severity"], found["priority"], found["status"]) == ("SEV1", "P1", "OPEN")
    assert found["createdAt"] == declared["createdAt"]


async def test_node_fetches_an_incident_and_a_timeline_event(client):
    # given
    incident = await declare(client, title=f"Node [{marker()}]")
    note = (
        await client.execute(ADD_NOTE, {"input": {"incidentId": incident["id"], "body": "Hi"}})
    )["addNote"]["event"]

    # when
    as_incident = (await client.execute(NODE, {"id": incident["id"]}))["node"]
    as_event = (await client.execute(NODE, {"id": note["id"]}))["node"]

    # then
    assert as_incident == {
        "__typename": "Incident",
        "id": incident["id"],
        "title": incident["title"],
        "status": "OPEN",
    }
    assert as_event == {
        "__typename": "TimelineEvent",
        "id": note["id"],
        "seq": 2,
        "type": "com.incidents.note_added.v1",
        "subject": f"incidents/{incident['id']}",
    }


async def test_global_ids_are_typed(client):
    # given
    incident = await declare(client, title=f"Typed ids [{marker()}]")
    event_id = (await timeline_page(client, incident["id"]))["edges"][0]["node"]["id"]

    # when: an event's id is used where an incident's is expected
    found = (await client.execute(INCIDENT, {"id": event_id}))["incident"]

    # then
    assert found is None
    assert event_id != incident["id"]


# --- filters --------------------------------------------------------------------------------


async def test_filters_narrow_the_list_and_the_total(client):
    # given
    tag = marker()
    made = await seeded(client, tag)
    ids = {name: incident["id"] for name, incident in made.items()}

    # when / then
    assert await ids_matching(client, text=tag) == set(ids.values())
    assert await ids_matching(client, text=tag, status=["IN_PROGRESS"]) == {ids["search"]}
    assert await ids_matching(client, text=tag, status=["OPEN", "ESCALATED"]) == {
        ids["db"],
        ids["login"],
        ids["mail"],
        ids["cdn"],
    }
    assert await ids_matching(client, text=tag, severity=["SEV3"]) == {ids["cdn"], ids["search"]}
    assert await ids_matching(client, text=tag, severity=["SEV1", "SEV4"]) == {
        ids["db"],
        ids["mail"],
    }
    assert await ids_matching(client, text=tag, priority=["P1"]) == {ids["db"], ids["cdn"]}
    assert await ids_matching(client, text=tag, priority=["P2", "P5"]) == {
        ids["login"],
        ids["mail"],
    }
    assert await ids_matching(client, text=tag, isMajor=True) == {ids["cdn"]}
    assert await ids_matching(client, text=tag, isMajor=False) == set(ids.values()) - {ids["cdn"]}
    assert await ids_matching(client, text=tag, severity=["SEV3"], isMajor=False) == {ids["search"]}
    assert await ids_matching(client, text=tag, status=["CLOSED"]) == set()


async def test_text_matches_title_or_description_ignoring_case(client):
    # given
    tag = marker()
    in_title = await declare(client, title=f"Latency in EU [{tag}]")
    in_description = await declare(
        client, title="Latency in US", description=f"Seen by the NOC [{tag.upper()}]"
    )
    elsewhere = await declare(client, title=f"Latency in APAC [{marker()}]")

    # when / then
    both = {in_title["id"], in_description["id"]}
    assert await ids_matching(client, text=tag) == both
    assert await ids_matching(client, text=tag.upper()) == both
    assert await ids_matching(client, text=f"latency in eu [{tag}") == {in_title["id"]}
    assert await ids_matching(client, text=f"the noc [{tag}") == {in_description["id"]}
    assert elsewhere["id"] not in await ids_matching(client, text=tag)


async def test_text_is_matched_literally(client):
    # given
    tag = marker()
    percent = await declare(client, title=f"Disk 100% full [{tag}]")
    await declare(client, title=f"Disk 1000 full [{tag}]")
    await declare(client, title=f"Disk 10_0 full [{tag}]")

    # when / then: LIKE wildcards in the text are plain characters
    assert await ids_matching(client, text=f"100% full [{tag}") == {percent["id"]}
    assert await ids_matching(client, text="0%_ [" + tag) == set()


# --- ordering and pagination ----------------------------------------------------------------


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("field", ORDER_FIELDS)
async def test_every_ordering_sorts_and_breaks_ties_by_number(client, field, direction):
    # given
    tag = marker()
    await seeded(client, tag)

    # when
    page = await listing(
        client, filter={"text": tag}, orderBy={"field": field, "direction": direction}
    )

    # then
    nodes = [e["node"] for e in page["edges"]]
    assert len(nodes) == 5
    key = _ORDER_KEY[field]
    expected = sorted(nodes, key=lambda n: (key(n), n["number"]), reverse=direction == "DESC")
    assert [n["number"] for n in nodes] == [n["number"] for n in expected]


async def test_the_default_order_is_newest_first(client):
    # given
    tag = marker()
    made = await seeded(client, tag)

    # when
    page = await listing(client, filter={"text": tag})

    # then
    assert [e["node"]["id"] for e in page["edges"]] == [i["id"] for i in reversed(made.values())]


@pytest.mark.parametrize(
    "order",
    [
        None,
        {"field": "PRIORITY", "direction": "ASC"},
        {"field": "SEVERITY", "direction": "DESC"},
        {"field": "UPDATED_AT", "direction": "ASC"},
        {"field": "NUMBER", "direction": "DESC"},
    ],
)
async def test_paging_forward_visits_every_incident_once(client, order):
    # given: seven incidents, with ties under every ordering but NUMBER
    tag = marker()
    await seeded(client, tag)
    await declare(
        client, title=f"queue is slow [{tag}]", severity="SEV3", impact="HIGH", urgency="HIGH"
    )
    await declare(
        client, title=f"dns is slow [{tag}]", severity="SEV4", impact="LOW", urgency="LOW"
    )
    everything = await listing(client, filter={"text": tag}, orderBy=order, first=100)
    expected = [e["node"]["id"] for e in everything["edges"]]
    assert len(expected) == 7

    # when
    pages = await walk_pages(client, 3, filter={"text": tag}, orderBy=order)

    # then
    assert [len(p["edges"]) for p in pages] == [3, 3, 1]
    seen = [e["node"]["id"] for p in pages for e in p["edges"]]
    assert seen == expected, "no duplicate, no gap, same order as one big page"
    for number, page in enumerate(pages):
        info = page["pageInfo"]
        assert page["totalCount"] == 7
        assert info["hasPreviousPage"] is (number > 0)
        assert info["hasNextPage"] is (number < len(pages) - 1)
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]


async def test_a_page_that_ends_exactly_at_the_end_has_no_next_page(client):
    # given
    tag = marker()
    await seeded(client, tag)

    # when
    first = await listing(client, filter={"text": tag}, first=5)
    rest = await listing(
        client, filter={"text": tag}, first=5, after=first["pageInfo"]["endCursor"]
    )

    # then
    assert len(first["edges"]) == 5
    assert first["pageInfo"]["hasNextPage"] is False
    assert rest["edges"] == []
    assert rest["pageInfo"]["startCursor"] is None and rest["pageInfo"]["endCursor"] is None
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["totalCount"] == 5


async def test_an_empty_page_still_counts(client):
    # given
    tag = marker()
    await seeded(client, tag)

    # when
    page = await listing(client, filter={"text": tag}, first=0)

    # then
    assert page["edges"] == []
    assert page["totalCount"] == 5
    assert page["pageInfo"]["startCursor"] is None and page["pageInfo"]["endCursor"] is None


async def test_total_count_ignores_paging(client):
    # given
    tag = marker()
    await seeded(client, tag)

    # when
    page = await listing(client, filter={"text": tag, "priority": ["P1", "P2"]}, first=1)

    # then
    assert len(page["edges"]) == 1
    assert page["totalCount"] == 3
    assert page["pageInfo"]["hasNextPage"] is True


# --- a timeline, page by page ---------------------------------------------------------------


async def _incident_with_events(client: GraphQLClient, count: int) -> str:
    incident = await declare(client, title=f"Chatty [{marker()}]")
    for i in range(count - 1):
        await client.execute(ADD_NOTE, {"input": {"incidentId": incident["id"], "body": f"n{i}"}})
    return incident["id"]  # type: ignore[no-any-return]


async def test_timeline_pages_forward_with_first_and_after(client):
    # given: seven events
    incident_id = await _incident_with_events(client, 7)

    # when
    pages, after = [], None
    while True:
        page = await timeline_page(client, incident_id, first=3, after=after)
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    # then
    assert [[e["node"]["seq"] for e in p["edges"]] for p in pages] == [[1, 2, 3], [4, 5, 6], [7]]
    for number, page in enumerate(pages):
        assert page["totalCount"] == 7
        assert page["pageInfo"]["hasPreviousPage"] is (number > 0)
        assert page["pageInfo"]["hasNextPage"] is (number < 2)
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]


async def test_timeline_pages_back_with_last_and_before(client):
    # given: seven events
    incident_id = await _incident_with_events(client, 7)

    # when
    pages, before = [], None
    while True:
        page = await timeline_page(client, incident_id, last=3, before=before)
        pages.append(page)
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]

    # then: each page is still oldest first
    assert [[e["node"]["seq"] for e in p["edges"]] for p in pages] == [[5, 6, 7], [2, 3, 4], [1]]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [False, True, True]
    assert all(p["totalCount"] == 7 for p in pages)


async def test_timeline_cursors_from_either_direction_agree(client):
    # given
    incident_id = await _incident_with_events(client, 5)
    forward = await timeline_page(client, incident_id, first=2)

    # when: resume forward from the cursor of the newest event seen backwards
    backward = await timeline_page(client, incident_id, last=2)
    after_newest = await timeline_page(client, incident_id, after=backward["edges"][0]["cursor"])
    before_oldest = await timeline_page(client, incident_id, before=forward["edges"][-1]["cursor"])

    # then
    assert [e["node"]["seq"] for e in after_newest["edges"]] == [5]
    assert [e["node"]["seq"] for e in before_oldest["edges"]] == [1]
    everything = await timeline_page(client, incident_id)
    assert [e["node"]["seq"] for e in everything["edges"]] == [1, 2, 3, 4, 5]
    assert everything["pageInfo"]["hasNextPage"] is False
    assert everything["pageInfo"]["hasPreviousPage"] is False

"""No N+1 around the incident: a page of incidents with their services, problems, changes
and articles takes the same SQL statements for 3 incidents as for 30."""

from __future__ import annotations

from bench import seed as bench_seed
from tests.api.test_security_cost import _Statements, in_process, statements
from tests.support import GraphQLClient, declare

PAGE = """
query($first: Int) {
  incidents(first: $first) {
    edges { node {
      id
      affectedServices { name health owner { name } }
      problems { reference knowledgeArticles { reference } }
      changes { reference status }
      knowledgeArticles { reference version }
    } }
  }
}"""


async def seed(client: GraphQLClient, count: int) -> None:
    """`count` incidents, each with a service, a problem with an article, a change linked as
    FIXES and the article linked (the benchmark's records)."""
    ids = [
        (await declare(client, title=f"Rec {i}", service=f"svc-{i % 4}"))["id"]
        for i in range(count)
    ]
    await bench_seed.records(client, ids)


async def test_a_page_of_incidents_with_their_records_takes_the_same_statements(database_url):
    async with in_process(database_url) as client:
        with _Statements().attached() as log:
            # given a page of 3 incidents with their records, then of 30
            await seed(client, 3)
            await statements(client, log, PAGE, first=3)  # warm
            few = await statements(client, log, PAGE, first=3)
            await seed(client, 27)

            # when the page is read
            many = await statements(client, log, PAGE, first=30)
            page = await client.execute(PAGE, {"first": 30})

    # then the statements do not grow with the page, and every record is there
    assert many == few, (few, many)
    nodes = [e["node"] for e in page["incidents"]["edges"]]
    assert len(nodes) == 30
    assert all(
        len(n["affectedServices"]) == 1 and len(n["problems"]) == 1 and len(n["changes"]) == 1
        and len(n["knowledgeArticles"]) == 1 and len(n["problems"][0]["knowledgeArticles"]) == 1
        for n in nodes
    )  # fmt: skip


FILTERED = """
query($first: Int, $team: ID!) {
  incidents(first: $first, orderBy: {field: SLA_RESOLVE_DUE, direction: ASC}, filter: {
    or: [{severity: [SEV2]}, {assignedTeamIds: [$team]}, {hasOpenTasks: true}],
    not: {and: [{hasAlerts: true}, {isDrill: true}]},
    created: {from: "2020-01-01T00:00:00Z"}, slaResponseBreached: false, hasTickets: false
  }) {
    totalCount
    edges { node { id timeline(first: 5, filter: {types: ["com.incidents.*"]}) {
      totalCount edges { node { seq } } } } }
  }
}"""


async def test_a_filtered_page_with_filtered_timelines_takes_the_same_statements(database_url):
    team = "team_00000000000000000000000000000000"
    async with in_process(database_url) as client:
        with _Statements().attached() as log:
            # given 3 incidents the filter takes, then 30
            for i in range(3):
                await declare(client, title=f"Filtered {i}")
            await statements(client, log, FILTERED, first=3, team=team)  # warm
            few = await statements(client, log, FILTERED, first=3, team=team)
            for i in range(27):
                await declare(client, title=f"Filtered {i + 3}")

            # when a page of each is read with every incident's filtered timeline
            many = await statements(client, log, FILTERED, first=30, team=team)
            page = await client.execute(FILTERED, {"first": 30, "team": team})

    # then the statements do not grow with the page, and every incident is there
    assert many == few, (few, many)
    nodes = [e["node"] for e in page["incidents"]["edges"]]
    assert len(nodes) == 30 and page["incidents"]["totalCount"] >= 30
    assert all(n["timeline"]["totalCount"] >= 1 for n in nodes)
    assert all(n["timeline"]["edges"][0]["node"]["seq"] == 1 for n in nodes)

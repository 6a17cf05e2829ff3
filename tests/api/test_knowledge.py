"""The knowledge base over a real server: drafts reviewed by someone else, immutable
published versions, ranked full-text search with highlights on both backends, links,
clearance, and bad input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_identity import person
from tests.api.test_people import errors
from tests.support import Server, answered_errors, create_tenant, create_token, declare, transition

ARTICLE_FIELDS = """
id reference title body kind status author reviewer version rowVersion
versions { number title body } timeline { seq type }
"""
PAYLOAD = f"article {{ {ARTICLE_FIELDS} }} errors {{ field code message }}"


def mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {PAYLOAD} }} }}"


CREATE = mutation("createArticle", "CreateArticleInput")
UPDATE = mutation("updateArticle", "UpdateArticleInput")
SUBMIT = mutation("submitArticle", "ArticleCommandInput")
PUBLISH = mutation("publishArticle", "ArticleCommandInput")
RETIRE = mutation("retireArticle", "RetireArticleInput")
LINK = mutation("linkArticle", "LinkArticleInput")
SEARCH = """
query($filter: KnowledgeArticleFilter, $first: Int, $after: String) {
  knowledgeArticles(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor rank highlight { text match } node { id reference title } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"kb-{uuid.uuid4().hex[:8]}", name="KB")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="kb admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="kb r", tenant=tenant_id),
        "VIEWER": create_token(server, role="VIEWER", name="kb v", tenant=tenant_id),
    }


async def write(client: Any, **fields: Any) -> dict[str, Any]:
    values = {"title": f"Article {uuid.uuid4().hex[:6]}", "body": "Steps.", "kind": "RESOLUTION"}
    data = await client.execute(CREATE, {"input": {**values, **fields}})
    assert data["createArticle"]["errors"] == [], data
    return data["createArticle"]["article"]  # type: ignore[no-any-return]


async def publish(author: Any, reviewer: Any, article: dict[str, Any]) -> dict[str, Any]:
    submitted = await author.execute(SUBMIT, {"input": {"id": article["id"]}})
    assert submitted["submitArticle"]["errors"] == [], submitted
    published = await reviewer.execute(PUBLISH, {"input": {"id": article["id"]}})
    assert published["publishArticle"]["errors"] == [], published
    return published["publishArticle"]["article"]  # type: ignore[no-any-return]


async def test_an_article_is_reviewed_by_someone_else_and_published_in_versions(server, api):
    admin = api()
    _, author = await person(server, admin, "RESPONDER")
    _, reviewer = await person(server, admin, "RESPONDER")
    try:
        draft = await write(author, title="Restart the payment gateway", body="Run the script.")
        submitted = await author.execute(SUBMIT, {"input": {"id": draft["id"]}})
        own = await author.execute(PUBLISH, {"input": {"id": draft["id"]}})
        first = await reviewer.execute(PUBLISH, {"input": {"id": draft["id"]}})
        edited = await author.execute(
            UPDATE, {"input": {"id": draft["id"], "body": "Run the script, then check logs."}}
        )
        second = await publish(author, reviewer, draft)
    finally:
        await author.aclose()
        await reviewer.aclose()

    assert draft["reference"].startswith("KB-") and draft["status"] == "DRAFT"
    assert submitted["submitArticle"]["article"]["status"] == "IN_REVIEW"
    assert errors(own["publishArticle"]) == [("id", "SEPARATION_OF_DUTIES")]
    published = first["publishArticle"]["article"]
    assert (published["status"], published["version"]) == ("PUBLISHED", 1)
    assert published["reviewer"] != published["author"]
    # editing a published article starts a new draft; version 1 stays as it was
    new_draft = edited["updateArticle"]["article"]
    assert (new_draft["status"], new_draft["version"]) == ("DRAFT", 1)
    assert [v["body"] for v in new_draft["versions"]] == ["Run the script."]
    assert second["version"] == 2
    assert [v["body"] for v in second["versions"]] == [
        "Run the script.",
        "Run the script, then check logs.",
    ]
    assert [e["type"].split(".")[-2] for e in second["timeline"]] == [
        "created", "submitted", "published", "edited", "submitted", "published",
    ]  # fmt: skip


async def test_search_ranks_published_articles_and_highlights_the_matches(server, api):
    admin = api()
    _, author = await person(server, admin, "RESPONDER")
    _, reviewer = await person(server, admin, "RESPONDER")
    marker = f"zq{uuid.uuid4().hex[:6]}"
    try:
        in_title = await write(
            author,
            title=f"Kafka consumer lag {marker}",
            body="When consumers fall behind, scale the consumer group.",
        )
        in_body = await write(
            author,
            title=f"Broker disk full {marker}",
            body="Old segments pile up and consumer lag grows; delete old segments.",
        )
        unpublished = await write(author, title=f"Kafka consumer lag draft {marker}")
        retired = await write(author, title=f"Kafka consumer lag retired {marker}")
        for article in (in_title, in_body, retired):
            await publish(author, reviewer, article)
        await author.execute(RETIRE, {"input": {"id": retired["id"], "reason": "superseded"}})
        found = (await author.execute(SEARCH, {"filter": {"text": f"consumer lag {marker}"}}))[
            "knowledgeArticles"
        ]
        stemmed = (await author.execute(SEARCH, {"filter": {"text": f"consumers {marker}"}}))[
            "knowledgeArticles"
        ]
        paged = (await author.execute(SEARCH, {"filter": {"text": marker}, "first": 1}))[
            "knowledgeArticles"
        ]
    finally:
        await author.aclose()
        await reviewer.aclose()

    # then the title match ranks first, drafts and retired articles are not found
    assert [e["node"]["id"] for e in found["edges"]] == [in_title["id"], in_body["id"]]
    assert found["totalCount"] == 2
    assert unpublished["id"] not in {e["node"]["id"] for e in found["edges"]}
    assert found["edges"][0]["rank"] > found["edges"][1]["rank"]
    # and the matches in the body are marked, as plain-text parts
    marked = [p["text"].lower() for p in found["edges"][1]["highlight"] if p["match"]]
    assert "consumer" in marked and "lag" in marked
    assert "".join(p["text"] for p in found["edges"][1]["highlight"]).startswith("Old segments")
    # and stemming finds "consumers" for "consumer"
    assert {e["node"]["id"] for e in stemmed["edges"]} == {in_title["id"], in_body["id"]}
    assert paged["pageInfo"]["hasNextPage"] and len(paged["edges"]) == 1


async def test_an_article_from_an_incident_waits_for_its_resolution(api):
    responder = api("RESPONDER")
    incident = await declare(responder, title="Queue stuck")

    early = await responder.execute(
        CREATE,
        {"input": {"title": "t", "body": "b", "kind": "RESOLUTION", "incidentId": incident["id"]}},
    )
    for status in ("IN_PROGRESS", "RESOLVED"):
        extra = {"resolutionSummary": "drained"} if status == "RESOLVED" else {}
        assert (await transition(responder, incident["id"], status, **extra))["errors"] == []
    later = await write(responder, incidentId=incident["id"])
    linked = await responder.execute(
        "query($id: ID!) { incident(id: $id) { knowledgeArticles { reference } } }",
        {"id": incident["id"]},
    )

    assert errors(early["createArticle"]) == [("incidentId", "VALIDATION")]
    assert linked["incident"]["knowledgeArticles"] == [{"reference": later["reference"]}]


async def test_links_and_bad_input_are_clear_and_write_nothing(api):
    responder = api("RESPONDER")
    article = await write(responder)
    problem = await responder.execute(
        "mutation($t: String!) { createProblem(input: {title: $t, force: true}) "
        "{ problem { id } } }",
        {"t": f"Queue stalls {uuid.uuid4().hex[:6]}"},
    )
    problem_id = problem["createProblem"]["problem"]["id"]
    linked = await responder.execute(
        LINK, {"input": {"articleId": article["id"], "problemId": problem_id}}
    )
    twice = await responder.execute(
        LINK, {"input": {"articleId": article["id"], "problemId": problem_id}}
    )
    seen = await responder.execute(
        "query($id: ID!) { node(id: $id) { ... on Problem { knowledgeArticles { reference } "
        "timeline { type } } } }",
        {"id": problem_id},
    )
    cases = [
        (
            CREATE,
            {"title": " ", "body": "b", "kind": "RESOLUTION"},
            "createArticle",
            ("title", "VALIDATION"),
        ),
        (
            CREATE,
            {"title": "t", "body": " ", "kind": "RESOLUTION"},
            "createArticle",
            ("body", "VALIDATION"),
        ),
        (
            CREATE,
            {"title": "t", "body": "b", "kind": "RESOLUTION", "classification": "RESTRICTED"},
            "createArticle",
            ("classification", "FORBIDDEN"),
        ),
        (PUBLISH, {"id": article["id"]}, "publishArticle", ("id", "INVALID_TRANSITION")),
        (SUBMIT, {"id": "kb_" + uuid.uuid4().hex}, "submitArticle", ("id", "NOT_FOUND")),
        (LINK, {"articleId": article["id"]}, "linkArticle", ("incidentId", "VALIDATION")),
    ]
    for mutation_text, given, name, expected in cases:
        found = await answered_errors(responder, mutation_text, {"input": given}, name)
        assert found == [expected], given

    assert linked["linkArticle"]["errors"] == []
    assert errors(twice["linkArticle"]) == [("problemId", "CONFLICT")]
    assert seen["node"]["knowledgeArticles"] == [{"reference": article["reference"]}]
    assert seen["node"]["timeline"][-1]["type"] == "com.incidents.problem.article_linked.v1"
    refused = await api("VIEWER").raw(
        CREATE, {"input": {"title": "t", "body": "b", "kind": "RESOLUTION"}}
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_article_above_the_readers_clearance_is_redacted_or_not_found(server, api):
    # given a published CONFIDENTIAL article and a RESTRICTED one
    admin = api()
    _, author = await person(server, admin, "INCIDENT_MANAGER")
    _, reviewer = await person(server, admin, "INCIDENT_MANAGER")
    marker = f"zs{uuid.uuid4().hex[:6]}"
    try:
        secret = await write(
            author, title=f"Vault rotation {marker}", classification="CONFIDENTIAL"
        )
        await publish(author, reviewer, secret)
        hidden = await write(author, title=f"Breach runbook {marker}", classification="RESTRICTED")
        await publish(author, reviewer, hidden)
        theirs = (await author.execute(SEARCH, {"filter": {"text": marker}}))["knowledgeArticles"]
    finally:
        await author.aclose()
        await reviewer.aclose()

    # when a VIEWER (cleared INTERNAL) searches for them and reads them by id
    viewer = api("VIEWER")
    mine = (await viewer.execute(SEARCH, {"filter": {"text": marker}}))["knowledgeArticles"]
    read = """query($id: ID!) { node(id: $id) { ... on KnowledgeArticle {
        reference title body author reviewer redactedFields
        versions { title body author }
        timeline { actor data redacted cloudEvent }
    } } }"""
    confidential = (await viewer.execute(read, {"id": secret["id"]}))["node"]
    restricted = (await viewer.execute(read, {"id": hidden["id"]}))["node"]

    # then search matches neither by text it may not read
    assert theirs["totalCount"] == 2
    assert mine["totalCount"] == 0 and mine["edges"] == []
    # and the CONFIDENTIAL article exists with its text redacted, everywhere it shows
    assert confidential["reference"] == secret["reference"]
    assert (confidential["title"], confidential["body"]) == ("[REDACTED]", "[REDACTED]")
    assert confidential["author"] == confidential["reviewer"] == "[REDACTED]"
    assert set(confidential["redactedFields"]) == {"title", "body", "author", "reviewer"}
    assert confidential["versions"] == [
        {"title": "[REDACTED]", "body": "[REDACTED]", "author": "[REDACTED]"}
    ]
    assert confidential["timeline"] and all(e["redacted"] for e in confidential["timeline"])
    assert marker not in str(confidential)
    # and the RESTRICTED one does not exist for the viewer
    assert restricted is None

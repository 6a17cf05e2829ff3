"""GraphQL over HTTP: a client asking for application/graphql-response+json gets that media
type and the spec's status codes; other clients keep application/json and status 200."""

from __future__ import annotations

import hashlib
import json
import uuid

import httpx

GRAPHQL_RESPONSE = "application/graphql-response+json"


async def ask(server, query: str, accept: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token}"}
    if accept is not None:
        headers["Accept"] = accept
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        return await http.post("/graphql", json={"query": query}, headers=headers)


async def test_graphql_response_json_is_answered_with_its_status_codes(server):
    # a valid document, asked twice (the second may come from the query cache)
    for _ in range(2):
        ok = await ask(server, "{ __typename }", GRAPHQL_RESPONSE)
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert ok.json() == {"data": {"__typename": "Query"}}

    # a document that does not validate, or parse: 400, errors and no data entry
    for query, code in [
        ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ incidents(", "GRAPHQL_PARSE_FAILED"),
    ]:
        refused = await ask(server, query, GRAPHQL_RESPONSE)
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        body = refused.json()
        assert "data" not in body and body["errors"][0]["extensions"]["code"] == code

    # an error while executing is still a 200 with data
    missing = await ask(
        server, '{ incident(id: "inc_00000000000000000000000000000000") { id } }', GRAPHQL_RESPONSE
    )
    assert missing.status_code == 200 and "data" in missing.json()


async def test_plain_json_clients_see_what_they_always_saw(server):
    for accept in (None, "application/json", "*/*"):
        invalid = await ask(server, "{ noSuchField }", accept)
        assert invalid.status_code == 200
        assert invalid.headers["content-type"].startswith("application/json")
        assert invalid.json()["data"] is None


async def test_automatic_persisted_queries_follow_apollos_protocol(server):
    query = f"{{ a{uuid.uuid4().hex}: __typename }}"
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    headers = {"Authorization": f"Bearer {server.token}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        # the hash alone, first: not found, as Apollo Client expects it
        unknown = await http.post("/graphql", json={"extensions": extensions}, headers=headers)
        # then the document with its hash, then the hash alone (POST and GET)
        taught = await http.post(
            "/graphql", json={"query": query, "extensions": extensions}, headers=headers
        )
        again = await http.post("/graphql", json={"extensions": extensions}, headers=headers)
        by_get = await http.get(
            "/graphql",
            params={"extensions": json.dumps(extensions)},
            headers={**headers, "Accept": "*/*"},  # Apollo Client's default
        )
        # a document that is not its hash is refused
        lying = await http.post(
            "/graphql", json={"query": "{ __typename }", "extensions": extensions}, headers=headers
        )

    assert unknown.status_code == 200
    error = unknown.json()["errors"][0]
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    for answer in (taught, again, by_get):
        assert answer.status_code == 200, answer.text
        assert list(answer.json()["data"].values()) == ["Query"]
    assert lying.status_code == 400
    assert lying.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"

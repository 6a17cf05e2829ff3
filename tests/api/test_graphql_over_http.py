"""GraphQL over HTTP: a client asking for application/graphql-response+json gets that media
type and the spec's status codes; other clients keep application/json and status 200."""

from __future__ import annotations

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

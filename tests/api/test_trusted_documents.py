"""A deployment that runs only its trusted documents (INCIDENTGRAPH_TRUSTED_DOCUMENTS):
listed documents run, by text or by hash; any other is refused FORBIDDEN over HTTP and on
the WebSocket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.documents import digest
from tests.support import Backend, Server, subscriber

LISTED = "query Count { incidents { totalCount } }"
LIVE = "subscription Changes { incidentsChanged { id } }"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("trusted")
    manifest = folder / "documents.json"
    manifest.write_text(json.dumps({digest(LISTED): LISTED, digest(LIVE): LIVE}))
    backend = Backend("embedded", f"sqlite://{folder / 'incidentgraph.db'}", "memory://")
    srv = Server(backend, extra_env={"INCIDENTGRAPH_TRUSTED_DOCUMENTS": str(manifest)})
    srv.start(log_dir)
    yield srv
    srv.stop()


async def test_only_listed_documents_run_over_http(locked):
    headers = {"Authorization": f"Bearer {locked.token}"}
    by_hash = {"persistedQuery": {"version": 1, "sha256Hash": digest(LISTED)}}
    async with httpx.AsyncClient(base_url=locked.url, timeout=30) as http:
        as_text = await http.post("/graphql", json={"query": LISTED}, headers=headers)
        as_hash = await http.post("/graphql", json={"extensions": by_hash}, headers=headers)
        other = await http.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
        unknown_hash = await http.post(
            "/graphql",
            json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
            headers=headers,
        )

    for answer in (as_text, as_hash):
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["incidents"]["totalCount"] >= 0
    for answer in (other, unknown_hash):
        assert answer.status_code == 403, answer.text
        error = answer.json()["errors"][0]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "INCIDENTGRAPH_TRUSTED_DOCUMENTS" in error["message"]


async def test_only_listed_documents_run_on_the_websocket(locked):
    sub = await subscriber(locked)
    try:
        await sub.subscribe(
            'subscription { incidentUpdated(id: "inc_00000000000000000000000000000000") { id } }'
        )
        refused = await sub.next()
        assert refused["type"] == "error", refused
        assert refused["payload"][0]["extensions"]["code"] == "FORBIDDEN"
        await sub.subscribe(LIVE)  # listed: accepted and held open
        with pytest.raises(TimeoutError):
            await sub.next(timeout=1)
    finally:
        await sub.close()

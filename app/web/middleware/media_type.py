"""GraphQL over HTTP (the GraphQL-over-HTTP specification): a client that asks for
`application/graphql-response+json` gets it, with the status codes that media type means.

`Accept: application/graphql-response+json` (preferred at least as much as
`application/json`) makes every JSON answer of /graphql carry that media type; a request
error (the document does not parse or validate: nothing was executed) then has no `data`
entry and status 400, which the GraphQL view decides (`request_error`). Without it the
answers are `application/json`, status 200 for every GraphQL result, as before.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Receive, Scope, Send

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
REQUEST_ERRORS = frozenset({"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"})


def wants_graphql_response(accept: str | None) -> bool:
    """Whether `accept` prefers application/graphql-response+json to application/json."""
    if not accept:
        return False
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        media = media.lower()
        weights[media] = max(weights.get(media, 0.0), weight)
    mine = weights.get(GRAPHQL_RESPONSE, 0.0)
    return mine > 0 and mine >= weights.get(JSON, 0.0)


def request_error(answer: dict[str, Any]) -> bool:
    """An answer to a document that was never executed: no data, only parse or validation
    errors."""
    errors = answer.get("errors") or []
    return (
        answer.get("data") is None
        and bool(errors)
        and all((e.get("extensions") or {}).get("code") in REQUEST_ERRORS for e in errors)
    )


class GraphQLMediaType:
    """Relabels /graphql's JSON answers for clients that asked for graphql-response+json
    (cached answers included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not wants_graphql_response(
            Headers(scope=scope).get("accept")
        ):
            await self.app(scope, receive, send)
            return

        async def relabel(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith(JSON):
                    headers["content-type"] = GRAPHQL_RESPONSE
            await send(message)

        await self.app(scope, receive, relabel)

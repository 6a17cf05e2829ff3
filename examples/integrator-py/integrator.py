"""What an integration with incidentgraph looks like from Python, with gql.

Queries and mutations go over HTTP (gql's httpx transport) with the token in
`Authorization: Bearer`; `follow` opens a WebSocket (gql's websockets transport) and sends
the token in `connection_init`, as the README's "Authentication" section asks.

    INCIDENTGRAPH_URL    the server (default http://127.0.0.1:8000)
    INCIDENTGRAPH_TOKEN  an API token: VIEWER to read, RESPONDER to declare and add notes

    python integrator.py incidents [--status OPEN ...] [--severity SEV1 ...] [--text T]
    python integrator.py declare --title T --severity SEV2 --impact HIGH --urgency MEDIUM
                                 [--service S] [--note TEXT] [--key IDEMPOTENCY_KEY]
    python integrator.py note INCIDENT_ID TEXT [--kind INVESTIGATION]
    python integrator.py timeline INCIDENT_ID
    python integrator.py follow INCIDENT_ID [--from-start] [--count N]

Output is one tab-separated line per incident or timeline event, for other tools to read.
Any failure prints one line on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import (
    TransportClosed,
    TransportConnectionFailed,
    TransportError,
    TransportQueryError,
    TransportServerError,
)
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed, InvalidStatus

PAGE_SIZE = 100
INCIDENT_COLUMNS = ("reference", "id", "priority", "status", "severity", "title")
# The cursor of seq 0: `timelineEventAdded(after:)` replays the whole timeline from it.
TIMELINE_START = "c2VxOjA"

INCIDENTS = gql(
    """
    query Incidents($filter: IncidentFilter, $first: Int!, $after: String) {
      incidents(filter: $filter, orderBy: {field: NUMBER, direction: ASC},
                first: $first, after: $after) {
        totalCount
        edges { node { id reference priority status severity title } }
        pageInfo { hasNextPage endCursor }
      }
    }
    """
)

DECLARE = gql(
    """
    mutation Declare($input: DeclareIncidentInput!) {
      declareIncident(input: $input) {
        incident { id reference priority status }
        errors { field code message }
      }
    }
    """
)

ADD_NOTE = gql(
    """
    mutation AddNote($input: AddNoteInput!) {
      addNote(input: $input) {
        event { seq type }
        errors { field code message }
      }
    }
    """
)

TIMELINE = gql(
    """
    query Timeline($id: ID!, $first: Int!, $after: String) {
      incident(id: $id) {
        reference
        timeline(first: $first, after: $after) {
          edges { node { seq time type actor data } }
          pageInfo { hasNextPage endCursor }
        }
      }
    }
    """
)

FOLLOW = gql(
    """
    subscription Follow($id: ID!, $after: String) {
      timelineEventAdded(incidentId: $id, after: $after) { seq time type actor data }
    }
    """
)


class Failure(Exception):
    """Something to tell the person running the script, in one line."""


def _settings() -> tuple[str, str]:
    url = os.environ.get("INCIDENTGRAPH_URL", "http://127.0.0.1:8000").rstrip("/")
    token = os.environ.get("INCIDENTGRAPH_TOKEN", "")
    if not token:
        raise Failure("set INCIDENTGRAPH_TOKEN to an API token")
    if not url.startswith(("http://", "https://")):
        raise Failure(f"INCIDENTGRAPH_URL must start with http:// or https://, not {url}")
    return url, token


def _http_client(url: str, token: str) -> Client:
    transport = HTTPXAsyncTransport(
        url=f"{url}/graphql", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return Client(transport=transport)


def _ws_client(url: str, token: str) -> Client:
    transport = WebsocketsTransport(
        url=f"ws{url.removeprefix('http')}/graphql",
        init_payload={"authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    return Client(transport=transport)


def _request(document: GraphQLRequest, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


def _refused(payload: Mapping[str, Any]) -> None:
    """A mutation's `errors` are data: the change was refused and nothing was written."""
    if payload["errors"]:
        raise Failure(
            "; ".join(
                f"{e['code']}" + (f" on {e['field']}" if e["field"] else "") + f": {e['message']}"
                for e in payload["errors"]
            )
        )


def _event_line(event: Mapping[str, Any]) -> str:
    data = json.dumps(event["data"], separators=(",", ":"), sort_keys=True)
    return "\t".join([str(event["seq"]), event["time"], event["type"], event["actor"] or "-", data])


async def incidents(url: str, token: str, args: argparse.Namespace) -> None:
    given = {"status": args.status, "severity": args.severity, "text": args.text}
    filter_ = {key: value for key, value in given.items() if value}
    async with _http_client(url, token) as session:
        after: str | None = None
        count = 0
        while True:
            data = await session.execute(
                _request(INCIDENTS, filter=filter_ or None, first=args.page_size, after=after)
            )
            page = data["incidents"]
            for edge in page["edges"]:
                print("\t".join(edge["node"][column] for column in INCIDENT_COLUMNS))
                count += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    print(f"{count} of {page['totalCount']} incidents", file=sys.stderr)


async def declare(url: str, token: str, args: argparse.Namespace) -> None:
    values: dict[str, Any] = {
        "title": args.title,
        "severity": args.severity,
        "impact": args.impact,
        "urgency": args.urgency,
        "service": args.service,
        # The same key declares once, however often a retry sends it.
        "eventId": args.key,
    }
    async with _http_client(url, token) as session:
        data = await session.execute(_request(DECLARE, input=values))
        _refused(data["declareIncident"])
        incident = data["declareIncident"]["incident"]
        fields = ["reference", "id", "priority", "status"]
        print("\t".join(["declared", *(incident[f] for f in fields)]))
        if args.note:
            note = {"incidentId": incident["id"], "body": args.note}
            if args.key:
                note["eventId"] = f"{args.key}:note"
            data = await session.execute(_request(ADD_NOTE, input=note))
            _refused(data["addNote"])
            print(f"noted\t{data['addNote']['event']['seq']}")


async def note(url: str, token: str, args: argparse.Namespace) -> None:
    values = {"incidentId": args.incident_id, "body": args.text, "kind": args.kind}
    async with _http_client(url, token) as session:
        data = await session.execute(_request(ADD_NOTE, input=values))
        _refused(data["addNote"])
        print(f"noted\t{data['addNote']['event']['seq']}")


async def timeline(url: str, token: str, args: argparse.Namespace) -> None:
    async with _http_client(url, token) as session:
        after: str | None = None
        while True:
            data = await session.execute(
                _request(TIMELINE, id=args.incident_id, first=PAGE_SIZE, after=after)
            )
            if data["incident"] is None:
                raise Failure(f"no incident {args.incident_id} (or not one this token may see)")
            page = data["incident"]["timeline"]
            for edge in page["edges"]:
                print(_event_line(edge["node"]))
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]


async def follow(url: str, token: str, args: argparse.Namespace) -> None:
    after = TIMELINE_START if args.from_start else None
    seen = 0
    async with _ws_client(url, token) as session:
        # Closed before the session, which then has nothing left to wait for: leaving the
        # loop alone would keep the subscription open until gql's close timeout.
        events: AsyncGenerator[dict[str, Any], None] = session.subscribe(
            _request(FOLLOW, id=args.incident_id, after=after)
        )
        async with aclosing(events):
            async for data in events:
                print(_event_line(data["timelineEventAdded"]), flush=True)
                seen += 1
                if args.count and seen >= args.count:
                    return


TOKEN_HINT = " (is INCIDENTGRAPH_TOKEN right?)"


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it wraps: gql wraps the network's and the WebSocket's errors."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _explain(error: BaseException, url: str) -> str:
    """One line for a person: what the server or the network said, never a stack trace."""
    if isinstance(error, Failure):
        return str(error)
    if isinstance(error, TransportQueryError):
        problems = error.errors or [{"message": str(error)}]
        text = "; ".join(
            f"{(e.get('extensions') or {}).get('code', 'ERROR')}: {e.get('message')}"
            for e in problems
        )
        hint = TOKEN_HINT if "UNAUTHENTICATED" in text else ""
        return f"{url} refused the request: {text}{hint}"
    if isinstance(error, TransportServerError):
        return f"{url} answered HTTP {error.code}: {error}"
    for cause in _causes(error):
        if isinstance(cause, ConnectionClosed):
            code, reason = (cause.rcvd.code, cause.rcvd.reason) if cause.rcvd else (None, "")
            hint = TOKEN_HINT if code in (4401, 4403) else ""
            return f"{url} closed the WebSocket with {code} {reason}".rstrip() + hint
        if isinstance(cause, InvalidStatus):
            return f"{url} refused the WebSocket: HTTP {cause.response.status_code}"
    if isinstance(error, TransportConnectionFailed | TransportClosed | OSError):
        return f"cannot reach {url}: {error.__cause__ or error}"
    if isinstance(error, TransportError):
        return f"{url}: {error}"
    return f"{type(error).__name__}: {error}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="An incidentgraph integration: list, declare, note, read and follow."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("incidents", help="every incident the filter takes, by number")
    listing.add_argument("--status", action="append", help="OPEN, IN_PROGRESS... (repeatable)")
    listing.add_argument("--severity", action="append", help="SEV1..SEV4 (repeatable)")
    listing.add_argument("--text", help="in the title or description, any case")
    listing.add_argument("--page-size", type=int, default=PAGE_SIZE)

    declaring = commands.add_parser("declare", help="declare an incident (RESPONDER and up)")
    declaring.add_argument("--title", required=True)
    declaring.add_argument("--severity", required=True, help="SEV1..SEV4")
    declaring.add_argument("--impact", required=True, help="HIGH, MEDIUM or LOW")
    declaring.add_argument("--urgency", required=True, help="HIGH, MEDIUM or LOW")
    declaring.add_argument("--service")
    declaring.add_argument("--note", help="a first note on its timeline")
    declaring.add_argument("--key", help="idempotency key: a retry declares nothing new")

    noting = commands.add_parser("note", help="add a note to an incident's timeline")
    noting.add_argument("incident_id")
    noting.add_argument("text")
    noting.add_argument("--kind", default="GENERAL", help="GENERAL, INVESTIGATION...")

    reading = commands.add_parser("timeline", help="an incident's timeline, oldest first")
    reading.add_argument("incident_id")

    following = commands.add_parser("follow", help="an incident's timeline events, live")
    following.add_argument("incident_id")
    following.add_argument(
        "--from-start", action="store_true", help="replay the whole timeline first"
    )
    following.add_argument("--count", type=int, default=0, help="stop after N events")
    return parser


COMMANDS = {
    "incidents": incidents,
    "declare": declare,
    "note": note,
    "timeline": timeline,
    "follow": follow,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    url = ""
    try:
        url, token = _settings()
        asyncio.run(COMMANDS[args.command](url, token, args))
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - every failure becomes one line
        print(f"integrator: {_explain(error, url)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

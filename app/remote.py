"""The command line's client commands: they talk to a running server through its API, as
any integration would, with a token (`INCIDENTGRAPH_URL`, default http://127.0.0.1:8000,
and `INCIDENTGRAPH_TOKEN`), so they work from any machine and every rule of the API holds
(roles, clearance, redaction, audit).

    incidentgraph incident create --title T --severity SEV2 --impact HIGH --urgency HIGH
    incidentgraph incident list [--status OPEN ...] [--first N]
    incidentgraph incident get ID
    incidentgraph notify ID RULE
    incidentgraph comms list ID [--channel EMAIL]
    incidentgraph comms lookup-ref REF-YYYYMMDD-XXXX
    incidentgraph report ID [--format markdown|html|text]

`--json` prints the API's answer as it came. A refusal prints its code and message to
stderr and exits 1; a server that cannot be reached, 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from app.config import Settings

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
LEVELS = ("HIGH", "MEDIUM", "LOW")
STATUSES = ("OPEN", "IN_PROGRESS", "PENDING", "ESCALATED", "RESOLVED", "CLOSED", "CANCELLED")
CHANNELS = (
    "EMAIL", "SLACK", "WEBHOOK", "SMS", "PHONE", "PAGERDUTY", "MEETING", "STATUS_PAGE", "OTHER",
)  # fmt: skip

INCIDENT_FIELDS = """id reference title status severity impact urgency priority isMajor
  assignee createdAt acknowledgedAt resolvedAt slaResponseDue slaResolveDue"""
CREATE = f"""mutation($input: DeclareIncidentInput!) {{ declareIncident(input: $input) {{
  incident {{ {INCIDENT_FIELDS} }} errors {{ field code message }} }} }}"""
LIST = f"""query($filter: IncidentFilter, $first: Int) {{
  incidents(filter: $filter, first: $first) {{ totalCount
    edges {{ node {{ {INCIDENT_FIELDS} }} }} }} }}"""
GET = f"""query($id: ID!) {{ incident(id: $id) {{ {INCIDENT_FIELDS} description
  timeline(last: 10) {{ edges {{ node {{ time type actor }} }} }} }} }}"""
NOTIFY = """mutation($input: RunNotificationRuleInput!) { runNotificationRule(input: $input) {
  sent failed pending communications { shortRef channel recipient status error }
  errors { field code message } } }"""
COMMS = """query($id: ID!, $channel: CommunicationChannel, $first: Int) { incident(id: $id) {
  communications(channel: $channel, first: $first) { totalCount edges { node {
    shortRef channel direction audience recipient status sentAt createdAt message } } } } }"""
BY_REF = """query($ref: String!) { communicationByRef(shortRef: $ref) {
  shortRef channel direction audience recipient status sentAt message error
  incident { reference title } } }"""


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Unreachable(Exception):
    pass


class Remote:
    def __init__(self, url: str, token: str, *, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    @classmethod
    def of(cls, settings: Settings) -> Remote:
        token = (settings.client_token or "").strip()
        if not token:
            raise Refused(
                "UNAUTHENTICATED",
                "set INCIDENTGRAPH_TOKEN to an API token (incidentgraph token create ...)",
            )
        return cls(settings.client_url, token)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, self.url + path, **kwargs)
        except httpx.HTTPError as error:
            raise Unreachable(f"{self.url} cannot be reached: {error}") from None

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._send("POST", "/graphql", json={"query": query, "variables": variables})
        try:
            body = response.json()
        except ValueError:
            raise Refused(str(response.status_code), response.text[:300]) from None
        errors = body.get("errors") or []
        if errors:
            first = errors[0]
            raise Refused(
                str((first.get("extensions") or {}).get("code", "ERROR")), first["message"]
            )
        data: dict[str, Any] = body["data"]
        return data

    def get(self, path: str, params: dict[str, str]) -> str:
        response = self._send("GET", path, params=params)
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = {"code": str(response.status_code), "error": response.text[:300]}
            raise Refused(str(body.get("code")), str(body.get("error")))
        return response.text


def _payload(data: dict[str, Any], name: str) -> dict[str, Any]:
    payload: dict[str, Any] = data[name]
    if payload.get("errors"):
        first = payload["errors"][0]
        where = f" ({first['field']})" if first.get("field") else ""
        raise Refused(first["code"], f"{first['message']}{where}")
    return payload


def _line(incident: dict[str, Any]) -> str:
    return (
        f"{incident['reference']:<10} {incident['priority']:<3} {incident['status']:<12} "
        f"{incident['title']}  [{incident['id']}]"
    )


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def incident_create(args: argparse.Namespace, remote: Remote) -> None:
    values = {
        "title": args.title,
        "severity": args.severity,
        "impact": args.impact,
        "urgency": args.urgency,
        **({"description": args.description} if args.description else {}),
        **({"service": args.service} if args.service else {}),
    }
    incident = _payload(remote.execute(CREATE, {"input": values}), "declareIncident")["incident"]
    _emit(args, incident, _line(incident))


def incident_list(args: argparse.Namespace, remote: Remote) -> None:
    filter = {"status": args.status} if args.status else None
    data = remote.execute(LIST, {"filter": filter, "first": args.first})["incidents"]
    rows = [e["node"] for e in data["edges"]]
    text = "\n".join([*map(_line, rows), f"{len(rows)} of {data['totalCount']}"])
    _emit(args, data, text)


def incident_get(args: argparse.Namespace, remote: Remote) -> None:
    incident = remote.execute(GET, {"id": args.id})["incident"]
    if incident is None:
        raise Refused("NOT_FOUND", f"no incident with id {args.id!r}")
    lines = [
        _line(incident),
        f"severity {incident['severity']}, impact {incident['impact']}, urgency "
        f"{incident['urgency']}; assigned to {incident['assignee'] or 'nobody'}",
        f"declared {incident['createdAt']}; response due {incident['slaResponseDue']}; "
        f"resolution due {incident['slaResolveDue']}",
        *([incident["description"]] if incident["description"] else []),
        "last events:",
        *(
            f"  {e['node']['time']}  {e['node']['type']}  {e['node']['actor'] or ''}"
            for e in incident["timeline"]["edges"]
        ),
    ]
    _emit(args, incident, "\n".join(lines))


def notify(args: argparse.Namespace, remote: Remote) -> None:
    payload = _payload(
        remote.execute(NOTIFY, {"input": {"incidentId": args.incident, "rule": args.rule}}),
        "runNotificationRule",
    )
    lines = [
        f"{c['shortRef']}  {c['channel']:<9} {c['status']:<8} {c['recipient'] or ''}"
        + (f"  ({c['error']})" if c["error"] else "")
        for c in payload["communications"]
    ]
    lines.append(
        f"sent {payload['sent']}, failed {payload['failed']}, pending {payload['pending']}"
    )
    _emit(args, payload, "\n".join(lines))


def comms_list(args: argparse.Namespace, remote: Remote) -> None:
    variables = {"id": args.incident, "channel": args.channel, "first": args.first}
    incident = remote.execute(COMMS, variables)["incident"]
    if incident is None:
        raise Refused("NOT_FOUND", f"no incident with id {args.incident!r}")
    data = incident["communications"]
    lines = [
        f"{n['shortRef']}  {n['direction']:<8} {n['channel']:<9} {n['status']:<8} "
        f"{n['sentAt'] or n['createdAt']}  {n['recipient'] or n['audience'] or ''}"
        for n in (e["node"] for e in data["edges"])
    ]
    lines.append(f"{len(data['edges'])} of {data['totalCount']}")
    _emit(args, data, "\n".join(lines))


def comms_lookup(args: argparse.Namespace, remote: Remote) -> None:
    found = remote.execute(BY_REF, {"ref": args.ref})["communicationByRef"]
    if found is None:
        raise Refused("NOT_FOUND", f"no communication with ref {args.ref!r}")
    text = "\n".join(
        [
            f"{found['shortRef']}  {found['direction']} {found['channel']}  {found['status']}",
            f"incident {found['incident']['reference']}: {found['incident']['title']}",
            f"to/from {found['recipient'] or found['audience'] or '-'} at {found['sentAt']}",
            *([f"error: {found['error']}"] if found["error"] else []),
            "",
            found["message"],
        ]
    )
    _emit(args, found, text)


def report(args: argparse.Namespace, remote: Remote) -> None:
    text = remote.get(f"/incidents/{args.incident}/report", {"format": args.format})
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        remote = Remote.of(settings)
        args.remote_run(args, remote)
    except Refused as refusal:
        print(f"{refusal.code}: {refusal}", file=sys.stderr)
        return 1
    except Unreachable as error:
        print(str(error), file=sys.stderr)
        return 3
    return 0


def register(commands: Any) -> None:
    """Add the client commands to the command line's subcommands."""

    def client(parser: argparse.ArgumentParser, handler: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print the API's answer as JSON")
        parser.set_defaults(run=run, remote_run=handler)

    note = " (through the API: INCIDENTGRAPH_URL, INCIDENTGRAPH_TOKEN)"
    incident = commands.add_parser("incident", help="declare, list and read incidents" + note)
    sub = incident.add_subparsers(dest="incident_command", required=True)
    create = sub.add_parser("create", help="declare an incident")
    create.add_argument("--title", required=True)
    create.add_argument("--severity", required=True, choices=SEVERITIES)
    create.add_argument("--impact", required=True, choices=LEVELS)
    create.add_argument("--urgency", required=True, choices=LEVELS)
    create.add_argument("--description")
    create.add_argument("--service")
    client(create, incident_create)
    listing = sub.add_parser("list", help="list incidents, newest first")
    listing.add_argument("--status", action="append", choices=STATUSES, help="repeatable")
    listing.add_argument("--first", type=int, default=50, help="how many (default 50)")
    client(listing, incident_list)
    get = sub.add_parser("get", help="one incident and its last events")
    get.add_argument("id", help="the incident's id (inc_...)")
    client(get, incident_get)

    send = commands.add_parser("notify", help="run a notification rule on an incident" + note)
    send.add_argument("incident", help="the incident's id")
    send.add_argument("rule", help="the rule's name or id")
    client(send, notify)

    comms = commands.add_parser("comms", help="an incident's communications" + note)
    comms_commands = comms.add_subparsers(dest="comms_command", required=True)
    listed = comms_commands.add_parser("list", help="an incident's messages, oldest first")
    listed.add_argument("incident", help="the incident's id")
    listed.add_argument("--channel", choices=CHANNELS)
    listed.add_argument("--first", type=int, default=100, help="how many (default 100)")
    client(listed, comms_list)
    lookup = comms_commands.add_parser("lookup-ref", help="the message a short ref names")
    lookup.add_argument("ref", help="REF-YYYYMMDD-XXXX, any case")
    client(lookup, comms_lookup)

    reported = commands.add_parser("report", help="an incident's report" + note)
    reported.add_argument("incident", help="the incident's id")
    reported.add_argument("--format", default="markdown", choices=["markdown", "html", "text"])
    client(reported, report)

"""A fake Jira Cloud site: REST v3 issues, transitions, comments and JQL search.

Speaks what Jira Cloud speaks:

- `POST /rest/api/3/issue` `{"fields": {"project": {"key"}, "summary", "description": ADF,
  "issuetype": {"name"}, "priority": {"name"}, "labels": [...]}}` -> 201
  `{"id": "10001", "key": "OPS-1", "self": ".../rest/api/3/issue/10001"}`
- `GET /rest/api/3/issue/{key|id}?fields=a,b` -> 200 `{"id", "key", "self", "fields":
  {"summary", "description": ADF or null, "status": {"id", "name", "statusCategory"},
  "priority": {"id", "name"}, "labels", "issuetype": {"name"}, "project": {"key"},
  "created", "updated": "2026-11-23T10:00:00.000+0000", "comment": {"comments": [...],
  "startAt", "maxResults", "total"}}}`
- `PUT /rest/api/3/issue/{key}` `{"fields": {...}}` -> 204. `status` (or any unknown
  field) -> 400 "Field 'status' cannot be set..."; a string description -> 400
  "Operation value must be an Atlassian Document"; an unknown priority -> 400.
- `GET /rest/api/3/issue/{key}/transitions` -> `{"transitions": [{"id", "name",
  "to": {"id", "name", "statusCategory"}}]}` from the current status;
  `POST` `{"transition": {"id"}}` -> 204, or 400 "Transition id 'N' is not valid for this
  issue." when it does not start from the current status.
- `POST /rest/api/3/issue/{key}/comment` `{"body": ADF}` -> 201 comment.
- `POST /rest/api/3/search/jql` `{"jql", "fields", "maxResults"}` -> `{"issues": [...],
  "isLast": true}`; JQL understood: `project = X`, `labels = "y"`, `key = Z`, joined by AND.
- Errors: `{"errorMessages": [...], "errors": {field: message}}`; 401 without the basic
  `email:api_token` credentials; 404 "Issue does not exist or you do not have permission
  to see it."

The workflow (`workflow`: status -> statuses reachable from it) defaults to `WORKFLOW`;
new issues start in its first status.

People in the product: `edit(key, by="Jane Doe", summary=..., description="text",
priority="High", status="In Progress", labels=[...], comment="text")` changes the issue as the
UI would (status only along the workflow), moves `updated` on, and remembers the changelog.

Outbound webhook (`jira:issue_updated`, what Jira POSTs to a registered webhook) is
`webhook_payload(key)`, describing the last `edit`:

    {"timestamp": 1795428000000, "webhookEvent": "jira:issue_updated",
     "issue_event_type_name": "issue_generic",      # "issue_commented" with a comment
     "user": {"accountId": "...", "displayName": "Jane Doe"},
     "issue": {"id", "key", "self", "fields": {... as GET /issue returns them ...}},
     "changelog": {"id": "10042", "items": [{"field": "status", "fieldtype": "jira",
        "fieldId": "status", "from": "10000", "fromString": "Open", "to": "10001",
        "toString": "In Progress"}]},
     "comment": {"id", "body": ADF, "author", "created", "updated"}}   # only with a comment
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tests.fakes.base import Call, FakeServer, Response

API = "/rest/api/3"
WORKFLOW: dict[str, tuple[str, ...]] = {
    "Open": ("In Progress", "Canceled"),
    "In Progress": ("Pending", "Resolved", "Canceled"),
    "Pending": ("In Progress",),
    "Resolved": ("Closed", "In Progress"),
    "Closed": (),
    "Canceled": (),
}
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
SETTABLE = frozenset({"summary", "description", "priority", "labels", "issuetype"})
_CATEGORY = {
    "new": {"id": 2, "key": "new", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "name": "Done"},
}
_MESSAGES = {
    400: "Invalid request payload. Refer to the REST API documentation and try again.",
    401: "Client must be authenticated to access this resource.",
    404: "Issue does not exist or you do not have permission to see it.",
    429: "Rate limit exceeded.",
}


def _adf(text: str) -> dict[str, Any]:
    blocks = [b for b in text.split("\n\n") if b]
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": b}]} for b in blocks
        ],
    }


def _adf_text(doc: Any) -> str:
    if not isinstance(doc, dict):
        return ""
    out: list[str] = []
    for block in doc.get("content", ()):
        out.append(
            "".join(
                n.get("text", "") if n.get("type") == "text" else "\n"
                for n in block.get("content", ())
            )
        )
    return "\n\n".join(out)


def _is_adf(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc" and "content" in value


class FakeJira(FakeServer):
    name = "fake-jira"

    def __init__(
        self,
        *,
        email: str = "bot@example.com",
        api_token: str = "jira-api-token-xyz",
        projects: Sequence[str] = ("OPS",),
        issue_types: Sequence[str] = ("Incident", "Task"),
        workflow: Mapping[str, Sequence[str]] = WORKFLOW,
    ) -> None:
        super().__init__()
        self.email = email
        self.api_token = api_token
        self.projects = tuple(projects)
        self.issue_types = tuple(issue_types)
        self.workflow = {k: tuple(v) for k, v in workflow.items()}
        self.statuses = list(self.workflow)
        self.issues: dict[str, dict[str, Any]] = {}  # key -> stored issue
        self.last_changelog: dict[str, list[dict[str, str]]] = {}
        self.last_comment: dict[str, dict[str, Any] | None] = {}
        self._ids = itertools.count(10001)
        self._numbers: dict[str, itertools.count[int]] = {}

    # what people do in the product

    def edit(
        self,
        key: str,
        *,
        by: str = "Jane Doe",
        summary: str | None = None,
        description: str | None = None,
        priority: str | None = None,
        status: str | None = None,
        labels: Sequence[str] | None = None,
        comment: str | None = None,
    ) -> list[dict[str, str]]:
        """Change the issue as a person would; returns the changelog items."""
        with self.lock:
            issue = self.issues[key]
            if status is not None and status != issue["status"]:
                allowed = self.workflow[issue["status"]]
                if status not in allowed:
                    raise ValueError(f"{issue['status']} -> {status} not in workflow: {allowed}")
            changes: dict[str, Any] = {}
            if summary is not None:
                changes["summary"] = summary
            if description is not None:
                changes["description"] = _adf(description)
            if priority is not None:
                changes["priority"] = {"name": priority}
            if labels is not None:
                changes["labels"] = list(labels)
            items = self._apply(issue, changes)
            if status is not None and status != issue["status"]:
                items.append(self._move(issue, status))
            new_comment = self._comment(issue, _adf(comment), by) if comment else None
            self._touch(issue)
            self.last_changelog[key] = items
            self.last_comment[key] = new_comment
            return items

    def issue(self, key: str) -> dict[str, Any]:
        with self.lock:
            return self._render(self.issues[key], None)

    def comments(self, key: str) -> list[str]:
        with self.lock:
            return [_adf_text(c["body"]) for c in self.issues[key]["comments"]]

    def webhook_payload(
        self, key: str, *, event: str = "jira:issue_updated", by: str = "Jane Doe"
    ) -> dict[str, Any]:
        with self.lock:
            issue = self.issues[key]
            comment = self.last_comment.get(key)
            payload: dict[str, Any] = {
                "timestamp": int(self.clock().timestamp() * 1000),
                "webhookEvent": event,
                "issue_event_type_name": "issue_commented" if comment else "issue_generic",
                "user": {"accountId": _account(by), "displayName": by},
                "issue": self._render(issue, None),
                "changelog": {
                    "id": str(next(self._ids)),
                    "items": list(self.last_changelog.get(key, [])),
                },
            }
            if comment:
                payload["comment"] = comment
            return payload

    # the API

    def authorized(self, authorization: str | None) -> bool:
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value).decode()
        except ValueError:
            return False
        return decoded == f"{self.email}:{self.api_token}"

    def error(self, status: int, message: str, errors: Mapping[str, str] | None = None) -> Response:
        messages = [] if errors else [_MESSAGES.get(status, message)]
        return Response(status, {"errorMessages": messages, "errors": dict(errors or {})})

    def route(self, call: Call) -> Response:
        path = call.path
        if path == f"{API}/issue" and call.method == "POST":
            return self._create(call)
        if path == f"{API}/search/jql" and call.method == "POST":
            return self._search(call)
        match = re.fullmatch(rf"{API}/issue/([^/]+)(/transitions|/comment)?", path)
        if match is None:
            return Response(404, {"errorMessages": ["null for uri: " + path], "errors": {}})
        issue = self._find(match.group(1))
        if issue is None:
            return self.error(404, "")
        tail = match.group(2)
        if tail is None and call.method == "GET":
            return Response(200, self._render(issue, call.query.get("fields")))
        if tail is None and call.method == "PUT":
            return self._edit(issue, call)
        if tail == "/transitions" and call.method == "GET":
            return Response(200, {"expand": "transitions", "transitions": self._transitions(issue)})
        if tail == "/transitions" and call.method == "POST":
            return self._transition(issue, call)
        if tail == "/comment" and call.method == "POST":
            body = call.body.get("body") if isinstance(call.body, dict) else None
            if not _is_adf(body):
                return self.error(400, "", {"comment": "Comment body can not be empty!"})
            comment = self._comment(issue, body, self.email)
            self._touch(issue)
            return Response(201, comment)
        return Response(405, {"errorMessages": ["Method Not Allowed"], "errors": {}})

    def _create(self, call: Call) -> Response:
        fields = call.body.get("fields") if isinstance(call.body, dict) else None
        if not isinstance(fields, dict):
            return self.error(400, "")
        project = (fields.get("project") or {}).get("key")
        errors: dict[str, str] = {}
        if project not in self.projects:
            errors["project"] = "Specify a valid project ID or key"
        if (fields.get("issuetype") or {}).get("name") not in self.issue_types:
            errors["issuetype"] = "Specify an issue type"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        errors.update(self._invalid({k: v for k, v in fields.items() if k != "project"}))
        if errors:
            return self.error(400, "", errors)
        number = next(self._numbers.setdefault(project, itertools.count(1)))
        now = self.clock()
        issue: dict[str, Any] = {
            "id": str(next(self._ids)),
            "key": f"{project}-{number}",
            "project": project,
            "issuetype": fields["issuetype"]["name"],
            "summary": "",
            "description": None,
            "priority": "Medium",
            "labels": [],
            "status": self.statuses[0],
            "created": now,
            "updated": now,
            "comments": [],
        }
        self._apply(issue, {k: v for k, v in fields.items() if k in SETTABLE})
        self.issues[issue["key"]] = issue
        return Response(201, {"id": issue["id"], "key": issue["key"], "self": self._self(issue)})

    def _edit(self, issue: dict[str, Any], call: Call) -> Response:
        fields = call.body.get("fields") if isinstance(call.body, dict) else None
        if not isinstance(fields, dict):
            return self.error(400, "")
        errors = self._invalid(fields)
        if errors:
            return self.error(400, "", errors)
        self._apply(issue, fields)
        self._touch(issue)
        return Response(204)

    def _invalid(self, fields: Mapping[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        for name, value in fields.items():
            if name not in SETTABLE:
                errors[name] = (
                    f"Field '{name}' cannot be set. It is not on the appropriate screen, "
                    "or unknown."
                )
            elif name == "description" and value is not None and not _is_adf(value):
                errors[name] = "Operation value must be an Atlassian Document (see ADF)."
            elif name == "priority" and (value or {}).get("name") not in PRIORITIES:
                errors[name] = "Specify a valid 'id' or 'name' for Priority"
            elif name == "labels" and (
                not isinstance(value, list)
                or any(not isinstance(v, str) or " " in v for v in value)
            ):
                errors[name] = "The label must not contain spaces."
            elif name == "summary" and (not isinstance(value, str) or not value.strip()):
                errors[name] = "You must specify a summary of the issue."
        return errors

    def _apply(self, issue: dict[str, Any], fields: Mapping[str, Any]) -> list[dict[str, str]]:
        items = []
        for name, value in fields.items():
            if name in ("priority", "issuetype"):
                value = value["name"]
            before = issue[name]
            if before == value:
                continue
            issue[name] = value
            as_text = _adf_text if name == "description" else _text
            items.append(
                {
                    "field": name,
                    "fieldtype": "jira",
                    "fieldId": name,
                    "from": None,
                    "fromString": as_text(before),
                    "to": None,
                    "toString": as_text(value),
                }
            )
        return items

    def _move(self, issue: dict[str, Any], status: str) -> dict[str, str]:
        before = issue["status"]
        issue["status"] = status
        return {
            "field": "status",
            "fieldtype": "jira",
            "fieldId": "status",
            "from": self._status_id(before),
            "fromString": before,
            "to": self._status_id(status),
            "toString": status,
        }

    def _transitions(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "id": self._transition_id(to),
                "name": to,
                "to": self._status(to),
                "hasScreen": False,
                "isGlobal": False,
                "isInitial": False,
                "isConditional": False,
            }
            for to in self.workflow[issue["status"]]
        ]

    def _transition(self, issue: dict[str, Any], call: Call) -> Response:
        wanted = ((call.body or {}).get("transition") or {}).get("id")
        for transition in self._transitions(issue):
            if transition["id"] == str(wanted):
                self._move(issue, transition["to"]["name"])
                self._touch(issue)
                return Response(204)
        message = f"Transition id '{wanted}' is not valid for this issue."
        return Response(400, {"errorMessages": [message], "errors": {}})

    def _comment(self, issue: dict[str, Any], body: Any, by: str) -> dict[str, Any]:
        now = _stamp(self.clock())
        comment = {
            "id": str(next(self._ids)),
            "self": f"{self._self(issue)}/comment",
            "author": {"accountId": _account(by), "displayName": by},
            "body": body,
            "created": now,
            "updated": now,
        }
        issue["comments"].append(comment)
        return comment

    def _search(self, call: Call) -> Response:
        body = call.body if isinstance(call.body, dict) else {}
        conditions = []
        for clause in re.split(r"\s+AND\s+", str(body.get("jql", "")).strip(), flags=re.I):
            m = re.fullmatch(r'(project|labels|key)\s*=\s*"?((?:[^"\\]|\\.)*)"?', clause.strip())
            if m is None:
                message = f"Error in the JQL Query: '{clause}' is not understood by this fake."
                return Response(400, {"errorMessages": [message], "errors": {}})
            conditions.append((m.group(1), m.group(2).replace('\\"', '"')))
        found = []
        for issue in self.issues.values():
            if all(
                (name == "labels" and value in issue["labels"])
                or (name == "project" and issue["project"] == value)
                or (name == "key" and issue["key"] == value)
                for name, value in conditions
            ):
                found.append(issue)
        limit = int(body.get("maxResults") or 50)
        fields = body.get("fields")
        names = ",".join(fields) if isinstance(fields, list) else None
        return Response(
            200, {"issues": [self._render(i, names) for i in found[:limit]], "isLast": True}
        )

    def _render(self, issue: dict[str, Any], names: str | None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "summary": issue["summary"],
            "description": issue["description"],
            "status": self._status(issue["status"]),
            "priority": {
                "id": str(PRIORITIES.index(issue["priority"]) + 1),
                "name": issue["priority"],
            },
            "labels": list(issue["labels"]),
            "issuetype": {"name": issue["issuetype"]},
            "project": {"key": issue["project"]},
            "created": _stamp(issue["created"]),
            "updated": _stamp(issue["updated"]),
            "comment": {
                "comments": list(issue["comments"]),
                "startAt": 0,
                "maxResults": len(issue["comments"]),
                "total": len(issue["comments"]),
            },
        }
        wanted = {n.strip() for n in (names or "*all").split(",") if n.strip()}
        if "*all" not in wanted:
            fields = {k: v for k, v in fields.items() if k in wanted}
        return {"id": issue["id"], "key": issue["key"], "self": self._self(issue), "fields": fields}

    def _status(self, name: str) -> dict[str, Any]:
        index = self.statuses.index(name)
        final = not self.workflow[name]
        category = (
            "new" if index == 0 else "done" if final or name == "Resolved" else "indeterminate"
        )
        return {"id": self._status_id(name), "name": name, "statusCategory": _CATEGORY[category]}

    def _status_id(self, name: str) -> str:
        return str(10000 + self.statuses.index(name))

    def _transition_id(self, to: str) -> str:
        return str(11 + 10 * self.statuses.index(to))

    def _find(self, key_or_id: str) -> dict[str, Any] | None:
        if key_or_id in self.issues:
            return self.issues[key_or_id]
        return next((i for i in self.issues.values() if i["id"] == key_or_id), None)

    def _touch(self, issue: dict[str, Any]) -> None:
        issue["updated"] = self.clock()

    def _self(self, issue: dict[str, Any]) -> str:
        return f"{self.url}{API}/issue/{issue['id']}"


def _stamp(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _text(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else "" if value is None else str(value)


def _account(name: str) -> str:
    return "557058:" + base64.b32encode(name.encode()).decode().lower().rstrip("=")[:24]

"""Jira Cloud REST v3: issues, transitions, comments.

Fields cross in Jira's names and shapes: `summary`, `priority: {"name": "High"}`,
`status: {"name": "In Progress"}`, `labels: [...]`, `updated`. Two conveniences:

- `description` and comments are plain text on this side: written as a minimal Atlassian
  Document Format doc (one paragraph per blank-line-separated block, line breaks as
  hardBreak), read back as text (`text_from_adf`). A dict `description` is sent as is (ADF).
- `priority`, `status` and `issuetype` may be written as a bare name ("High").

Status is not a field Jira lets anyone set: `update` (and `create`) move it with the
transition whose target status has the wanted name (GET then POST
`/rest/api/3/issue/{key}/transitions`). No such transition from the current status: a
non-retryable ProviderError naming the statuses reachable from here.

Idempotent create: the issue carries the label `incidentgraph-<idempotency key>`; create
first searches `project = KEY AND labels = "<label>"` (POST `/rest/api/3/search/jql`) and
returns the issue found. Jira's search index can lag a fresh issue by a moment; the sync
engine's retries come later than that.

Authentication: basic, `email:api_token`.

Keys: a path is built only from an issue key (OPS-42, keys.py); any other key, given or found
in an answer, is refused before a request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from app.services.itsm import keys
from app.services.itsm.connector import (
    Provider,
    ProviderError,
    RemoteNote,
    RemoteTicket,
    checked_base_url,
    send,
)

API = "/rest/api/3"
FIELDS = ("summary", "description", "status", "priority", "labels", "updated", "comment")
LABEL_PREFIX = "incidentgraph-"
_NAMED = ("priority", "status", "issuetype")


class JiraConnector:
    provider = Provider.JIRA

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        project_key: str,
        issue_type: str = "Incident",
        *,
        timeout: float = 10.0,
        # Where connections go: the caller may restrict it (services/itsm/egress.py).
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not email or not api_token:
            raise ValueError("email and api_token are required")
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", project_key):
            raise ValueError("project_key must be a Jira project key such as OPS")
        self.base_url = checked_base_url(base_url)
        self.project_key = project_key
        self.issue_type = issue_type
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            auth=httpx.BasicAuth(email, api_token),
            headers={"Accept": "application/json"},
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    def __repr__(self) -> str:
        return (
            f"JiraConnector(base_url={self.base_url!r}, project_key={self.project_key!r}, "
            f"issue_type={self.issue_type!r})"
        )

    def ticket_url(self, key: str) -> str:
        return f"{self.base_url}/browse/{key}"

    @staticmethod
    def label_for(idempotency_key: str) -> str:
        """Jira labels cannot hold spaces."""
        return LABEL_PREFIX + re.sub(r"\s+", "-", idempotency_key.strip())

    async def create(self, fields: Mapping[str, Any], *, idempotency_key: str) -> RemoteTicket:
        if not idempotency_key.strip():
            raise ValueError("idempotency_key must not be empty")
        label = self.label_for(idempotency_key)
        wanted = dict(fields)
        status = _name(wanted.pop("status", None))
        found = await self._call(
            "POST",
            f"{API}/search/jql",
            json_body={
                "jql": f'project = "{self.project_key}" AND labels = "{_jql_string(label)}"',
                "fields": list(FIELDS),
                "maxResults": 1,
            },
        )
        issues = found.get("issues") if isinstance(found, Mapping) else None
        if issues:
            ticket = self._ticket(issues[0])
        else:
            body = _outbound(wanted)
            body["project"] = {"key": self.project_key}
            body.setdefault("issuetype", {"name": self.issue_type})
            body["labels"] = sorted({*body.get("labels", ()), label})
            created = await self._call("POST", f"{API}/issue", json_body={"fields": body})
            if not isinstance(created, Mapping) or not created.get("key"):
                raise ProviderError("Jira POST /issue: a response without key", retryable=False)
            ticket = await self.fetch(str(created["key"]))
        # A retry after a create whose transition failed finishes the job.
        if status and _name(ticket.fields.get("status")) != status:
            await self._transition(ticket.key, status)
            ticket = await self.fetch(ticket.key)
        return ticket

    async def fetch(self, key: str) -> RemoteTicket:
        issue = await self._call("GET", _issue(key), params={"fields": ",".join(FIELDS)})
        return self._ticket(issue)

    async def update(self, key: str, fields: Mapping[str, Any]) -> RemoteTicket:
        wanted = dict(fields)
        status = _name(wanted.pop("status", None))
        if wanted:
            await self._call("PUT", _issue(key), json_body={"fields": _outbound(wanted)})
        if status:
            current = await self._call("GET", _issue(key), params={"fields": "status"})
            if _name(current.get("fields", {}).get("status")) != status:
                await self._transition(key, status)
        return await self.fetch(key)

    async def add_comment(self, key: str, body: str) -> None:
        await self._call("POST", _issue(key, "/comment"), json_body={"body": adf_from_text(body)})

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _transition(self, key: str, status: str) -> None:
        data = await self._call("GET", _issue(key, "/transitions"))
        transitions: Sequence[Mapping[str, Any]] = data.get("transitions", ())
        for transition in transitions:
            if _name(transition.get("to")).casefold() == status.casefold():
                await self._call(
                    "POST",
                    _issue(key, "/transitions"),
                    json_body={"transition": {"id": str(transition["id"])}},
                )
                return
        allowed = ", ".join(repr(_name(t.get("to"))) for t in transitions) or "none"
        raise ProviderError(
            f"Jira: {key} has no transition to status {status!r}; reachable now: {allowed}",
            retryable=False,
        )

    def _ticket(self, issue: Any) -> RemoteTicket:
        if not isinstance(issue, Mapping) or not issue.get("key"):
            raise ProviderError("Jira: an issue without key", retryable=False)
        fields = dict(issue.get("fields") or {})
        comment = fields.pop("comment", None) or {}
        if isinstance(fields.get("description"), Mapping):
            fields["description"] = text_from_adf(fields["description"])
        elif fields.get("description") is None:
            fields["description"] = ""
        key = str(issue["key"])
        if not keys.JIRA_KEY.fullmatch(key):
            raise ProviderError(
                f"Jira: an issue whose key is not an issue key: {key[:40]!r}", retryable=False
            )
        listed = [c for c in comment.get("comments", ()) if isinstance(c, Mapping)]
        return RemoteTicket(
            key=key,
            number=key,
            url=self.ticket_url(key),
            fields=fields,
            updated_at=parse_timestamp(str(fields.get("updated", ""))),
            comments=tuple(text_from_adf(c.get("body")) for c in listed),
            notes=tuple(n for n in (note_from_comment(c) for c in listed) if n is not None),
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Any:
        body = await send(
            self._client,
            method,
            path,
            product="Jira",
            error_text=_error_text,
            params=params,
            json_body=json_body,
        )
        return {} if body is None else body


def _issue(key: str, tail: str = "") -> str:
    """The path of one issue (and `tail`); only an issue key makes one (never `../myself`)."""
    if not keys.JIRA_KEY.fullmatch(key):
        raise ProviderError(
            f"Jira: {key[:40]!r} is not an issue key; no request was made", retryable=False
        )
    return f"{API}/issue/{quote(key, safe='')}{tail}"


def note_from_comment(comment: Any) -> RemoteNote | None:
    """A Jira comment object (REST or webhook) as a note; None without an id."""
    if not isinstance(comment, Mapping) or not comment.get("id"):
        return None
    author = comment.get("author")
    name = (
        author.get("displayName") or author.get("accountId")
        if isinstance(author, Mapping)
        else None
    )
    return RemoteNote(id=str(comment["id"]), body=text_from_adf(comment.get("body")), author=name)


def adf_from_text(text: str) -> dict[str, Any]:
    """Plain text as an ADF doc: blank lines split paragraphs, single newlines are hardBreaks."""
    paragraphs: list[dict[str, Any]] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip("\n")):
        content: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        if content:
            paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


def text_from_adf(doc: Any) -> str:
    """The text of an ADF doc: blocks joined by blank lines, hardBreaks as newlines."""
    if isinstance(doc, str):
        return doc
    if not isinstance(doc, Mapping):
        return ""
    return "\n\n".join(b for b in (_inline(n) for n in _blocks(doc)) if b)


def _blocks(node: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """The innermost blocks holding inline content (paragraphs, headings, code)."""
    children = [c for c in node.get("content", ()) if isinstance(c, Mapping)]
    if any(c.get("type") in ("text", "hardBreak", "mention", "emoji") for c in children):
        yield node
        return
    for child in children:
        yield from _blocks(child)


def _inline(node: Mapping[str, Any]) -> str:
    parts = []
    for child in node.get("content", ()):
        kind = child.get("type")
        if kind == "text":
            parts.append(str(child.get("text", "")))
        elif kind == "hardBreak":
            parts.append("\n")
        elif kind in ("mention", "emoji"):
            parts.append(str(child.get("attrs", {}).get("text", "")))
    return "".join(parts)


def parse_timestamp(value: str) -> datetime:
    """Jira's `updated` ("2026-11-23T10:00:00.000+0000") as an aware UTC datetime."""
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
    except ValueError:
        raise ProviderError(f"Jira: unreadable timestamp {value[:40]!r}", retryable=False) from None


def _outbound(fields: Mapping[str, Any]) -> dict[str, Any]:
    body = dict(fields)
    if isinstance(body.get("description"), str):
        body["description"] = adf_from_text(body["description"])
    for name in _NAMED:
        if isinstance(body.get(name), str):
            body[name] = {"name": body[name]}
    return body


def _name(value: Any) -> str:
    """'High' from {"name": "High"} or "High"; '' for nothing."""
    if isinstance(value, Mapping):
        value = value.get("name")
    return str(value) if value else ""


def _jql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _error_text(body: Any) -> str | None:
    """{"errorMessages": [...], "errors": {"field": "message"}}"""
    if not isinstance(body, Mapping):
        return None
    parts = [str(m) for m in body.get("errorMessages") or ()]
    errors = body.get("errors") or {}
    if isinstance(errors, Mapping):
        parts += [f"{field}: {message}" for field, message in errors.items()]
    return "; ".join(parts) or None

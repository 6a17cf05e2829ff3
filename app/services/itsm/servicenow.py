"""ServiceNow's Table API, `incident` table.

Fields cross in ServiceNow's own names and raw values (`sysparm_display_value=false`):
short_description, description, urgency and impact ("1" high .. "3" low), state ("1" New,
"2" In Progress, "3" On Hold, "6" Resolved, "7" Closed, "8" Canceled), work_notes,
close_code, close_notes, correlation_id, priority (computed by ServiceNow), number,
sys_id, sys_updated_on ("YYYY-MM-DD HH:MM:SS", UTC), sys_mod_count (bumped by every write:
the ticket's version, since two writes in one second share a sys_updated_on).

- create: idempotent through `correlation_id` = the idempotency key. A create first looks
  the key up (`sysparm_query=correlation_id=<key>`) and returns the ticket found.
- update: PATCH. Moving to Resolved or Closed without close_code / close_notes fills
  `resolution_code` / `resolution_notes` (constructor arguments), because ServiceNow's data
  policy refuses a resolution without them.
- work_notes are journal entries: writing `work_notes` (update or add_comment) appends
  one; reading the field returns "". `RemoteTicket.comments` holds the work notes read from
  `sys_journal_field`, oldest first; the journal table needs the `sys_journal_field` read
  ACL for the integration user.
- Authentication: basic (username, password) or OAuth bearer (token).
- Keys: a path or a query is built only from a sys_id (32 hex digits) or an incident number
  (keys.py); any other key, given or found in an answer, is refused before a request.
"""

from __future__ import annotations

from collections.abc import Mapping
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

TABLE = "/api/now/table/incident"
JOURNAL = "/api/now/table/sys_journal_field"
_READ = {"sysparm_display_value": "false", "sysparm_exclude_reference_link": "true"}
RESOLVED_STATES = frozenset({"6", "7"})
_QUERY_SPECIALS = ("^", "\n", "\r")


class ServiceNowConnector:
    provider = Provider.SERVICENOW

    def __init__(
        self,
        base_url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        resolution_code: str = "Solution provided",
        resolution_notes: str = "Resolved in incidentgraph.",
        # Where connections go: the caller may restrict it (services/itsm/egress.py).
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = checked_base_url(base_url)
        auth: httpx.Auth | None = None
        headers = {"Accept": "application/json"}
        if token is not None and username is None and password is None:
            headers["Authorization"] = f"Bearer {token}"
            self._auth_kind = "bearer"
        elif token is None and username is not None and password is not None:
            auth = httpx.BasicAuth(username, password)
            self._auth_kind = "basic"
        else:
            raise ValueError("give either username and password, or token")
        self.resolution_code = resolution_code
        self.resolution_notes = resolution_notes
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            auth=auth,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"ServiceNowConnector(base_url={self.base_url!r}, auth={self._auth_kind})"

    def ticket_url(self, sys_id: str) -> str:
        return f"{self.base_url}/nav_to.do?uri=incident.do?sys_id={sys_id}"

    async def create(self, fields: Mapping[str, Any], *, idempotency_key: str) -> RemoteTicket:
        if not idempotency_key or any(c in idempotency_key for c in _QUERY_SPECIALS):
            raise ValueError("idempotency_key must be non-empty, without '^' or line breaks")
        found = await self._call(
            "GET",
            TABLE,
            params={
                **_READ,
                "sysparm_query": f"correlation_id={idempotency_key}",
                "sysparm_limit": "1",
            },
        )
        if found:
            return await self._ticket(found[0])
        body = self._with_resolution({**fields, "correlation_id": idempotency_key})
        record = await self._call("POST", TABLE, params=_READ, json_body=body)
        return await self._ticket(record)

    async def fetch(self, key: str) -> RemoteTicket:
        """`key` is the sys_id, or the number people know (INC0010001)."""
        if not keys.SERVICENOW_NUMBER.fullmatch(key):
            return await self._ticket(await self._call("GET", _record(key), params=_READ))
        found = await self._call(
            "GET",
            TABLE,
            params={**_READ, "sysparm_query": f"number={key}", "sysparm_limit": "1"},
        )
        if not found:
            raise ProviderError(
                f"ServiceNow GET {TABLE}: 404 Not Found: no incident {key}",
                retryable=False,
                status=404,
            )
        return await self._ticket(found[0])

    async def update(self, key: str, fields: Mapping[str, Any]) -> RemoteTicket:
        body = self._with_resolution(dict(fields))
        record = await self._call("PATCH", _record(key), params=_READ, json_body=body)
        return await self._ticket(record)

    async def add_comment(self, key: str, body: str) -> None:
        await self._call(
            "PATCH",
            _record(key),
            params={**_READ, "sysparm_fields": "sys_id"},
            json_body={"work_notes": body},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def _with_resolution(self, fields: dict[str, Any]) -> dict[str, Any]:
        if str(fields.get("state", "")) in RESOLVED_STATES:
            fields.setdefault("close_code", self.resolution_code)
            fields.setdefault("close_notes", self.resolution_notes)
        return fields

    async def _ticket(self, record: Any) -> RemoteTicket:
        if not isinstance(record, Mapping) or not record.get("sys_id"):
            raise ProviderError("ServiceNow: a record without sys_id", retryable=False)
        sys_id = str(record["sys_id"])
        if not keys.valid_sys_id(sys_id):
            raise ProviderError(
                f"ServiceNow: a record whose sys_id is not 32 hex digits: {sys_id[:40]!r}",
                retryable=False,
            )
        # Shown to people and written into reasons: an incident number, or none at all.
        number = str(record.get("number", ""))
        number = number if keys.SERVICENOW_NUMBER.fullmatch(number) else ""
        notes = await self._call(
            "GET",
            JOURNAL,
            params={
                "sysparm_query": f"element_id={sys_id}^element=work_notes^ORDERBYsys_created_on",
                "sysparm_fields": "sys_id,value,sys_created_on,sys_created_by",
            },
        )
        entries = [n for n in notes or () if isinstance(n, Mapping)]
        return RemoteTicket(
            key=sys_id,
            number=number,
            url=self.ticket_url(sys_id),
            fields=dict(record),
            updated_at=parse_timestamp(str(record.get("sys_updated_on", ""))),
            version=mod_count(record),
            comments=tuple(str(n.get("value", "")) for n in entries),
            notes=tuple(
                RemoteNote(
                    id=str(n.get("sys_id", "")),
                    body=str(n.get("value", "")),
                    author=n.get("sys_created_by") or None,
                )
                for n in entries
                if n.get("sys_id")
            ),
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        json_body: Any = None,
    ) -> Any:
        body = await send(
            self._client,
            method,
            path,
            product="ServiceNow",
            error_text=_error_text,
            params=params,
            json_body=json_body,
        )
        if not isinstance(body, Mapping) or "result" not in body:
            raise ProviderError(
                f"ServiceNow {method} {path}: a response without 'result'", retryable=False
            )
        return body["result"]


def _record(sys_id: str) -> str:
    """The path of one incident record; only a sys_id makes one (never `../problem/...`)."""
    if not keys.valid_sys_id(sys_id):
        raise ProviderError(
            f"ServiceNow: {sys_id[:40]!r} is not a sys_id; no request was made", retryable=False
        )
    return f"{TABLE}/{quote(sys_id, safe='')}"


def parse_timestamp(value: str) -> datetime:
    """sys_updated_on ("2026-11-23 10:00:00", UTC) as an aware datetime."""
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise ProviderError(
            f"ServiceNow: unreadable sys_updated_on {value[:40]!r}", retryable=False
        ) from None


def mod_count(record: Mapping[str, Any]) -> int | None:
    """sys_mod_count (a string on the wire), None when absent or unreadable."""
    value = str(record.get("sys_mod_count", "")).strip()
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _error_text(body: Any) -> str | None:
    """{"error": {"message": ..., "detail": ...}, "status": "failure"}"""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None
    message, detail = error.get("message"), error.get("detail")
    parts = [str(p) for p in (message, detail) if p]
    return ": ".join(parts) or None

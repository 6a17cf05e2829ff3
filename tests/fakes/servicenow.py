"""A fake ServiceNow instance: the Table API for `incident` and `sys_journal_field`.

Speaks what the real Table API speaks with `sysparm_display_value=false`:

- `POST /api/now/table/incident` -> 201 `{"result": {record}}`
- `GET /api/now/table/incident?sysparm_query=a=b^c=d&sysparm_limit=N` -> 200
  `{"result": [records]}` (equality conditions joined by `^`; `ORDERBY` clauses ignored)
- `GET|PATCH|PUT /api/now/table/incident/<sys_id>` -> 200 `{"result": {record}}`
- `GET /api/now/table/sys_journal_field?sysparm_query=element_id=<sys_id>^element=work_notes`
  -> 200 `{"result": [{"element_id", "element", "name", "value", "sys_created_on",
  "sys_created_by"}]}`, oldest first
- `sysparm_fields=a,b` limits the fields returned.
- Records hold strings only: sys_id (32 hex), number (INC0010001 ...), short_description,
  description, urgency, impact, priority (computed from impact and urgency, as ServiceNow's
  default lookup does), state, close_code, close_notes, correlation_id, active,
  work_notes (reads as ""; writing appends a journal entry), sys_created_on,
  sys_updated_on ("YYYY-MM-DD HH:MM:SS", UTC), sys_updated_by, sys_mod_count. Unknown
  fields in a write are ignored, as ServiceNow does.
- Resolving (state 6 or 7) without close_code and close_notes: 403 "Operation Failed" /
  "Data Policy Exception", as the out-of-the-box data policy answers.
- Errors: `{"error": {"message", "detail"}, "status": "failure"}`; 401 without valid basic
  or bearer credentials; 404 "No Record found"; 400 for a body that is not a JSON object.

People in the product: `edit(sys_id, by="jane.doe", state="2", work_notes="...")` changes
fields as the form would (sys_updated_on, sys_updated_by, sys_mod_count move on).

Outbound webhook (what a business rule on `incident`, after update, POSTs as JSON) is
`webhook_payload(sys_id)`:

    {"table": "incident", "operation": "update", "sys_id": "...", "number": "INC0010001",
     "state": "2", "short_description": "...", "description": "...", "urgency": "1",
     "impact": "2", "priority": "2", "close_code": "", "close_notes": "",
     "correlation_id": "<our idempotency key>", "work_notes": "<latest work note or ''>",
     "sys_updated_on": "2026-11-23 10:00:00", "sys_updated_by": "jane.doe",
     "sys_mod_count": "3"}
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from tests.fakes.base import Call, FakeServer, Response

TABLE = "/api/now/table/incident"
JOURNAL = "/api/now/table/sys_journal_field"
WRITABLE = frozenset(
    {
        "short_description",
        "description",
        "urgency",
        "impact",
        "state",
        "close_code",
        "close_notes",
        "correlation_id",
        "correlation_display",
        "assignment_group",
        "assigned_to",
        "category",
        "caller_id",
        "hold_reason",
    }
)
# ServiceNow's default priority lookup: (impact, urgency) -> priority
PRIORITY = {
    ("1", "1"): "1",
    ("1", "2"): "2",
    ("2", "1"): "2",
    ("1", "3"): "3",
    ("2", "2"): "3",
    ("3", "1"): "3",
    ("2", "3"): "4",
    ("3", "2"): "4",
    ("3", "3"): "5",
}
WEBHOOK_FIELDS = (
    "sys_id",
    "number",
    "state",
    "short_description",
    "description",
    "urgency",
    "impact",
    "priority",
    "close_code",
    "close_notes",
    "correlation_id",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
)
_MESSAGES = {
    400: ("Exception while reading request", "The payload is not valid JSON."),
    401: ("User Not Authenticated", "Required to provide Auth information"),
    403: ("Operation Failed", "ACL Exception Insert Failed due to security constraints"),
    404: ("No Record found", "Record doesn't exist or ACL restricts the record retrieval"),
    429: ("Rate limit exceeded", "Too many requests, try again later"),
}


class FakeServiceNow(FakeServer):
    name = "fake-servicenow"

    def __init__(
        self, *, username: str = "integration", password: str = "s3cret-pw", token: str = ""
    ) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.token = token
        self.records: dict[str, dict[str, str]] = {}
        self.journal: list[dict[str, str]] = []
        self._numbers = 10000

    # what people do in the product

    def edit(self, sys_id: str, *, by: str = "jane.doe", **fields: str) -> dict[str, str]:
        with self.lock:
            self._write(self.records[sys_id], fields, by=by)
            return dict(self.records[sys_id])

    def ticket(self, sys_id: str) -> dict[str, str]:
        with self.lock:
            return dict(self.records[sys_id])

    def work_notes(self, sys_id: str) -> list[str]:
        with self.lock:
            return [j["value"] for j in self.journal if j["element_id"] == sys_id]

    def webhook_payload(self, sys_id: str, *, operation: str = "update") -> dict[str, str]:
        with self.lock:
            record = self.records[sys_id]
            notes = self.work_notes(sys_id)
            payload = {"table": "incident", "operation": operation}
            payload.update({name: record.get(name, "") for name in WEBHOOK_FIELDS})
            payload["work_notes"] = notes[-1] if notes else ""
            return payload

    # the API

    def authorized(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return bool(self.token) and value == self.token
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return False
            return (user, password) == (self.username, self.password)
        return False

    def error(self, status: int, message: str) -> Response:
        title, detail = _MESSAGES.get(status, (message, None))
        return Response(
            status, {"error": {"message": title, "detail": detail}, "status": "failure"}
        )

    def route(self, call: Call) -> Response:
        fields = call.query.get("sysparm_fields")
        if call.path == TABLE:
            if call.method == "GET":
                found = self._query(list(self.records.values()), call.query)
                return Response(200, {"result": [_only(r, fields) for r in found]})
            if call.method == "POST":
                return self._create(call, fields)
        elif call.path.startswith(TABLE + "/"):
            sys_id = call.path[len(TABLE) + 1 :]
            record = self.records.get(sys_id)
            if record is None:
                return self.error(404, "")
            if call.method == "GET":
                return Response(200, {"result": _only(record, fields)})
            if call.method in ("PATCH", "PUT"):
                if not isinstance(call.body, dict):
                    return self.error(400, "")
                refused = self._data_policy({**record, **call.body})
                if refused:
                    return refused
                self._write(record, call.body, by=self.username)
                return Response(200, {"result": _only(record, fields)})
        elif call.path == JOURNAL and call.method == "GET":
            found = self._query(self.journal, call.query)
            return Response(200, {"result": [_only(j, fields) for j in found]})
        return Response(
            400,
            {
                "error": {
                    "message": "Requested URI does not represent any resource",
                    "detail": None,
                },
                "status": "failure",
            },
        )

    def _create(self, call: Call, fields: str | None) -> Response:
        if not isinstance(call.body, dict):
            return self.error(400, "")
        refused = self._data_policy(call.body)
        if refused:
            return refused
        self._numbers += 1
        now = self._now()
        record = {
            "sys_id": uuid.uuid4().hex,
            "number": f"INC{self._numbers:07d}",
            "short_description": "",
            "description": "",
            "urgency": "3",
            "impact": "3",
            "priority": "5",
            "state": "1",
            "active": "true",
            "close_code": "",
            "close_notes": "",
            "correlation_id": "",
            "work_notes": "",
            "sys_created_on": now,
            "sys_created_by": self.username,
            "sys_updated_on": now,
            "sys_updated_by": self.username,
            "sys_mod_count": "-1",
        }
        self.records[record["sys_id"]] = record
        self._write(record, call.body, by=self.username)
        return Response(201, {"result": _only(record, fields)})

    def _write(self, record: dict[str, str], fields: dict[str, Any], *, by: str) -> None:
        for name, value in fields.items():
            if name in WRITABLE:
                record[name] = "" if value is None else str(value)
        note = fields.get("work_notes")
        now = self._now()
        if note:
            self.journal.append(
                {
                    "sys_id": uuid.uuid4().hex,
                    "name": "incident",
                    "element": "work_notes",
                    "element_id": record["sys_id"],
                    "value": str(note),
                    "sys_created_on": now,
                    "sys_created_by": by,
                }
            )
        record["priority"] = PRIORITY.get((record["impact"], record["urgency"]), "5")
        record["active"] = "false" if record["state"] in ("7", "8") else "true"
        record["sys_updated_on"] = now
        record["sys_updated_by"] = by
        record["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)

    def _data_policy(self, values: dict[str, Any]) -> Response | None:
        if str(values.get("state", "")) in ("6", "7") and not (
            values.get("close_code") and values.get("close_notes")
        ):
            return Response(
                403,
                {
                    "error": {
                        "message": "Operation Failed",
                        "detail": "Data Policy Exception: \n The following fields are "
                        "mandatory: Resolution code, Resolution notes",
                    },
                    "status": "failure",
                },
            )
        return None

    def _query(self, rows: list[dict[str, str]], query: dict[str, str]) -> list[dict[str, str]]:
        conditions = []
        for clause in query.get("sysparm_query", "").split("^"):
            if not clause or clause.startswith("ORDERBY"):
                continue
            name, sep, value = clause.partition("=")
            if not sep or not re.fullmatch(r"\w+", name):
                continue  # ServiceNow ignores conditions it cannot parse
            conditions.append((name, value))
        found = [r for r in rows if all(r.get(n, "") == v for n, v in conditions)]
        limit = query.get("sysparm_limit")
        return found[: int(limit)] if limit else found

    def _now(self) -> str:
        return self.clock().strftime("%Y-%m-%d %H:%M:%S")


def _only(record: dict[str, str], fields: str | None) -> dict[str, str]:
    if not fields:
        return dict(record)
    names = [f.strip() for f in fields.split(",") if f.strip()]
    return {n: record[n] for n in names if n in record}

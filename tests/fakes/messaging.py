"""Fake receivers of outbound messages, speaking the real APIs' shapes.

- `FakeSlack`: incoming webhooks (`POST /services/...`, answers `ok`) and the Web API's
  `POST /api/chat.postMessage` (Bearer bot token; `{"ok": true, "channel", "ts"}`, or
  `{"ok": false, "error": "invalid_auth" | "channel_not_found"}` with HTTP 200, as Slack does).
- `FakePagerDuty`: Events API v2 `POST /v2/enqueue` (202 `{"status": "success", "message":
  "Event processed", "dedup_key"}`; 400 `{"status": "invalid event", ...}` for a bad event).
- `FakeReceiver`: any webhook receiver; answers 204 and keeps the raw body and headers.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.fakes.base import Call, FakeServer, Response

BOT_TOKEN = "xoxb-test-0123456789"
ROUTING_KEY = "R0123456789abcdef0123456789abcde"


class FakeSlack(FakeServer):
    name = "slack"

    def __init__(self) -> None:
        super().__init__()
        self.posted: list[dict[str, Any]] = []
        self._ts = itertools.count(1)

    def authorized(self, authorization: str | None) -> bool:
        return True  # the Web API answers a bad token with ok=false, not 401

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"ok": False, "error": message})

    def route(self, call: Call) -> Response:
        if call.method == "POST" and call.path.startswith("/services/"):
            if not isinstance(call.body, dict) or not call.body.get("text"):
                return Response(400, None)  # Slack: "no_text"
            self.posted.append({"channel": "webhook", "text": call.body["text"]})
            return Response(200, None)
        if call.method == "POST" and call.path == "/api/chat.postMessage":
            if call.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
                return Response(200, {"ok": False, "error": "invalid_auth"})
            channel = str((call.body or {}).get("channel", ""))
            if not channel or channel[0] not in "CUDG":
                return Response(200, {"ok": False, "error": "channel_not_found"})
            ts = f"1700000000.{next(self._ts):06d}"
            self.posted.append({"channel": channel, "text": call.body.get("text"), "ts": ts})
            return Response(200, {"ok": True, "channel": channel, "ts": ts})
        return Response(404, {"ok": False, "error": "unknown_method"})


class FakePagerDuty(FakeServer):
    name = "pagerduty"

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def authorized(self, authorization: str | None) -> bool:
        return True  # the routing key in the body is the credential

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"status": "error", "message": message})

    def route(self, call: Call) -> Response:
        if call.method != "POST" or call.path != "/v2/enqueue":
            return Response(404, None)
        event = call.body if isinstance(call.body, dict) else {}
        problems = []
        if event.get("routing_key") != ROUTING_KEY:
            problems.append("Invalid routing key")
        if event.get("event_action") not in ("trigger", "acknowledge", "resolve"):
            problems.append("'event_action' is invalid")
        if event.get("event_action") == "trigger":
            payload = event.get("payload") or {}
            for key in ("summary", "source", "severity"):
                if not payload.get(key):
                    problems.append(f"'payload.{key}' is missing or blank")
        elif not event.get("dedup_key"):
            problems.append("'dedup_key' is required for acknowledge and resolve")
        if problems:
            return Response(
                400,
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": problems,
                },
            )
        self.events.append(event)
        return Response(
            202,
            {
                "status": "success",
                "message": "Event processed",
                "dedup_key": event.get("dedup_key"),
            },
        )


class FakeReceiver(FakeServer):
    name = "receiver"

    def authorized(self, authorization: str | None) -> bool:
        return True

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"error": message})

    def route(self, call: Call) -> Response:
        return Response(204, None)

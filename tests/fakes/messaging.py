"""Fake receivers of outbound messages, speaking the real APIs' shapes.

- `FakeSlack`: incoming webhooks (`POST /services/...`, answers `ok`) and the Web API's
  `POST /api/chat.postMessage` (Bearer bot token; `{"ok": true, "channel", "ts"}`, or
  `{"ok": false, "error": "invalid_auth" | "channel_not_found"}` with HTTP 200, as Slack does),
  `conversations.create` (`name_taken`), `conversations.setTopic` and `conversations.invite`
  (`already_in_channel`), keeping the channels made in `channels`.
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
        # Channels made through the Web API, by id: name, is_private, topic, members.
        self.channels: dict[str, dict[str, Any]] = {}
        self._channel_ids = itertools.count(1)

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
        if call.method == "POST" and call.path.startswith("/api/conversations."):
            if call.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
                return Response(200, {"ok": False, "error": "invalid_auth"})
            return self._conversations(call.path.removeprefix("/api/"), call.body or {})
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

    def _conversations(self, method: str, body: dict[str, Any]) -> Response:
        """conversations.create / setTopic / invite, as the Web API answers them."""
        if method == "conversations.create":
            name = str(body.get("name", ""))
            if not name or len(name) > 80 or name != name.lower() or " " in name:
                return Response(200, {"ok": False, "error": "invalid_name_specials"})
            if any(c["name"] == name for c in self.channels.values()):
                return Response(200, {"ok": False, "error": "name_taken"})
            channel_id = f"C{next(self._channel_ids):08d}"
            private = bool(body.get("is_private"))
            self.channels[channel_id] = {
                "name": name, "is_private": private, "topic": "", "members": [],
            }  # fmt: skip
            return Response(
                200,
                {"ok": True, "channel": {"id": channel_id, "name": name, "is_private": private}},
            )
        channel = self.channels.get(str(body.get("channel", "")))
        if channel is None:
            return Response(200, {"ok": False, "error": "channel_not_found"})
        if method == "conversations.setTopic":
            channel["topic"] = str(body.get("topic", ""))
            return Response(200, {"ok": True, "topic": channel["topic"]})
        if method == "conversations.invite":
            users = [u for u in str(body.get("users", "")).split(",") if u]
            if not users:
                return Response(200, {"ok": False, "error": "no_user"})
            if all(u in channel["members"] for u in users):
                return Response(200, {"ok": False, "error": "already_in_channel"})
            channel["members"] += [u for u in users if u not in channel["members"]]
            return Response(200, {"ok": True, "channel": {"id": body.get("channel")}})
        return Response(200, {"ok": False, "error": "unknown_method"})


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

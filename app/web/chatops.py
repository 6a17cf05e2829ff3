"""`POST /chatops/slack`: Slack's slash commands (`/incident ...`) and the buttons of their
replies (Slack's interactivity requests, a `payload` form field, signed the same way).

Slack posts a form (`application/x-www-form-urlencoded`) signed with the app's signing
secret; an unsigned, badly signed or stale request is answered 401 and does nothing. Slack
waits three seconds for the answer: a command that takes longer is answered "working on it"
at once and its reply is posted to the request's `response_url` when it is done.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.config import Settings
from app.errors import ErrorCode
from app.services.chatops import slack, threads
from app.services.itsm.egress import GuardedTransport
from app.web.middleware.refusal import Refusal, outage_refused

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 65_536
# Slack gives up after 3 s; what is not done by then is posted to response_url.
ANSWER_WITHIN_SECONDS = 2.5
_late: set[asyncio.Task[None]] = set()


class SlackCommands:
    def __init__(self, *, settings: Settings) -> None:
        self.settings = settings

    async def command(self, request: Request) -> Response:
        try:
            return await self._command(request)
        except Refusal as refusal:
            return refusal.webhook_response()

    async def _read(
        self, request: Request, *, media: str = "application/x-www-form-urlencoded"
    ) -> bytes:
        given = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if given != media:
            raise Refusal(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"Slack posts {media} here")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise Refusal(413, ErrorCode.PAYLOAD_TOO_LARGE, f"at most {MAX_BODY_BYTES} bytes")
        return body

    async def _command(self, request: Request) -> Response:
        body = await self._read(request)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        interactive = "payload" in form
        # The workspace names the secret to check the signature with; a payload that does
        # not parse names none, and is refused as unsigned (401) before anything else.
        team_id = _team_of(form["payload"]) if interactive else form.get("team_id", "")
        try:
            with outage_refused():
                tenant_id = await slack.verified_tenant(
                    settings=self.settings,
                    team_id=team_id,
                    timestamp=request.headers.get("x-slack-request-timestamp", ""),
                    given=request.headers.get("x-slack-signature", ""),
                    body=body,
                )
        except slack.Refused as refused:
            raise Refusal(401, ErrorCode.UNAUTHENTICATED, str(refused)) from None
        if interactive:
            return self._interaction(tenant_id, _payload(form))
        task = asyncio.create_task(
            slack.run(
                tenant_id=tenant_id,
                slack_user=form.get("user_id", ""),
                text=form.get("text", ""),
            )
        )
        done, _ = await asyncio.wait({task}, timeout=ANSWER_WITHIN_SECONDS)
        if done:
            return JSONResponse(task.result().to_json())
        self._later(task, form.get("response_url", ""))
        return JSONResponse(slack.Reply("Working on it…").to_json())

    def _interaction(self, tenant_id: str, payload: dict[str, Any]) -> Response:
        """A button pressed: acknowledged at once (Slack shows an error after 3 s), the
        command's reply posted to the payload's `response_url` when it is done."""
        if payload.get("type") != "block_actions":
            return Response(status_code=200)
        user = payload.get("user")
        slack_user = str(user.get("id", "")) if isinstance(user, dict) else ""
        response_url = str(payload.get("response_url") or "")
        actions = payload.get("actions")
        for action in actions if isinstance(actions, list) else []:
            if not isinstance(action, dict):
                continue
            task = asyncio.create_task(
                slack.act(
                    tenant_id=tenant_id,
                    slack_user=slack_user,
                    action_id=str(action.get("action_id", "")),
                    value=str(action.get("value", "")),
                )
            )
            self._later(task, response_url)
        return Response(status_code=200)

    def _later(self, task: asyncio.Task[slack.Reply], response_url: str) -> None:
        late = asyncio.create_task(self._post_later(task, response_url))
        _late.add(late)
        late.add_done_callback(_late.discard)

    async def events(self, request: Request) -> Response:
        """Slack's Events API: the URL check, and messages of incident channels' threads."""
        try:
            body = await self._read(request, media="application/json")
            try:
                message = json.loads(body)
            except ValueError:
                raise Refusal(400, ErrorCode.BAD_REQUEST, "the body is not JSON") from None
            if not isinstance(message, dict):
                raise Refusal(400, ErrorCode.BAD_REQUEST, "the body is not a JSON object")
            team_id = str(message.get("team_id") or "")
            try:
                with outage_refused():
                    if message.get("type") == "url_verification":
                        # Slack checks the URL before it has a workspace to name: the app's
                        # secret is the one of any tenant that configured it.
                        await slack.verified_any(
                            settings=self.settings,
                            timestamp=request.headers.get("x-slack-request-timestamp", ""),
                            given=request.headers.get("x-slack-signature", ""),
                            body=body,
                        )
                        return JSONResponse({"challenge": str(message.get("challenge", ""))})
                    tenant_id = await slack.verified_tenant(
                        settings=self.settings,
                        team_id=team_id,
                        timestamp=request.headers.get("x-slack-request-timestamp", ""),
                        given=request.headers.get("x-slack-signature", ""),
                        body=body,
                    )
            except slack.Refused as refused:
                raise Refusal(401, ErrorCode.UNAUTHENTICATED, str(refused)) from None
            event = message.get("event")
            if message.get("type") == "event_callback" and isinstance(event, dict):
                with outage_refused():
                    await threads.ingest(tenant_id=tenant_id, team_id=team_id, event=event)
            return Response(status_code=200)
        except Refusal as refusal:
            return refusal.webhook_response()

    async def _post_later(self, task: asyncio.Task[slack.Reply], response_url: str) -> None:
        try:
            reply = await task
            if not response_url.startswith(("https://", "http://")):
                return
            transport = GuardedTransport(allow_private=self.settings.allow_private_networks)
            async with httpx.AsyncClient(transport=transport, timeout=10) as client:
                await client.post(response_url, json={**reply.to_json(), "replace_original": False})
        except Exception:
            log.warning("a late Slack reply could not be posted", exc_info=True)


def _payload(form: dict[str, str]) -> dict[str, Any]:
    """An interactive component's `payload` (JSON in the form); 400 when it is not one."""
    try:
        payload = json.loads(form["payload"])
    except ValueError:
        raise Refusal(400, ErrorCode.BAD_REQUEST, "payload is not JSON") from None
    if not isinstance(payload, dict):
        raise Refusal(400, ErrorCode.BAD_REQUEST, "payload is not a JSON object")
    return payload


def _team_of(text: str) -> str:
    """The workspace an interactivity payload names, "" when it names none."""
    try:
        payload = json.loads(text)
    except ValueError:
        return ""
    team = payload.get("team") if isinstance(payload, dict) else None
    return str(team.get("id", "")) if isinstance(team, dict) else ""

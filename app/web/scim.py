"""SCIM 2.0 at /scim/v2: Users and Groups for Okta, Entra ID and other identity providers.

Bearer token of role SCIM (PROVISION_PEOPLE), acting in its own tenant. Every answer is
`application/scim+json`; every error is in SCIM's error shape (RFC 7644 section 3.12),
the database outage included (503). The mapping itself is app/services/people/scim.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from app import database
from app.services.access import audit
from app.services.access.permissions import Action, allowed
from app.services.access.tokens import Principal
from app.services.people import scim
from app.services.people.authentication import Unauthenticated, authenticate
from app.services.people.scim import ScimError
from app.services.people.teams import TeamView
from app.services.people.users import UserView
from app.web.middleware.authentication import origin_of
from app.web.middleware.body_limit import read_body
from app.web.middleware.refusal import Refusal

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/scim+json"
PREFIX = "/scim/v2"

Handler = Callable[[Request, Principal], Awaitable[Response]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(content, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _error(error: ScimError, headers: dict[str, str] | None = None) -> Response:
    return _json(error.body(), error.status, headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


class Scim:
    def __init__(self, *, max_body: int) -> None:
        self.max_body = max_body

    def routes(self) -> list[Route]:
        return [
            Route(f"{PREFIX}/ServiceProviderConfig", self._open(self.config), methods=["GET"]),
            Route(f"{PREFIX}/Users", self._open(self.users), methods=["GET", "POST"]),
            Route(
                f"{PREFIX}/Users/{{id}}",
                self._open(self.user),
                methods=["GET", "PUT", "PATCH", "DELETE"],
            ),
            Route(f"{PREFIX}/Groups", self._open(self.groups), methods=["GET", "POST"]),
            Route(
                f"{PREFIX}/Groups/{{id}}",
                self._open(self.group),
                methods=["GET", "PUT", "PATCH", "DELETE"],
            ),
        ]

    def _open(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                try:
                    principal = await authenticate(request.headers.get("authorization"))
                except Unauthenticated as exc:
                    raise ScimError(401, str(exc)) from None
                if not allowed(principal.role, Action.PROVISION_PEOPLE):
                    raise ScimError(403, "only SCIM tokens may provision users and groups")
                audit.set_origin(origin_of(principal, request))
                return await handler(request, principal)
            except ScimError as error:
                headers = {"WWW-Authenticate": 'Bearer realm="incidentgraph"'}
                return _error(error, headers if error.status == 401 else None)
            except Refusal as refusal:  # a body over the limit
                return _error(ScimError(refusal.status, refusal.message))
            except Exception as exc:
                if database.is_outage(exc):
                    return _error(
                        ScimError(503, "the database is unavailable; retry"), {"Retry-After": "1"}
                    )
                raise

        return endpoint

    async def _body(self, request: Request) -> Any:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in (MEDIA_TYPE, "application/json"):
            raise ScimError(415, f"send {MEDIA_TYPE} (or application/json)")
        try:
            raw = await read_body(
                request.receive,
                limit=self.max_body,
                content_length=request.headers.get("content-length"),
            )
            return json.loads(raw)
        except ClientDisconnect:
            raise ScimError(400, "the body ended early", "invalidSyntax") from None
        except (ValueError, RecursionError):
            raise ScimError(400, "the body is not JSON", "invalidSyntax") from None

    async def config(self, request: Request, principal: Principal) -> Response:
        return _json(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                "patch": {"supported": True},
                "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
                "filter": {"supported": True, "maxResults": scim.COUNT_MAX},
                "changePassword": {"supported": False},
                "sort": {"supported": False},
                "etag": {"supported": False},
                "authenticationSchemes": [
                    {
                        "type": "oauthbearertoken",
                        "name": "Bearer token",
                        "description": "An incidentgraph API token of role SCIM",
                    }
                ],
            }
        )

    # --- users ----------------------------------------------------------------------------

    async def users(self, request: Request, principal: Principal) -> Response:
        tenant = principal.tenant_id
        if request.method == "POST":
            fields = scim.user_fields(await self._body(request))
            view = await scim.create_user(tenant_id=tenant, fields=fields)
            return await self._user(request, view, status=201)
        start, count = _page(request)
        total, views = await scim.list_users(
            tenant_id=tenant, filter=request.query_params.get("filter"), start=start, count=count
        )
        teams = await scim.teams_of([v.id for v in views])
        resources = [scim.user_resource(v, teams[v.id], _base(request)) for v in views]
        return _json(_list(total, start, resources))

    async def user(self, request: Request, principal: Principal) -> Response:
        tenant, user_id = principal.tenant_id, request.path_params["id"]
        if request.method == "GET":
            view = await scim.find_user(tenant, user_id)
        elif request.method == "PUT":
            fields = scim.user_fields(await self._body(request))
            view = await scim.update_user(tenant_id=tenant, user_id=user_id, fields=fields)
        elif request.method == "PATCH":
            fields = scim.user_patch(await self._body(request))
            view = await scim.update_user(tenant_id=tenant, user_id=user_id, fields=fields)
        else:
            await scim.update_user(
                tenant_id=tenant, user_id=user_id, fields=scim.UserFields(active=False)
            )
            return Response(status_code=204)
        return await self._user(request, view)

    async def _user(self, request: Request, view: UserView, status: int = 200) -> Response:
        teams = await scim.teams_of([view.id])
        resource = scim.user_resource(view, teams[view.id], _base(request))
        return _json(resource, status, {"Location": resource["meta"]["location"]})

    # --- groups ---------------------------------------------------------------------------

    async def groups(self, request: Request, principal: Principal) -> Response:
        tenant = principal.tenant_id
        if request.method == "POST":
            fields = scim.group_fields(await self._body(request))
            view = await scim.create_group(tenant_id=tenant, fields=fields)
            return await self._group(request, view, status=201)
        start, count = _page(request)
        total, views = await scim.list_groups(
            tenant_id=tenant, filter=request.query_params.get("filter"), start=start, count=count
        )
        excluded = "members" in request.query_params.get("excludedAttributes", "")
        members = {} if excluded else await scim.members_of([v.id for v in views])
        resources = [scim.group_resource(v, members.get(v.id, []), _base(request)) for v in views]
        return _json(_list(total, start, resources))

    async def group(self, request: Request, principal: Principal) -> Response:
        tenant, team_id = principal.tenant_id, request.path_params["id"]
        if request.method == "GET":
            view = await scim.find_group(tenant, team_id)
        elif request.method == "PUT":
            fields = scim.group_fields(await self._body(request))
            view = await scim.replace_group(tenant_id=tenant, team_id=team_id, fields=fields)
        elif request.method == "PATCH":
            body = await self._body(request)
            view = await scim.patch_group(tenant_id=tenant, team_id=team_id, body=body)
        else:
            await scim.delete_group(tenant_id=tenant, team_id=team_id)
            return Response(status_code=204)
        return await self._group(request, view)

    async def _group(self, request: Request, view: TeamView, status: int = 200) -> Response:
        members = await scim.members_of([view.id])
        resource = scim.group_resource(view, members[view.id], _base(request))
        return _json(resource, status, {"Location": resource["meta"]["location"]})


def _page(request: Request) -> tuple[int, int]:
    return scim.page_of(request.query_params.get("startIndex"), request.query_params.get("count"))


def _list(total: int, start: int, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [scim.LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }

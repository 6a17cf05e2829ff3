"""CORS for browser pages on other sites: a preflight is always answered, allowed or not.

Without `INCIDENTGRAPH_ALLOWED_ORIGINS` no other site's page may call the API; its
preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered 400 with
what was refused and the setting to change, rather than 405 from a route that never heard
of OPTIONS.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from app.config import Settings

METHODS = ["GET", "POST"]
HEADERS = ["Authorization", "Content-Type", "Accept", "X-Request-Id"]


class Cors(CORSMiddleware):
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        super().__init__(
            app,
            allow_origins=list(settings.allowed_origins),
            allow_methods=METHODS,
            allow_headers=HEADERS,
            expose_headers=["Retry-After", "X-Cache"],
            max_age=600,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code == 200:
            return answer
        refused = bytes(answer.body).decode().removeprefix("Disallowed CORS ")
        origin = request_headers.get("origin", "")
        hint = {
            "origin": f"origin {origin!r} is not in INCIDENTGRAPH_ALLOWED_ORIGINS",
            "method": f"only {', '.join(METHODS)} are allowed",
            "headers": f"only the headers {', '.join(HEADERS)} are allowed",
            "private-network": "private-network access is not offered",
        }
        reasons = [hint.get(part.strip(), part.strip()) for part in refused.split(",")]
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return JSONResponse(
            {"error": "CORS preflight refused: " + "; ".join(reasons), "code": "FORBIDDEN"},
            status_code=400,
            headers=headers,
        )

"""The wall-display page: one status board per persona, live over `boardUpdated`.

The page and its script and style ship inside the package (app/web/static/), so a wall
display needs nothing but this server: no CDN, no external fonts. The token never reaches
the server in a URL: it is read from the page's fragment (or typed in) and sent in the
WebSocket's connection_init.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

PERSONAS = ("executive", "responder", "communications", "customer")

_ASSET_TYPES = {
    "board.js": "text/javascript; charset=utf-8",
    "board.css": "text/css; charset=utf-8",
}
# A Host header worth echoing into the policy; anything else falls back to 'self' alone.
_SAFE_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


@dataclass(frozen=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def read_static(name: str) -> bytes:
    """A file of app/web/static/, read once."""
    return (resources.files("app.web") / "static" / name).read_bytes()


@cache
def _asset(name: str, media_type: str) -> _Asset:
    body = read_static(name)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return _Asset(body=body, media_type=media_type, etag=etag)


def static_response(request: Request, name: str, known: dict[str, str]) -> Response:
    """One of the `known` files (name -> media type), cached by ETag; 404 for any other."""
    if name not in known:
        return Response("not found\n", status_code=404, media_type="text/plain")
    asset = _asset(name, known[name])
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "public, max-age=3600",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@cache
def _page(persona: str) -> str:
    # The assets' hash in their URLs: a new release is never served a cached old script.
    version = hashlib.sha256(b"".join(read_static(name) for name in sorted(_ASSET_TYPES)))
    template = read_static("board.html").decode()
    return template.replace("{{persona}}", persona).replace("{{version}}", version.hexdigest()[:16])


def page_headers(request: Request) -> dict[str, str]:
    """The pages' policy: scripts, styles and connections from this server only."""
    host = request.headers.get("host", "")
    # 'self' covers same-host ws:/wss: in current browsers; older ones need them named.
    sockets = f" ws://{host} wss://{host}" if _SAFE_HOST.match(host) else ""
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self' data:; "
        f"connect-src 'self'{sockets}; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


async def board_page(request: Request) -> Response:
    persona = str(request.path_params["persona"]).lower()
    headers = page_headers(request)
    if persona not in PERSONAS:
        known = ", ".join(f"/boards/{p}" for p in PERSONAS)
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>No such board</title>"
            f"<h1>No such board</h1><p>Boards: {known}</p></html>"
        )
        return HTMLResponse(body, status_code=404, headers=headers)
    return HTMLResponse(_page(persona), headers=headers)


async def board_asset(request: Request) -> Response:
    return static_response(request, str(request.path_params["name"]), _ASSET_TYPES)

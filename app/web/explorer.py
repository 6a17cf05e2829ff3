"""GraphiQL with the explorer plugin, from the package itself: /graphql in a browser.

React, GraphiQL and its explorer plugin are vendored in app/web/static/ (see
THIRD-PARTY.md there and scripts/vendor_graphiql.py), so the explorer works on a machine
with no network. The page runs under the wall display's Content-Security-Policy: scripts
and styles from this server only, connections to this server only.
"""

from __future__ import annotations

import hashlib
from functools import cache

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.web.boards import page_headers, read_static, static_response

ASSETS = {
    "react.production.min.js": "text/javascript; charset=utf-8",
    "react-dom.production.min.js": "text/javascript; charset=utf-8",
    "graphiql.min.js": "text/javascript; charset=utf-8",
    "graphiql-explorer.umd.js": "text/javascript; charset=utf-8",
    "graphql-ws.min.js": "text/javascript; charset=utf-8",
    "explorer.js": "text/javascript; charset=utf-8",
    "graphiql.min.css": "text/css; charset=utf-8",
    "graphiql-explorer.css": "text/css; charset=utf-8",
    "explorer.css": "text/css; charset=utf-8",
}


@cache
def _page() -> str:
    # The assets' hash in their URLs: a new release is never served a cached old script.
    version = hashlib.sha256(b"".join(read_static(name) for name in sorted(ASSETS)))
    return read_static("explorer.html").decode().replace("{{version}}", version.hexdigest()[:16])


def page(request: Request) -> Response:
    return HTMLResponse(_page(), headers=page_headers(request))


async def asset(request: Request) -> Response:
    return static_response(request, str(request.path_params["name"]), ASSETS)

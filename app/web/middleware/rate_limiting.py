"""The per-token request rate on `/graphql` over HTTP: past it, 429 RATE_LIMITED and a
`Retry-After`, and nothing runs. The view holds WebSocket operations to the same buckets."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core import metrics
from app.errors import RateLimited
from app.web.middleware.authentication import principal_of
from app.web.middleware.refusal import Refusal
from app.web.rate_limit import RateLimit, retry_after


def rate_limited(limit: RateLimit, key: str) -> RateLimited | None:
    """Spends one of `key`'s requests: None when allowed, else why not (counted)."""
    wait = limit.take(key)
    if wait <= 0:
        return None
    metrics.RATE_LIMITED.inc()
    seconds = retry_after(wait)
    return RateLimited(
        f"too many requests for this token: retry in {seconds} s", retry_after=seconds
    )


class RateLimiting:
    def __init__(self, app: ASGIApp, *, limit: RateLimit) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = principal_of(scope) if scope["type"] == "http" else None
        if principal is not None:
            refused = rate_limited(self.limit, principal.token_id)
            if refused is not None:
                headers = {"Retry-After": str(refused.retry_after)}
                response = Refusal.of(refused, status=429, headers=headers).graphql_response()
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

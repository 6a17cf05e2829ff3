"""A request refused at the edge, and the two body shapes it is answered in.

`/graphql` answers as GraphQL does, `{"data": null, "errors": [{"message", "extensions":
{"code", ...}}]}`; the webhooks (and `/metrics`) answer `{"error": message, "code": CODE}`,
with the same extras (`field`, `retryAfter`, `limit`) beside them. Both are built here only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from starlette.responses import JSONResponse, Response

from app import database
from app.errors import UNAVAILABLE_MESSAGE, DomainError, ErrorCode

# How long a client should wait before retrying a request the database could not serve.
UNAVAILABLE_RETRY_AFTER = 1


class Refusal(Exception):
    """Why a request was answered with `status` before (or instead of) running."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        extensions: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.extensions = dict(extensions or {})
        self.headers = dict(headers or {})

    @classmethod
    def of(
        cls, error: DomainError, *, status: int, headers: Mapping[str, str] | None = None
    ) -> Refusal:
        """A domain error (a rate limit, a bad value) refusing a whole request."""
        return cls(
            status,
            error.code,
            error.message,
            field=error.field,
            extensions=error.extensions,
            headers=headers,
        )

    @classmethod
    def unavailable(cls, message: str = UNAVAILABLE_MESSAGE) -> Refusal:
        seconds = UNAVAILABLE_RETRY_AFTER
        return cls(
            503,
            ErrorCode.UNAVAILABLE,
            message,
            extensions={"retryAfter": seconds},
            headers={"Retry-After": str(seconds)},
        )

    def _details(self) -> dict[str, object]:
        details: dict[str, object] = {"code": self.code.value}
        if self.field is not None:
            details["field"] = self.field
        details.update(self.extensions)
        return details

    def graphql_body(self) -> dict[str, object]:
        return {"data": None, "errors": [{"message": self.message, "extensions": self._details()}]}

    def webhook_body(self) -> dict[str, object]:
        return {"error": self.message, **self._details()}

    def graphql_response(self) -> Response:
        return JSONResponse(self.graphql_body(), status_code=self.status, headers=self.headers)

    def webhook_response(self) -> Response:
        return JSONResponse(self.webhook_body(), status_code=self.status, headers=self.headers)


def too_large(limit: int) -> Refusal:
    return Refusal(
        413,
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"the body may be at most {limit} bytes",
        extensions={"limit": limit},
    )


def unauthenticated(message: str, *, realm: str = "incidentgraph") -> Refusal:
    return Refusal(
        401,
        ErrorCode.UNAUTHENTICATED,
        message,
        headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
    )


@contextlib.contextmanager
def outage_refused() -> Iterator[None]:
    """Turns a database that cannot be reached into `Refusal.unavailable()` (503)."""
    try:
        yield
    except Refusal:
        raise
    except Exception as exc:
        if database.is_outage(exc):
            raise Refusal.unavailable() from None
        raise

"""Domain exceptions and the one ErrorCode enum: every code the API answers with.

Services raise the exceptions; one place turns them into GraphQL errors
(`app/schema/domain_errors.py`, whose payload twin is `UserError.of`), one place into HTTP
refusals (`app/web/middleware/refusal.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ErrorCode(StrEnum):
    # A refused command: a payload's `UserError.code`, or a top-level error's.
    VALIDATION = "VALIDATION"
    NOT_FOUND = "NOT_FOUND"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    # A new record that looks like an existing one (a problem): the candidates are named.
    DUPLICATE = "DUPLICATE"
    # The same person on both sides of a rule that needs two (approving your own change).
    SEPARATION_OF_DUTIES = "SEPARATION_OF_DUTIES"
    # Over one of the tenant's plan limits (active incidents, users, webhook endpoints,
    # events a month): nothing was written.
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    # GraphQL errors (extensions.code), never in a payload: a document over the cost limit,
    # and a subscription push over the size limit.
    QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
    PUSH_TOO_LARGE = "PUSH_TOO_LARGE"
    # A request, operation or connection refused before it ran.
    UNAUTHENTICATED = "UNAUTHENTICATED"
    BAD_REQUEST = "BAD_REQUEST"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    QUERY_TOO_LARGE = "QUERY_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    # A document that is not a GraphQL operation this schema can run.
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    # An automatic persisted query's hash this server does not know (yet): send the document.
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    # The server could not answer: a subscriber that fell behind, the database out of
    # reach (retry), anything unexpected (masked).
    SLOW_CONSUMER = "SLOW_CONSUMER"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


# What a client is told when the database cannot be reached (code UNAVAILABLE).
UNAVAILABLE_MESSAGE = "the database is unavailable: nothing was done, retry shortly"


class DomainError(Exception):
    code: ErrorCode = ErrorCode.VALIDATION

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def extensions(self) -> Mapping[str, object]:
        """What a client is told besides the code, message and field."""
        return {}


class ValidationFailed(DomainError):
    code = ErrorCode.VALIDATION


class QuotaExceeded(DomainError):
    code = ErrorCode.QUOTA_EXCEEDED


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class InvalidTransition(DomainError):
    code = ErrorCode.INVALID_TRANSITION


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class SeparationOfDuties(DomainError):
    code = ErrorCode.SEPARATION_OF_DUTIES


class Duplicate(DomainError):
    """Likely the same as existing records: `candidates` are their ids, most alike first."""

    code = ErrorCode.DUPLICATE

    def __init__(self, message: str, *, candidates: list[str], field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.candidates = candidates

    @property
    def extensions(self) -> Mapping[str, object]:
        return {"candidates": list(self.candidates)}


class RateLimited(DomainError):
    """The caller's allowance is spent: nothing ran; it may try again in `retry_after` s."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def extensions(self) -> Mapping[str, object]:
        return {"retryAfter": self.retry_after}

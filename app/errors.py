"""Domain exceptions. Services raise these; the API maps each to a UserError code."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION = "VALIDATION"
    NOT_FOUND = "NOT_FOUND"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    # GraphQL errors (extensions.code), never in a payload: a document over the cost limit,
    # and a subscription push over the size limit.
    QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
    PUSH_TOO_LARGE = "PUSH_TOO_LARGE"


class DomainError(Exception):
    code: ErrorCode = ErrorCode.VALIDATION

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    code = ErrorCode.VALIDATION


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class InvalidTransition(DomainError):
    code = ErrorCode.INVALID_TRANSITION


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class RateLimited(DomainError):
    code = ErrorCode.RATE_LIMITED


class RequestErrorCode(StrEnum):
    """Why a whole request or WebSocket operation was refused before it ran: the
    `extensions.code` of a top-level GraphQL error, never a payload's `UserError.code`."""

    BAD_REQUEST = "BAD_REQUEST"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    QUERY_TOO_LARGE = "QUERY_TOO_LARGE"
    UNAUTHENTICATED = "UNAUTHENTICATED"

"""What the sync engine needs from an ITSM product, whatever the product.

A connector speaks one product's HTTP API (httpx) and nothing else: no database, no
incidentgraph rules. Field values cross this boundary in the product's own names and values
(`short_description`, `urgency: "1"`, Jira's `summary`, `priority: {"name": "High"}` ...);
mapping them to and from the incident is the sync engine's business (mapping.py).

Failures come out as `ProviderError`, classified once, here (`send`), for every connector:

| what happened                                   | retryable | retry_after             |
|-------------------------------------------------|-----------|-------------------------|
| timeout (connect, read, write, pool)            | yes       | -                       |
| connection refused, reset, closed mid-response  | yes       | -                       |
| 429                                             | yes       | the Retry-After header  |
| 5xx, or a 2xx whose body is not JSON            | yes       | Retry-After, if sent    |
| any other 4xx (400, 401, 403, 404, 409 ...)     | no        | -                       |

A connector never retries by itself: the sync engine owns retries, backoff and dead letters.
Messages name the product, the method and the path, the status and the product's own
error text; never a credential (auth goes in headers, never in the URL or the message).
A call that got no HTTP answer reads "provider unreachable", whatever the cause (refused,
reset, timed out, not HTTP, not allowed): the message reaches the API (`lastError`), and
telling those apart would map the network behind the server for whoever picks the URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from app.core.backoff import retry_after_seconds

UNREACHABLE = "provider unreachable"


class Provider(StrEnum):
    SERVICENOW = "servicenow"
    JIRA = "jira"


@dataclass(frozen=True, slots=True)
class RemoteNote:
    """A ServiceNow work note (journal entry) or a Jira comment."""

    id: str  # the journal entry's sys_id, the Jira comment id
    body: str  # plain text
    author: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteTicket:
    """A ticket as the product returned it."""

    key: str  # ServiceNow sys_id, Jira issue key (e.g. OPS-42)
    number: str  # what people call it: INC0010001, OPS-42
    url: str  # where a person opens it
    fields: Mapping[str, Any]  # the product's field names and raw values
    updated_at: datetime  # sys_updated_on / updated, UTC
    # The product's revision counter (ServiceNow's sys_mod_count), where it has one: it
    # orders versions that updated_at, stamped to the second, cannot tell apart.
    version: int | None = None
    comments: tuple[str, ...] = field(default=())  # newest last, where the product has them
    notes: tuple[RemoteNote, ...] = field(default=())  # the same comments, with their ids


class ProviderError(Exception):
    """A call the product refused or that did not complete.

    `retryable`: a later attempt may succeed (timeouts, refused connections, 429, 5xx).
    `retry_after`: seconds the product asked us to wait (429 Retry-After), if any.
    `timed_out`: no answer came in time; the product may still carry the request out.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.timed_out = timed_out

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.message!r}, retryable={self.retryable}, "
            f"status={self.status}, retry_after={self.retry_after})"
        )


class Connector(Protocol):
    provider: Provider

    async def create(self, fields: Mapping[str, Any], *, idempotency_key: str) -> RemoteTicket:
        """Create a ticket. Calling again with the same key returns the ticket made the first
        time (ServiceNow: correlation_id; Jira: an issue property/label), never a second one."""
        ...

    async def fetch(self, key: str) -> RemoteTicket:
        """The ticket now, comments included. Unknown key: ProviderError, status 404.
        `key` is `RemoteTicket.key`; `RemoteTicket.number` works too (ServiceNow's
        INC0010001, which is what a person pastes when linking a ticket)."""
        ...

    async def update(self, key: str, fields: Mapping[str, Any]) -> RemoteTicket:
        """Write fields (state included: Jira moves it with a transition)."""
        ...

    async def add_comment(self, key: str, body: str) -> None:
        """ServiceNow work_notes, Jira comment (ADF)."""
        ...

    async def aclose(self) -> None: ...


def checked_base_url(base_url: str) -> str:
    """The product's base URL without a trailing slash; credentials in it are refused, so
    they can never reach a message or a log line through the URL."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("base_url must not carry credentials; pass them separately")
    return base_url.rstrip("/")


async def send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    product: str,
    error_text: Callable[[Any], str | None],
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
) -> Any:
    """One request; the decoded JSON body (None for an empty one), or a ProviderError.

    `error_text` pulls the product's own message out of a decoded error body.
    """
    where = f"{product} {method} {path}"
    try:
        response = await client.request(
            method, path, params=dict(params) if params else None, json=json_body
        )
    except httpx.TimeoutException:
        raise ProviderError(f"{where}: {UNREACHABLE}", retryable=True, timed_out=True) from None
    except httpx.TransportError as exc:
        # Refused, reset, closed mid-response: the product may be restarting.
        # UnsupportedProtocol and friends are configuration mistakes: retrying cannot help.
        retryable = isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError)
        raise ProviderError(f"{where}: {UNREACHABLE}", retryable=retryable) from None
    status = response.status_code
    if status < 400:
        if not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            # A proxy page, or a hibernating instance answering 200 with HTML.
            raise ProviderError(
                f"{where}: {status} with a body that is not JSON", retryable=True, status=status
            ) from None
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    text = _error_text(response, error_text)
    message = f"{where}: {status} {response.reason_phrase}" + (f": {text}" if text else "")
    if status == 429 or status >= 500:
        raise ProviderError(message, retryable=True, status=status, retry_after=retry_after)
    raise ProviderError(message, retryable=False, status=status)


def _error_text(response: httpx.Response, extract: Callable[[Any], str | None]) -> str | None:
    try:
        text = extract(response.json())
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError, KeyError):
        text = None
    return text[:500] if text else None

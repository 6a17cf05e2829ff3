"""SCIM 2.0's messages (RFC 7643/7644): schemas, errors, attribute checks, filters, paging
and PatchOp bodies, shared by users and groups."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app.errors import Conflict, DomainError, NotFound, QuotaExceeded

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
COUNT_MAX = 500
COUNT_DEFAULT = 100

# `attr eq "value"`: the only filter Okta and Entra ID send.
_FILTER = re.compile(r'^\s*([A-Za-z][\w.]*)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)


class ScimError(Exception):
    """An error in SCIM's own shape (RFC 7644 section 3.12)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body

    @classmethod
    def of(cls, error: DomainError) -> ScimError:
        if isinstance(error, NotFound):
            return cls(404, error.message)
        if isinstance(error, Conflict):
            return cls(409, error.message, "uniqueness")
        if isinstance(error, QuotaExceeded):
            return cls(403, error.message)  # the tenant's plan holds no more users
        return cls(400, error.message, "invalidValue")


def lower_keys(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in resource.items()}


def require_schema(resource: Mapping[str, Any], schema: str, known: set[str]) -> dict[str, Any]:
    if not isinstance(resource, Mapping):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    schemas = resource.get("schemas")
    if not isinstance(schemas, list) or schema not in schemas:
        raise ScimError(400, f"schemas must include {schema}", "invalidSyntax")
    extensions = {s for s in schemas if isinstance(s, str) and s != schema}
    unknown = sorted(k for k in resource if k.lower() not in known and k not in extensions)
    if unknown:
        raise ScimError(400, f"unknown attributes: {', '.join(unknown)}", "invalidSyntax")
    return lower_keys(resource)


def text_of(value: Any, attribute: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScimError(400, f"{attribute} must be a non-empty string", "invalidValue")
    return value


def flag(value: Any, attribute: str) -> bool:
    # Entra ID sends booleans as the strings "True" and "False" in PATCH operations.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ScimError(400, f"{attribute} must be true or false", "invalidValue")


def primary(values: Any, attribute: str) -> str | None:
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, Mapping) for v in values):
        raise ScimError(400, f"{attribute} must be a list of objects", "invalidValue")
    chosen = next((v for v in values if v.get("primary") is True), values[0] if values else None)
    if chosen is None:
        return None
    return text_of(chosen.get("value"), f"{attribute}.value")


def parse_filter(text: str | None, attributes: Mapping[str, str]) -> tuple[str, str] | None:
    """`attr eq "value"` as (our field, value); the only filter Okta and Entra ID send."""
    if text is None or not text.strip():
        return None
    match = _FILTER.match(text)
    if match is None or match.group(1).lower() not in attributes:
        known = ", ".join(f'{a} eq "..."' for a in attributes)
        raise ScimError(400, f"unsupported filter {text!r}; supported: {known}", "invalidFilter")
    value = match.group(2).replace('\\"', '"').replace("\\\\", "\\")
    return attributes[match.group(1).lower()], value


USER_FILTERS = {"username": "user_name", "externalid": "external_id", "emails.value": "email"}
GROUP_FILTERS = {"displayname": "name", "externalid": "external_id"}


def page_of(start_index: str | None, count: str | None) -> tuple[int, int]:
    try:
        start = max(int(start_index or 1), 1)
        size = min(max(int(count if count is not None else COUNT_DEFAULT), 0), COUNT_MAX)
    except ValueError:
        raise ScimError(400, "startIndex and count must be integers", "invalidValue") from None
    return start, size


def patch_operations(body: Mapping[str, Any]) -> list[tuple[str, str | None, Any]]:
    """(op, path, value) of a PatchOp body, ops lower-cased."""
    if not isinstance(body, Mapping) or PATCH_SCHEMA not in (body.get("schemas") or []):
        raise ScimError(400, f"schemas must include {PATCH_SCHEMA}", "invalidSyntax")
    operations = lower_keys(body).get("operations")
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "Operations must be a non-empty list", "invalidSyntax")
    found = []
    for operation in operations:
        if not isinstance(operation, Mapping):
            raise ScimError(400, "each operation must be an object", "invalidSyntax")
        operation = lower_keys(operation)
        op = str(operation.get("op", "")).lower()
        if op not in ("add", "replace", "remove"):
            raise ScimError(400, f"op must be add, replace or remove, not {op!r}", "invalidSyntax")
        path = operation.get("path")
        if path is not None and not isinstance(path, str):
            raise ScimError(400, "path must be a string", "invalidPath")
        found.append((op, path, operation.get("value")))
    return found

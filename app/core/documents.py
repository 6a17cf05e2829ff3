"""Trusted documents: the only GraphQL operations a production deployment runs, read from
a manifest its clients' build produced.

Two manifest formats are read: a JSON object of SHA-256 hex digest to document (GraphQL
Code Generator's `persistedDocuments`, Relay's persisted queries), and Apollo's persisted
query manifest (`{"format": "apollo-persisted-query-manifest", "operations": [{"id",
"body", ...}]}`). Every document must have the hash it is listed under.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


class BadManifest(ValueError):
    """The manifest cannot be read, or lists a document under another hash."""


def digest(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def read_manifest(path: str | Path) -> dict[str, str]:
    """Hash -> document, from the manifest at `path`; BadManifest saying what is wrong."""
    try:
        raw: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadManifest(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BadManifest(f"{path} is not JSON: {exc}") from None
    if isinstance(raw, dict) and raw.get("format") == "apollo-persisted-query-manifest":
        operations = raw.get("operations")
        if not isinstance(operations, list):
            raise BadManifest(f"{path}: `operations` must be a list")
        pairs = [(op.get("id"), op.get("body")) for op in operations if isinstance(op, dict)]
        if len(pairs) != len(operations):
            raise BadManifest(f"{path}: every operation must be an object with id and body")
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise BadManifest(f"{path}: expected an object of hash to document")
    documents: dict[str, str] = {}
    for key, document in pairs:
        if not isinstance(key, str) or not isinstance(document, str):
            raise BadManifest(f"{path}: hashes and documents must be strings")
        found = key.lower().removeprefix("sha256:")
        if digest(document) != found:
            raise BadManifest(f"{path}: the document listed as {key!r} has another hash")
        documents[found] = document
    if not documents:
        raise BadManifest(f"{path} lists no document")
    return documents

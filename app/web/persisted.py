"""Automatic persisted queries (Apollo's APQ protocol): a client sends a document's SHA-256
instead of the document; the first time it is unknown the client sends both, and from then
on the hash alone.

`extensions.persistedQuery = {version: 1, sha256Hash}`: with a hash this process has seen,
the document is taken from memory; with an unknown one the answer is the error
`PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`), on which Apollo Client,
urql and graphql-request retry with the document; a document whose hash is not the one
given is a BAD_REQUEST. Documents are kept per process, the most recently used first, up
to `CAPACITY`: a client that reaches another worker just sends its document once more.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

CAPACITY = 10_000
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"


class NotPersisted(Exception):
    """The hash names no document this process knows."""


class HashMismatch(Exception):
    """The document given does not have the hash given."""


class BadExtension(Exception):
    """`extensions.persistedQuery` is not version 1 with a SHA-256 hex digest."""


class PersistedQueries:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._documents: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The document a request stands for: `query` itself (remembered by its hash when it
        names one), or the one its hash names."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        digest = _digest_of(persisted)
        if query is None:
            found = self._documents.get(digest)
            if found is None:
                raise NotPersisted(digest)
            self._documents.move_to_end(digest)
            return found
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise HashMismatch(digest)
        self._documents[digest] = query
        self._documents.move_to_end(digest)
        while len(self._documents) > self.capacity:
            self._documents.popitem(last=False)
        return query


def _digest_of(persisted: object) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise BadExtension("extensions.persistedQuery must be {version: 1, sha256Hash}")
    digest = persisted.get("sha256Hash")
    if (
        not isinstance(digest, str)
        or len(digest) != 64
        or any(c not in "0123456789abcdefABCDEF" for c in digest)
    ):
        raise BadExtension("extensions.persistedQuery.sha256Hash must be 64 hex digits")
    return digest.lower()

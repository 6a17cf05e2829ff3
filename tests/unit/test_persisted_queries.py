"""Automatic persisted queries: documents remembered by hash, refused when the hash lies."""

from __future__ import annotations

import hashlib

import pytest

from app.web.persisted import BadExtension, HashMismatch, NotPersisted, PersistedQueries

QUERY = "{ incidents { totalCount } }"
DIGEST = hashlib.sha256(QUERY.encode()).hexdigest()


def ext(digest: str = DIGEST, version: int = 1) -> dict[str, object]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


def test_a_hash_is_unknown_until_its_document_is_sent_once():
    store = PersistedQueries()
    with pytest.raises(NotPersisted):
        store.resolve(None, ext())
    assert store.resolve(QUERY, ext()) == QUERY
    assert store.resolve(None, ext()) == QUERY
    assert store.resolve(None, ext(DIGEST.upper())) == QUERY


def test_a_document_that_is_not_its_hash_is_refused_and_not_kept():
    store = PersistedQueries()
    other = hashlib.sha256(b"{ __typename }").hexdigest()
    with pytest.raises(HashMismatch):
        store.resolve(QUERY, ext(other))
    assert len(store) == 0


@pytest.mark.parametrize(
    "extensions",
    [ext(version=2), ext("abc"), ext("z" * 64), {"persistedQuery": "x"}, {"persistedQuery": {}}],
)
def test_malformed_extensions_are_refused(extensions):
    with pytest.raises(BadExtension):
        PersistedQueries().resolve(QUERY, extensions)


def test_requests_without_the_extension_pass_through():
    assert PersistedQueries().resolve(QUERY, None) == QUERY
    assert PersistedQueries().resolve(QUERY, {"other": 1}) == QUERY


def test_the_least_recently_used_document_goes_first():
    store = PersistedQueries(capacity=2)
    docs = [f"{{ a{i}: __typename }}" for i in range(3)]
    digests = [hashlib.sha256(d.encode()).hexdigest() for d in docs]
    store.resolve(docs[0], ext(digests[0]))
    store.resolve(docs[1], ext(digests[1]))
    store.resolve(None, ext(digests[0]))  # used again: kept
    store.resolve(docs[2], ext(digests[2]))
    assert store.resolve(None, ext(digests[0])) == docs[0]
    with pytest.raises(NotPersisted):
        store.resolve(None, ext(digests[1]))

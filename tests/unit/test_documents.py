"""The document cache: parsed and validated documents kept within a budget of characters."""

from __future__ import annotations

import pytest
from graphql import GraphQLSyntaxError, build_schema, specified_rules

from app.schema.documents import DocumentCache

SCHEMA = build_schema("type Query { a: Int b: Int }")
RULES = tuple(specified_rules)


def query(n: int, pad: int = 0) -> str:
    return "{ a }" + " " * pad + f"# {n}"


def test_the_same_text_is_parsed_once() -> None:
    cache = DocumentCache()
    assert cache.parse("{ a }") is cache.parse("{ a }")
    assert cache.parse("{ a }") is not cache.parse("{ b }")


def test_a_text_over_the_entry_limit_is_parsed_every_time_and_never_kept() -> None:
    cache = DocumentCache(max_entry_chars=100)
    big = query(1, pad=200)
    assert cache.parse(big) is not cache.parse(big)
    assert len(cache) == 0 and cache.chars == 0


def test_least_recently_used_texts_go_once_the_character_budget_is_spent() -> None:
    # given room for about three texts of 100 characters
    cache = DocumentCache(max_total_chars=320)
    first, second, third, fourth = (query(n, pad=94) for n in range(4))
    kept = cache.parse(first)
    cache.parse(second)
    cache.parse(third)
    cache.parse(first)  # used again: now the most recent
    # when a fourth arrives
    cache.parse(fourth)
    # then the least recently used (the second) went, the first stayed
    assert cache.chars <= 320 and len(cache) == 3
    assert cache.parse(first) is kept
    assert cache.chars <= 320


def test_the_entry_count_is_bounded_too() -> None:
    cache = DocumentCache(max_entries=2)
    for n in range(5):
        cache.parse(query(n))
    assert len(cache) == 2


def test_a_syntax_error_is_raised_and_not_kept() -> None:
    cache = DocumentCache()
    with pytest.raises(GraphQLSyntaxError):
        cache.parse("{ a ")
    assert len(cache) == 0


def test_the_token_limit_is_part_of_the_key() -> None:
    cache = DocumentCache()
    cache.parse("{ a b }")
    with pytest.raises(GraphQLSyntaxError):
        cache.parse("{ a b }", max_tokens=2)


def test_validation_is_kept_with_a_kept_document_only() -> None:
    cache = DocumentCache(max_entry_chars=100)
    text = "{ nope }"
    document = cache.parse(text)
    errors = cache.validate(SCHEMA, text, document, RULES)
    assert [e.message for e in errors] == ["Cannot query field 'nope' on type 'Query'."]
    assert cache.validate(SCHEMA, text, document, RULES) is errors
    big = "{ nope }" + " " * 200
    big_document = cache.parse(big)
    first = cache.validate(SCHEMA, big, big_document, RULES)
    assert first and cache.validate(SCHEMA, big, big_document, RULES) is not first

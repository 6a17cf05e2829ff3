"""Content negotiation of GraphQL over HTTP: which Accept headers ask for
application/graphql-response+json, and which answers are request errors."""

from __future__ import annotations

import pytest

from app.web.middleware.media_type import request_error, wants_graphql_response


@pytest.mark.parametrize(
    "accept, wanted",
    [
        (None, False),
        ("", False),
        ("application/json", False),
        ("*/*", False),
        ("application/graphql-response+json", True),
        ("application/graphql-response+json, application/json;q=0.9", True),
        ("application/json, application/graphql-response+json", True),
        ("application/json, application/graphql-response+json;q=0.5", False),
        ("application/graphql-response+json;q=0", False),
        ("Application/GraphQL-Response+JSON; charset=utf-8", True),
        ("application/graphql-response+json;q=oops", False),
    ],
)
def test_which_accept_headers_ask_for_graphql_response_json(accept, wanted):
    assert wants_graphql_response(accept) is wanted


def test_only_unexecuted_documents_are_request_errors():
    parse = {"code": "GRAPHQL_PARSE_FAILED"}
    invalid = {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert request_error({"data": None, "errors": [{"message": "x", "extensions": invalid}]})
    assert request_error({"errors": [{"message": "x", "extensions": parse}]})
    # a field error during execution is not: data is there (null or not)
    assert not request_error({"data": None, "errors": [{"extensions": {"code": "NOT_FOUND"}}]})
    assert not request_error({"data": {"a": 1}, "errors": [{"extensions": invalid}]})
    assert not request_error({"data": {"a": 1}})

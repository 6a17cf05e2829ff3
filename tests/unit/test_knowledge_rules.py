"""The knowledge base's pure pieces: what an edit does, FTS5 queries, highlight parts."""

from __future__ import annotations

from app.models import ArticleStatus as S
from app.services.knowledge.lifecycle import after_edit
from app.services.knowledge.search import Part, fts5_query, parts


def test_an_edit_leaves_a_draft_and_a_retired_article_stays_retired():
    assert [after_edit(s) for s in (S.DRAFT, S.IN_REVIEW, S.PUBLISHED)] == [S.DRAFT] * 3
    assert after_edit(S.RETIRED) is S.RETIRED


def test_search_words_become_quoted_fts5_terms_and_syntax_stays_text():
    assert fts5_query("consumer lag") == '"consumer" "lag"'
    assert fts5_query('NEAR(a b) OR "x" -y*') == '"NEAR" "a" "b" "OR" "x" "y"'
    assert fts5_query("  !!  ") is None


def test_a_highlight_splits_into_plain_and_matched_parts():
    marked = "Old \ue000consumer\ue001 \ue000lag\ue001 grows"

    assert parts(marked) == [
        Part("Old ", False),
        Part("consumer", True),
        Part(" ", False),
        Part("lag", True),
        Part(" grows", False),
    ]
    assert parts("<b>no match</b>") == [Part("<b>no match</b>", False)]

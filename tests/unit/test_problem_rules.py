"""Problems' pure rules: the lifecycle, the stability window, and duplicate detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.models import ProblemStatus as S
from app.services.problems.lifecycle import allowed_targets, can_transition, closable_at
from app.services.problems.similarity import likely_duplicate, similarity, trigrams


def test_the_lifecycle_goes_forward_and_reopens_but_never_leaves_closed():
    assert allowed_targets(S.NEW) == [S.UNDER_INVESTIGATION]
    assert can_transition(S.UNDER_INVESTIGATION, S.KNOWN_ERROR)
    assert can_transition(S.KNOWN_ERROR, S.RESOLVED)
    assert can_transition(S.RESOLVED, S.UNDER_INVESTIGATION)  # it recurred
    assert not can_transition(S.NEW, S.CLOSED)
    assert allowed_targets(S.CLOSED) == []


def test_a_problem_closes_a_window_after_it_was_resolved_or_last_recurred():
    resolved = datetime(2026, 12, 1, tzinfo=UTC)
    week = timedelta(days=7)

    assert closable_at(resolved, None, week) == resolved + week
    assert closable_at(resolved, resolved - timedelta(days=3), week) == resolved + week
    later = resolved + timedelta(days=2)
    assert closable_at(resolved, later, week) == later + week


def test_trigrams_and_similarity_follow_pg_trgm():
    assert trigrams("word") == {"  w", " wo", "wor", "ord", "rd "}
    assert similarity("Checkout", "checkout!") == 1.0
    assert similarity("abc", "xyz") == 0.0
    assert 0.5 < similarity("Checkout times out under load", "Checkout timeouts under load") < 1


def test_a_duplicate_needs_a_similar_title_and_a_shared_service_when_both_have_some():
    title = "Checkout times out under load"

    assert likely_duplicate(title, frozenset(), "Checkout timeouts under load", []) is not None
    assert likely_duplicate(title, frozenset({"a"}), "Checkout timeouts", ["b"]) is None
    assert likely_duplicate(title, frozenset({"a"}), "Checkout timeouts", ["a", "b"]) is not None
    assert likely_duplicate(title, frozenset({"a"}), "Printer jams on floor 3", ["a"]) is None

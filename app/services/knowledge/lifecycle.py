"""The article lifecycle: DRAFT -> IN_REVIEW -> PUBLISHED -> RETIRED.

Editing an article in review sends it back to DRAFT; editing a published one starts a new
draft of it (the published version stays readable and searchable until the next one is
published). Whoever wrote the draft cannot publish it.
"""

from __future__ import annotations

from app.models import ArticleStatus as S

# What each command needs the article to be.
SUBMITTABLE = frozenset({S.DRAFT})
PUBLISHABLE = frozenset({S.IN_REVIEW})
RETIRABLE = frozenset({S.DRAFT, S.IN_REVIEW, S.PUBLISHED})
EDITABLE = frozenset({S.DRAFT, S.IN_REVIEW, S.PUBLISHED})


def after_edit(current: S) -> S:
    """An edit leaves a draft: a new one, for an article in review or published."""
    return S.DRAFT if current in EDITABLE else current

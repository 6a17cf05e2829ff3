"""Likely duplicates: trigram similarity of titles, as PostgreSQL's pg_trgm computes it.

Words are the runs of letters and digits, lower-cased, each padded with two spaces before
and one after; a title's trigrams are the set of three-character windows over its words;
similarity is the share of trigrams two titles have in common (|A & B| / |A | B|). Computed
here, the same on both backends, over the few active problems of a tenant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# pg_trgm's default similarity_threshold.
THRESHOLD = 0.3
_WORD = re.compile(r"[^\W_]+")


def trigrams(text: str) -> frozenset[str]:
    grams: set[str] = set()
    for word in _WORD.findall(text.lower()):
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(grams)


def similarity(a: str, b: str) -> float:
    first, second = trigrams(a), trigrams(b)
    union = first | second
    return len(first & second) / len(union) if union else 0.0


def likely_duplicate(
    title: str, services: frozenset[str], candidate_title: str, candidate_services: Iterable[str]
) -> float | None:
    """The similarity when the candidate looks like the same problem: titles at least
    THRESHOLD alike, and, when both name services, at least one service shared."""
    others = frozenset(candidate_services)
    if services and others and not services & others:
        return None
    score = similarity(title, candidate_title)
    return score if score >= THRESHOLD else None

"""Likely duplicates of a new problem among the tenant's active ones: titles alike by
trigram similarity and, when both name services, a service in common.

On PostgreSQL with pg_trgm (migration 0027 installs it where the database allows) the
database finds them: `title % $title` through the trigram GIN index, `similarity()` ranks
them, and only the best candidates come back. Elsewhere (SQLite, or a PostgreSQL without
the extension) the same measure is computed here over the tenant's active problems.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from app.models import Problem, ProblemService
from app.services.access.caller import Caller
from app.services.problems import lifecycle, similarity
from app.services.problems.view import ProblemView
from app.services.records.queries import readable_text_levels

log = logging.getLogger(__name__)

# Candidates named in a DUPLICATE error at most.
CANDIDATES_MAX = 20

_TRIGRAM_QUERY = """
SELECT p.id, similarity(p.title, $2::text) AS score
FROM problem p
WHERE p.tenant_id = $1
  AND p.status = ANY($3::text[])
  AND p.classification = ANY($4::text[])
  AND p.title % $2::text
  AND similarity(p.title, $2::text) >= $5
  AND (
    cardinality($6::uuid[]) = 0
    OR NOT EXISTS (SELECT 1 FROM problem_service s WHERE s.problem_id = p.id)
    OR EXISTS (SELECT 1 FROM problem_service s WHERE s.problem_id = p.id
               AND s.service_id = ANY($6::uuid[]))
  )
ORDER BY score DESC, p.number
LIMIT $7
"""

# Per process: whether the database computes trigram similarity (None: not asked yet).
_in_database: bool | None = None


async def duplicates_of(
    *, caller: Caller, title: str, service_ids: Sequence[str]
) -> list[tuple[ProblemView, float]]:
    """Active problems whose title the caller may read that look like this one, most
    alike first (a title above the clearance is neither compared nor named)."""
    if await _database_computes_trigrams():
        return await _in_postgres(caller, title, service_ids)
    return await _computed_here(caller, title, service_ids)


async def _database_computes_trigrams() -> bool:
    global _in_database
    conn = Problem._meta.db
    if conn.capabilities.dialect != "postgres":
        return False
    if _in_database is None:
        rows = await conn.execute_query_dict("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        _in_database = bool(rows)
        if not _in_database:
            log.warning(
                "pg_trgm is not installed: likely duplicate problems are found by reading "
                "every active problem of the tenant (CREATE EXTENSION pg_trgm to index them)"
            )
    return _in_database


async def _in_postgres(
    caller: Caller, title: str, service_ids: Sequence[str]
) -> list[tuple[ProblemView, float]]:
    rows = await Problem._meta.db.execute_query_dict(
        _TRIGRAM_QUERY,
        [
            caller.tenant_id,
            title,
            [s.value for s in lifecycle.ACTIVE],
            [c.value for c in readable_text_levels(caller.clearance)],
            similarity.THRESHOLD,
            list(service_ids),
            CANDIDATES_MAX,
        ],
    )
    scores = {str(r["id"]): float(r["score"]) for r in rows}
    problems = await Problem.filter(id__in=list(scores)) if scores else []
    found = [(ProblemView.of(p), scores[str(p.id)]) for p in problems]
    return sorted(found, key=lambda pair: (-pair[1], pair[0].number))


async def _computed_here(
    caller: Caller, title: str, service_ids: Sequence[str]
) -> list[tuple[ProblemView, float]]:
    services = frozenset(service_ids)
    active = await Problem.filter(
        tenant_id=caller.tenant_id, status__in=list(lifecycle.ACTIVE)
    ).order_by("number")
    links = await ProblemService.filter(problem_id__in=[p.id for p in active]).values(
        "problem_id", "service_id"
    )
    by_problem: dict[str, set[str]] = {}
    for link in links:
        by_problem.setdefault(str(link["problem_id"]), set()).add(str(link["service_id"]))
    readable = frozenset(readable_text_levels(caller.clearance))
    found = []
    for row in active:
        if row.classification not in readable:
            continue
        score = similarity.likely_duplicate(
            title, services, row.title, by_problem.get(str(row.id), ())
        )
        if score is not None:
            found.append((ProblemView.of(row), score))
    found.sort(key=lambda pair: (-pair[1], pair[0].number))
    return found[:CANDIDATES_MAX]

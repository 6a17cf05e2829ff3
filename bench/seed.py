"""Data for the benchmarks, written through the public GraphQL API."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

DECLARE = """
mutation Declare($input: DeclareIncidentInput!) {
  declareIncident(input: $input) { incident { id version } errors { code message } }
}
"""

TRANSITION = """
mutation Transition($input: TransitionIncidentInput!) {
  transitionIncident(input: $input) { incident { id status version } errors { code message } }
}
"""

ADD_NOTE = """
mutation AddNote($input: AddNoteInput!) {
  addNote(input: $input) { event { seq } errors { code message } }
}
"""

_SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
_LEVELS = ("HIGH", "MEDIUM", "LOW")
# After the declaration: IN_PROGRESS, three notes and MITIGATED make six timeline events.
_STORY = (
    ("transition", "IN_PROGRESS"),
    ("note", "Paging the on-call."),
    ("note", "Error rate is back under 1%."),
    ("transition", "MITIGATED"),
    ("note", "Watching for another hour."),
)
EVENTS_PER_INCIDENT = 1 + len(_STORY)


class Executor(Protocol):
    async def execute(
        self, query: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]: ...


def _payload(data: dict[str, Any], field: str) -> dict[str, Any]:
    payload: dict[str, Any] = data[field]
    if payload["errors"]:
        raise RuntimeError(f"{field} refused: {payload['errors']}")
    return payload


async def declare(client: Executor, *, title: str, index: int = 0) -> dict[str, Any]:
    """A new OPEN incident; returns {id, version}."""
    values = {
        "title": title,
        "severity": _SEVERITIES[index % len(_SEVERITIES)],
        "impact": _LEVELS[index % len(_LEVELS)],
        "urgency": _LEVELS[(index // len(_LEVELS)) % len(_LEVELS)],
        "service": f"service-{index % 7}",
    }
    data = await client.execute(DECLARE, {"input": values})
    incident: dict[str, Any] = _payload(data, "declareIncident")["incident"]
    return incident


async def transition(client: Executor, incident_id: str, to: str) -> dict[str, Any]:
    """Move an incident; returns {id, status, version}."""
    data = await client.execute(TRANSITION, {"input": {"id": incident_id, "to": to}})
    incident: dict[str, Any] = _payload(data, "transitionIncident")["incident"]
    return incident


async def _incident_with_story(client: Executor, index: int) -> str:
    incident = await declare(client, title=f"Bench incident {index}", index=index)
    for kind, value in _STORY:
        if kind == "transition":
            await transition(client, incident["id"], value)
        else:
            data = await client.execute(
                ADD_NOTE, {"input": {"incidentId": incident["id"], "body": value}}
            )
            _payload(data, "addNote")
    return str(incident["id"])


async def incidents(
    client: Executor, *, count: int, start: int = 0, concurrency: int = 8
) -> list[str]:
    """`count` incidents with EVENTS_PER_INCIDENT timeline events each; returns their ids."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> str:
        async with gate:
            return await _incident_with_story(client, index)

    return list(await asyncio.gather(*(one(i) for i in range(start, start + count))))


CREATE_PROBLEM = """
mutation($title: String!, $incident: ID!) {
  createProblem(input: {title: $title, force: true, incidentIds: [$incident]}) {
    problem { id } errors { code message }
  }
}
"""

REQUEST_CHANGE = """
mutation($title: String!) {
  requestChange(input: {title: $title, type: STANDARD, risk: LOW}) {
    change { id } errors { code message }
  }
}
"""

CREATE_ARTICLE = """
mutation($title: String!, $problem: ID!) {
  createArticle(input: {title: $title, body: "Restart the pool, then watch the error rate.",
                        kind: RESOLUTION, problemId: $problem}) {
    article { id } errors { code message }
  }
}
"""

LINK_CHANGE = """
mutation($change: ID!, $incident: ID!) {
  linkChange(input: {changeId: $change, incidentId: $incident, relation: FIXES}) {
    errors { code message }
  }
}
"""

LINK_ARTICLE = """
mutation($article: ID!, $incident: ID!) {
  linkArticle(input: {articleId: $article, incidentId: $incident}) { errors { code message } }
}
"""


async def records(client: Executor, incident_ids: list[str], *, concurrency: int = 4) -> None:
    """Per incident: a problem linked to it with an article, a STANDARD change linked as
    FIXES and the article linked too."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, incident: str) -> None:
        async with gate:
            data = await client.execute(
                CREATE_PROBLEM, {"title": f"Cause {index} of {incident}", "incident": incident}
            )
            problem = _payload(data, "createProblem")["problem"]["id"]
            data = await client.execute(REQUEST_CHANGE, {"title": f"Fix {index}"})
            change = _payload(data, "requestChange")["change"]["id"]
            data = await client.execute(
                CREATE_ARTICLE, {"title": f"How to recover {index}", "problem": problem}
            )
            article = _payload(data, "createArticle")["article"]["id"]
            data = await client.execute(LINK_CHANGE, {"change": change, "incident": incident})
            _payload(data, "linkChange")
            data = await client.execute(LINK_ARTICLE, {"article": article, "incident": incident})
            _payload(data, "linkArticle")

    await asyncio.gather(*(one(i, incident) for i, incident in enumerate(incident_ids)))

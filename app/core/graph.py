"""Dependency graphs (services on services, tasks on tasks): the cycle a new edge closes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def cycle_through(
    edges: Mapping[str, Iterable[str]], node: str, depends_on: Iterable[str]
) -> list[str] | None:
    """The dependency cycle `node` would close by depending on `depends_on`, as a path
    [node, ..., node]; None when there is none. `edges` are the other dependencies."""
    for first in depends_on:
        path = _path(edges, first, node)
        if path is not None:
            return [node, *path]
    return None


def _path(edges: Mapping[str, Iterable[str]], start: str, goal: str) -> list[str] | None:
    """A path of dependencies from `start` to `goal` (both included), depth first."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        if node in seen:
            continue
        seen.add(node)
        stack.extend((nxt, [*path, nxt]) for nxt in edges.get(node, ()))
    return None

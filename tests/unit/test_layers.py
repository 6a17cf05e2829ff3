"""The import arrows point one way: web -> resolvers -> schema -> services -> pubsub -> models,
with core, errors and config beneath everything. A forbidden import fails here, naming the
file, the line and the import, before it can grow into a cycle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.support import ROOT

APP = ROOT / "app"

# Higher imports lower, never the reverse; one layer may import itself.
LAYERS = [
    ("app.main", 9),
    ("app.cli", 9),
    ("app.web", 8),
    ("app.resolvers", 7),
    ("app.schema", 6),
    ("app.services", 5),
    # A data migration may use a service (the secret box encrypts what it rewrites).
    ("app.migrations", 5),
    ("app.pubsub", 3),
    ("app.database", 2),
    ("app.models", 1),
    ("app.core", 0),
    ("app.errors", 0),
    ("app.config", 0),
    ("app", 0),
]
# The one module allowed above its layer: `python -m app.schema.export` prints the SDL of
# the root the resolvers assemble; nothing in app/ imports it.
ALLOWED = {("app.schema.export", "app.resolvers.root")}
# Strawberry types that refer to each other (strawberry.lazy): the one cycle allowed. A
# user lists their assigned incidents and mentions; incidents and notes name users.
TYPE_CYCLE = {
    "app.schema.alert",
    "app.schema.board",
    "app.schema.catalog",
    "app.schema.change",
    "app.schema.comms",
    "app.schema.incident",
    "app.schema.knowledge",
    "app.schema.oncall",
    "app.schema.people",
    "app.schema.problem",
    "app.schema.response",
    "app.schema.timeline",
}
# The incident core knows no integration; the merge is the one command that moves an
# incident's alerts and tickets along with it.
INTEGRATIONS = ("app.services.itsm", "app.services.alerts")
INCIDENT_CORE_EXCEPT = {"app.services.incidents.merge"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in APP.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, int]]:
    return _imports_in(path.read_text())


def _imports_in(source: str) -> list[tuple[str, int]]:
    """Every app module `source` imports, at any depth (functions too), with its line."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found += [
                (f"{node.module}.{alias.name}", node.lineno)
                for alias in node.names
                if f"{node.module}.{alias.name}" in MODULES
            ]
    return [(name, line) for name, line in found if name == "app" or name.startswith("app.")]


def _rank(module: str) -> int:
    return next(
        rank for prefix, rank in LAYERS if module == prefix or module.startswith(prefix + ".")
    )


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        for imported, _ in _imports(path):
            if imported in MODULES and imported != name:
                edges[name].add(imported)
    return edges


def _upward(name: str, imports: list[tuple[str, int]]) -> list[str]:
    return [
        f"line {line}: {name} ({_rank(name)}) imports {imported} ({_rank(imported)})"
        for imported, line in imports
        if _rank(imported) > _rank(name) and (name, imported) not in ALLOWED
    ]


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{path.relative_to(ROOT)} {problem}"
        for name, path in sorted(MODULES.items())
        for problem in _upward(name, _imports(path))
    ]
    assert upward == []


def test_the_incident_core_imports_no_integration():
    reaching = [
        f"{path.relative_to(ROOT)}:{line}: imports {imported}"
        for name, path in sorted(MODULES.items())
        if name.startswith("app.services.incidents") and name not in INCIDENT_CORE_EXCEPT
        for imported, line in _imports(path)
        if imported.startswith(INTEGRATIONS)
    ]
    assert reaching == []


def test_no_import_cycles_but_between_strawberry_types():
    # Tarjan's strongly connected components over module imports.
    edges = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(component)

    for module in sorted(MODULES):
        if module not in index:
            visit(module)

    assert [sorted(c) for c in cycles if not c <= TYPE_CYCLE] == []


def test_the_check_names_a_forbidden_import_even_inside_a_function():
    # given a service that would reach up into the GraphQL layer from inside a function
    source = "def later():\n    from app.resolvers.root import schema\n    return schema\n"

    # then the check names it, with its line
    assert _upward("app.services.incidents.commands", _imports_in(source)) == [
        "line 2: app.services.incidents.commands (5) imports app.resolvers.root (7)"
    ]

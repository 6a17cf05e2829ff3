"""Fetch the GraphiQL explorer's browser files into app/web/static/, so that /graphql works
with no network: `python -m scripts.vendor_graphiql`.

Each package is downloaded from the npm registry at the version pinned here and checked
against the registry's sha512 integrity before a file is taken from it. Bump a version,
run this, load /graphql and run tests/integration/test_explorer.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "app" / "web" / "static"
REGISTRY = "https://registry.npmjs.org"
# package, version, {file in the package: name under app/web/static/}
PACKAGES = [
    ("react", "18.3.1", {"umd/react.production.min.js": "react.production.min.js"}),
    ("react-dom", "18.3.1", {"umd/react-dom.production.min.js": "react-dom.production.min.js"}),
    (
        "graphiql",
        "3.9.0",
        {"graphiql.min.js": "graphiql.min.js", "graphiql.min.css": "graphiql.min.css"},
    ),
    # GraphiQL's browser build leaves its WebSocket client out: the page gives it one.
    ("graphql-ws", "5.16.2", {"umd/graphql-ws.min.js": "graphql-ws.min.js"}),
    (
        "@graphiql/plugin-explorer",
        "3.2.5",
        {
            "dist/index.umd.js": "graphiql-explorer.umd.js",
            "dist/style.css": "graphiql-explorer.css",
        },
    ),
]


def fetch(package: str, version: str, files: dict[str, str]) -> None:
    with urllib.request.urlopen(f"{REGISTRY}/{package}/{version}", timeout=60) as answer:
        dist = json.load(answer)["dist"]
    with urllib.request.urlopen(dist["tarball"], timeout=120) as answer:
        tarball = answer.read()
    algorithm, _, expected = dist["integrity"].partition("-")
    if algorithm != "sha512" or base64.b64decode(expected) != hashlib.sha512(tarball).digest():
        raise SystemExit(f"{package}@{version}: the tarball does not match its integrity")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for inside, name in files.items():
            member = archive.extractfile(f"package/{inside}")
            if member is None:
                raise SystemExit(f"{package}@{version} has no {inside}")
            (STATIC / name).write_bytes(member.read())
            print(f"{package}@{version} {inside} -> app/web/static/{name}")


def main() -> None:
    for package, version, files in PACKAGES:
        fetch(package, version, files)


if __name__ == "__main__":
    main()

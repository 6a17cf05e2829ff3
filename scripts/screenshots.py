"""Screenshots of the wall display, one per persona, for the README.

    .venv/bin/python -m scripts.screenshots      # or: make screenshots

Starts a server on a temporary SQLite database, loads `incidentgraph demo`, gives the demo
incidents what a real room would have (assignees, a commander, public updates, an update
cadence of one minute so the communications board has something overdue after a minute's
wait), then opens /boards/{persona} in Debian's Chromium with a VIEWER token and saves
docs/screenshots/{persona}.png.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support import ROOT, Backend, GraphQLClient, Server, create_token

CHROMIUM = "/usr/bin/chromium"
OUT = ROOT / "docs" / "screenshots"
PERSONAS = ("executive", "responder", "communications", "customer")
MAX_BYTES = 300_000

ACTIVE = """
query { incidents(filter: {status: [OPEN, IN_PROGRESS, PENDING, ESCALATED, MITIGATED]}, first: 50) {
  edges { node { id title service priority } } } }
"""
DRESS = """
mutation Dress($id: ID!, $assignee: String!, $commander: String) {
  assignIncident(input: {id: $id, assignee: $assignee}) { errors { message } }
  updateIncident(input: {id: $id, commander: $commander}) { errors { message } }
}
"""
PUBLIC_NOTE = """
mutation Note($id: ID!, $body: String!) {
  addNote(input: {incidentId: $id, body: $body, classification: PUBLIC}) { errors { message } }
}
"""
CADENCE = """
mutation { updateTenantPolicy(input: {updateCadence: [
  {priority: P1, minutes: 1}, {priority: P2, minutes: 1}, {priority: P3, minutes: 1}]}) {
  errors { message } } }
"""
ON_CALL = ["alice", "bob", "chen", "dana", "emeka"]
PUBLIC_UPDATES = {
    "checkout": "Some payments are failing at checkout. We have rolled back a release.",
    "search": "Search is slower than usual; results are still correct.",
    "notifications": "Password reset emails may arrive late.",
}


def _check(data: dict[str, object]) -> None:
    for name, payload in data.items():
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if errors:
            raise SystemExit(f"{name}: {errors}")


async def _dress(client: GraphQLClient) -> None:
    edges = (await client.execute(ACTIVE))["incidents"]["edges"]
    for n, edge in enumerate(edges):
        incident = edge["node"]
        commander = "sam" if incident["priority"] in ("P1", "P2") else None
        variables = {"id": incident["id"], "assignee": ON_CALL[n % len(ON_CALL)]}
        _check(await client.execute(DRESS, {**variables, "commander": commander}))
        body = PUBLIC_UPDATES.get(incident["service"])
        if body:
            _check(await client.execute(PUBLIC_NOTE, {"id": incident["id"], "body": body}))
    _check(await client.execute(CADENCE))


async def _shoot(server: Server, token: str) -> None:
    from playwright.async_api import async_playwright, expect

    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            for persona in PERSONAS:
                page = await browser.new_page(viewport={"width": 1600, "height": 900})
                await page.goto(f"{server.url}/boards/{persona}#token={token}")
                await expect(page.locator("#conn")).to_have_text("LIVE", timeout=15_000)
                await expect(page.locator("#age")).to_contain_text("updated", timeout=15_000)
                await page.wait_for_timeout(1_200)  # let the clocks tick once
                path = OUT / f"{persona}.png"
                await page.screenshot(path=str(path))
                await page.close()
                size = path.stat().st_size
                print(f"{path.relative_to(ROOT)}: {size // 1024} KB")
                if size > MAX_BYTES:
                    raise SystemExit(f"{path} is over {MAX_BYTES // 1000} KB")
        finally:
            await browser.close()


async def _main() -> None:
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="ig-screenshots-") as tmp:
        backend = Backend("embedded", f"sqlite://{tmp}/incidentgraph.db", "memory://")
        server = Server(backend).start(Path(tmp))
        try:
            subprocess.run(
                [sys.executable, "-m", "app.cli", "demo"],
                cwd=ROOT,
                env=server.env(),
                check=True,
                capture_output=True,
            )
            admin = server.client()
            await _dress(admin)
            await admin.aclose()
            print("waiting a minute, so public updates fall due on the communications board")
            await asyncio.sleep(62)
            await _shoot(server, create_token(server, role="VIEWER", name="wall"))
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(_main())

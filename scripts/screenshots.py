"""Screenshots of the wall display, each persona on a 1080p and a 720p screen, for the README.

    .venv/bin/python -m scripts.screenshots      # or: make screenshots

Starts a server on a temporary SQLite database, loads `incidentgraph demo` and declares
more incidents until 30 are active (more than a screen holds, so the boards show compact
rows and their pager), gives them what a real room would have (assignees, a commander,
public updates, an update cadence of one minute so the communications board has something
overdue after a minute's wait), then opens /boards/{persona} in Debian's Chromium with a
VIEWER token at each screen size and saves docs/screenshots/{persona}-{width}x{height}.png.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support import ROOT, Backend, GraphQLClient, Server, create_token

CHROMIUM = "/usr/bin/chromium"
OUT = ROOT / "docs" / "screenshots"
PERSONAS = ("executive", "responder", "communications", "customer")
SCREENS = ((1920, 1080), (1280, 720))
ACTIVE_INCIDENTS = 30
MAX_BYTES = 400_000

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
DECLARE = """
mutation Declare($input: DeclareIncidentInput!) {
  declareIncident(input: $input) { incident { id } errors { message } }
}
"""
# (title, service, severity, impact, urgency): declared after the demo's, in turn, until
# ACTIVE_INCIDENTS are active.
MORE_INCIDENTS = [
    ("Card payments declined for Visa in the EU", "payments", "SEV1", "HIGH", "HIGH"),
    ("Login fails for SSO users of three enterprise tenants", "auth", "SEV1", "HIGH", "HIGH"),
    ("Orders stuck in 'pending' after payment", "checkout", "SEV1", "HIGH", "HIGH"),
    ("Refunds not reaching customers' cards", "payments", "SEV2", "HIGH", "MEDIUM"),
    ("Search returns no results for quoted phrases", "search", "SEV2", "HIGH", "MEDIUM"),
    ("Push notifications not delivered on Android", "notifications", "SEV2", "MEDIUM", "HIGH"),
    ("Two-factor SMS codes arrive after they expire", "auth", "SEV2", "HIGH", "MEDIUM"),
    ("Video uploads fail above 2 GB", "media", "SEV3", "MEDIUM", "MEDIUM"),
    ("Basket totals off by one cent with some coupons", "checkout", "SEV3", "MEDIUM", "MEDIUM"),
    ("Autocomplete slow for the first keystroke", "search", "SEV3", "MEDIUM", "MEDIUM"),
    ("Weekly digest e-mail sent twice", "notifications", "SEV3", "LOW", "HIGH"),
    ("Session cookies expire an hour early", "auth", "SEV3", "MEDIUM", "MEDIUM"),
    ("Invoice PDFs render without the logo", "payments", "SEV4", "LOW", "MEDIUM"),
    ("Profile pictures cropped off-centre", "media", "SEV4", "LOW", "MEDIUM"),
    ("Search facets count archived products", "search", "SEV4", "LOW", "LOW"),
    ("Gift card balance page times out", "checkout", "SEV2", "HIGH", "MEDIUM"),
    ("Apple Pay button missing on Safari 17", "checkout", "SEV2", "MEDIUM", "HIGH"),
    ("Unsubscribe links return 404", "notifications", "SEV3", "MEDIUM", "MEDIUM"),
    ("Thumbnails served without cache headers", "media", "SEV4", "MEDIUM", "LOW"),
    ("Password strength meter rejects valid passwords", "auth", "SEV3", "MEDIUM", "MEDIUM"),
    ("Currency shown as USD for Canadian shoppers", "checkout", "SEV3", "MEDIUM", "MEDIUM"),
    ("Spelling suggestions in the wrong language", "search", "SEV4", "LOW", "MEDIUM"),
    ("Payout report for merchants a day late", "payments", "SEV3", "MEDIUM", "MEDIUM"),
    ("Audio missing from transcoded videos", "media", "SEV2", "HIGH", "MEDIUM"),
    ("Bulk user import stalls at 10,000 rows", "auth", "SEV4", "LOW", "MEDIUM"),
    ("Status e-mails show times in UTC", "notifications", "SEV4", "LOW", "LOW"),
    ("Checkout page blank on iOS 15", "checkout", "SEV1", "HIGH", "HIGH"),
    ("Chargeback webhooks dropped", "payments", "SEV2", "HIGH", "MEDIUM"),
    ("Search index 40 minutes behind", "search", "SEV2", "MEDIUM", "HIGH"),
    ("Avatar uploads rejected as too large", "media", "SEV4", "LOW", "LOW"),
]
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


async def _crowd(client: GraphQLClient) -> None:
    active = len((await client.execute(ACTIVE))["incidents"]["edges"])
    for title, service, severity, impact, urgency in MORE_INCIDENTS[: ACTIVE_INCIDENTS - active]:
        values = {"title": title, "service": service, "severity": severity}
        values |= {"impact": impact, "urgency": urgency}
        _check(await client.execute(DECLARE, {"input": values}))


async def _dress(client: GraphQLClient) -> None:
    edges = (await client.execute(ACTIVE))["incidents"]["edges"]
    if len(edges) != ACTIVE_INCIDENTS:
        raise SystemExit(f"{len(edges)} active incidents, not {ACTIVE_INCIDENTS}")
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
            for persona, (width, height) in itertools.product(PERSONAS, SCREENS):
                page = await browser.new_page(viewport={"width": width, "height": height})
                # Pages that do not turn while the picture is taken: it shows page 1.
                await page.goto(f"{server.url}/boards/{persona}?page_seconds=3600#token={token}")
                await expect(page.locator("#conn")).to_have_text("LIVE", timeout=15_000)
                await expect(page.locator("#age")).to_contain_text("updated", timeout=15_000)
                await page.wait_for_timeout(1_200)  # let the clocks tick once
                path = OUT / f"{persona}-{width}x{height}.png"
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
            await _crowd(admin)
            await _dress(admin)
            await admin.aclose()
            print("waiting a minute, so public updates fall due on the communications board")
            await asyncio.sleep(62)
            await _shoot(server, create_token(server, role="VIEWER", name="wall"))
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(_main())

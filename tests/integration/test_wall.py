"""The wall-display page: served safely, and live in a real browser across a server restart.

The browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright; Playwright's
own browser download is never used. Without Chromium they skip, except under CI=true.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    IN_CI,
    REDIS_URL,
    ROOT,
    Backend,
    Server,
    create_pg_database,
    create_tenant,
    create_token,
    declare,
    drop_pg_database,
    require_real_services,
    transition,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine's network is closed: no background calls home.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PERSONAS = ["executive", "responder", "communications", "customer"]
STORED_TOKEN = "sessionStorage.getItem('incidentgraph-board-token')"


def _board_api_present() -> bool:
    return "statusBoard" in (ROOT / "schema.graphql").read_text()


def require_browser() -> None:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{message}: required when CI=true")
        pytest.skip(message)
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        message = "playwright is not installed (pip install -e '.[dev]')"
        if IN_CI:
            pytest.fail(f"{message}: required when CI=true")
        pytest.skip(message)
    if not _board_api_present():
        pytest.skip("schema.graphql has no statusBoard yet: the page has no board to show")


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("postgres", marks=pytest.mark.integration)],
)
def wall_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, log_dir: Path
) -> Iterator[Server]:
    """A server of this module's own: the browser test restarts it."""
    if request.param == "embedded":
        path = tmp_path_factory.mktemp("wall") / "incidentgraph.db"
        backend = Backend("embedded", f"sqlite://{path}", "memory://")
        database = None
    else:
        require_real_services()
        database = create_pg_database()
        backend = Backend("postgres", database, REDIS_URL)
    srv = Server(backend).start(log_dir)
    yield srv
    srv.stop()
    if database is not None:
        drop_pg_database(database)


# ---- the page over plain HTTP -------------------------------------------------------------


async def test_each_persona_has_a_page_and_unknown_ones_are_not_found(wall_server):
    async with httpx.AsyncClient(base_url=wall_server.url) as http:
        # when each persona's page is asked for, in any case, and an unknown one
        pages = {p: await http.get(f"/boards/{p}") for p in PERSONAS}
        shouting = await http.get("/boards/RESPONDER")
        unknown = await http.get("/boards/ceo")

    # then each is an HTML page for its persona, and the unknown one a 404 page
    for persona, page in pages.items():
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert f'data-persona="{persona}"' in page.text
    assert shouting.status_code == 200 and 'data-persona="responder"' in shouting.text
    assert unknown.status_code == 404 and "text/html" in unknown.headers["content-type"]


async def test_the_page_loads_nothing_from_elsewhere_and_cannot_be_framed(wall_server):
    async with httpx.AsyncClient(base_url=wall_server.url) as http:
        # when the page and the files it refers to are fetched
        page = await http.get("/boards/responder")
        assets = re.findall(r'(?:src|href)="(/boards/static/[^"]+)"', page.text)
        files = [await http.get(a) for a in assets]
        missing = await http.get("/boards/static/secrets.txt")

    # then its policy allows only this origin, and forbids framing
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    host = f"127.0.0.1:{wall_server.port}"
    assert set(directives["connect-src"].split()) == {"'self'", f"ws://{host}", f"wss://{host}"}
    assert directives["frame-ancestors"] == "'none'"
    assert page.headers["x-frame-options"] == "DENY"
    # and everything it needs comes from the package, with no address elsewhere in it
    assert sorted(a.split("?")[0] for a in assets) == [
        "/boards/static/board.css",
        "/boards/static/board.js",
    ]
    for response in files:
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
    for text in [page.text, *(f.text for f in files)]:
        assert not re.search(r"https?://", text)
    assert missing.status_code == 404


# ---- the page in a browser ------------------------------------------------------------------


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def test_the_wall_shows_a_p1_at_once_and_recovers_from_a_restart(
    wall_server, browser, log_dir
):
    from playwright.async_api import expect

    client = wall_server.client(token=create_token(wall_server, role="VIEWER", name="wall"))
    wall_token = client.token
    actor = wall_server.client()
    page = await browser.new_page(viewport={"width": 1600, "height": 900})
    sockets: list[str] = []
    requests: list[str] = []
    problems: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    conn = page.locator("#conn")
    try:
        # given the responder board open with its token in the fragment
        await page.goto(f"{wall_server.url}/boards/responder#token={wall_token}")
        await expect(conn).to_have_text("LIVE", timeout=10_000)
        assert await page.evaluate("location.hash") == ""
        assert await page.evaluate(STORED_TOKEN) == wall_token

        # when a P1 is declared
        first = f"Payments down {uuid.uuid4().hex[:6]}"
        incident = await declare(
            actor, title=first, severity="SEV1", impact="HIGH", urgency="HIGH", service="payments"
        )
        assert incident["priority"] == "P1"

        # then the board shows it, as a P1, within 2 seconds
        row = page.locator("article", has_text=first)
        await expect(row).to_be_visible(timeout=2_000)
        await expect(row.locator(".badge")).to_have_text("P1")
        await expect(row.locator(".badge")).to_have_class(re.compile(r"\bp-p1\b"))

        # when the server goes away, the page says so
        wall_server.stop()
        await expect(conn).to_have_attribute(
            "data-state", re.compile("RECONNECTING|DISCONNECTED"), timeout=10_000
        )
        await expect(conn).to_have_text(re.compile(r"attempt \d+"))

        # and when it is back and a change is made at once (the page is still backing off)
        wall_server.start(log_dir)
        second = f"Checkout down {uuid.uuid4().hex[:6]}"
        await declare(actor, title=second, severity="SEV1", impact="HIGH", urgency="HIGH")

        # then the page reconnects by itself and shows what it missed
        await expect(conn).to_have_text("LIVE", timeout=40_000)
        await expect(page.locator("article", has_text=second)).to_be_visible(timeout=2_000)
        await expect(page.locator("article", has_text=first)).to_be_visible()

        # and changes after the reconnection arrive live as before
        third = f"Login down {uuid.uuid4().hex[:6]}"
        await declare(actor, title=third, severity="SEV1", impact="HIGH", urgency="HIGH")
        await expect(page.locator("article", has_text=third)).to_be_visible(timeout=2_000)

        # and the token never travelled in a URL, and nothing came from elsewhere
        assert sockets and all(wall_token not in url for url in sockets + requests)
        assert all(url.startswith((wall_server.url, "ws://127.0.0.1", "data:")) for url in requests)
        assert not [p for p in problems if "Content Security Policy" in p], problems
    finally:
        await page.close()
        await actor.aclose()
        await client.aclose()


async def test_a_refused_token_asks_for_another(wall_server, browser):
    from playwright.async_api import expect

    page = await browser.new_page()
    try:
        # given the page opened with a token the server does not know
        await page.goto(f"{wall_server.url}/boards/executive#token=igt_not-a-real-token")

        # then it asks for a token, forgets the bad one, and says it is not connected
        await expect(page.locator("#login")).to_be_visible(timeout=10_000)
        await expect(page.locator("#conn")).to_have_attribute("data-state", "DISCONNECTED")
        assert await page.evaluate(STORED_TOKEN) is None

        # when a good one is typed in
        await page.fill("#login-token", wall_server.token)
        await page.click("#login-form button")

        # then the board goes live
        await expect(page.locator("#conn")).to_have_text("LIVE", timeout=10_000)
        await expect(page.locator("#login")).to_be_hidden()
    finally:
        await page.close()


async def test_a_silent_connection_is_shown_stale_then_replaced(wall_server, browser):
    from playwright.async_api import expect

    page = await browser.new_page()
    # the page's clock is ours to move, and its sockets pass through a relay we can mute
    await page.clock.install()
    muted: set[int] = set()
    opened: list[int] = []

    def relay(ws: Any) -> None:
        number = len(opened)
        opened.append(number)
        server = ws.connect_to_server()
        ws.on_message(lambda message: server.send(message))
        server.on_message(lambda message: None if number in muted else ws.send(message))

    await page.route_web_socket(re.compile(r".*/graphql$"), relay)
    conn = page.locator("#conn")
    try:
        # given a live board
        await page.goto(f"{wall_server.url}/boards/executive#token={wall_server.token}")
        await expect(conn).to_have_text("LIVE", timeout=10_000)

        # when its socket stays open but nothing more comes through it for over 30 s
        muted.add(opened[-1])
        await page.clock.fast_forward("00:31")

        # then the page says the board is stale, and for how long
        await expect(conn).to_have_attribute("data-state", "STALE", timeout=5_000)
        await expect(conn).to_have_text(re.compile(r"STALE · .*silent"))

        # and once the silence passes 45 s, it drops that socket and connects afresh
        await page.clock.fast_forward("00:15")
        await page.clock.run_for(35_000)  # the reconnection backoff, on the page's clock
        await expect(conn).to_have_text("LIVE", timeout=15_000)
        assert len(opened) >= 2
    finally:
        await page.close()


async def test_the_responder_wall_draws_each_incidents_progress(wall_server, browser):
    from playwright.async_api import expect

    client = wall_server.client(token=create_token(wall_server, role="VIEWER", name="wall p"))
    actor = wall_server.client()
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        # given the responder wall, and an incident with three tasks, one blocked
        await page.goto(f"{wall_server.url}/boards/responder#token={client.token}")
        await expect(page.locator("#conn")).to_have_text("LIVE", timeout=10_000)
        title = f"Storage degraded {uuid.uuid4().hex[:6]}"
        incident = await declare(actor, title=title, severity="SEV1", impact="HIGH", urgency="HIGH")
        ids = []
        for name, hours in (("Drain node", 1), ("Replace disk", 2), ("Rebalance", 1)):
            data = await actor.execute(
                "mutation($i: ID!, $t: String!, $h: Float) { addTask(input: {incidentId: $i, "
                "title: $t, estimatedHours: $h}) { task { id } errors { code } } }",
                {"i": incident["id"], "t": name, "h": hours},
            )
            ids.append(data["addTask"]["task"]["id"])
        row = page.locator("article", has_text=title)
        await expect(row).to_be_visible(timeout=2_000)

        # when the first task is done and another blocked
        for task_id, to in ((ids[0], "DONE"), (ids[2], "BLOCKED")):
            moved = await actor.execute(
                "mutation($id: ID!, $to: TaskStatus!) { transitionTask(input: {id: $id, to: $to}) "
                "{ errors { code } } }",
                {"id": task_id, "to": to},
            )
            assert moved["transitionTask"]["errors"] == []

        # then the row shows the bar a quarter full, the figure and what is blocked
        await expect(row.locator(".progress-text")).to_have_text(
            "25% · 1/3 tasks · 1 blocked", timeout=3_000
        )
        bar = row.locator("[role=progressbar]")
        await expect(bar).to_have_attribute("aria-valuenow", "25")
        width = await row.locator(".progress-fill").evaluate("e => e.style.width")
        assert width == "25%"
        assert not problems, problems
    finally:
        await page.close()
        await actor.aclose()
        await client.aclose()


# ---- a crowded wall: more incidents than any screen holds -----------------------------------

WALL_SCREENS = [(1920, 1080), (1280, 720)]
# Body text of at least 28px on a 1080-line screen reads from 5 m; on other screens, the same
# share of the screen's height.
READABLE_PX_AT_1080P = 28
PRIORITY_MIX = {  # priority: (how many, severity, impact, urgency); 30 in all
    "P1": (12, "SEV1", "HIGH", "HIGH"),
    "P2": (8, "SEV2", "HIGH", "MEDIUM"),
    "P3": (6, "SEV3", "MEDIUM", "MEDIUM"),
    "P4": (4, "SEV4", "MEDIUM", "LOW"),
}
SYMPTOMS = [
    "Checkout API returning 502 for a third of requests",
    "Search latency above 4 s at p99 in eu-west",
    "Password reset e-mails delayed by over an hour",
    "Image thumbnails missing for new uploads",
    "Mobile login loops back to the sign-in screen",
]
# One atomic look at the wall, as a person would take it in: what the pager says, and
# where every incident on show is (the pager can turn between two separate reads).
LOOK = """() => {
  const shown = [...document.querySelectorAll("article[data-incident]")]
    .filter((e) => e.checkVisibility());
  const box = (e) => {
    const r = e.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right};
  };
  const pager = document.getElementById("pager");
  return {
    pagerShown: pager.checkVisibility(),
    pagerBox: box(pager),
    pageNumber: document.getElementById("page-number").textContent,
    pageMore: document.getElementById("page-more").textContent,
    rows: shown.map((e) => ({id: e.dataset.incident, box: box(e),
      titleBox: box(e.querySelector(".headline")),
      titlePx: parseFloat(getComputedStyle(e.querySelector(".incident-title")).fontSize)})),
    scrollHeight: document.scrollingElement.scrollHeight,
    scrollWidth: document.scrollingElement.scrollWidth,
  };
}"""
ALL_ROWS = """() => [...document.querySelectorAll("article[data-incident]")].map((e) =>
  [e.dataset.incident, e.querySelector(".badge").textContent])"""


@dataclass(frozen=True)
class CrowdedWall:
    token: str
    admin_token: str
    incidents: int
    majors: int


@pytest.fixture(scope="module")
async def crowded_wall(wall_server: Server) -> CrowdedWall:
    """A tenant of its own with 30 active incidents, 12 of them P1 (the executive's majors)."""
    tenant = create_tenant(wall_server, tenant_id=f"wall-{uuid.uuid4().hex[:8]}", name="Wall")
    admin_token = create_token(wall_server, role="ADMIN", name="wall admin", tenant=tenant)
    admin = wall_server.client(admin_token)
    n = 0
    try:
        for priority, (count, severity, impact, urgency) in PRIORITY_MIX.items():
            for _ in range(count):
                n += 1
                title = f"{SYMPTOMS[n % len(SYMPTOMS)]} #{n:02d}"
                incident = await declare(
                    admin, title=title, severity=severity, impact=impact, urgency=urgency
                )
                assert incident["priority"] == priority
    finally:
        await admin.aclose()
    viewer = create_token(wall_server, role="VIEWER", name="crowded wall", tenant=tenant)
    return CrowdedWall(viewer, admin_token, incidents=n, majors=PRIORITY_MIX["P1"][0])


async def _look_at_every_page(page: Any) -> dict[int, dict[str, Any]]:
    """What the wall shows on each of its pages, waiting for the pager to turn to each."""
    seen: dict[int, dict[str, Any]] = {}
    pages = None
    async with asyncio.timeout(60):
        while pages is None or len(seen) < pages:
            look = await page.evaluate(LOOK)
            number = re.fullmatch(r"page (\d+)/(\d+)", look["pageNumber"])
            assert look["pagerShown"] and number, look["pageNumber"]
            pages = int(number[2])
            seen.setdefault(int(number[1]), look)
            await page.wait_for_timeout(250)
    return seen


def _assert_on_screen(look: dict[str, Any], width: int, height: int) -> None:
    assert look["scrollHeight"] <= height and look["scrollWidth"] <= width
    for box in [look["pagerBox"], *(row["box"] for row in look["rows"])]:
        assert box["top"] >= 0 and box["bottom"] <= height, box
        assert box["left"] >= 0 and box["right"] <= width, box


@pytest.mark.parametrize("persona", ["responder", "executive"])
@pytest.mark.parametrize(("width", "height"), WALL_SCREENS, ids=["1080p", "720p"])
async def test_a_crowded_wall_fits_the_screen_and_turns_its_pages(
    wall_server, crowded_wall, browser, persona, width, height
):
    from playwright.async_api import expect

    page = await browser.new_page(viewport={"width": width, "height": height})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    listed = crowded_wall.incidents if persona == "responder" else crowded_wall.majors
    try:
        # given a wall of 30 active incidents, turning its pages every second
        await page.goto(
            f"{wall_server.url}/boards/{persona}?page_seconds=1#token={crowded_wall.token}"
        )
        await expect(page.locator("#conn")).to_have_text("LIVE", timeout=10_000)
        await expect(page.locator("article[data-incident]")).to_have_count(listed)

        # when someone watches it through every page
        pages = await _look_at_every_page(page)

        # then there is more than one page, each says which it is and how many are elsewhere
        total = len(pages)
        assert total > 1 and sorted(pages) == list(range(1, total + 1))
        for number, look in pages.items():
            shown = len(look["rows"])
            assert shown >= 1
            assert look["pageNumber"] == f"page {number}/{total}"
            assert look["pageMore"] == f"+{listed - shown} more"
            # and nothing on any page is cut off or needs scrolling
            _assert_on_screen(look, width, height)
            # and titles are large enough to read across the room
            for row in look["rows"]:
                assert row["titlePx"] >= READABLE_PX_AT_1080P * height / 1080, row
                assert row["titleBox"]["right"] <= row["box"]["right"], row

        # and the pages, one after the other, are every incident once, most severe first
        in_order = [row[0] for row in await page.evaluate(ALL_ROWS)]
        paged = [row["id"] for n in sorted(pages) for row in pages[n]["rows"]]
        assert paged == in_order and len(set(paged)) == listed
        priorities = [row[1] for row in await page.evaluate(ALL_ROWS)]
        assert priorities == sorted(priorities)
        assert not problems, problems
    finally:
        await page.close()


async def test_a_paging_wall_keeps_its_connection_and_takes_in_live_changes(
    wall_server, crowded_wall, browser
):
    from playwright.async_api import expect

    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    admin = wall_server.client(crowded_wall.admin_token)
    newcomer = None
    try:
        # given the responder wall on its second page
        await page.goto(
            f"{wall_server.url}/boards/responder?page_seconds=1#token={crowded_wall.token}"
        )
        await expect(page.locator("#conn")).to_have_text("LIVE", timeout=10_000)
        await expect(page.locator("#page-number")).to_have_text(
            re.compile(r"page 2/\d+"), timeout=10_000
        )

        # when a new P1 is declared while the pages turn
        title = f"Card payments declined everywhere {uuid.uuid4().hex[:6]}"
        newcomer = await declare(admin, title=title, severity="SEV1", impact="HIGH", urgency="HIGH")

        # then the wall counts it, in its place after the P1s declared before it
        expected = crowded_wall.incidents + 1
        await expect(page.locator("article[data-incident]")).to_have_count(expected)
        in_order = await page.evaluate(ALL_ROWS)
        assert in_order[crowded_wall.majors][0] == newcomer["id"]
        assert [badge for _, badge in in_order] == sorted(badge for _, badge in in_order)
        # and it comes round on its page, with the pager counting it among the rest
        async with asyncio.timeout(30):
            while True:
                look = await page.evaluate(LOOK)
                if newcomer["id"] in [row["id"] for row in look["rows"]]:
                    break
                await page.wait_for_timeout(250)
        assert look["pageMore"] == f"+{expected - len(look['rows'])} more"
        _assert_on_screen(look, 1920, 1080)
        # and it never needed a new connection to do so
        assert len(sockets) == 1
        await expect(page.locator("#conn")).to_have_text("LIVE")
    finally:
        if newcomer is not None:
            cancelled = await transition(admin, newcomer["id"], "CANCELLED")
            assert cancelled["errors"] == [], cancelled
        await page.close()
        await admin.aclose()

"""GraphiQL at /graphql, served by the package itself: in headless Chromium with every
request that would leave the machine refused, it loads, runs a query and a subscription
as the token from the page's fragment, under the pages' strict Content-Security-Policy."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import httpx

from tests.integration.test_wall import browser, require_browser  # noqa: F401
from tests.support import declare

SUBSCRIPTION = "subscription Seen { incidentsChanged { title status } }"


async def test_graphiql_works_offline_with_the_token_of_the_fragment(server, browser):  # noqa: F811
    from playwright.async_api import expect

    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    outside: list[str] = []
    problems: list[str] = []

    async def only_this_machine(route, request):
        if urlsplit(request.url).hostname not in ("127.0.0.1", "localhost"):
            outside.append(request.url)
            await route.abort()
        else:
            await route.continue_()

    await page.route("**/*", only_this_machine)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        # when GraphiQL is opened with a token in the fragment
        await page.goto(f"{server.url}/graphql#token={server.token}")
        editor = page.locator(".graphiql-query-editor .CodeMirror").first
        await expect(editor).to_be_visible(timeout=15_000)
        # the token left the address bar, and the explorer plugin is there
        assert "token=" not in page.url
        await expect(page.locator("[aria-label='Show GraphiQL Explorer']")).to_have_count(1)

        # then its default query runs as that token
        await page.locator(".graphiql-execute-button").click()
        result = page.locator(".graphiql-response")
        await expect(result).to_contain_text("totalCount", timeout=15_000)

        # and a subscription runs over the WebSocket, delivering what happens next
        await page.evaluate(
            "(text) => document.querySelector('.graphiql-query-editor .CodeMirror')"
            ".CodeMirror.setValue(text)",
            SUBSCRIPTION,
        )
        await page.wait_for_timeout(700)  # GraphiQL parses the document it will send
        await page.locator(".graphiql-execute-button").click()
        await page.wait_for_timeout(1500)  # the subscription is open once the socket is
        title = f"Seen from GraphiQL {uuid.uuid4().hex[:6]}"
        await declare(server.client(), title=title)
        await expect(result).to_contain_text(title, timeout=15_000)
    finally:
        await page.close()

    # nothing left the machine, and nothing was refused by the policy or failed
    assert outside == []
    assert not [p for p in problems if "favicon" not in p], problems


def test_the_page_is_served_under_the_strict_policy(server):
    page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "graphiql.min.js" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()
    asset = httpx.get(f"{server.url}/graphiql/static/graphiql.min.js", timeout=10)
    assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{server.url}/graphiql/static/nope.js", timeout=10).status_code == 404

"""Issue #12 item 21: the language link of a page is built from the address, and on a
404 page at ``//evil.example/x`` it was ``//evil.example/x?lang=en`` — protocol-relative,
so Chromium followed it to another host (an open redirect from our own domain)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from .conftest import Pages
from .helpers import App, require_browser

require_browser()
from playwright.async_api import Error as PlaywrightError  # noqa: E402
from playwright.async_api import Route  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")

PATHS = ("//evil.example/x", "/%5Cevil.example/x", "/%2F%2Fevil.example/x", "/%2f/evil.example/y")


async def test_the_language_link_of_any_address_stays_on_this_site(app: App, pages: Pages) -> None:
    pages.allow(r"status of 404")  # the pages asked for do not exist
    page = await pages.login(app)
    elsewhere: list[str] = []

    async def only_here(route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            await route.continue_()
        else:  # never let the test leave the machine: note it and stop
            elsewhere.append(route.request.url)
            await route.abort()

    await page.context.route("**/*", only_here)
    here = urlsplit(app.url).netloc
    for path in PATHS:
        await page.goto(app.url + path)
        try:
            async with page.expect_navigation():
                await page.locator("a.lang").click()
        except PlaywrightError:  # the navigation elsewhere, stopped above
            pass
        assert urlsplit(page.url).netloc == here and not elsewhere, (path, page.url, elsewhere)
        # Back to Indonesian for the next address (the choice is remembered).
        await page.goto(app.url + "/admin/siswa?lang=id")

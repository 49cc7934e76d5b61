"""One date format per language (issue #12, item 10): the runs table and the activity
log that the sync page's script writes read exactly as the server's HTML for the same
runs and lines, in Indonesian and English, whatever the browser's own time zone."""

from __future__ import annotations

import html
import re

import pytest

from .conftest import Pages
from .helpers import SYNC, App, require_browser

require_browser()
from playwright.async_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")

_TIME = re.compile(r'<time [^>]*datetime="([^"]+)"[^>]*>([^<]*)</time>')
#: The page's <time> elements in one part of the page, as [datetime, text] pairs.
_SHOWN = """(selector) => [...document.querySelectorAll(selector + " time[datetime]")]
  .map((e) => [e.getAttribute("datetime"), e.textContent.trim()])"""


def server_times(page_html: str, element_id: str) -> dict[str, str]:
    """datetime → text of the <time> elements inside the element ``element_id``."""
    start = page_html.index(f'id="{element_id}"')
    end = page_html.index("</tbody>" if element_id == "recent-runs" else "</ul>", start)
    return {at: html.unescape(shown).strip() for at, shown in _TIME.findall(page_html[start:end])}


async def run_in_page(page: Page) -> str:
    """Start a run with the page's button; the new run's id once it has ended."""
    await expect(page.locator("#btn-start")).to_be_enabled()
    await page.click("#btn-start")
    await expect(page.locator("#sync-status")).to_have_attribute(
        "data-status", "completed", timeout=120_000
    )
    run = (await page.locator("#sync-run").text_content() or "").strip().lstrip("#")
    assert run.isdigit(), run
    # The script writes the finished run's row into the runs table.
    row = page.locator(f"#recent-runs tr[data-run-id='{run}'][data-status='completed']")
    await expect(row).to_be_visible(timeout=15_000)
    return run


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_the_script_writes_dates_as_the_server_does(
    app: App, pages: Pages, lang: str
) -> None:
    # The browser's zone is not the server's: the page shows the server's either way.
    page = await pages.login(app, timezone_id="America/Argentina/Buenos_Aires")
    await page.goto(f"{app.url}{SYNC}?lang={lang}")
    await expect(page.locator("#sync-page")).to_have_attribute("data-transport", "ws")
    run = await run_in_page(page)

    written = dict(await page.evaluate(_SHOWN, f"#recent-runs tr[data-run-id='{run}']"))
    log = dict(await page.evaluate(_SHOWN, "#sync-log"))
    assert written and log, (written, log)

    answer = await page.request.get(f"{app.url}{SYNC}?lang={lang}")
    assert answer.ok
    served = await answer.text()
    server_runs = server_times(served, "recent-runs")
    server_log = server_times(served, "sync-log")
    for at, shown in written.items():
        assert server_runs.get(at) == shown, (lang, at, shown, server_runs)
    same = {at for at in log if at in server_log}
    assert same, (log, server_log)
    for at in same:
        assert log[at] == server_log[at], (lang, at, log[at], server_log[at])
    # The format itself: "6 Des 2026 14.05" / "6 Dec 2026 14:05", "14.05.09" / "14:05:09".
    separator = "." if lang == "id" else ":"
    for shown in written.values():
        assert re.fullmatch(rf"\d{{1,2}} \w{{3}} \d{{4}} \d\d\{separator}\d\d", shown), shown
    for shown in log.values():
        assert re.fullmatch(rf"\d\d\{separator}\d\d\{separator}\d\d", shown), shown

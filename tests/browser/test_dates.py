"""One date format per language (issue #12, item 10; #13): the runs table and the
activity log that the sync page's script writes read exactly as the server writes the
same instants (``syncpay/web/dates.py``, e.g. the student pages' last sync), in Indonesian
and English, whatever the browser's own time zone — never in the US order (``12/6/26``)."""

from __future__ import annotations

import functools
import re
from datetime import datetime

import pytest

from syncpay.i18n import catalogs
from syncpay.web import dates

from .conftest import Pages
from .helpers import SYNC, App, require_browser

require_browser()
from playwright.async_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: The page's <time> elements in one part of the page, as [datetime, text] pairs.
_SHOWN = """(selector) => [...document.querySelectorAll(selector + " time[datetime]")]
  .map((e) => [e.getAttribute("datetime"), e.textContent.trim()])"""


def server_clock(lang: str, at: str) -> str:
    """The time of day of ``at`` in the pages' zone, in the catalogue's pattern."""
    when = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(dates.zone())
    hour, minute, second = (f"{n:02d}" for n in (when.hour, when.minute, when.second))
    return catalogs().text(lang, dates.CLOCK, hour=hour, minute=minute, second=second)


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

    words = functools.partial(catalogs().text, lang)
    for at, shown in written.items():
        assert shown == dates.datetime_text(words, at), (lang, at, shown)
    for at, shown in log.items():
        assert shown == server_clock(lang, at), (lang, at, shown)
    # The format itself: "6 Des 2026 14.05" / "6 Dec 2026 14:05", "14.05.09" / "14:05:09".
    separator = "." if lang == "id" else ":"
    for shown in written.values():
        assert re.fullmatch(rf"\d{{1,2}} \w{{3}} \d{{4}} \d\d\{separator}\d\d", shown), shown
        assert "/" not in shown, shown
    for shown in log.values():
        assert re.fullmatch(rf"\d\d\{separator}\d\d\{separator}\d\d", shown), shown

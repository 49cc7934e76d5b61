"""Every page on a phone (360 and 390 px wide, touch, mobile emulation) and on a desktop:
no page pans sideways (``document.documentElement.scrollWidth`` within the window;
tables scroll in their own box or become cards), the main actions can be tapped, and
the answer to an action is shown where the user is looking (issue #12, item 6)."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from .conftest import Pages
from .helpers import ADMIN, PASSWORD, PETUGAS, SYNC, App, require_browser

require_browser()
from playwright.async_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIST = "/admin/siswa"
FIRST_ID = 2025000001  # the simulator's first demo idperson
#: A folder to save a screenshot of each page checked (to look at the layouts).
SHOTS = os.environ.get("SYNCPAY_SCREENSHOTS", "")
#: Milliseconds a tap may wait for its target (covered targets fail fast).
TAP_TIMEOUT = 5_000

PHONE = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}
VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone-360": {"viewport": {"width": 360, "height": 740}} | PHONE,
    "phone-390": {"viewport": {"width": 390, "height": 844}} | PHONE,
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}

#: The page's width against the window's, and what sticks out past the device's width
#: (the widest first, marked when inside a box that scrolls itself), to name the cause.
_WIDTH = """(width) => {
  const inScroller = (e) => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if (x === "auto" || x === "scroll" || x === "hidden") return true;
    }
    return false;
  };
  const out = [];
  for (const e of document.body.querySelectorAll("*")) {
    const r = e.getBoundingClientRect();
    if (r.width && r.right > width + 1) {
      out.push([r.right, `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}.${e.className}`
        + ` right=${Math.round(r.right)}${inScroller(e) ? " (in a scroll box)" : ""}`]);
    }
  }
  out.sort((a, b) => b[0] - a[0]);
  return {
    scroll: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    inner: window.innerWidth,
    out: out.slice(0, 6).map((o) => o[1]),
  };
}"""


async def assert_fits(page: Page, width: int, where: str) -> None:
    """No sideways page scroll: the document is not wider than the window, and the
    window is the device's width (mobile emulation widens the window to the page)."""
    if SHOTS:
        name = re.sub(r"\W+", "-", f"{width}-{where}").strip("-")
        await page.screenshot(path=f"{SHOTS}/{name}.png")
    shot = await page.evaluate(_WIDTH, width)
    assert shot["inner"] == width and shot["scroll"] <= shot["inner"], f"{where}: {shot}"
    assert shot["body"] <= shot["inner"], f"{where}: {shot}"


async def tap(page: Page, selector: str, touch: bool) -> None:
    """A tap on a phone, a click on a desktop; fails when something covers the target."""
    target = page.locator(selector).first
    await target.scroll_into_view_if_needed(timeout=TAP_TIMEOUT)
    if touch:
        await target.tap(timeout=TAP_TIMEOUT)
    else:
        await target.click(timeout=TAP_TIMEOUT)


async def tap_and_go(page: Page, selector: str, touch: bool) -> None:
    async with page.expect_navigation():
        await tap(page, selector, touch)


async def wait_status(page: Page, status: str, timeout: float = 120.0) -> None:
    await expect(page.locator("#sync-status")).to_have_attribute(
        "data-status", status, timeout=timeout * 1000
    )


async def answer_dialog(page: Page, button: str, touch: bool) -> None:
    await tap(page, button, touch)
    dialog = page.locator("#confirm-dialog")
    await expect(dialog).to_be_visible()
    await tap(page, "#confirm-yes", touch)
    await expect(dialog).to_be_hidden()


@pytest.mark.parametrize("device", list(VIEWPORTS))
async def test_every_page_fits_and_its_actions_work(app: App, pages: Pages, device: str) -> None:
    options = VIEWPORTS[device]
    width = options["viewport"]["width"]
    touch = bool(options.get("has_touch"))
    pages.allow(r"status of 4\d\d")
    context = await pages.context(**options)

    # The login page.
    page = await pages.new(context)
    await page.goto(app.url + "/login")
    await assert_fits(page, width, "login")
    await page.fill("#username", ADMIN)
    await page.fill("#password", "wrong-password")
    await tap_and_go(page, "form[action='/login'] button[type=submit]", touch)
    await assert_fits(page, width, "login with an error")
    await page.fill("#password", PASSWORD)
    await tap_and_go(page, "form[action='/login'] button[type=submit]", touch)
    assert page.url.split("?")[0].endswith(SYNC), page.url

    # The sync page: idle, then a run with failures to its end (failed list, runs table).
    await wait_status(page, "idle")
    await assert_fits(page, width, "sync page, idle")
    app.simulator(fail_rate=0.2)
    await tap(page, "#btn-start", touch)
    await expect(page.locator("#sync-message")).to_be_in_viewport()
    await wait_status(page, "completed")
    await expect(page.locator("#failed-list tr").first).to_be_visible()
    await expect(page.locator("#recent-runs tr").first).to_be_visible()
    await assert_fits(page, width, "sync page, finished with failures")
    app.simulator(fail_rate=0.0)

    # The student list: filters, the next page, a student.
    await page.goto(app.url + LIST)
    await assert_fits(page, width, "student list")
    await page.select_option("#siswa-filter [name=status]", "belum_lunas")
    await tap_and_go(page, "#siswa-filter [type=submit]", touch)
    await assert_fits(page, width, "student list, filtered")
    await page.goto(app.url + LIST)
    await tap_and_go(page, "a[rel=next]", touch)
    await assert_fits(page, width, "student list, page 2")
    await tap_and_go(page, "a[rel=prev]", touch)
    # Names and the Tunggakan/Status columns stay readable: no name broken letter by
    # letter (a cell narrower than a few letters), the status shown on screen.
    first = page.locator("#siswa-table tr[data-idperson]").first
    name_width = await first.locator("a").first.evaluate("e => e.getBoundingClientRect().width")
    assert name_width > 60, f"a student's name squeezed into {name_width}px"
    await expect(first.locator(".badge")).to_be_in_viewport()
    synced = page.locator("#siswa-table tr[data-status='belum_lunas']").first
    idperson = await synced.get_attribute("data-idperson")
    await tap_and_go(page, f"#siswa-table tr[data-idperson='{idperson}'] a", touch)

    # One student with all the items of two school years.
    await expect(page.locator("#siswa-data table").first).to_be_visible()
    # with the history of the student's totals (the run above made its first line)
    await expect(page.locator("#history-table tr.history-line").first).to_be_visible()
    await expect(page.locator("#history-spark svg")).to_be_visible()
    await assert_fits(page, width, "student page")
    await tap(page, "#btn-sync-now", touch)
    await expect(page.locator("#sync-now-message")).to_be_visible(timeout=30_000)
    await expect(page.locator("#sync-now-message")).to_be_in_viewport()
    await assert_fits(page, width, "student page after sync now")

    # Error pages.
    await page.goto(f"{app.url}{LIST}/9999999999")
    await expect(page.locator("main")).to_contain_text("404")
    await assert_fits(page, width, "404 page")
    await page.goto(f"{app.url}/admin/nothing-here/{'x' * 80}")
    await assert_fits(page, width, "404 page with a long path")

    # Back on the sync page after the other pages: start, then cancel; the answer to
    # each is in view.
    app.simulator(latency=0.25)  # a run of ~12 s: time to cancel it
    await page.goto(app.url + SYNC)
    await wait_status(page, "completed")
    await tap(page, "#btn-start", touch)
    await wait_status(page, "running", 10)
    await expect(page.locator("#sync-message")).to_be_in_viewport()
    await assert_fits(page, width, "sync page, running")
    await answer_dialog(page, "#btn-cancel", touch)
    await wait_status(page, "cancelled", 15)
    await expect(page.locator("#sync-message")).to_contain_text("dibatalkan")
    await expect(page.locator("#sync-message")).to_be_in_viewport()
    await assert_fits(page, width, "sync page, cancelled")
    await answer_dialog(page, "#btn-reset", touch)
    await wait_status(page, "idle", 10)
    await expect(page.locator("#sync-message")).to_be_in_viewport()
    await assert_fits(page, width, "sync page, reset")

    # In English, and as a petugas (read-only notice, no buttons to press).
    await page.goto(app.url + SYNC + "?lang=en")
    await assert_fits(page, width, "sync page in English")
    await page.goto(app.url + LIST + "?lang=en")
    await assert_fits(page, width, "student list in English")
    await page.goto(f"{app.url}{LIST}/{idperson}?lang=en")
    await assert_fits(page, width, "student page in English")

    other = await pages.login(app, PETUGAS, **options)
    await assert_fits(other, width, "sync page of a petugas")
    # (No page answers a browser with a 403 page: the admin-only routes are JSON ones.)
    await other.goto(f"{app.url}{LIST}?q=a&status=lunas")
    await assert_fits(other, width, "student list of a petugas, searched")

"""The report /admin/laporan in a real Chromium, on a desktop and a 390 px phone (one
page load each): the table, the two charts drawn as inline SVG with their numbers as
text, nothing wider than the window; and printed (A4 media): no navigation, no
buttons, the charts still there."""

from __future__ import annotations

import time

import pytest

from .conftest import Pages
from .helpers import SYNC, App, require_browser
from .test_phone import SHOTS, VIEWPORTS, assert_fits

require_browser()
from playwright.async_api import expect  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")

REPORT = "/admin/laporan"


def _synced_some(app: App) -> dict:
    """A unit synced (arrears to draw), then the report as the API gives it."""
    status, report = app.api("GET", REPORT)
    assert status == 200, report
    unit = report["units"][0]["unit"]
    status, body = app.api("POST", SYNC + "/start", {"unit": unit})
    assert status == 200, body
    deadline = time.monotonic() + 60
    while app.progress(body["run_id"])["status"] == "running":
        assert time.monotonic() < deadline, app.logs()
        time.sleep(0.1)
    status, report = app.api("GET", REPORT)
    assert status == 200 and report["total"]["lunas"] + report["total"]["belum_lunas"] > 0
    return report


@pytest.mark.parametrize("device", ["desktop", "phone-390"])
async def test_the_report_and_its_charts_fit_and_print(app: App, pages: Pages, device: str) -> None:
    report = _synced_some(app)
    options = VIEWPORTS[device]
    width = options["viewport"]["width"]
    page = await pages.login(app, **options)
    await page.goto(app.url + REPORT)
    classes = sum(len(unit["classes"]) for unit in report["units"])
    rows = page.locator("#laporan-table tbody tr")
    await expect(rows).to_have_count(classes + len(report["units"]) + 1)
    await expect(page.locator("#chart-tunggakan .chart-row")).to_have_count(classes)
    await expect(page.locator("#chart-rate .chart-row")).to_have_count(len(report["units"]))
    # Each bar is drawn (an SVG as wide as its row's cell) and its number is text beside it.
    bars = page.locator("#chart-tunggakan svg.chart-bar")
    for i in range(await bars.count()):
        box = await bars.nth(i).bounding_box()
        assert box is not None and box["width"] > 40 and box["x"] + box["width"] <= width
    longest = await page.evaluate(
        """() => Math.max(...[...document.querySelectorAll('#chart-tunggakan .seg')]
             .map((r) => r.getBoundingClientRect().width /
                         r.closest('svg').getBoundingClientRect().width))"""
    )
    assert longest == pytest.approx(1.0, abs=0.02)  # the largest arrears: the whole width
    values = await page.locator("#chart-tunggakan .chart-value").all_text_contents()
    # A class nobody in it was synced has no figure ("—"), not Rp 0: run alone, only the
    # unit synced above has figures; after the other browser tests, every class has.
    assert all(v.strip().startswith("Rp") or v.strip() == "—" for v in values), values
    assert any(v.strip().startswith("Rp") for v in values), values
    await expect(page.locator("#chart-rate .chart-value").first).to_contain_text("%")
    await expect(page.locator(".nav a.active")).to_have_attribute("href", REPORT)
    await assert_fits(page, width, "report")
    # Printed: the report alone.
    await page.emulate_media(media="print")
    await expect(page.locator(".topbar")).to_be_hidden()
    await expect(page.locator("#btn-export")).to_be_hidden()
    await expect(page.locator("#laporan-filter")).to_be_hidden()
    await expect(page.locator("#chart-tunggakan svg.chart-bar").first).to_be_visible()
    await expect(page.locator("#laporan-table")).to_be_visible()
    if SHOTS:  # what a printed page looks like
        await page.screenshot(path=f"{SHOTS}/{width}-report-print.png", full_page=True)

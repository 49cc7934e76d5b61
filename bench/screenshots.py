"""The README screenshots of the sync page, from a real run in a real Chromium.

    python bench/screenshots.py                  # docs/img/sync-running.png, sync-finished.png
    python bench/screenshots.py --out /tmp/img   # somewhere else

Runs the program as a user would (the tests' helpers: a simulator process, 1,000 demo
students from ``siswa:import``, an admin from ``user:create``, ``serve``) on a fresh
SQLite database in a temporary directory, logs in at a 1280×800 viewport, starts a sync
of all students and saves the page mid-run and when it has finished. Not run by the test
suite (CI does not rewrite the images); needs /usr/bin/chromium and playwright.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import Page, async_playwright, expect  # noqa: E402

from tests.browser.helpers import (  # noqa: E402
    ADMIN,
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    App,
    base_env,
    sqlite_env,
)

STUDENTS = 1000
#: 1,000 students / 8 workers × 0.06 s ≈ 8 s: time to catch the page mid-run.
LATENCY = 0.06
#: A few students the finance API always refuses, so the failed list has rows.
FAIL_RATE = 0.004
VIEWPORT = {"width": 1280, "height": 800}


async def percent(page: Page) -> float:
    value = await page.get_attribute("#sync-progress", "aria-valuenow")
    return float(value or 0)


async def shoot(app: App, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        page = await context.new_page()
        await page.goto(app.url + "/login")
        await page.fill("#username", ADMIN)
        await page.fill("#password", PASSWORD)
        async with page.expect_navigation():
            await page.click("form[action='/login'] button[type=submit]")
        await expect(page.locator("#sync-status")).to_have_attribute("data-status", "idle")

        await page.click("#btn-start")
        deadline = time.monotonic() + 120
        while await percent(page) < 45:
            if time.monotonic() > deadline:
                raise SystemExit("the run did not reach 45 % in 120 s")
            await asyncio.sleep(0.05)
        await page.mouse.move(0, 0)
        await page.screenshot(path=out / "sync-running.png")
        print(f"{out / 'sync-running.png'} at {await percent(page):g} %")

        await expect(page.locator("#sync-status")).to_have_attribute(
            "data-status", "completed", timeout=180_000
        )
        await expect(page.locator("#sync-notice")).to_be_visible()
        await asyncio.sleep(0.5)  # the failed list and recent runs refresh after the end
        await page.screenshot(path=out / "sync-finished.png")
        print(f"{out / 'sync-finished.png'}")
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", metavar="DIR")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="syncpay-shots-") as tmp:
        workdir = Path(tmp)
        app = App(workdir, base_env(workdir, sqlite_env(workdir)), STUDENTS, hostile=False)
        try:
            app.start(LATENCY)
            app.simulator(fail_rate=FAIL_RATE)
            asyncio.run(shoot(app, args.out))
        finally:
            app.stop()


if __name__ == "__main__":
    main()

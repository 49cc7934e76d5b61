"""The screenshots of the README and docs/reports.md, from real runs in a real Chromium.

    python bench/screenshots.py                  # the PNGs in docs/img/
    python bench/screenshots.py --out /tmp/img   # somewhere else

Runs the program as a user would (the tests' helpers: a simulator process, 1,000 demo
students from ``siswa:import``, an admin from ``user:create``, ``serve``) on a fresh
SQLite database in a temporary directory. Three syncs of all students, the simulator
moving to its next data version before each after the first (each version changes the
payments of ~25 % of the students), so the last run has changes and students have a
history:

- ``sync-running.png``, ``sync-finished.png``: the sync page mid-run and after the first
  run (desktop, 1280×800);
- ``sync-changes.png``: the sync page after the last run, with what it changed;
- ``sync-run-changes.png``: the students that run changed, before → after;
- ``laporan.png``, ``laporan-phone.png``: the report ``/admin/laporan`` (desktop), and
  its arrears chart on a 390×844 phone;
- ``siswa-list.png``: the student list filtered to one unit's students in arrears,
  largest first, with its export button;
- ``siswa-history-phone.png``: a student's page at its history and sparkline (phone).

Each shot is taken only when its page exists in this checkout (otherwise a note is
printed and the shot skipped). The data are fixed (the simulator's seed 0, the demo
roster, the student chosen by the smallest idperson), the shots are viewport-sized. Not
run by the test suite (CI does not rewrite the images); needs /usr/bin/chromium and
playwright.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser, Page, async_playwright, expect  # noqa: E402

from tests.browser.helpers import (  # noqa: E402
    ADMIN,
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    SYNC,
    App,
    base_env,
    sqlite_env,
)

STUDENTS = 1000
#: 1,000 students / 8 workers × 0.06 s ≈ 8 s: time to catch the page mid-run.
LATENCY = 0.06
#: A few students the finance API always refuses, so the failed list has rows.
FAIL_RATE = 0.004
#: The simulator's data versions synced after the first run (version 0).
VERSIONS = (1, 2)
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}, "device_scale_factor": 1}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
REPORT = "/admin/laporan"
STUDENTS_PAGE = "/admin/siswa"


async def percent(page: Page) -> float:
    value = await page.get_attribute("#sync-progress", "aria-valuenow")
    return float(value or 0)


async def logged_in(browser: Browser, app: App, options: dict[str, Any]) -> Page:
    """A new tab of a new context (``options``: viewport…), logged in as the admin."""
    context = await browser.new_context(**options)
    page = await context.new_page()
    await page.goto(app.url + "/login")
    await page.fill("#username", ADMIN)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation():
        await page.click("form[action='/login'] button[type=submit]")
    return page


async def save(page: Page, path: Path) -> None:
    await page.mouse.move(0, 0)
    await page.screenshot(path=path)
    print(f"{path} ({path.stat().st_size // 1024} KB)")


async def scroll_to(page: Page, selector: str) -> None:
    """Scroll the window so that ``selector``'s top is at the viewport's top."""
    await expect(page.locator(selector)).to_be_visible()
    await page.locator(selector).evaluate(
        "(e) => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 8)"
    )


def exists(app: App, path: str) -> bool:
    """Whether this checkout serves ``path`` (as JSON, with the admin's token)."""
    status, _ = app.api("GET", path)
    if status == 404:
        print(f"skipped: {path} does not exist here")
    return status == 200


async def first_run(page: Page, out: Path) -> None:
    """The sync page mid-run and when the first run has finished."""
    await expect(page.locator("#sync-status")).to_have_attribute("data-status", "idle")
    await page.click("#btn-start")
    deadline = time.monotonic() + 120
    while await percent(page) < 45:
        if time.monotonic() > deadline:
            raise SystemExit("the run did not reach 45 % in 120 s")
        await asyncio.sleep(0.05)
    await save(page, out / "sync-running.png")
    await expect(page.locator("#sync-status")).to_have_attribute(
        "data-status", "completed", timeout=180_000
    )
    await expect(page.locator("#sync-notice")).to_be_visible()
    await asyncio.sleep(0.5)  # the failed list and recent runs refresh after the end
    await save(page, out / "sync-finished.png")


async def next_run(page: Page, app: App, before: int) -> int:
    """Press "Mulai Sinkronisasi" again (the admin starts it, as a user would) and wait
    for the new run's end; its id."""
    await page.click("#btn-start")
    deadline = time.monotonic() + 180
    while (run_id := int(app.progress()["run_id"])) == before:
        if time.monotonic() > deadline:
            raise SystemExit(f"no run started after run {before}\n{app.logs()}")
        await asyncio.sleep(0.1)
    while app.progress(run_id)["status"] == "running":
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} did not end in 180 s\n{app.logs()}")
        await asyncio.sleep(0.2)
    return run_id


def changed_students(app: App, run_id: int) -> list[dict[str, Any]]:
    """Every student the run changed (all pages of its list), by idperson."""
    students: list[dict[str, Any]] = []
    for at in range(1, 100):
        status, body = app.api("GET", f"{SYNC}/runs/{run_id}/changes?page={at}")
        if status != 200:
            return students
        students += body["students"]
        if not body["students"] or at * int(body["per_page"]) >= int(body["total"]):
            return students
    return students


def history_student(app: App, runs: list[int]) -> str | None:
    """The smallest idperson whose arrears the last two runs both changed (a history
    with a slope), or None."""
    if len(runs) < 2:
        return None
    moved = [
        {
            s["idperson"]
            for s in changed_students(app, r)
            if s["tunggakan_before"] is not None and s["tunggakan_before"] != s["tunggakan_after"]
        }
        for r in runs[-2:]
    ]
    both = sorted(moved[0] & moved[1])
    return both[0] if both else None


async def sync_shots(page: Page, app: App, run_id: int, out: Path) -> None:
    """The sync page after the last run, with its change summary, and its students."""
    await page.goto(app.url + SYNC)
    box = page.locator("#sync-changes")
    if not await box.count():
        print("skipped: the sync page has no change summary here")
        return
    await expect(box).to_be_visible(timeout=30_000)
    await expect(page.locator("#sync-run")).to_contain_text(str(run_id))
    await asyncio.sleep(0.5)
    await save(page, out / "sync-changes.png")
    changes = f"{SYNC}/runs/{run_id}/changes"
    if exists(app, changes):
        await page.goto(app.url + changes)
        await expect(page.locator("#changes-table")).to_be_visible()
        await save(page, out / "sync-run-changes.png")


async def report_shots(desktop: Page, phone: Page, app: App, out: Path) -> None:
    if not exists(app, REPORT):
        return
    await desktop.goto(app.url + REPORT)
    await expect(desktop.locator("#laporan-page")).to_be_visible()
    await save(desktop, out / "laporan.png")
    # The phone: the charts (the figures above them are in the desktop's shot).
    await phone.goto(app.url + REPORT)
    await scroll_to(phone, "#chart-tunggakan")
    await save(phone, out / "laporan-phone.png")


async def list_shot(page: Page, app: App, out: Path) -> None:
    """One unit's students in arrears, the largest first: the list the officers call."""
    await page.goto(app.url + STUDENTS_PAGE)
    if not await page.locator("#btn-export").count():
        print("skipped: the student list has no export button here")
        return
    units = await page.locator("#filter-unit option").evaluate_all(
        "(options) => options.map((o) => o.value).filter(Boolean)"
    )
    query = "?status=belum_lunas&sort=tunggakan_desc" + (f"&unit={units[0]}" if units else "")
    await page.goto(app.url + STUDENTS_PAGE + query)
    await expect(page.locator("#siswa-count")).to_be_visible()
    await save(page, out / "siswa-list.png")


async def history_shot(page: Page, app: App, idperson: str | None, out: Path) -> None:
    """A student's page scrolled to its history and sparkline (phone)."""
    if idperson is None:
        print("skipped: no student changed in both last runs")
        return
    await page.goto(f"{app.url}{STUDENTS_PAGE}/{idperson}")
    history = page.locator("#siswa-history")
    if not await history.count():
        print("skipped: the student page has no history here")
        return
    await expect(page.locator("#history-table tbody tr")).to_have_count(len(VERSIONS) + 1)
    await scroll_to(page, "#siswa-history")
    await save(page, out / "siswa-history-phone.png")


async def shoot(app: App, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        desktop = await logged_in(browser, app, DESKTOP)
        await first_run(desktop, out)
        runs = [int(app.progress()["run_id"])]
        for version in VERSIONS:
            app.simulator(version=version)
            runs.append(await next_run(desktop, app, runs[-1]))
        print(f"runs {runs} (simulator data versions 0, {', '.join(map(str, VERSIONS))})")
        await sync_shots(desktop, app, runs[-1], out)
        phone = await logged_in(browser, app, PHONE)
        await report_shots(desktop, phone, app, out)
        await list_shot(desktop, app, out)
        await history_shot(phone, app, history_student(app, runs), out)
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

"""The live sync page ``/admin/sync-pembayaran`` in a real Chromium: a run of a few hundred
simulator students watched to the end, cancelled mid-run, reset; a 409 shown in the page;
a second tab; polling when the WebSocket is unavailable; English; a petugas."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from . import helpers
from .conftest import Pages
from .helpers import PETUGAS, ROOT, SHOWN_BUT_HIDDEN, SYNC, App, http, require_browser

require_browser()
from playwright.async_api import Page, Route, WebSocketRoute, expect  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: Seconds a whole run may take before a test gives up on it.
RUN_TIMEOUT = 120.0
STATUS_TEXT = {"idle": "Siap", "running": "Sedang Berjalan", "completed": "Selesai"}
STATUS_TEXT["cancelled"] = "Dibatalkan"
#: The page's WebSocket address.
WS = re.compile(r"/admin/sync-pembayaran/ws(\?.*)?$")

_SNAPSHOT = """() => {
  const el = (id) => document.getElementById(id);
  const text = (id) => (el(id) ? el(id).textContent.trim() : null);
  const bar = el("sync-progress");
  return {
    status: el("sync-status") ? el("sync-status").dataset.status : null,
    status_text: text("sync-status"),
    now: bar ? bar.getAttribute("aria-valuenow") : null,
    percent: text("sync-percent"),
    total: text("stat-total"),
    success: text("stat-success"),
    failed: text("stat-failed"),
    processed: text("stat-processed"),
    transport: el("sync-page") ? el("sync-page").dataset.transport : null,
    title: document.title,
  };
}"""

_BUTTONS = """() => {
  const state = (id) => {
    const b = document.getElementById(id);
    return b && !b.hidden ? !b.disabled : null;
  };
  return {start: state("btn-start"), cancel: state("btn-cancel"), reset: state("btn-reset")};
}"""


#: Records the browser notifications a page makes and its permission requests.
_RECORD_NOTIFICATIONS = """(() => {
  window.__notifications = [];
  window.__asked = 0;
  const Real = window.Notification;
  if (!Real) return;
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push(title);
    }
  }
  Recorded.requestPermission = (...args) => {
    window.__asked += 1;
    return Real.requestPermission(...args);
  };
  window.Notification = Recorded;
})();"""


def count(text: str | None) -> int:
    """A displayed count ("1.000", "400"); a dash or nothing is 0."""
    found = re.sub(r"\D", "", text or "")
    return int(found) if found else 0


async def snapshot(page: Page) -> dict[str, Any]:
    """Everything the page shows about the run, read at one instant."""
    shot: dict[str, Any] = await page.evaluate(_SNAPSHOT)
    shot["now"] = float(shot["now"]) if shot["now"] not in (None, "") else None
    for name in ("total", "success", "failed", "processed"):
        shot[name] = count(shot[name])
    return shot


async def buttons(page: Page) -> dict[str, bool | None]:
    """Enabled (True), disabled (False) or absent (None) per button."""
    return await page.evaluate(_BUTTONS)


async def wait_status(page: Page, status: str, timeout: float = RUN_TIMEOUT) -> None:
    await expect(page.locator("#sync-status")).to_have_attribute(
        "data-status", status, timeout=timeout * 1000
    )


async def follow(page: Page, timeout: float = RUN_TIMEOUT) -> list[dict[str, Any]]:
    """Snapshots every 100 ms until the run has ended (status completed or cancelled)."""
    samples: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shot = await snapshot(page)
        samples.append(shot)
        if shot["status"] in ("completed", "cancelled"):
            return samples
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run did not end in {timeout:g} s; last: {samples[-1]}")


def assert_monotonic(samples: list[dict[str, Any]]) -> None:
    """Nothing the page shows ever goes backwards, and the counts stay consistent."""
    for before, after in itertools.pairwise(samples):
        for name in ("now", "processed", "success", "failed"):
            if before[name] is not None and after[name] is not None:
                assert after[name] >= before[name], f"{name} went back: {before} → {after}"
    for shot in samples:
        if shot["status"] == "running" and shot["total"]:
            assert shot["success"] + shot["failed"] <= shot["processed"] <= shot["total"], shot
            assert shot["now"] is not None and 0 <= shot["now"] <= 100, shot


async def start_in_page(page: Page) -> None:
    await expect(page.locator("#btn-start")).to_be_enabled()
    await page.click("#btn-start")
    await expect(page.locator("#sync-message")).to_have_attribute("data-kind", "success")
    await expect(page.locator("#sync-message")).to_contain_text("dimulai")


async def confirm(page: Page, button: str, answer: str = "#confirm-yes") -> None:
    """Click ``button``, which asks in the page's own dialog, and answer it."""
    await page.click(button)
    dialog = page.locator("#confirm-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#confirm-text")).not_to_be_empty()
    await page.click(answer)
    await expect(dialog).to_be_hidden()


def catalogue(lang: str) -> dict[str, str]:
    path = ROOT / "syncpay" / "web" / "locale" / f"{lang}.json"
    return json.loads(path.read_text(encoding="utf-8"))


# --- the main flow, on SQLite and on MariaDB --------------------------------------------


async def test_a_run_from_start_to_finish(any_app: App, pages: Pages) -> None:
    app = any_app
    context = await pages.context(permissions=["notifications"])
    await context.add_init_script(_RECORD_NOTIFICATIONS)
    page = await pages.login(app, context=context)
    await expect(page.locator("#sync-page")).to_be_visible()
    assert await page.evaluate("window.__asked") == 0, "notification permission asked on load"

    # Idle: only start makes sense.
    await wait_status(page, "idle")
    await expect(page.locator("#sync-status")).to_have_text(STATUS_TEXT["idle"])
    assert await buttons(page) == {"start": True, "cancel": False, "reset": False}
    await expect(page.locator("#sync-page")).to_have_attribute("data-transport", "ws")

    # The finance system's next data version: the run changes some students whether or
    # not earlier tests on this app synced them already.
    status, config = http("GET", app.sim_url + "/_config")
    assert status == 200, config
    app.simulator(version=int(config["options"]["version"]) + 1)

    await start_in_page(page)
    await wait_status(page, "running", 10)
    await expect(page.locator("#sync-status")).to_have_text(STATUS_TEXT["running"])
    await expect(page.locator("#sync-started-by")).to_contain_text("admin")
    running = await buttons(page)
    assert running["start"] is False and running["cancel"] is True, running
    assert running["reset"] is False, running

    samples = await follow(page)
    assert_monotonic(samples)
    middle = [s for s in samples if s["now"] is not None and 0 < s["now"] < 100]
    assert middle, f"no progress between 0 and 100 % was shown: {samples[:3]} … {samples[-3:]}"
    assert len({s["processed"] for s in samples}) >= 3, "the counts did not rise while running"

    await wait_status(page, "completed", 5)
    end = await snapshot(page)
    assert end["now"] == 100, end
    assert "100" in end["percent"], end
    assert end["total"] == app.students, end
    assert end["processed"] == app.students and end["success"] + end["failed"] == app.students, end
    await expect(page.locator("#sync-status")).to_have_text(STATUS_TEXT["completed"])

    # The page says the same as the API.
    progress = app.progress()
    assert progress["status"] == "completed", progress
    assert (progress["total"], progress["processed"], progress["failed"]) == (
        end["total"],
        end["processed"],
        end["failed"],
    )
    assert progress["successCount"] == end["success"], progress

    # The finish notice: in the page and in the tab title.
    await expect(page.locator("#sync-notice")).to_be_visible()
    await expect(page.locator("#sync-notice")).not_to_be_empty()
    assert (await page.title()).startswith("✓ "), await page.title()
    shown = await page.evaluate("window.__notifications")
    assert len(shown) == 1 and shown[0], f"browser notifications: {shown}"

    # What the run changed (#14), as the API says, with the link to its students.
    changes = progress["changes"]
    first = f"{changes['first_synced']:,}".replace(",", ".")
    await expect(page.locator("#sync-changes")).to_be_visible()
    await expect(page.locator("#sync-changes-text")).to_contain_text(
        f"{first} pertama kali tersinkron"
    )
    link = await page.get_attribute("#sync-changes-link", "href")
    assert link == f"{SYNC}/runs/{progress['run_id']}/changes", link
    await expect(page.locator("#recent-runs tr").first.locator("td.changes a")).to_have_attribute(
        "href", link
    )

    # Ended: reset makes sense now, cancel does not.
    assert await buttons(page) == {"start": True, "cancel": False, "reset": True}
    await expect(page.locator("#sync-log li[data-id]").first).to_be_visible()
    await expect(page.locator("#recent-runs tr").first).to_contain_text(str(app.students))

    # Reset → Siap.
    await confirm(page, "#btn-reset")
    await wait_status(page, "idle", 10)
    await expect(page.locator("#sync-status")).to_have_text(STATUS_TEXT["idle"])
    await expect(page.locator("#sync-message")).to_contain_text("Progress di-reset.")
    assert await buttons(page) == {"start": True, "cancel": False, "reset": False}
    assert app.progress()["status"] == "idle"

    # The run's changed students on a phone: no sideways scrolling.
    await page.set_viewport_size({"width": 390, "height": 800})
    await page.goto(app.url + link)
    status, listed = app.api("GET", link)
    assert status == 200, listed
    assert listed["total"] > 0, "the new data version changed nobody"
    rows = page.locator("#changes-table tbody tr")
    await expect(rows.first).to_be_visible()
    assert await rows.count() == min(100, listed["total"])
    assert await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


# --- the rest on SQLite -----------------------------------------------------------------


async def test_cancel_mid_run_freezes_the_counts(app: App, pages: Pages) -> None:
    app.simulator(latency=0.25)  # 400 students / 8 workers × 0.25 s ≈ 12 s
    page = await pages.login(app)
    await start_in_page(page)
    await wait_status(page, "running", 10)
    await expect(page.locator("#stat-processed")).not_to_have_text(re.compile(r"^\D*0?\D*$"))

    # "No" in the dialog keeps the run going.
    await confirm(page, "#btn-cancel", "#confirm-no")
    assert (await snapshot(page))["status"] == "running"
    assert app.progress()["status"] == "running"

    await confirm(page, "#btn-cancel")
    await wait_status(page, "cancelled", 15)
    await expect(page.locator("#sync-status")).to_have_text(STATUS_TEXT["cancelled"])
    await expect(page.locator("#sync-message")).to_have_attribute("data-kind", "success")
    await expect(page.locator("#sync-message")).to_contain_text("dibatalkan")
    counts = ("status", "now", "percent", "total", "success", "failed", "processed")
    first = await snapshot(page)
    await asyncio.sleep(1.0)
    second = await snapshot(page)
    moved = {k: (first[k], second[k]) for k in counts if first[k] != second[k]}
    assert not moved, f"the counts moved after the cancel: {moved}"
    assert 0 < second["processed"] < app.students, second
    progress = app.progress()
    assert progress["status"] == "cancelled"
    assert progress["processed"] == second["processed"], (progress, second)
    assert await buttons(page) == {"start": True, "cancel": False, "reset": True}

    await confirm(page, "#btn-reset")
    await wait_status(page, "idle", 10)
    await expect(page.locator("#sync-status")).to_have_text(STATUS_TEXT["idle"])
    assert await buttons(page) == {"start": True, "cancel": False, "reset": False}


async def test_a_conflict_shows_its_message_in_the_page(app: App, pages: Pages) -> None:
    """The page still believes nothing runs (its socket's messages are held back) when a
    script starts a run over all students: the click gets the 409, shown in the page."""
    pages.allow(r"status of 409")
    app.simulator(latency=0.25)
    held = asyncio.Event()

    def hold_back(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: None if held.is_set() else ws.send(message))

    context = await pages.context()
    await context.route_web_socket(WS, hold_back)
    page = await pages.login(app, context=context)
    await expect(page.locator("#sync-page")).to_have_attribute("data-transport", "ws")
    await wait_status(page, "idle")
    held.set()

    status, body = app.api("POST", SYNC + "/start", {})
    assert status == 200, body
    status, conflict = app.api("POST", SYNC + "/start", {})
    assert status == 409, conflict

    await page.click("#btn-start")
    message = page.locator("#sync-message")
    await expect(message).to_have_attribute("data-kind", "error")
    await expect(message).to_contain_text(conflict["message"])
    await expect(message).to_be_visible()
    assert not pages.dialogs


async def test_a_second_tab_shows_the_same_run(app: App, pages: Pages) -> None:
    first = await pages.login(app)
    second = await pages.new(first.context)
    await second.goto(app.url + SYNC)
    await wait_status(second, "idle")

    await start_in_page(first)
    await wait_status(second, "running", 10)  # pushed, not reloaded
    await wait_status(first, "completed")
    await wait_status(second, "completed", 10)
    one, two = await snapshot(first), await snapshot(second)
    for name in ("status", "now", "total", "success", "failed", "processed"):
        assert one[name] == two[name], (name, one, two)

    ids = "els => els.map(e => [e.dataset.id, e.textContent.trim()])"
    lines = first.locator("#sync-log li[data-id]")
    await expect(second.locator("#sync-log li[data-id]")).to_have_count(await lines.count())
    logged = await lines.evaluate_all(ids)
    assert len(logged) >= 2, logged  # started, finished
    assert await second.locator("#sync-log li[data-id]").evaluate_all(ids) == logged
    order = [int(i) for i, _ in logged]
    assert order == sorted(order, reverse=True), "the log is not newest first"

    await second.reload()  # the log is kept on the server
    await wait_status(second, "completed")
    assert await second.locator("#sync-log li[data-id]").evaluate_all(ids) == logged


async def test_without_the_websocket_the_page_polls_to_the_end(app: App, pages: Pages) -> None:
    context = await pages.context()
    await context.route_web_socket(WS, lambda ws: ws.close())  # it never opens
    page = await pages.login(app, context=context)
    await wait_status(page, "idle")
    await start_in_page(page)
    await expect(page.locator("#sync-page")).to_have_attribute("data-transport", "poll")
    samples = await follow(page)
    assert_monotonic(samples)
    assert {s["transport"] for s in samples} == {"poll"}, {s["transport"] for s in samples}
    assert len({s["processed"] for s in samples}) >= 3, "no progress arrived by polling"
    end = await snapshot(page)
    assert end["status"] == "completed" and end["now"] == 100, end
    assert end["processed"] == app.students, end
    await expect(page.locator("#sync-notice")).to_be_visible()
    assert (await page.title()).startswith("✓ ")


async def test_the_english_page(app: App, pages: Pages) -> None:
    en, id_ = catalogue("en"), catalogue("id")
    page = await pages.login(app)
    await wait_status(page, "idle")
    shown_id = {b: (await page.inner_text(b)).strip() for b in ("#btn-start", "#btn-cancel")}
    await page.goto(app.url + SYNC + "?lang=en")
    assert await page.get_attribute("html", "lang") == "en"
    await expect(page.locator("#sync-status")).to_have_text("Idle")
    for button, text in shown_id.items():  # the same catalogue key, in English
        keys = [k for k, v in id_.items() if v == text and k.startswith("sync.")]
        assert keys, f"{button}: {text!r} is not a sync.* text of id.json"
        await expect(page.locator(button)).to_have_text(en[keys[0]])
        assert en[keys[0]] != text
    body = await page.inner_text("main")
    for key in ("sync.heading", "sync.stat.success", "sync.stat.failed", "sync.stat.processed"):
        assert en[key] in body, (key, en[key])
        if id_[key] != en[key]:
            assert id_[key] not in body, (key, id_[key])

    await page.click("#btn-start")
    await expect(page.locator("#sync-status")).to_have_text(re.compile("^(Running|Completed)$"))
    await wait_status(page, "completed")
    await expect(page.locator("#sync-status")).to_have_text("Completed")
    # The run's scope, stored in Indonesian, is worded in English (live and in the runs).
    await expect(page.locator("#sync-scope")).to_have_text("All students")
    await expect(page.locator("#recent-runs tr").first).to_contain_text("All students")
    text = await page.inner_text("main")
    assert "Sedang Berjalan" not in text and "Selesai" not in text, text[:500]
    assert "Semua siswa" not in await page.inner_text("#recent-runs")
    # The language stays with the session.
    await page.goto(app.url + SYNC)
    await expect(page.locator("#sync-status")).to_have_text("Completed")


async def test_the_english_page_words_the_live_log_in_english(app: App, pages: Pages) -> None:
    """The activity log's lines pushed over the WebSocket are worded in the page's
    language from their key and values (stored with an Indonesian message); a value
    that holds HTML is shown as text."""
    page = await pages.login(app)
    await page.goto(app.url + SYNC + "?lang=en")
    await wait_status(page, "idle")
    await expect(page.locator("#sync-page")).to_have_attribute("data-transport", "ws")
    log = page.locator("#sync-log li[data-id] .log-message")

    # A failure's reason holding the sync layer's own (Indonesian) words is shown by
    # sync.js in the page's words: the failed list it fetches when the run ends is
    # answered with such a reason.
    stored = "HTTP 500 (percobaan terakhir terputus: sync.student was cut off 3 times)"

    async def cut_off_reason(route: Route) -> None:
        response = await route.fetch()
        answer = await response.json()
        for student in answer.get("students") or []:
            student["reason"] = stored
        await route.fulfill(response=response, json=answer)

    await page.route("**" + SYNC + "/failed?*", cut_off_reason)

    # A run over one student with a hostile name, who fails: the failure line carries the
    # name as a value.
    hostile = app.roster[0]
    assert "<script>" in hostile["nama"]
    app.simulator(not_found_rate=1.0)
    try:
        status, body = app.api("POST", SYNC + "/start", {"idperson": hostile["idperson"]})
        assert status == 200, body
        await wait_status(page, "completed")
    finally:
        app.simulator(not_found_rate=0.0)
    failed = app.progress()
    assert (failed["run_id"], failed["failed"]) == (body["run_id"], 1), failed
    await expect(log.filter(has_text="Sync finished")).to_have_text(
        "Sync finished - 0 succeeded, 1 failed"
    )
    line = next(x for x in failed["logs"] if x["key"] == "student_failed")
    assert line["values"]["name"] == hostile["nama"]
    await expect(log.filter(has_text="Failed: ")).to_have_text(
        f"Failed: {hostile['nama']} ({hostile['idperson']}) - {line['values']['reason']}"
    )
    assert await page.locator("#sync-log script, #sync-log img").count() == 0
    await expect(page.locator("#failed-list td.reason").first).to_have_text(
        "HTTP 500 (last attempts cut off: sync.student was cut off 3 times)"
    )
    await page.unroute("**" + SYNC + "/failed?*")

    # A run over everybody, started in the page: its lines arrive live, in English.
    await page.click("#btn-start")
    await expect(page.locator("#sync-run")).not_to_have_text(f"#{failed['run_id']}")
    await wait_status(page, "completed")
    await expect(page.locator("#sync-page")).to_have_attribute("data-transport", "ws")
    done = app.progress()
    assert done["status"] == "completed" and done["run_id"] != failed["run_id"], done
    finish = f"Sync finished - {done['successCount']} succeeded, {done['failed']} failed"
    # (Students synced by an earlier test come back unchanged: a line follows this one.)
    await expect(log.filter(has_text="Sync finished")).to_have_text(finish)
    await expect(log.last).to_have_text(
        f"Sync started by admin: All students, {app.students} students"
    )
    stored = next(x["message"] for x in done["logs"] if x["key"] == "finished")
    assert stored.startswith("Sinkronisasi selesai - "), stored  # as before
    shown = await log.all_inner_texts()
    assert not [text for text in shown if "Sinkronisasi" in text or "siswa" in text], shown

    # The same lines in Indonesian after a reload (sync.js, from the page's data).
    await page.goto(app.url + SYNC + "?lang=id")
    await wait_status(page, "completed")
    await expect(log.filter(has_text="Sinkronisasi selesai")).to_have_text(
        f"Sinkronisasi selesai - {done['successCount']} berhasil, {done['failed']} gagal"
    )


async def test_a_petugas_watches_but_cannot_start_cancel_or_reset(app: App, pages: Pages) -> None:
    app.simulator(latency=0.2)
    page = await pages.login(app, PETUGAS)
    await wait_status(page, "idle")
    idle = await buttons(page)
    assert not any(idle.values()), idle
    for selector in ("#btn-start", "#btn-cancel", "#btn-reset", "#btn-retry-failed"):
        if await page.locator(selector).count():
            await expect(page.locator(selector)).to_be_disabled()

    status, body = app.api("POST", SYNC + "/start", {})
    assert status == 200, body
    await wait_status(page, "running", 10)
    running = await buttons(page)
    assert not any(running.values()), running
    await wait_status(page, "completed")
    ended = await buttons(page)
    assert not any(ended.values()), ended
    assert (await snapshot(page))["processed"] == app.students


async def test_hidden_elements_are_not_shown(app: App, pages: Pages) -> None:
    """An element with the ``hidden`` attribute is not displayed (a CSS ``display`` rule
    must not override it), at idle and after a run."""
    page = await pages.login(app)
    await wait_status(page, "idle")
    assert await page.evaluate(SHOWN_BUT_HIDDEN) == []
    await start_in_page(page)
    await wait_status(page, "completed")
    assert await page.evaluate(SHOWN_BUT_HIDDEN) == []


# --- a run nobody works (issue #12, item 3) ---------------------------------------------------


class _ServerAlone(helpers.Process):
    """A process as the tests start them, except that ``serve`` runs no worker pool."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], workdir: Path) -> None:
        if name == "serve" and "--workers" in args:
            at = args.index("--workers") + 1
            args = [*args[:at], "0", *args[at + 1 :]]
        super().__init__(name, args, env, workdir)


async def test_a_run_nobody_works_shows_it_waits_for_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pages: Pages
) -> None:
    """A server without workers and no `syncpay work`: the page says the run waits for a
    worker (instead of an estimate), and stops saying it once a worker starts."""
    monkeypatch.setattr(helpers, "Process", _ServerAlone)
    app = App(tmp_path, helpers.base_env(tmp_path, helpers.sqlite_env(tmp_path)), 12)
    page: Page | None = None
    try:
        app.start(0.05)
        page = await pages.login(app)
        await start_in_page(page)
        waiting = page.locator("#sync-worker")
        await expect(waiting).to_be_visible(timeout=10_000)
        await expect(waiting).to_contain_text(catalogue("id")["js.sync.waiting_for_worker"])
        await expect(page.locator("#sync-eta")).to_have_text("Menunggu worker")
        assert (await snapshot(page))["status"] == "running"
        app.processes.append(helpers.Process("work", ["work"], app.env, app.workdir))
        await expect(waiting).to_be_hidden(timeout=15_000)
        await wait_status(page, "completed", 30)
    finally:
        if page is not None:
            await page.close()  # before its server goes away
        app.stop()


# --- a run with failures is not shown as a success (issue #12, item 7) ------------------------


async def test_failures_read_as_a_warning_and_all_failed_as_an_error(
    app: App, pages: Pages
) -> None:
    """A run where every student failed is red (badge, notice, tab title, notification);
    one where some failed is amber; the page keeps data-status "completed" (SPEC)."""
    words = catalogue("id")
    context = await pages.context(permissions=["notifications"])
    await context.add_init_script(_RECORD_NOTIFICATIONS)
    page = await pages.login(app, context=context)
    badge, notice = page.locator("#sync-status"), page.locator("#sync-notice")

    app.simulator(fail_rate=1.0)
    await start_in_page(page)
    await wait_status(page, "completed")
    await expect(badge).to_have_class("badge badge-failed")
    await expect(badge).to_have_text(words["js.sync.status.failed"])
    await expect(notice).to_have_class("alert alert-error")
    await expect(notice).to_have_text(f"Sinkronisasi gagal - semua {app.students} siswa gagal")
    assert (await page.title()).startswith("✗ Sinkronisasi gagal"), await page.title()
    await expect(page.locator("#recent-runs tr .badge").first).to_have_class("badge badge-failed")
    await expect(page.locator("#sync-log li.log-error .log-message").first).to_contain_text(
        "Sinkronisasi selesai - 0 berhasil"
    )

    app.simulator(fail_rate=0.3)
    await confirm(page, "#btn-reset")
    await wait_status(page, "idle", 10)
    await start_in_page(page)
    await wait_status(page, "completed")
    await expect(badge).to_have_class("badge badge-partial")
    await expect(badge).to_have_text(words["js.sync.status.partial"])
    await expect(notice).to_have_class("alert alert-warning")
    await expect(notice).to_contain_text("Sinkronisasi selesai dengan kegagalan - ")
    assert (await page.title()).startswith("⚠ "), await page.title()
    shown = await page.evaluate("window.__notifications")
    assert shown == [words["js.sync.done_title_failed"], words["js.sync.done_title_partial"]]


# --- the wait for a retry is not an estimate of zero (issue #12, item 8) ----------------------


async def test_the_wait_for_a_retry_is_shown_not_zero(tmp_path: Path, pages: Pages) -> None:
    """Every student failed once and waits out an 8 s backoff: the page's time left says
    "menunggu percobaan ulang" with the time to the retry, never "0 detik"."""
    env = helpers.base_env(tmp_path, helpers.sqlite_env(tmp_path)) | {"SYNC_BACKOFF": "8"}
    app = App(tmp_path, env, 6)
    page: Page | None = None
    try:
        app.start(0.02)
        app.simulator(fail_rate=1.0)
        page = await pages.login(app)
        await start_in_page(page)
        eta = page.locator("#sync-eta")
        await expect(eta).to_have_text(re.compile(r"^menunggu percobaan ulang \(\d+ detik\)$"))
        shown = await eta.text_content()
        assert shown is not None and "(0 detik)" not in shown, shown
        assert (await snapshot(page))["status"] == "running"
        await confirm(page, "#btn-cancel")
        await wait_status(page, "cancelled", 10)
    finally:
        if page is not None:
            await page.close()  # before its server goes away
        app.stop()


# --- one wording: the script writes every dynamic part (#13) ----------------------------------

#: A failure's reason with the sync layer's own (Indonesian) words in it.
CUT_OFF = "HTTP 500 (percobaan terakhir terputus: sync.student was cut off 3 times)"
HOSTILE = helpers.HOSTILE_NAMES[0]
#: The page's data block, as pages.py writes it.
_PAGE_DATA = re.compile(r'(<script type="application/json" id="page-data">)(.*?)(</script>)', re.S)


def _line(line_id: int, key: str | None, values: dict[str, Any] | None, level: str = "info"):
    at = f"2026-12-06T07:05:{line_id:02d}Z"
    return {"id": line_id, "at": at, "level": level, "message": f"(stored {line_id})",
            "key": key, "values": values}  # fmt: skip


def _run(run_id: int, status: str, scope: dict[str, Any], **counts: Any) -> dict[str, Any]:
    return {"run_id": run_id, "status": status, "scope": counts.pop("label", "(stored)"),
            "scope_type": scope["kind"], "scope_detail": scope, "started_by": HOSTILE,
            "started_at": "2026-12-06T07:05:09Z", "finished_at": "2026-12-06T08:07:14Z",
            "unchanged": 0, "percent": 100.0} | counts  # fmt: skip


#: What a run changed (#14), large enough to show the grouping of both languages.
CHANGES = {
    "became_lunas": 1234,
    "became_belum_lunas": 5,
    "first_synced": 0,
    "arrears_up": 7,
    "arrears_down": 1300,
    "tunggakan_before": 12500000,
    "tunggakan_after": 1000000.5,
}

#: A first paint no run of the shared app could give in seconds: a large run that ended
#: with failures, log lines of every kind (one from an older version without a key, one
#: with a key this version does not know), a failed student with a hostile name, and
#: runs of every scope and outcome.
FIRST_PAINT: dict[str, Any] = {
    "progress": {
        "total": 12345, "processed": 12345, "failed": 1234, "successCount": 11111,
        "percent": 100.0, "isRunning": False, "status": "completed", "run_id": 7,
        "scope": "3 siswa terpilih", "scope_detail": {"kind": "list", "students": 3},
        "started_by": HOSTILE, "elapsed_seconds": 3725, "eta_seconds": None,
        "rate_per_second": 0.0, "waiting_for_worker": False, "retry_waiting": 0,
        "next_retry_seconds": None, "changes": CHANGES,
        "logs": [
            _line(6, "no_such_key", {}),
            _line(5, None, None),
            _line(4, "finished", {"success": 11111, "failed": 1234}, "success"),
            _line(3, "student_failed", {"name": HOSTILE, "idperson": "2025000001",
                                        "reason": CUT_OFF}, "error"),
            _line(2, "queued", {"total": 12345}),
            _line(1, "started", {"by": HOSTILE, "scope": "Semua siswa",
                                 "scope_detail": {"kind": "all"}, "total": 12345}),
        ],
    },
    "failed": [{"idperson": "2025000001", "nama": HOSTILE, "reason": CUT_OFF,
                "attempts": 1234, "at": 1796540714}],
    "runs": [
        _run(7, "completed", {"kind": "one", "idperson": "2025000001", "students": 1},
             duration_seconds=3725, total=4, processed=4, failed=4, successCount=0),
        _run(6, "completed", {"kind": "kelas", "unit": "SMP", "kelas": "VII A"},
             duration_seconds=65, total=12345, processed=12345, failed=1234,
             successCount=11111, changes=CHANGES),
        _run(5, "completed", {"kind": "unit", "unit": "SMP"}, duration_seconds=0,
             total=3, processed=3, failed=0, successCount=3),
        _run(4, "cancelled", {"kind": "all"}, duration_seconds=7, total=9, processed=2,
             failed=0, successCount=2),
        _run(3, "completed", {"kind": "from_a_newer_version"}, label="Lingkup baru",
             duration_seconds=1, total=1, processed=1, failed=0, successCount=1),
    ],
}  # fmt: skip

#: What the page shows for FIRST_PAINT (and for the running progress pushed after it).
WORDING: dict[str, dict[str, Any]] = {
    "en": {
        "badge": "Completed with failures",
        "numbers": ["100.0 %", "12,345", "11,111", "1,234", "12,345"],
        "meta": ["—", "—", "1 h 2 min", HOSTILE, "3 selected students", "#7"],
        "log": [
            "(stored 6)",
            "(stored 5)",
            "Sync finished - 11,111 succeeded, 1,234 failed",
            f"Failed: {HOSTILE} (2025000001) - HTTP 500 (last attempts cut off: sync.student"
            " was cut off 3 times)",
            "12,345 students queued",
            f"Sync started by {HOSTILE}: All students, 12,345 students",
        ],
        "failed": [
            ["2025000001", HOSTILE,
             "HTTP 500 (last attempts cut off: sync.student was cut off 3 times)", "1,234"],
            ["… and 1,233 more."],
        ],
        "runs": [
            ["#7", "Failed", "Student 2025000001", "1 h 2 min", "0", "4", "4", "—"],
            ["#6", "Completed with failures", "Class VII A (SMP)", "1 min 5 s", "11,111",
             "1,234", "12,345", "1,234 paid up, 5 into arrearsRp 12.500.000 → Rp 1.000.000,50"],
            ["#5", "Completed", "Unit SMP", "0 s", "3", "0", "3", "—"],
            ["#4", "Cancelled", "All students", "7 s", "2", "0", "9", "—"],
            ["#3", "Completed", "Lingkup baru", "1 s", "1", "0", "1", "—"],
        ],
        "changes": [
            "1,234 became paid up, 5 fell into arrears, 0 synced for the first time; arrears"
            " rose for 7 students and fell for 1,300.",
            "Total arrears: Rp 12.500.000 → Rp 1.000.000,50",
        ],
        "date": r"6 Dec 2026 \d\d:\d5",
        "running": ["Running", "25.0 %", "waiting to retry (8 s)", "12.5 students/s"],
        "worker": "Waiting for a worker",
    },
    "id": {
        "badge": "Selesai dengan kegagalan",
        "numbers": ["100,0 %", "12.345", "11.111", "1.234", "12.345"],
        "meta": ["—", "—", "1 jam 2 menit", HOSTILE, "3 siswa terpilih", "#7"],
        "log": [
            "(stored 6)",
            "(stored 5)",
            "Sinkronisasi selesai - 11.111 berhasil, 1.234 gagal",
            f"Gagal: {HOSTILE} (2025000001) - {CUT_OFF}",
            "12.345 siswa masuk antrean",
            f"Sinkronisasi dimulai oleh {HOSTILE}: Semua siswa, 12.345 siswa",
        ],
        "failed": [
            ["2025000001", HOSTILE, CUT_OFF, "1.234"],
            ["… dan 1.233 siswa lainnya."],
        ],
        "runs": [
            ["#7", "Gagal", "Siswa 2025000001", "1 jam 2 menit", "0", "4", "4", "—"],
            ["#6", "Selesai dengan kegagalan", "Kelas VII A (SMP)", "1 menit 5 detik",
             "11.111", "1.234", "12.345",
             "1.234 jadi Lunas, 5 jadi Belum LunasRp 12.500.000 → Rp 1.000.000,50"],
            ["#5", "Selesai", "Unit SMP", "0 detik", "3", "0", "3", "—"],
            ["#4", "Dibatalkan", "Semua siswa", "7 detik", "2", "0", "9", "—"],
            ["#3", "Selesai", "Lingkup baru", "1 detik", "1", "0", "1", "—"],
        ],
        "changes": [
            "1.234 menjadi Lunas, 5 menjadi Belum Lunas, 0 pertama kali tersinkron; tunggakan"
            " naik pada 7 siswa dan turun pada 1.300 siswa.",
            "Total tunggakan: Rp 12.500.000 → Rp 1.000.000,50",
        ],
        "date": r"6 Des 2026 \d\d\.\d5",
        "running": ["Sedang Berjalan", "25,0 %", "menunggu percobaan ulang (8 detik)",
                    "12,5 siswa/detik"],
        "worker": "Menunggu worker",
    },
}  # fmt: skip

_TEXTS = "(els) => els.map((e) => e.textContent.trim())"
_ROWS = """(rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim())
  .filter((text, i) => ![3, 4].includes(i) || r.cells.length < 5))"""


def with_first_paint(html: str, sync: dict[str, Any]) -> str:
    """The page's HTML with ``sync``'s fields in its data block (escaped as pages.py
    escapes it)."""
    found = _PAGE_DATA.search(html)
    assert found, "no page-data block"
    data = json.loads(found.group(2))
    progress = data["sync"]["progress"] | sync["progress"]
    data["sync"] |= sync | {"progress": progress}
    text = json.dumps(data, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return html[: found.start(2)] + text + html[found.end(2) :]


@pytest.mark.parametrize("lang", ["en", "id"])
async def test_the_script_words_every_dynamic_part(app: App, pages: Pages, lang: str) -> None:
    """#13 one wording: the server sends the frame and the first paint's data; sync.js
    writes the badge, the numbers, the times, the log, the failed students and the runs
    from it, in the page's language — and the progress pushed after it the same way. One
    page load per language, with a first paint (and a WebSocket) the test writes."""
    words = WORDING[lang]
    sockets: list[WebSocketRoute] = []
    context = await pages.context()

    def mock(ws: WebSocketRoute) -> None:  # never connected to the server
        sockets.append(ws)

    await context.route_web_socket(WS, mock)
    page = await pages.login(app, context=context)

    async def first_paint(route: Route) -> None:
        response = await route.fetch()
        await route.fulfill(response=response, body=with_first_paint(await response.text(),
                                                                     FIRST_PAINT))  # fmt: skip

    await page.route(re.compile(r"/admin/sync-pembayaran(\?[^/]*)?$"), first_paint)
    await page.goto(f"{app.url}{SYNC}?lang={lang}")
    await expect(page.locator("#sync-page")).to_have_attribute("data-transport", "ws")

    badge = page.locator("#sync-status")
    await expect(badge).to_have_text(words["badge"])
    await expect(badge).to_have_class("badge badge-partial")
    await expect(badge).to_have_attribute("data-status", "completed")
    await expect(page.locator("#sync-page")).to_have_attribute("data-tone", "partial")
    numbers = ["#sync-percent", "#stat-total", "#stat-success", "#stat-failed", "#stat-processed"]
    meta = ["#sync-eta", "#sync-rate", "#sync-elapsed", "#sync-started-by", "#sync-scope"]
    for selector, shown in zip(
        [*numbers, *meta, "#sync-run"], words["numbers"] + words["meta"], strict=True
    ):
        await expect(page.locator(selector)).to_have_text(shown)

    log = page.locator("#sync-log li[data-id]")
    assert await log.locator(".log-message").evaluate_all(_TEXTS) == words["log"]
    assert await log.evaluate_all("(els) => els.map((e) => e.className)") == [
        "log-info", "log-info", "log-warning", "log-error", "log-info", "log-info",
    ]  # fmt: skip
    # The clock in the server's zone (any): "07:05:06" / "07.05.06".
    separator = ":" if lang == "en" else "."
    clocks = await log.locator("time").all_inner_texts()
    assert [re.sub(r"^\d\d\D\d\d\D", "", c) for c in clocks] == ["06", "05", "04", "03", "02", "01"]
    assert all(re.fullmatch(rf"\d\d\{separator}\d\d\{separator}\d\d", c) for c in clocks), clocks
    assert await page.locator("#failed-list tr").evaluate_all(_ROWS) == words["failed"]
    # What the run changed (#14), and the link to its students.
    changed = page.locator("#sync-changes-text p")
    assert await changed.evaluate_all(_TEXTS) == words["changes"]
    assert await page.get_attribute("#sync-changes-link", "href") == f"{SYNC}/runs/7/changes"
    runs = page.locator("#recent-runs tr[data-run-id]")
    assert await runs.evaluate_all(_ROWS) == [[*r, "Watch" if lang == "en" else "Pantau"]
                                              for r in words["runs"]]  # fmt: skip
    # One date format per language: never the US order ("12/6/26").
    dates = await runs.locator("time").all_inner_texts()
    assert len(dates) == 5 and all(re.fullmatch(words["date"], d) for d in dates), dates
    assert await runs.locator("td:nth-child(4)").all_inner_texts() == [HOSTILE] * 5
    badges = await runs.locator(".badge").evaluate_all("(els) => els.map((e) => e.className)")
    assert badges == [f"badge badge-{k}" for k in
                      ("failed", "partial", "completed", "cancelled", "completed")]  # fmt: skip
    # Hostile names are text, never markup.
    assert await page.locator("#sync-page script, #sync-page img").count() == 0

    # A progress pushed over the WebSocket: the same words.
    assert sockets, "the page opened no WebSocket"
    running = FIRST_PAINT["progress"] | {
        "type": "progress", "logs_mode": "append", "status": "running", "isRunning": True,
        "run_id": 8, "total": 200, "processed": 50, "failed": 0, "successCount": 50,
        "percent": 25.0, "eta_seconds": 2, "next_retry_seconds": 8, "rate_per_second": 12.5,
        "retry_waiting": 3, "logs": [],
    }  # fmt: skip
    sockets[-1].send(json.dumps(running))
    shown = ["#sync-status", "#sync-percent", "#sync-eta", "#sync-rate"]
    for selector, text in zip(shown, words["running"], strict=True):
        await expect(page.locator(selector)).to_have_text(text)
    await expect(page.locator("#sync-worker")).to_be_hidden()
    sockets[-1].send(json.dumps(running | {"waiting_for_worker": True}))
    await expect(page.locator("#sync-eta")).to_have_text(words["worker"])
    await expect(page.locator("#sync-worker")).to_be_visible()

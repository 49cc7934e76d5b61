"""A scoped petugas's sync page in a real browser (issue #15), on a phone (375 px, touch)
and a desktop: the start button and the scope picker are theirs ("Siswa saya", their
units only), reset is not shown, a run of their own students goes from start to
finish over the WebSocket, and the recent runs hold their run only; nothing pans
sideways."""

from __future__ import annotations

import secrets

import pytest

from .conftest import Pages
from .helpers import PASSWORD, SYNC, App, require_browser

require_browser()
from playwright.async_api import expect  # noqa: E402

from .test_phone import PHONE, assert_fits, tap  # noqa: E402
from .test_sync_page import snapshot, wait_status  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")

DEVICES = {
    "phone-375": {"viewport": {"width": 375, "height": 740}} | PHONE,
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@pytest.mark.parametrize("device", list(DEVICES))
async def test_a_scoped_petugas_runs_their_students(app: App, pages: Pages, device: str) -> None:
    options = DEVICES[device]
    touch = bool(options.get("has_touch"))
    unit = app.roster[2]["UnitFormal"]  # the first two have hostile names
    mine = sum(1 for s in app.roster if s["UnitFormal"] == unit)
    name = f"sari-{secrets.token_hex(3)}"
    app.cli("user:create", name, "--unit", unit, stdin=PASSWORD + "\n")
    status, body = app.api("POST", SYNC + "/start", {"idperson": app.roster[0]["idperson"]})
    assert status == 200, body  # another's run (the admin's token): never shown to them

    page = await pages.login(app, name, **options)
    await page.goto(app.url + SYNC)
    await wait_status(page, "idle")
    await expect(page.locator("#sync-page")).to_have_attribute("data-transport", "ws")
    await expect(page.locator("#btn-reset")).to_be_hidden()
    await expect(page.locator("#scope-kind option").first).to_have_text("Siswa saya")
    await expect(page.locator("#scope-unit option")).to_have_count(2)  # "pick" + their unit
    await expect(page.locator("#recent-runs tr[data-run-id]")).to_have_count(0)
    await assert_fits(page, options["viewport"]["width"], "sync page, scoped petugas")

    await tap(page, "#btn-start", touch)
    await expect(page.locator("#sync-message")).to_have_attribute("data-kind", "success")
    await wait_status(page, "completed")
    shot = await snapshot(page)
    assert (shot["total"], shot["processed"]) == (mine, mine)
    await expect(page.locator("#sync-scope")).to_have_text(f"Siswa petugas {name}")
    await expect(page.locator("#recent-runs tr[data-run-id]")).to_have_count(1)
    await expect(page.locator("#btn-reset")).to_be_hidden()

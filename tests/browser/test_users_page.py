"""The users page in a real browser (issue #15), on a phone (375 px, touch) and a
desktop: an admin follows the nav link "Pengguna", gives a new petugas a scope with the
page's form (a unit and a class ticked), sees it listed and in the JSON; nothing pans
sideways with the forms open; the petugas sees no link and gets 403 from the page."""

from __future__ import annotations

import secrets

import pytest

from .conftest import Pages
from .helpers import ADMIN, PASSWORD, App, require_browser

require_browser()
from playwright.async_api import expect  # noqa: E402

from .test_phone import PHONE, assert_fits, tap, tap_and_go  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")

BASE = "/admin/users"
DEVICES = {
    "phone-375": {"viewport": {"width": 375, "height": 740}} | PHONE,
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@pytest.mark.parametrize("device", list(DEVICES))
async def test_an_admin_gives_a_petugas_a_scope(app: App, pages: Pages, device: str) -> None:
    options = DEVICES[device]
    width = options["viewport"]["width"]
    touch = bool(options.get("has_touch"))
    name = f"sari-{secrets.token_hex(3)}"
    app.cli("user:create", name, "--role", "petugas", stdin=PASSWORD + "\n")
    student = app.roster[2]  # the first two have hostile names; any student will do
    unit, kelas = student["UnitFormal"], f"{student['UnitFormal']}:{student['KelasFormal']}"

    page = await pages.login(app, ADMIN, **options)
    await tap_and_go(page, "nav a[href='/admin/users']", touch)
    current = page.locator("nav a[aria-current='page']")
    await expect(current).to_have_attribute("href", "/admin/users")
    user = page.locator(f"tbody.user[data-user='{name}']")
    await expect(user.locator("td.scope")).to_have_text("Semua siswa")
    await assert_fits(page, width, "users page")

    await tap(page, f"tbody.user[data-user='{name}'] details.action-scope summary", touch)
    form = user.locator("form.scope-form")
    await expect(form).to_be_visible()
    await assert_fits(page, width, "users page, the scope form open")
    # The classes are folded per unit (none ticked yet): the form stays short on a
    # phone, where every class of every unit made it ~4,000 px.
    groups = form.locator("details.check-group")
    assert await groups.count() > 1
    assert await form.locator("details.check-group[open]").count() == 0
    box = await form.bounding_box()
    assert box is not None and box["height"] < 1500, box
    await tap(
        page,
        f"tbody.user[data-user='{name}'] details.check-group[data-unit='{unit}'] summary",
        touch,
    )
    await expect(form.locator(f"details.check-group[data-unit='{unit}']")).to_have_attribute(
        "open", ""
    )
    await assert_fits(page, width, "users page, a unit's classes open")
    for value in (unit, kelas):
        box = form.locator(f"input[value='{value}']")
        await tap(
            page, f"tbody.user[data-user='{name}'] label.check:has(input[value='{value}'])", touch
        )
        await expect(box).to_be_checked()
    async with page.expect_navigation():
        await tap(
            page, f"tbody.user[data-user='{name}'] form.scope-form button[type=submit]", touch
        )
    notice = page.locator("#users-notice")
    await expect(notice).to_contain_text(f"Cakupan {name}: Unit {unit} · Kelas {kelas}")
    await expect(notice).to_be_in_viewport()
    await expect(user.locator("td.scope")).to_have_text(f"Unit {unit} · Kelas {kelas}")
    await assert_fits(page, width, "users page after saving a scope")
    # Shown again, the unit with a ticked class is open, the others folded.
    opened = user.locator("form.scope-form details.check-group[open]")
    await expect(opened).to_have_count(1)
    await expect(opened).to_have_attribute("data-unit", unit)
    await expect(opened.locator("summary")).to_contain_text("1 dari")
    status, body = app.api("GET", BASE)
    assert status == 200, body
    listed = {u["name"]: u for u in body["data"]}
    assert listed[name]["scope"]["units"] == [unit]
    assert listed[name]["scope"]["kelas"] == [{"unit": unit, "kelas": student["KelasFormal"]}]

    # The petugas: no link to the page, and the page itself is refused.
    pages.allow(r"status of 403")
    officer = await pages.login(app, name, **options)
    await expect(officer.locator("nav.nav a")).not_to_have_count(0)
    await expect(officer.locator("nav a[href='/admin/users']")).to_have_count(0)
    answer = await officer.goto(app.url + BASE)
    assert answer is not None and answer.status == 403
    await assert_fits(officer, width, "users page refused to a petugas")

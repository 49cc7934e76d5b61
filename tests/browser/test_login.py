"""Logging in through the real login form."""

from __future__ import annotations

import pytest

from .conftest import Pages
from .helpers import ADMIN, PASSWORD, SYNC, App, require_browser

require_browser()
from playwright.async_api import expect  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_wrong_password_shows_the_error(app: App, pages: Pages) -> None:
    page = await pages.new()
    pages.allow(r"status of 422")  # the form's answer to a failed login
    await page.goto(app.url + SYNC)
    assert "/login" in page.url  # not logged in: the login form
    await page.fill("#username", ADMIN)
    await page.fill("#password", "bukan-kata-sandinya")
    async with page.expect_navigation():
        await page.click("form[action='/login'] button[type=submit]")
    await expect(page.locator(".alert-error")).to_have_text("Nama pengguna atau kata sandi salah.")
    assert page.url.split("?")[0].endswith("/login")
    await expect(page.locator("#username")).to_have_value(ADMIN)
    await expect(page.locator("#password")).to_have_value("")


async def test_right_password_lands_on_the_sync_page(app: App, pages: Pages) -> None:
    page = await pages.new()
    await page.goto(app.url + "/")
    await page.fill("#username", ADMIN)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation():
        await page.click("form[action='/login'] button[type=submit]")
    assert page.url.split("?")[0] == app.url + SYNC
    await expect(page.locator("#sync-page")).to_be_visible()
    await expect(page.locator("header .user")).to_contain_text(ADMIN)


async def test_login_returns_to_the_page_asked_for(app: App, pages: Pages) -> None:
    page = await pages.new()
    await page.goto(app.url + "/admin/siswa")
    assert "/login" in page.url
    await page.fill("#username", ADMIN)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation():
        await page.click("form[action='/login'] button[type=submit]")
    assert page.url.split("?")[0] == app.url + "/admin/siswa"
    await expect(page.locator("#siswa-table")).to_be_visible()


async def test_logout(app: App, pages: Pages) -> None:
    page = await pages.login(app)
    async with page.expect_navigation():
        await page.click("form.logout button[type=submit]")
    assert page.url.split("?")[0].endswith("/login")
    await page.goto(app.url + SYNC)
    assert "/login" in page.url

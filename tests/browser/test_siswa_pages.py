"""The student pages in a real Chromium: the list (search, filter, pages, escaped names)
and one student's page, whose "Sinkron sekarang" updates the totals."""

from __future__ import annotations

import itertools
import json
import re
import time
from datetime import date
from decimal import Decimal

import pytest

from syncpay.sync.money import compute_totals
from syncpay.sync.parsers import parse_flat

from .conftest import STUDENTS, Pages
from .helpers import (
    ADMIN,
    HOSTILE_NAMES,
    PETUGAS,
    ROOT,
    SHOWN_BUT_HIDDEN,
    SYNC,
    App,
    http,
    require_browser,
)

require_browser()
from playwright.async_api import Locator, Page, expect  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIST = "/admin/siswa"
FIRST_ID = 2025000001  # the simulator's first demo idperson
#: New students for the "sync now" tests, after the shared roster (never synced before).
_fresh = itertools.count(STUDENTS + 1)


def digits(text: str) -> int | None:
    found = re.sub(r"\D", "", text)
    return int(found) if found else None


async def wait_amount(locator: Locator, amount: Decimal, timeout: float = 30.0) -> None:
    """Until ``locator`` shows ``amount`` (whole rupiah, any thousands separator)."""
    want = int(amount)
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        shown = (await locator.text_content() or "").strip()
        if digits(shown) == want or (want == 0 and shown and digits(shown) in (0, None)):
            return
        await locator.page.wait_for_timeout(100)
    raise AssertionError(f"{locator} shows {shown!r}, not {want}")


def catalogue(lang: str) -> dict[str, str]:
    path = ROOT / "syncpay" / "web" / "locale" / f"{lang}.json"
    return json.loads(path.read_text(encoding="utf-8"))


async def rows(page: Page) -> list[str]:
    return await page.locator("#siswa-table tr[data-idperson]").evaluate_all(
        "els => els.map(e => e.dataset.idperson)"
    )


async def test_the_list_searches_filters_and_pages(app: App, pages: Pages) -> None:
    page = await pages.login(app, PETUGAS)
    await page.goto(app.url + LIST)
    first_page = await rows(page)
    assert 0 < len(first_page) <= 50, first_page
    assert await page.evaluate(SHOWN_BUT_HIDDEN) == []
    await expect(page.locator("#siswa-count")).not_to_be_empty()

    # Names from outside are shown as text (the console/dialog watch fails on a script).
    await page.goto(app.url + LIST + "?q=" + str(FIRST_ID))
    for number, name in enumerate(HOSTILE_NAMES):
        await page.goto(f"{app.url}{LIST}?q={FIRST_ID + number}")
        row = page.locator(f"#siswa-table tr[data-idperson='{FIRST_ID + number}']")
        await expect(row).to_contain_text(name)
    assert await page.locator("#siswa-table img").count() == 0

    # Search by name through the form.
    target = app.roster[9]
    await page.goto(app.url + LIST)
    await page.fill("#siswa-filter [name=q]", target["nama"])
    async with page.expect_navigation():
        await page.press("#siswa-filter [name=q]", "Enter")
    assert "q=" in page.url
    found = await rows(page)
    assert target["idperson"] in found, (target, found)
    assert len(found) < min(50, STUDENTS), found

    # By idperson: exactly that student; its link opens the student's page.
    await page.fill("#siswa-filter [name=q]", target["idperson"])
    async with page.expect_navigation():
        await page.press("#siswa-filter [name=q]", "Enter")
    assert await rows(page) == [target["idperson"]]
    async with page.expect_navigation():
        await page.locator(
            f"#siswa-table tr[data-idperson='{target['idperson']}'] a[href*='/admin/siswa/']"
        ).first.click()
    assert page.url.split("?")[0] == f"{app.url}{LIST}/{target['idperson']}"
    await expect(page.locator("main")).to_contain_text(target["nama"])
    await expect(page.locator("#btn-sync-now")).to_be_enabled()

    # A filter by unit keeps only that unit.
    unit = target["UnitFormal"]
    await page.goto(app.url + LIST)
    await page.select_option("#siswa-filter [name=unit]", unit)
    async with page.expect_navigation():
        await page.locator("#siswa-filter [type=submit]").first.click()
    in_unit = {r["idperson"] for r in app.roster if r["UnitFormal"] == unit}
    shown = await rows(page)
    assert shown and set(shown) <= in_unit, (unit, shown)

    # Pages: next and back.
    await page.goto(app.url + LIST)
    async with page.expect_navigation():
        await page.click("a[rel=next]")
    second_page = await rows(page)
    assert second_page and not set(second_page) & set(first_page)
    async with page.expect_navigation():
        await page.click("a[rel=prev]")
    assert await rows(page) == first_page

    # Bad values: the page still renders (a 422 with the message).
    pages.allow(r"status of 422")
    await page.goto(app.url + LIST + "?page=abc&sort=nope&status=%3Cx%3E")
    await expect(page.locator("#siswa-table")).to_be_visible()

    # The way to the sync page.
    async with page.expect_navigation():
        await page.click("#btn-sync-page")
    assert page.url.split("?")[0] == app.url + SYNC


async def test_sync_now_updates_the_totals(app: App, pages: Pages) -> None:
    student = app.import_students(next(_fresh), 1)[0]
    idperson = student["idperson"]
    status, answer = http("GET", f"{app.sim_url}/payments/{idperson}")
    assert status == 200, answer
    totals = compute_totals(parse_flat(json.dumps(answer)).items, date.today())

    page = await pages.login(app, PETUGAS)  # any logged-in user may sync one student
    await page.goto(f"{app.url}{LIST}/{idperson}")
    await expect(page.locator("main")).to_contain_text(student["nama"])
    await expect(page.locator("#siswa-status")).to_have_text("Belum Sinkron")
    before = (await page.locator("#total-tagihan").text_content() or "").strip()
    assert digits(before) in (None, 0), before

    await page.click("#btn-sync-now")
    await wait_amount(page.locator("#total-tagihan"), totals.total_tagihan)
    await wait_amount(page.locator("#total-dibayar"), totals.total_dibayar)
    await wait_amount(page.locator("#total-tunggakan"), totals.total_tunggakan)
    await wait_amount(page.locator("#total-kelebihan"), totals.total_kelebihan)
    await expect(page.locator("#siswa-status")).to_have_text(
        "Lunas" if totals.is_lunas else "Belum Lunas"
    )
    await expect(page.locator("#sync-now-message")).to_be_visible()
    await expect(page.locator("#sync-now-message")).not_to_be_empty()
    await expect(page.locator("#last-sync")).not_to_have_text(re.compile(r"^\s*[-—]?\s*$"))
    await expect(page.locator("#btn-sync-now")).to_be_enabled()
    assert await page.evaluate(SHOWN_BUT_HIDDEN) == []

    # The same after a reload (stored, not only shown).
    await page.reload()
    await wait_amount(page.locator("#total-tunggakan"), totals.total_tunggakan, 5)
    items = parse_flat(json.dumps(answer)).items
    await expect(page.locator("main")).to_contain_text(items[0].title)


async def test_an_unknown_student_is_a_404_page(app: App, pages: Pages) -> None:
    pages.allow(r"status of 404")
    page = await pages.login(app, ADMIN)
    response = await page.goto(f"{app.url}{LIST}/9999999999")
    assert response is not None and response.status == 404
    await expect(page.locator("main")).to_contain_text("404")


_TEXTS = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    if (text && !["SCRIPT", "STYLE"].includes(node.parentElement.tagName)) texts.push(text);
  }
  return texts;
}"""


async def _settled(page: Page, path: str) -> None:
    """The sync page says how its updates arrive; compare the languages once its socket
    is open (not while it is still connecting, which a busy machine makes visible)."""
    if path == SYNC:
        await expect(page.locator("#sync-page")).to_have_attribute(
            "data-transport", "ws", timeout=15_000
        )


async def test_the_english_pages(app: App, pages: Pages) -> None:
    """Every catalogue text a page shows in Indonesian is shown in English with ?lang=en."""
    id_, en = catalogue("id"), catalogue("en")
    english = set(en.values())
    page = await pages.login(app)
    for path in (LIST, f"{LIST}/{FIRST_ID + 5}", SYNC):
        await page.goto(app.url + path + "?lang=id")
        await _settled(page, path)
        shown_id = set(await page.evaluate(_TEXTS))
        translated: dict[str, set[str]] = {}  # Indonesian text → its English texts
        for key, text in id_.items():
            if text in shown_id and text not in english and "{" not in text:
                translated.setdefault(text, set()).add(en[key])
        assert len(translated) >= 3, (path, translated)
        await page.goto(app.url + path + "?lang=en")
        assert await page.get_attribute("html", "lang") == "en"
        await _settled(page, path)
        shown_en = set(await page.evaluate(_TEXTS))
        left = sorted(text for text in translated if text in shown_en)
        missing = sorted(text for text, options in translated.items() if not options & shown_en)
        assert not left, f"{path}: Indonesian texts on the English page: {left}"
        assert not missing, f"{path}: not shown in English: {missing}"

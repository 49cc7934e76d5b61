"""The student pages /admin/siswa and /admin/siswa/{idperson} (SPEC §6): access, search,
filters, sorting, pages, bad input, escaping, the payments by period, "Sinkron sekarang",
and that the list's queries are answered from indexes — through the real app on both
databases."""

from __future__ import annotations

import functools
import html as html_lib
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import pytest

from syncpay.db import Database
from syncpay.db.queries import parse_queries
from syncpay.students import import_rows
from syncpay.students.filters import (
    COUNT_CAP,
    PER_PAGE,
    SORTS,
    STATUSES,
    WORD_CANDIDATES,
    Filters,
)
from syncpay.sync.money import compute_totals
from syncpay.sync.parsers import parse_flat
from syncpay.web import dates
from syncpay.web.format import rupiah
from syncpay.web.keys import CATALOGS, SYNCPAY
from tests.sync_helpers import until
from tests.web.conftest import WebHarness

BASE = "/admin/siswa"
HOSTILE = "<script>alert(1)</script>"
HOSTILE2 = '"><img src=x onerror=alert(1)>'
_ANSWER = """-- name: ts_siswa_answer
UPDATE siswa SET pembayaran = :answer WHERE idperson = :idperson
"""
_SET_STATE = """-- name: ts_siswa_state
UPDATE siswa
SET total_tagihan = :tagihan, total_dibayar = :dibayar, total_tunggakan = :tunggakan,
    total_kelebihan = 0, is_lunas = :lunas, synced_at = :synced_at, sync_error = :error
WHERE idperson = :idperson
"""


def teach(db: Database) -> None:
    if "ts_siswa_state" not in db.queries:
        db.queries.update(parse_queries(_SET_STATE + _ANSWER, db.placeholder, {}))


async def set_state(
    db: Database,
    idperson: str,
    tunggakan: int | None,
    synced_at: str | None = None,
    error: str | None = None,
) -> None:
    """A student's stored totals, as a sync leaves them (None: never synced)."""
    teach(db)
    synced = tunggakan is not None
    await db.execute(
        "ts_siswa_state",
        {
            "idperson": idperson,
            "tagihan": 1_000_000 if synced else None,
            "dibayar": 1_000_000 - tunggakan if tunggakan is not None else None,
            "tunggakan": tunggakan,
            "lunas": (1 if tunggakan == 0 else 0) if synced else None,
            "synced_at": synced_at if synced else None,
            "error": error,
        },
    )


def row_ids(page: str) -> list[str]:
    """The idpersons of the list's rows, in order."""
    return re.findall(r'<tr data-idperson="([^"]+)"', page)


def element(page: str, element_id: str) -> str:
    """The text inside the element with this id (tags dropped, entities decoded)."""
    found = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</', page, re.S)
    assert found, f"no #{element_id}"
    return html_lib.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def name_words(nama: str, idperson: str) -> list[str]:
    """The words a search matches, as the 0007 triggers cut them."""
    text = f"{nama} {idperson}".lower()
    return [w for w in re.split(r"[ \-.,]+", text) if w]


def matches(student: dict[str, str], q: str) -> bool:
    words = name_words(student["nama"], student["idperson"])
    wanted = [w for w in re.split(r"[\s\-.,]+", q.lower()) if w]
    return all(any(w.startswith(x) for w in words) for x in wanted)


async def list_json(browser: Any, **params: str) -> tuple[int, Any]:
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    return await browser.get_json(f"{BASE}?{query}" if query else BASE)


async def all_pages(browser: Any, **params: str) -> list[dict[str, Any]]:
    """Every row of a list through its JSON pages."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        status, body = await list_json(browser, **params, page=str(page))
        assert status == 200, body
        rows += body["data"]
        if not body["has_next"]:
            return rows
        page += 1


# --- access -----------------------------------------------------------------------------------


async def test_anonymous_visitors_are_sent_to_login_and_scripts_get_401(web: WebHarness):
    await web.serve(workers=0)
    await web.students(2)
    anon = web.browser()
    for path in (BASE, f"{BASE}/2025000001", f"{BASE}?q=ahmad&page=2"):
        response = await anon.get(path)
        assert response.status == 302, path
        assert response.headers["Location"].startswith("/login?next=/admin/siswa"), path
        status, body = await anon.get_json(path)
        assert (status, body["status"]) == (401, False), path
    await anon.get("/login")
    status, body = await anon.post_json(f"{BASE}/2025000001/sync")
    assert (status, body["status"]) == (401, False)
    token = await web.token("script", "petugas")
    response = await anon.client.get(BASE, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200 and (await response.json())["status"] is True


async def test_sync_now_needs_the_csrf_token(web: WebHarness):
    await web.serve(workers=0)
    await web.students(1)
    petugas = await web.user("petugas1", "petugas")
    status, body = await petugas.post_json(f"{BASE}/2025000001/sync", csrf="wrong")
    assert (status, body["status"]) == (419, False)
    assert await web.pays[0].sync.latest() is None


# --- the list -----------------------------------------------------------------------------------


async def test_the_list_page_pages_and_sorts_by_name(web: WebHarness):
    await web.serve(workers=0)
    roster = await web.students(120)
    user = await web.user("petugas1", "petugas")
    response = await user.get(BASE)
    assert response.status == 200
    page = await response.text()
    for marker in (
        'id="siswa-filter"',
        'id="siswa-table"',
        'id="siswa-count"',
        'id="btn-sync-page"',
        'href="/admin/sync-pembayaran"',
        'name="q"',
        'name="unit"',
        'name="kelas"',
        'name="status"',
        'name="sort"',
    ):
        assert marker in page, marker
    by_name = sorted(roster, key=lambda s: (s["nama"], int(s["idperson"])))
    expected = [s["idperson"] for s in by_name]
    assert row_ids(page) == expected[:PER_PAGE]
    assert element(page, "siswa-count") == f"Menampilkan 1–50 dari {len(roster)} siswa"
    assert 'rel="next"' in page and 'rel="prev"' not in page
    page2 = await (await user.get(f"{BASE}?page=2")).text()
    assert row_ids(page2) == expected[PER_PAGE : 2 * PER_PAGE]
    assert 'rel="next"' in page2 and 'rel="prev"' in page2
    page3 = await (await user.get(f"{BASE}?page=3")).text()
    assert row_ids(page3) == expected[2 * PER_PAGE :]
    assert element(page3, "siswa-count") == "Menampilkan 101–120 dari 120 siswa"
    assert 'rel="next"' not in page3 and 'rel="prev"' in page3
    assert "Halaman 3 dari 3" in page3
    # a row: the link to the student, the state badge, "never synced"
    first = by_name[0]
    row = re.search(rf'<tr data-idperson="{first["idperson"]}".*?</tr>', page, re.S)
    assert row is not None
    assert f'href="/admin/siswa/{first["idperson"]}"' in row.group(0)
    assert "Belum Sinkron" in row.group(0) and "Belum pernah" in row.group(0)
    # JSON: the same rows and the total
    status, body = await list_json(user)
    assert status == 200
    assert [r["idperson"] for r in body["data"]] == expected[:PER_PAGE]
    assert (body["page"], body["per_page"], body["total"], body["has_next"]) == (1, 50, 120, True)
    assert set(body["data"][0]) >= {"idperson", "nama", "unit", "kelas", "status", "url"}


async def test_search_by_name_words_and_by_idperson(web: WebHarness):
    await web.serve(workers=0)
    roster = await web.students(150)
    user = await web.user("petugas1", "petugas")
    family = roster[7]["nama"].split()[-1]
    given = roster[7]["nama"].split()[0]
    cases = {
        family: None,  # a whole word, any position
        family.lower()[:3]: None,  # a prefix, any case
        family.upper(): None,
        f"{given} {family[:4]}": None,  # two words, both must match
        f"  {family}   ": None,  # spaces around
        roster[42]["idperson"]: [roster[42]["idperson"]],  # an exact id
        "202500001": None,  # an id prefix: 2025000010…2025000019 (+100…)
        "zzzz": [],
    }
    for q, expected in cases.items():
        if expected is None:
            expected = sorted(
                (s for s in roster if matches(s, q)), key=lambda s: (s["nama"], int(s["idperson"]))
            )
            expected = [s["idperson"] for s in expected]
        rows = await all_pages(user, q=q)
        assert [r["idperson"] for r in rows] == expected, q
        assert expected or q == "zzzz"
    page = await (await user.get(f"{BASE}?q={quote(family)}")).text()
    assert f'value="{family}"' in page  # the form keeps the search
    empty = await (await user.get(f"{BASE}?q=zzzz")).text()
    assert row_ids(empty) == []
    assert element(empty, "siswa-count") == "Tidak ada siswa yang cocok dengan pencarian ini."
    # LIKE and range metacharacters are plain text
    for q in ("%", "_", "a%", "\\", "'", "a_b"):
        status, body = await list_json(user, q=q)
        assert status == 200 and body["data"] == [], q


async def test_a_word_many_students_share_is_paged_in_name_order(web: WebHarness):
    """A given name typed whole (one name word) is paged from the word index in name
    order (siswa_page_kata_nama); a prefix of several words goes the other way. Both give
    the same students in the same order, across pages, with filters and more words, and
    after a student is renamed."""
    await web.serve(workers=0)
    given = ["Budi", "Siti", "Ahmad", "Zaki", "Dewi", "Rizki"]
    roster = []
    for i in range(130):
        first = "Muhammad" if i % 2 == 0 else given[i % len(given)]
        middle = "Muhammad" if i % 13 == 0 else given[(i * 7) % len(given)]
        last = "Muhammadiyah" if i == 5 else ["Saputra", "Hidayat", "Lubis"][i % 3]
        roster.append(
            {
                "idperson": f"20250{i:05d}",
                "nama": f"{first} {middle} {last}",
                "UnitFormal": "SMP" if i % 3 else "SMA",
                "KelasFormal": "VII A",
            }
        )
    report = await import_rows(web.db, enumerate(roster, start=2))
    assert not report.invalid, report.invalid
    user = await web.user("petugas1", "petugas")

    async def check(q: str, path: str, **params: str) -> None:
        wanted = [
            s
            for s in roster
            if matches(s, q) and all(s[k] == v for k, v in params.items() if k == "UnitFormal")
        ]
        expected = [s["idperson"] for s in sorted(wanted, key=lambda s: (s["nama"], s["idperson"]))]
        query = {"unit": params["UnitFormal"]} if "UnitFormal" in params else {}
        rows = await all_pages(user, q=q, **query)
        assert [r["idperson"] for r in rows] == expected, q
        listing = await web.app[SYNCPAY].students.list(Filters(q=q, unit=params.get("UnitFormal")))
        assert listing.queries[1] == path, (q, listing.queries)

    await check("muhammad", "siswa_page_kata")  # muhammad, muhammadiyah: two words
    await check("muhammadi", "siswa_page_kata_nama")
    await check("MUHAMMAD lubis", "siswa_page_kata_nama")  # lubis is the rarer word
    await check("saputra", "siswa_page_kata_nama", UnitFormal="SMP")
    await check("hidayat", "siswa_page_kata_nama")
    # Renamed: the word index follows (its name column too).
    roster[1]["nama"] = "Aaron Hidayat"
    roster[3]["nama"] = "Zzz Hidayat Baru"
    report = await import_rows(web.db, enumerate(roster, start=2))
    assert not report.invalid, report.invalid
    await check("hidayat", "siswa_page_kata_nama")
    await check("baru", "siswa_page_kata_nama")


async def test_filters_and_sorts(web: WebHarness):
    await web.serve(workers=0)
    roster = await web.students(90)
    state: dict[str, tuple[int | None, str | None]] = {}
    for i, student in enumerate(roster):
        if i % 3 == 0:
            value: tuple[int | None, str | None] = (None, None)  # never synced
        elif i % 3 == 1:
            value = (0, f"2026-11-{1 + i % 27:02d} 08:00:00")  # lunas
        else:
            value = ((i % 7 + 1) * 125_000, f"2026-10-{1 + i % 27:02d} 09:30:00")
        state[student["idperson"]] = value
        await set_state(web.db, student["idperson"], value[0], value[1])
    user = await web.user("petugas1", "petugas")
    by_id = {s["idperson"]: s for s in roster}

    def expect(keep: Any, sort: str = "nama") -> list[str]:
        ids = [s["idperson"] for s in roster if keep(s)]
        if sort == "nama":
            return sorted(ids, key=lambda i: (by_id[i]["nama"], int(i)))
        if sort == "synced_desc":
            never = [i for i in ids if state[i][1] is None]
            done = [i for i in ids if state[i][1] is not None]
            done.sort(key=lambda i: (state[i][1], int(i)), reverse=True)
            return done + sorted(never, key=int, reverse=True)
        none = [i for i in ids if state[i][0] is None]
        some = [i for i in ids if state[i][0] is not None]
        if sort == "tunggakan_desc":
            some.sort(key=lambda i: (state[i][0], int(i)), reverse=True)
            return some + sorted(none, key=int, reverse=True)
        some.sort(key=lambda i: (state[i][0], int(i)))
        return sorted(none, key=int) + some  # NULL (never synced) first

    unit = roster[0]["UnitFormal"]
    kelas = roster[0]["KelasFormal"]
    lunas = {"lunas": 0, "belum_lunas": "some", "belum_sinkron": None}
    for status_name, wanted in lunas.items():

        def keep(s: dict[str, str], wanted: Any = wanted) -> bool:
            value = state[s["idperson"]][0]
            return value == 0 if wanted == 0 else (value is None if wanted is None else bool(value))

        rows = await all_pages(user, status=status_name)
        assert [r["idperson"] for r in rows] == expect(keep), status_name
        assert {r["status"] for r in rows} == {status_name}
    rows = await all_pages(user, unit=unit)
    assert [r["idperson"] for r in rows] == expect(lambda s: s["UnitFormal"] == unit)
    rows = await all_pages(user, kelas=kelas)
    assert [r["idperson"] for r in rows] == expect(lambda s: s["KelasFormal"] == kelas)
    rows = await all_pages(user, unit=unit, kelas=kelas, status="belum_lunas")
    assert [r["idperson"] for r in rows] == expect(
        lambda s: (
            (s["UnitFormal"], s["KelasFormal"]) == (unit, kelas) and bool(state[s["idperson"]][0])
        )
    )
    for sort in SORTS:
        rows = await all_pages(user, sort=sort)
        assert [r["idperson"] for r in rows] == expect(lambda s: True, sort), sort
        rows = await all_pages(user, sort=sort, unit=unit)
        assert [r["idperson"] for r in rows] == expect(lambda s: s["UnitFormal"] == unit, sort), (
            sort
        )
    # the HTML: arrears formatted, badges, last sync, the selects keep the choice
    page = await (await user.get(f"{BASE}?sort=tunggakan_desc&unit={quote(unit)}")).text()
    top = expect(lambda s: s["UnitFormal"] == unit, "tunggakan_desc")[0]
    row = re.search(rf'<tr data-idperson="{top}".*?</tr>', page, re.S)
    assert row is not None
    assert rupiah(state[top][0]) in row.group(0) and "Belum Lunas" in row.group(0)
    assert '<option value="tunggakan_desc" selected>' in page
    assert f'<option value="{unit}" selected>' in page
    assert 'datetime="2026-' in row.group(0)


async def test_the_filter_selects_list_units_and_classes(web: WebHarness):
    await web.serve(workers=0)
    roster = await web.students(60)
    user = await web.user("petugas1", "petugas")
    page = await (await user.get(BASE)).text()
    for unit in {s["UnitFormal"] for s in roster}:
        assert f'<option value="{unit}">' in page
    for kelas in {s["KelasFormal"] for s in roster}:
        assert f'<option value="{kelas}" data-units="' in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=unknown", "Status tidak dikenal"),
        ("sort=random", "Urutan tidak dikenal"),
        ("page=0", "Nomor halaman harus bilangan bulat"),
        ("page=abc", "Nomor halaman harus bilangan bulat"),
        ("page=-1", "Nomor halaman harus bilangan bulat"),
        ("page=99999999", "Nomor halaman harus bilangan bulat"),
        ("page=1.5", "Nomor halaman harus bilangan bulat"),
        ("q=" + "a" * 101, "Kata pencarian terlalu panjang"),
        ("unit=" + "x" * 101, "unit terlalu panjang"),
        ("kelas=" + "x" * 101, "kelas terlalu panjang"),
    ],
)
async def test_bad_values_render_the_page_with_a_message_or_422_json(
    web: WebHarness, query: str, message: str
):
    await web.serve(workers=0)
    await web.students(3)
    user = await web.user("petugas1", "petugas")
    response = await user.get(f"{BASE}?{query}")
    assert response.status == 422
    page = await response.text()
    assert message in html_lib.unescape(page)
    assert 'id="siswa-table"' in page and len(row_ids(page)) == 3  # the defaults apply
    status, body = await user.get_json(f"{BASE}?{query}")
    assert (status, body["status"]) == (422, False)
    assert message in body["message"]


async def test_pages_past_the_end_and_odd_but_valid_values(web: WebHarness):
    await web.serve(workers=0)
    await web.students(3)
    user = await web.user("petugas1", "petugas")
    response = await user.get(f"{BASE}?page=7")
    assert response.status == 200
    page = await response.text()
    assert row_ids(page) == []
    assert element(page, "siswa-count") == "Tidak ada siswa di halaman ini."
    assert re.search(r'href="/admin/siswa"[^>]*rel="prev"', page)  # back to the only page
    status, body = await list_json(user, page="7")
    assert (status, body["data"], body["total"], body["has_next"]) == (200, [], 3, False)
    for query in ("status=", "sort=", "q=", "unit=&kelas=", "page=", "page=007", "x=1&q=%00"):
        response = await user.get(f"{BASE}?{query}")
        assert response.status == 200, query


async def test_past_the_count_cap_the_page_says_more(
    web: WebHarness, monkeypatch: pytest.MonkeyPatch
):
    """Counting stops at COUNT_CAP (10,000; the bench exercises it at 100,000 students);
    past it the page says "more than …", and the last page knows the total again."""
    assert COUNT_CAP == 10_000 and WORD_CANDIDATES >= COUNT_CAP
    await web.serve(workers=0)
    await web.students(5)
    user = await web.user("petugas1", "petugas")
    monkeypatch.setattr(web.app[SYNCPAY].students, "count_cap", 2)
    monkeypatch.setattr(web.app[SYNCPAY].students, "per_page", 2)
    page = await (await user.get(BASE)).text()
    assert element(page, "siswa-count") == "Menampilkan 1–2 dari lebih dari 2 siswa"
    assert "Halaman 1" in page and "Halaman 1 dari" not in page
    _, body = await list_json(user)
    assert "total" not in body and body["has_next"] is True
    page = await (await user.get(f"{BASE}?page=3")).text()
    assert element(page, "siswa-count") == "Menampilkan 5–5 dari 5 siswa"
    _status, body = await list_json(user, page="3")
    assert (body["total"], body["has_next"]) == (5, False)


async def test_hostile_names_are_shown_escaped_on_both_pages(web: WebHarness):
    await web.serve(workers=0)
    roster = [
        {"idperson": "2025000001", "nama": HOSTILE, "UnitFormal": HOSTILE2, "KelasFormal": "VII A"},
        {"idperson": "2025000002", "nama": HOSTILE2, "UnitFormal": "SMP", "KelasFormal": HOSTILE},
    ]
    report = await import_rows(web.db, enumerate(roster, start=2))
    assert not report.invalid, report.invalid
    await set_state(web.db, "2025000002", 5000, "2026-11-01 10:00:00", error=HOSTILE)
    user = await web.user(HOSTILE, "petugas")
    for path in (BASE, f"{BASE}?q={quote(HOSTILE)}", f"{BASE}/2025000001", f"{BASE}/2025000002"):
        page = await (await user.get(path)).text()
        assert HOSTILE not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page or "&lt;img src=x" in page, path
    page = await (await user.get(BASE)).text()
    assert sorted(row_ids(page)) == ["2025000001", "2025000002"]
    detail = await (await user.get(f"{BASE}/2025000002")).text()
    assert element(detail, "siswa-nama") == HOSTILE2
    assert element(detail, "sync-error") == HOSTILE
    _, body = await user.get_json(f"{BASE}/2025000001")
    assert body["data"]["nama"] == HOSTILE
    for q, found in (("<script", "2025000001"), ("src=x", "2025000002"), ('"><IMG', "2025000002")):
        _status, body = await list_json(user, q=q)
        assert [r["idperson"] for r in body["data"]] == [found], q


# --- one student ----------------------------------------------------------------------------------


async def synced(web: WebHarness, ids: list[str]) -> None:
    """Sync these students through the app's worker pool; wait for the run's end."""
    sp = web.pays[0]
    run = await sp.start(idpersons=ids, started_by="test")

    async def done() -> bool:
        return (await sp.progress(run.id)).status != "running"

    await until(done, 30, what="the run's end")


def expected_groups(text: str) -> dict[str, Any]:
    items = parse_flat(text).items
    today = date.today()
    periods: dict[str, list[Any]] = {}
    for item in items:
        periods.setdefault(item.period, []).append(item)
    return {p: compute_totals(found, today) for p, found in periods.items()}


async def test_the_student_page_shows_totals_and_payments_by_period(web: WebHarness):
    await web.serve(workers=2)
    roster = await web.students(4)
    ids = [s["idperson"] for s in roster]
    await synced(web, ids)
    sim = web.sims[0]
    user = await web.user("admin1", "admin")
    for student in roster:
        idperson = student["idperson"]
        text = sim.answer_text(idperson)
        totals = compute_totals(parse_flat(text).items, date.today())
        response = await user.get(f"{BASE}/{idperson}")
        assert response.status == 200
        page = await response.text()
        assert element(page, "siswa-nama") == student["nama"]
        assert element(page, "total-tagihan") == rupiah(totals.total_tagihan)
        assert element(page, "total-dibayar") == rupiah(totals.total_dibayar)
        assert element(page, "total-tunggakan") == rupiah(totals.total_tunggakan)
        assert element(page, "total-kelebihan") == rupiah(totals.total_kelebihan)
        state = "Lunas" if totals.is_lunas else "Belum Lunas"
        assert element(page, "siswa-status") == state
        assert re.search(r'id="last-sync" datetime="\d{4}-\d\d-\d\dT', page)
        assert element(page, "sync-error") == "Tidak ada"
        assert 'id="btn-sync-now"' in page and "Sinkron sekarang" in page
        groups = expected_groups(text)
        shown = re.findall(r'<section class="period-group" data-period="([^"]*)"', page)
        assert shown == sorted(groups, reverse=True)
        for period, expected in groups.items():
            section = re.search(rf'data-period="{period}".*?</section>', page, re.S)
            assert section is not None
            block = section.group(0)
            assert f"Tahun ajaran {period[:4]}/{period[4:]}" in block
            foot = re.search(r'class="group-total".*?</tr>', block, re.S)
            assert foot is not None
            assert rupiah(expected.total_tagihan) in foot.group(0)
            assert rupiah(expected.total_dibayar) in foot.group(0)
            assert rupiah(expected.total_tunggakan) in foot.group(0)
        # the JSON variant
        status, body = await user.get_json(f"{BASE}/{idperson}")
        assert status == 200
        data = body["data"]
        assert data["idperson"] == idperson and data["status"] == (
            "lunas" if totals.is_lunas else "belum_lunas"
        )
        assert Decimal(str(data["totals"]["tunggakan"])) == totals.total_tunggakan
        assert [g["period"] for g in data["groups"]] == sorted(groups, reverse=True)
        for group in data["groups"]:
            want = groups[group["period"]]
            assert Decimal(str(group["totals"]["tagihan"])) == want.total_tagihan
            assert Decimal(str(group["totals"]["tunggakan"])) == want.total_tunggakan
            assert group["not_due"] == sum(1 for i in group["items"] if not i["is_due"])
    # the simulator's current school year has items not yet due: shown as such
    page = await (await user.get(f"{BASE}/{ids[0]}")).text()
    if date.today().month != 6:
        assert "Belum jatuh tempo" in page
    # the list shows the stored arrears
    status, body = await list_json(user, sort="tunggakan_desc")
    shown = {r["idperson"]: r["total_tunggakan"] for r in body["data"]}
    for idperson in ids:
        totals = compute_totals(parse_flat(sim.answer_text(idperson)).items, date.today())
        assert Decimal(str(shown[idperson])) == totals.total_tunggakan


async def test_a_student_never_synced_and_one_whose_answer_cannot_be_read(web: WebHarness):
    await web.serve(workers=0)
    await web.students(1)
    user = await web.user("petugas1", "petugas")
    page = await (await user.get(f"{BASE}/2025000001")).text()
    assert element(page, "siswa-status") == "Belum Sinkron"
    assert element(page, "last-sync") == "Belum pernah"
    assert element(page, "total-tunggakan") == "—"
    assert "Belum ada data pembayaran" in page
    teach(web.db)
    await web.db.execute("ts_siswa_answer", {"idperson": "2025000001", "answer": '{"x": 1}'})
    response = await user.get(f"{BASE}/2025000001")
    assert response.status == 200
    assert "Data pembayaran yang tersimpan tidak dapat dibaca: top level: missing data" in (
        html_lib.unescape(await response.text())
    )
    _status, body = await user.get_json(f"{BASE}/2025000001")
    assert body["data"]["parse_error"] == "top level: missing data"
    assert body["data"]["groups"] == []


async def test_unknown_students_are_404(web: WebHarness):
    await web.serve(workers=0)
    await web.students(1)
    user = await web.user("petugas1", "petugas")
    for path in ("9999999999", "abc", "..%2F..%2Fetc", "a%20b", "x" * 40, "%3Cscript%3E"):
        response = await user.get(f"{BASE}/{path}")
        assert response.status == 404, path
        assert "Siswa tidak ditemukan." in await response.text() or path.startswith("..")
        status, body = await user.get_json(f"{BASE}/{path}")
        assert (status, body["status"]) == (404, False), path
        status, body = await user.post_json(f"{BASE}/{path}/sync")
        assert status in (404, 405) and body["status"] is False, path
    status, body = await user.post_json(f"{BASE}/9999999999/sync")
    assert (status, body["message"]) == (404, "Siswa tidak ditemukan.")
    response = await user.get(f"{BASE}/2025000001")  # lower-case ids are the same student
    assert response.status == 200
    assert await web.pays[0].sync.latest() is None


async def test_sync_now_by_a_petugas_updates_the_page(web: WebHarness):
    await web.serve(workers=2)
    await web.students(3)
    petugas = await web.user("petugas1", "petugas")
    page = await (await petugas.get(f"{BASE}/2025000002")).text()
    assert element(page, "siswa-status") == "Belum Sinkron"
    status, body = await petugas.post_json(f"{BASE}/2025000002/sync")
    assert status == 200, body
    assert body["status"] is True and body["message"] == "Sinkronisasi siswa ini dimulai."
    run_id = body["run_id"]

    async def ended() -> bool:
        status, progress = await petugas.get_json(
            f"/admin/sync-pembayaran/progress?run_id={run_id}"
        )
        return status == 200 and progress["status"] != "running"

    await until(ended, 30, what="the single-student run")
    run = await web.pays[0].sync.get(run_id)
    assert (run.status, run.total, run.processed, run.failed, run.started_by) == (
        "completed",
        1,
        1,
        0,
        "petugas1",
    )
    totals = compute_totals(parse_flat(web.sims[0].answer_text("2025000002")).items, date.today())
    page = await (await petugas.get(f"{BASE}/2025000002")).text()
    assert element(page, "total-tunggakan") == rupiah(totals.total_tunggakan)
    assert element(page, "siswa-status") == ("Lunas" if totals.is_lunas else "Belum Lunas")
    status, body = await petugas.get_json(f"{BASE}/2025000002?run_id={run_id}")
    assert body["data"]["run"]["status"] == "completed"
    assert body["data"]["synced_at"] is not None
    # only that student was synced
    status, body = await list_json(petugas, status="belum_sinkron")
    assert [r["idperson"] for r in body["data"]] != [] and "2025000002" not in {
        r["idperson"] for r in body["data"]
    }


async def test_a_failed_sync_now_shows_the_reason(web: WebHarness):
    await web.serve(workers=1, sync_tries="1")
    await web.students(1)
    web.sims[0].configure(fail_rate=1.0)
    user = await web.user("admin1", "admin")
    status, body = await user.post_json(f"{BASE}/2025000001/sync")
    assert status == 200
    run_id = body["run_id"]

    async def ended() -> bool:
        return (await web.pays[0].progress(run_id)).status != "running"

    await until(ended, 30, what="the failing run")
    status, body = await user.get_json(f"{BASE}/2025000001?run_id={run_id}")
    assert body["data"]["run"]["failed"] == 1
    assert body["data"]["sync_error"]
    page = await (await user.get(f"{BASE}/2025000001")).text()
    assert element(page, "sync-error") == body["data"]["sync_error"]
    status, body = await user.get_json(f"{BASE}/2025000001?run_id=abc")
    assert status == 422
    # A repeated name: the last one counts, as on the list and the sync routes.
    status, body = await user.get_json(f"{BASE}/2025000001?run_id={run_id}&run_id=x")
    assert status == 422
    status, body = await user.get_json(f"{BASE}/2025000001?run_id=x&run_id={run_id}")
    assert status == 200 and body["data"]["run"]["failed"] == 1


async def test_english_with_lang_en(web: WebHarness):
    """English words, and numbers written as the page's language writes them (as on the
    sync page and in its script): ``1.234`` in Indonesian, ``1,234`` in English."""
    await web.serve(workers=0)
    await web.students(2)
    user = await web.user("petugas1", "petugas")
    page = await (await user.get(f"{BASE}?page=1234")).text()
    assert element(page, "siswa-count") == "Tidak ada siswa di halaman ini."
    assert "Halaman 1.234 dari 1" in page
    page = await (await user.get(f"{BASE}?page=1234&lang=en")).text()
    assert "Page 1,234 of 1" in page
    page = html_lib.unescape(await (await user.get(f"{BASE}?page=0")).text())
    assert "from 1 to 1,000,000;" in page
    page = await (await user.get(BASE)).text()
    assert "Showing 1–2 of 2 students" in page and "Payment sync" in page
    assert "Never synced" in page
    page = await (await user.get(f"{BASE}/2025000001")).text()  # the session remembers
    assert "Sync now" in page and "Payment summary" in page
    response = await user.get(f"{BASE}?status=bad")
    assert "Unknown state" in html_lib.unescape(await response.text())


_RUN_STARTED = """-- name: ts_run_started
UPDATE sync_runs SET started_at = :at WHERE id = :id
"""
#: One moment in three places: 6 Dec 2026 07:05:09 UTC, 14:05 in Jakarta (UTC+7).
_MOMENT = datetime(2026, 12, 6, 7, 5, 9, tzinfo=UTC)
_SHOWN = {
    "id": ("6 Des 2026 14.05", "6 Des 2026"),
    "en": ("6 Dec 2026 14:05", "6 Dec 2026"),
}


def _time_texts(page: str, iso: str) -> list[str]:
    """The texts of the page's ``<time datetime="iso">`` elements."""
    found = re.findall(rf'<time [^>]*datetime="{re.escape(iso)}"[^>]*>([^<]*)</time>', page)
    return [html_lib.unescape(t).strip() for t in found]


async def test_one_date_format_per_language_on_every_page(
    web: WebHarness, monkeypatch: pytest.MonkeyPatch
):
    """The same instant reads the same in the runs table, on the student list and page
    (last sync) and a payment's due date, in the pages' time zone: "6 Des 2026 14.05",
    "6 Dec 2026 14:05" (#12 item 10). JSON keeps ISO."""
    monkeypatch.setattr(dates, "zone_name", lambda: "Asia/Jakarta")
    await web.serve(workers=0)
    await web.students(1)
    idperson = "2025000001"
    answer = {
        "status": True,
        "data": [
            {
                "idperiode": "20262027",
                "judul": "SPP Desember",
                "nama_unit": "SMA",
                "jml_kredit": 500000,
                "jml_debet": 100000,
                "tgl_jurnal": "2026-12-06",
            }
        ],
    }
    teach(web.db)
    await set_state(web.db, idperson, 400_000, synced_at="2026-12-06 07:05:09")
    await web.db.execute("ts_siswa_answer", {"idperson": idperson, "answer": json.dumps(answer)})
    run = await web.pays[0].start(idpersons=[idperson], started_by="test")
    web.db.queries.update(parse_queries(_RUN_STARTED, web.db.placeholder, {}))
    await web.db.execute("ts_run_started", {"id": run.id, "at": int(_MOMENT.timestamp())})
    iso = "2026-12-06T07:05:09Z"
    user = await web.user("admin1", "admin")
    for lang, (when, day) in _SHOWN.items():
        # The sync page's script writes the runs table's dates as dates.py does
        # (tests/browser/test_dates.py): the run's instant in its data, and dates.py's text.
        runs = await (await user.get(f"/admin/sync-pembayaran?lang={lang}")).text()
        assert f'"started_at": "{iso}"' in runs, lang
        words = functools.partial(web.app[CATALOGS].text, lang)
        assert dates.datetime_text(words, iso) == when, lang
        listing = await (await user.get(f"{BASE}?lang={lang}")).text()
        assert _time_texts(listing, iso) == [when], lang
        student = await (await user.get(f"{BASE}/{idperson}?lang={lang}")).text()
        assert _time_texts(student, iso) == [when], lang
        due = re.findall(r'<tr class="item [^"]*"[^>]*><td>([^<]*)</td>', student)
        assert due == [day], (lang, due)
    # JSON keeps ISO dates.
    status, body = await user.get_json(f"{BASE}/{idperson}")
    assert status == 200
    assert body["data"]["groups"][0]["items"][0]["due"] == "2026-12-06"
    status, body = await user.get_json("/admin/sync-pembayaran/runs")
    assert status == 200 and body["runs"][0]["started_at"] == iso, body


# --- the history of a student's totals ------------------------------------------------------

_HISTORY_ADD = """-- name: ts_history_add
INSERT INTO siswa_history (idperson, run_id, changed_at, tunggakan_before, tunggakan_after,
                           kelebihan_before, kelebihan_after, lunas_before, lunas_after)
VALUES (:idperson, :run_id, :at, :t0, :t1, :k0, :k1, :l0, :l1)
"""
#: Three changes of one student, oldest first: the first sync, arrears down (its run
#: pruned since), then paid up with an overpayment.
_CHANGES = [
    {"at": 1764990000, "t0": None, "t1": 500000, "k0": None, "k1": 0, "l0": None, "l1": 0},
    {"at": 1765090000, "t0": 500000, "t1": 200000, "k0": 0, "k1": 0, "l0": 0, "l1": 0},
    {"at": 1765190000, "t0": 200000, "t1": 0, "k0": 0, "k1": 25000, "l0": 0, "l1": 1},
]


async def add_history(db: Database, idperson: str, changes: list[dict[str, Any]]) -> None:
    """History lines as a sync writes them (``run_id`` in each change)."""
    await db.run_script("DELETE FROM siswa_history")
    if "ts_history_add" not in db.queries:
        db.queries.update(parse_queries(_HISTORY_ADD, db.placeholder, {}))
    for change in changes:
        await db.execute("ts_history_add", {"idperson": idperson} | change)


def history_rows(page: str) -> list[list[str]]:
    """The history table's lines: each cell's text."""
    table = re.search(r'id="history-table".*?</table>', page, re.S)
    assert table, "no history table"
    return [
        [html_lib.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            for row in re.findall(r'<tr class="history-line.*?</tr>', table.group(0), re.S)
        )
    ]


async def test_the_student_page_shows_the_history_newest_first(web: WebHarness):
    """One line per change, newest first, in both languages: the date as the page's
    language writes it, the run as #id (a link while the run is kept, text once it is
    pruned), arrears and overpayment before → after, the state; a sparkline of the
    arrears (well-formed SVG with the numbers as text); the JSON's ``history``."""
    await web.serve(workers=0)
    await web.students(2)
    idperson = "2025000001"
    await set_state(web.db, idperson, 0, synced_at="2025-12-08 10:33:20")
    kept = await web.pays[0].start(idpersons=[idperson], started_by="test")
    await web.pays[0].cancel(kept.id)
    runs = [kept.id, kept.id + 1000, kept.id]  # the second run is gone
    await add_history(
        web.db, idperson, [c | {"run_id": r} for c, r in zip(_CHANGES, runs, strict=True)]
    )
    user = await web.user("petugas1", "petugas")
    link = f'<a href="/admin/sync-pembayaran/runs/{kept.id}/changes">#{kept.id}</a>'
    words = {
        "id": ("Riwayat perubahan", "Belum Sinkron", "Belum Lunas", "Lunas"),
        "en": ("History of changes", "Never synced", "In arrears", "Paid up"),
    }
    for lang, (heading, unsynced, arrears, paid) in words.items():
        page = await (await user.get(f"{BASE}/{idperson}?lang={lang}")).text()
        assert heading in page and link in page
        lang_words = functools.partial(web.app[CATALOGS].text, lang)
        when = [dates.datetime_text(lang_words, c["at"]) for c in reversed(_CHANGES)]
        assert history_rows(page) == [
            [
                when[0],
                f"#{kept.id}",
                "Rp 200.000 → Rp 0",
                "Rp 0 → Rp 25.000",
                f"{arrears} → {paid}",
            ],
            [when[1], f"#{kept.id + 1000}", "Rp 500.000 → Rp 200.000", "Rp 0", arrears],
            [when[2], f"#{kept.id}", "Rp 500.000", "Rp 0", f"{unsynced} → {arrears}"],
        ], lang
        assert f'<a href="/admin/sync-pembayaran/runs/{kept.id + 1000}' not in page
        assert "history-more" not in page
        svg = re.search(r"<svg .*?</svg>", page, re.S)
        assert svg, "no sparkline"
        tree = ElementTree.fromstring(svg.group(0))  # well-formed XML
        ns = "{http://www.w3.org/2000/svg}"
        assert tree.get("role") == "img" and tree.get("viewBox") == "0 0 320 64"
        desc = "".join(tree.find(f"{ns}desc").itertext())  # type: ignore[union-attr]
        assert all(a in desc for a in ("Rp 500.000", "Rp 0")), desc
        dots = [dot.find(f"{ns}title").text for dot in tree.iter(f"{ns}circle")]  # type: ignore[union-attr]
        assert dots == [
            f"{w}: {a}"
            for w, a in zip(reversed(when), ("Rp 500.000", "Rp 200.000", "Rp 0"), strict=True)
        ]
        assert tree.find(f"{ns}path").get("d", "").startswith("M")  # type: ignore[union-attr]
    status, body = await user.get_json(f"{BASE}/{idperson}")
    assert status == 200 and body["data"]["history_more"] is False
    assert body["data"]["history"][0] == {
        "changed_at": "2025-12-08T10:33:20Z",
        "run_id": kept.id,
        "run_kept": True,
        "tunggakan_before": 200000,
        "tunggakan_after": 0,
        "kelebihan_before": 0,
        "kelebihan_after": 25000,
        "status_before": "belum_lunas",
        "status_after": "lunas",
    }
    assert [h["run_kept"] for h in body["data"]["history"]] == [True, False, True]
    assert body["data"]["history"][2]["tunggakan_before"] is None
    assert body["data"]["history"][2]["status_before"] == "belum_sinkron"
    # another student has no history
    page = await (await user.get(f"{BASE}/2025000002")).text()
    assert "No change recorded for this student yet." in page and "<svg" not in page
    _status, body = await user.get_json(f"{BASE}/2025000002")
    assert body["data"]["history"] == []


async def test_three_syncs_two_changing_show_two_lines_in_both_languages(web: WebHarness):
    """Real syncs through the app: the first, the same answers again (no line), then
    other answers (the simulator's next data version): two lines, newest first."""
    await web.serve(workers=2)
    roster = await web.students(8)
    await web.db.run_script("DELETE FROM siswa_history")  # MariaDB keeps other tests' lines
    ids = [s["idperson"] for s in roster]
    sim, sp = web.sims[0], web.pays[0]
    await synced(web, ids)
    await synced(web, ids)
    before = {i: compute_totals(parse_flat(sim.answer_text(i)).items, date.today()) for i in ids}
    sim.configure(version=3)
    after = {i: compute_totals(parse_flat(sim.answer_text(i)).items, date.today()) for i in ids}
    await synced(web, ids)
    runs = [r.run_id for r in await sp.sync.history(5)]  # newest first
    moved = [i for i in ids if before[i] != after[i]]
    assert moved and len(runs) == 3
    idperson = moved[0]
    old, new = before[idperson], after[idperson]
    user = await web.user("petugas1", "petugas")
    for lang, states in {
        "id": ("Belum Sinkron", "Belum Lunas", "Lunas"),
        "en": ("Never synced", "In arrears", "Paid up"),
    }.items():
        unsynced, arrears, paid = states

        def state(totals: Any, arrears: str = arrears, paid: str = paid) -> str:
            return paid if totals.is_lunas else arrears

        def change(one: str, two: str) -> str:
            return one if one == two else f"{one} → {two}"

        page = await (await user.get(f"{BASE}/{idperson}?lang={lang}")).text()
        lines = history_rows(page)
        assert [line[1] for line in lines] == [f"#{runs[0]}", f"#{runs[2]}"], lang
        assert lines[0][2:] == [
            change(rupiah(old.total_tunggakan), rupiah(new.total_tunggakan)),
            change(rupiah(old.total_kelebihan), rupiah(new.total_kelebihan)),
            change(state(old), state(new)),
        ], lang
        assert lines[1][2:] == [
            rupiah(old.total_tunggakan),
            rupiah(old.total_kelebihan),
            f"{unsynced} → {state(old)}",
        ], lang
    _status, body = await user.get_json(f"{BASE}/{idperson}")
    assert [h["run_id"] for h in body["data"]["history"]] == [runs[0], runs[2]]


async def test_the_history_is_bounded_and_says_so(web: WebHarness):
    await web.serve(workers=0)
    await web.students(1)
    idperson = "2025000001"
    limit = web.pays[0].students.history_limit
    changes = [
        {"run_id": None, "at": 1764990000 + 60 * n, "t0": n, "t1": n + 1, "k0": 0, "k1": 0}
        | {"l0": 0, "l1": 0}
        for n in range(limit + 2)
    ]
    await add_history(web.db, idperson, changes)
    user = await web.user("petugas1", "petugas")
    page = await (await user.get(f"{BASE}/{idperson}?lang=en")).text()
    rows = history_rows(page)
    assert len(rows) == limit and rows[0][1] == "—" and rows[0][2] == "Rp 101 → Rp 102"
    assert (
        element(page, "history-more")
        == f"Only the {limit} newest changes are shown; older ones are not."
    )
    _status, body = await user.get_json(f"{BASE}/{idperson}")
    assert len(body["data"]["history"]) == limit and body["data"]["history_more"] is True
    # the history is read from its index
    plan = str(
        await web.db.fetch_all(
            _explain(web.db, "siswa_history_of"), {"idperson": idperson, "limit": 101}
        )
    )
    assert "siswa_history_student_index" in plan, plan


# --- the queries use indexes ----------------------------------------------------------------


def _explain(db: Database, name: str) -> str:
    """Teach ``explain_<name>``: the query's plan."""
    prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    key = f"explain_{name}"
    if key not in db.queries:
        text = db.queries[name].text
        db.queries.update(parse_queries(f"-- name: {key}\n{prefix}{text}\n", db.placeholder, {}))
    return key


LIST_QUERIES = [
    "siswa_kata_counts",
    "siswa_count_all",
    *(f"siswa_count_{d}" for d in ("kelas", "kata", "unit", "status")),
    *(f"siswa_page_{d}" for d in ("kelas", "kata", "unit", "status")),
    "siswa_kata_span",
    "siswa_page_kata_nama",
    *(f"siswa_page_scan_{s}" for s in SORTS),
]


async def test_the_list_queries_are_answered_from_indexes(web: WebHarness):
    await web.serve(workers=0)
    roster = await web.students(300)
    for i, student in enumerate(roster[:200]):
        await set_state(web.db, student["idperson"], (i % 3) * 50_000, "2026-11-02 10:00:00")
    db = web.db
    # The filter's unit and class choices: one seek per pair, even before the statistics
    # know the students just imported (MariaDB then read the whole index).
    plan = await db.fetch_all(_explain(db, "siswa_unit_kelas"))
    if db.dialect == "sqlite":
        lines = [str(row["detail"]) for row in plan]
        assert not any(re.fullmatch(r"SCAN siswa( AS \w+)?", x) for x in lines), lines
    else:
        assert [(r["key"], "Using index for group-by" in str(r["Extra"])) for r in plan] == [
            ("siswa_unit_kelas_index", True)
        ], plan
    if db.dialect == "mysql":
        db.queries.update(
            parse_queries(
                "-- name: ts_analyze\nANALYZE TABLE siswa, siswa_kata\n", db.placeholder, {}
            )
        )
        await db.fetch_all("ts_analyze")
    filters = [
        Filters(),
        Filters(q="ahmad hid", unit="SMP", status="belum_lunas", sort="tunggakan_desc"),
        Filters(kelas=roster[0]["KelasFormal"], status="lunas", sort="synced_desc"),
        Filters(unit="SMA", sort="tunggakan_asc", page=3),
        Filters(status="belum_sinkron"),
    ]
    for f in filters:
        words = f.words or ["x"]
        params = f.params(words, limit=51, offset=(f.page - 1) * 50, cap=10_001)
        for name in LIST_QUERIES:
            plan = await db.fetch_all(_explain(db, name), params)
            if db.dialect == "sqlite":
                lines = [str(row["detail"]) for row in plan]
                for line in lines:
                    # a table is only ever searched, or walked along a covering index
                    assert not re.fullmatch(r"SCAN (siswa|siswa_kata)( AS \w+)?", line), (
                        name,
                        lines,
                    )
                    assert not re.match(r"SCAN \w+ USING INDEX", line), (name, lines)
                if name.startswith("siswa_page_scan_"):
                    # the walk is in the sort's order: nothing sorted afterwards
                    assert not any("TEMP B-TREE FOR ORDER BY" in x for x in lines), (name, lines)
                    assert any("USING COVERING INDEX siswa_list_" in x for x in lines), lines
            else:
                for row in plan:
                    table = str(row["table"] or "")
                    if table.startswith("<") or row["type"] is None:
                        continue  # a derived table, or nothing to read ("no matching row")
                    if table == "c":
                        continue  # an officer's scope (#15): never run when :scoped = 0
                    assert row["type"] != "ALL", (name, plan)
                    # only indexes are read (never a row, which holds the payment answer)
                    assert "Using index" in str(row["Extra"] or ""), (name, plan)
    assert set(STATUSES) == {"lunas", "belum_lunas", "belum_sinkron"}

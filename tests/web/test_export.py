"""GET /admin/siswa/export.csv: the student list as CSV. Parsed back (the BOM stripped,
the right separator) it has exactly the rows and amounts of the list's JSON pages for
the same filters, search and sort, read in keyset chunks small enough here to cross many
chunk boundaries inside runs of equal names and amounts; formula injection, ``;`` and
``,``, a bad separator, the file name, the headers' language, the page's button, login
— on SQLite and MariaDB."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from syncpay.db import Database
from syncpay.db.queries import parse_queries
from syncpay.students.filters import SORTS
from syncpay.web import dates
from syncpay.web.keys import SYNCPAY
from tests.web.conftest import Browser, WebHarness
from tests.web.test_siswa_pages import all_pages

BASE = "/admin/siswa"
EXPORT = "/admin/siswa/export.csv"
_TOTALS = """-- name: te_siswa_totals
UPDATE siswa
SET total_tagihan = :tagihan, total_dibayar = :dibayar, total_tunggakan = :tunggakan,
    total_kelebihan = :kelebihan, is_lunas = :lunas, synced_at = :synced_at
WHERE idperson = :idperson

-- name: te_siswa_nama
UPDATE siswa SET nama = :nama WHERE idperson = :idperson
"""
FORMULAS = ["=1+2", "+1 CALL", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]


def teach(db: Database) -> None:
    if "te_siswa_totals" not in db.queries:
        db.queries.update(parse_queries(_TOTALS, db.placeholder, {}))


async def set_totals(db: Database, idperson: str, i: int) -> dict[str, Any]:
    """Totals by ``i``: never synced, lunas, overpaid, or in arrears (runs of equal
    amounts and instants, some with cents)."""
    teach(db)
    kind = i % 4
    if kind == 0:
        values: dict[str, Any] = dict.fromkeys(("tagihan", "dibayar", "tunggakan", "kelebihan"))
        values |= {"lunas": None, "synced_at": None}
    else:
        tagihan = Decimal(1_000_000)
        tunggakan = Decimal(0) if kind != 3 else Decimal((i % 5 + 1) * 125_000) + Decimal("0.50")
        kelebihan = Decimal(25_000) if kind == 2 else Decimal(0)
        values = {
            "tagihan": tagihan,
            "dibayar": tagihan - tunggakan + kelebihan,
            "tunggakan": tunggakan,
            "kelebihan": kelebihan,
            "lunas": int(tunggakan == 0),
            "synced_at": f"2026-11-{1 + i % 3:02d} 08:00:00",
        }
    stored = {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()}
    await db.execute("te_siswa_totals", stored | {"idperson": idperson})
    return values


async def download(browser: Browser, **params: str) -> tuple[int, Any, bytes]:
    query = urlencode(params)
    response = await browser.get(f"{EXPORT}?{query}" if query else EXPORT)
    return response.status, response.headers, await response.read()


def parse(body: bytes, separator: str = ";") -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), body[:10]
    text = body.decode("utf-8").removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))


def local_time(iso: str | None) -> str:
    """The list's ISO instant as the export writes it: in the pages' zone."""
    if iso is None:
        return ""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(dates.zone()).strftime("%Y-%m-%d %H:%M:%S")


def amount(cell: str) -> Decimal | None:
    return None if cell == "" else Decimal(cell)


async def roster(web: WebHarness, n: int) -> dict[str, dict[str, Any]]:
    students = await web.students(n)
    totals = {}
    for i, student in enumerate(students):
        totals[student["idperson"]] = await set_totals(web.db, student["idperson"], i)
    # runs of equal names: the keyset goes on by id inside them
    teach(web.db)
    for student in students[:12]:
        await web.db.execute("te_siswa_nama", {"idperson": student["idperson"], "nama": "Ani"})
    return totals


async def test_the_export_has_the_rows_and_amounts_of_the_list(web: WebHarness):
    await web.serve(workers=0)
    totals = await roster(web, 75)
    web.app[SYNCPAY].students.export_chunk = 4  # many chunk boundaries
    user = await web.user("petugas1", "petugas")
    first = (await all_pages(user))[0]
    cases: list[dict[str, str]] = [{"sort": sort} for sort in SORTS]
    cases += [
        {"unit": first["unit"]},
        {"kelas": first["kelas"], "sort": "tunggakan_desc"},
        {"status": "belum_lunas", "sort": "tunggakan_asc"},
        {"status": "belum_sinkron", "sort": "synced_desc"},
        {"q": "ani", "sort": "tunggakan_desc"},
        {"q": first["nama"].split()[0][:3], "unit": first["unit"]},
        {"q": "zzzz-nobody"},
    ]
    for params in cases:
        expected = await all_pages(user, **params)
        status, headers, body = await download(user, **params)
        assert status == 200, (params, body[:200])
        assert headers["Content-Type"] == "text/csv; charset=utf-8"
        rows = parse(body)
        assert rows[0] == [
            "ID",
            "Nama",
            "Unit",
            "Kelas",
            "Status",
            "Tunggakan",
            "Kelebihan bayar",
            "Total tagihan",
            "Total dibayar",
            rows[0][9],
        ]
        assert rows[0][9].startswith("Sinkron terakhir (")
        got = rows[1:]
        assert [r[0] for r in got] == [r["idperson"] for r in expected], params
        for row, listed in zip(got, expected, strict=True):
            assert row[1:4] == [listed["nama"], listed["unit"] or "", listed["kelas"] or ""]
            want = totals[listed["idperson"]]
            assert amount(row[5]) == want["tunggakan"]
            if listed["total_tunggakan"] is not None:
                assert amount(row[5]) == Decimal(str(listed["total_tunggakan"]))
            assert amount(row[6]) == want["kelebihan"]
            assert amount(row[7]) == want["tagihan"]
            assert amount(row[8]) == want["dibayar"]
            label = {"lunas": "Lunas", "belum_lunas": "Belum Lunas"}
            assert row[4] == label.get(listed["status"], "Belum Sinkron")
            assert row[9] == local_time(listed["synced_at"])
    # amounts are plain numbers: no thousands separator, '.' for cents
    status, _, body = await download(user, sort="tunggakan_desc")
    top = parse(body)[1]
    assert re.fullmatch(r"\d+\.5", top[5]) and top[7] == "1000000", top


async def test_formula_injection_is_neutralised_and_commas_on_request(web: WebHarness):
    await web.serve(workers=0)
    students = await web.students(len(FORMULAS) + 1)
    teach(web.db)
    for student, nama in zip(students, FORMULAS, strict=False):
        await web.db.execute("te_siswa_nama", {"idperson": student["idperson"], "nama": nama})
    await web.db.execute(
        "te_siswa_nama", {"idperson": students[-1]["idperson"], "nama": 'Nur "Ani"; Hasanah, S'}
    )
    await set_totals(web.db, students[0]["idperson"], 3)
    user = await web.user("petugas1", "petugas")
    for separator, params in ((";", {}), (",", {"sep": ","})):
        status, _, body = await download(user, **params)
        assert status == 200
        rows = parse(body, separator)
        names = {r[0]: r[1] for r in rows[1:]}
        for student, nama in zip(students, FORMULAS, strict=False):
            assert names[student["idperson"]] == "'" + nama
        assert names[students[-1]["idperson"]] == 'Nur "Ani"; Hasanah, S'
        by_id = {r[0]: r for r in rows[1:]}
        assert amount(by_id[students[0]["idperson"]][5]) == Decimal("500000.50")
        # the other separator is only ever inside a quoted field
        other = "," if separator == ";" else ";"
        assert len(rows[0]) == 10 and rows[0][0] == "ID" and other not in "".join(rows[0])


async def test_bad_input_file_name_language_button_and_login(web: WebHarness):
    await web.serve(workers=0)
    students = await web.students(3)
    anon = web.browser()
    response = await anon.get(EXPORT)
    assert response.status == 302
    assert response.headers["Location"].startswith("/login?next=/admin/siswa/export.csv")
    status, body = await anon.get_json(EXPORT)
    assert status == 401
    user = await web.user("petugas1", "petugas")
    for params in ({"sep": "|"}, {"sep": "\t"}, {"sep": ";;"}, {"status": "x"}, {"sort": "id"}):
        status, _, body = await download(user, **params)
        assert status == 422, params
        assert b"\xef\xbb\xbf" not in body
    status, body = await user.get_json(f"{EXPORT}?sep=%7C")
    assert status == 422 and body["message"] == "Pemisah kolom (sep) harus ; atau ,."
    unit, kelas = students[0]["UnitFormal"], students[0]["KelasFormal"]
    status, headers, _ = await download(user, unit=unit, kelas=kelas)
    assert status == 200
    found = re.fullmatch(
        r'attachment; filename="siswa-(\d{4}-\d\d-\d\d)-(.+)\.csv"', headers["Content-Disposition"]
    )
    assert found, headers["Content-Disposition"]
    assert found.group(2) == "-".join(re.sub(r"[^A-Za-z0-9]+", "_", v) for v in (unit, kelas))
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    # English headers and states
    await user.get(f"{BASE}?lang=en")
    _, _, body = await download(user)
    header = parse(body)[0]
    assert header[:5] == ["ID", "Name", "Unit", "Class", "State"]
    assert parse(body)[1][4] == "Never synced"
    # the page's button keeps the filters, search and sort (not the page number)
    page = await (
        await user.get(f"{BASE}?unit={quote(unit)}&q=a&sort=tunggakan_desc&page=2")
    ).text()
    link = re.search(r'<a id="btn-export"[^>]*href="([^"]+)"', page)
    assert link, "no export button"
    href = link.group(1).replace("&amp;", "&")
    assert href == f"{EXPORT}?" + urlencode({"q": "a", "unit": unit, "sort": "tunggakan_desc"})

"""The report page ``/admin/laporan`` and its CSV export, through the real app on SQLite
and MariaDB: the page's table, summary and charts in both languages, each count's link
to the student list with the same filter, the JSON (as documented), the unit filter,
bad input (one-line 422), and the export parsed back equal to the page's table."""

from __future__ import annotations

import csv
import html as html_lib
import io
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

from syncpay.web.openapi import document
from tests.test_report import Student, seed
from tests.web.conftest import WebHarness
from tests.web.test_openapi import _check

BASE = "/admin/laporan"
EXPORT = f"{BASE}/export.csv"
ROSTER = [
    Student("SMP", "VII A", Decimal(1_000_000), Decimal(1_000_000), 1),
    Student("SMP", "VII A", Decimal(1_000_000), Decimal(1_500_000), 2),
    Student("SMP", "VII A", Decimal("1250000.50"), Decimal(250_000), 3),
    Student("SMP", "VII A"),
    Student("SMP", "VIII B", Decimal(2_000_000), Decimal(0), 30),
    Student("MA", "X IPA 1", Decimal(500_000), Decimal(500_000), 60),
    Student("MA", "X IPA 1"),
    Student(None, None, Decimal(10), Decimal(0), 4),
]
_ROW = re.compile(
    r'<tr class="level-(\w+)" data-level="\w+" data-unit="([^"]*)" data-kelas="([^"]*)">'
    r"(.*?)</tr>",
    re.S,
)
_CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)
_TAG = re.compile(r"<[^>]+>")


def table(page: str) -> list[list[str]]:
    """The page's table: each line's level, unit, class, then its cells as text."""
    lines = []
    for level, unit, kelas, cells in _ROW.findall(page):
        texts = [html_lib.unescape(_TAG.sub("", c)).strip() for c in _CELL.findall(cells)]
        lines.append([level, html_lib.unescape(unit), html_lib.unescape(kelas), *texts])
    return lines


def plain(shown: str) -> Decimal | None:
    """A number as the Indonesian page writes it (``1.250.000,5``, ``Rp 1.000``, ``66,7%``)."""
    cleaned = shown.replace("Rp", "").replace("%", "").replace(".", "").replace(",", ".").strip()
    return None if cleaned in ("", "—") else Decimal(cleaned)


async def _served(web: WebHarness) -> Any:
    await web.serve(workers=0)
    await seed(web.db, ROSTER)
    return await web.user("petugas1", "petugas")


async def test_the_page_shows_the_table_summary_and_charts_in_both_languages(web: WebHarness):
    browser = await _served(web)
    response = await browser.get(BASE)
    assert response.status == 200
    page = await response.text()
    lines = table(page)
    assert [(line[0], line[1], line[2]) for line in lines] == [
        ("unit", "MA", ""),
        ("kelas", "MA", "X IPA 1"),
        ("unit", "SMP", ""),
        ("kelas", "SMP", "VII A"),
        ("kelas", "SMP", "VIII B"),
        ("unit", "", ""),
        ("kelas", "", ""),
        ("school", "", ""),
    ]
    vii_a = lines[3]
    # name, students, lunas, belum lunas, belum sinkron, rate, arrears, over, billed, paid
    assert vii_a[3] == "VII A"
    assert [plain(x) for x in vii_a[4:13]] == [
        4,
        2,
        1,
        1,
        Decimal("66.7"),
        Decimal("1000000.5"),
        Decimal(500_000),
        Decimal("3250000.5"),
        Decimal(2_750_000),
    ]
    total = lines[-1]
    assert total[3] == "Seluruh sekolah" and plain(total[4]) == len(ROSTER)
    assert plain(total[9]) == Decimal("3000010.5")  # 1,000,000.50 + 2,000,000 + 10
    # The charts: inline SVG (valid XML) with a bar per class and per unit, and the
    # numbers as text beside them.
    charts = page.split('id="chart-tunggakan"', 1)[1].split('<div class="card laporan-table-card"')[
        0
    ]
    svgs = re.findall(r"<svg class=\"chart-bar\".*?</svg>", charts, re.S)
    assert len(svgs) == 4 + 3  # four classes, three units (one without a name)
    for svg in svgs:
        ElementTree.fromstring(svg)
    assert "Rp 2.000.000" in charts and "Rp 1.000.000,50" in charts
    assert "50,0%" in charts and "(2 dari 4 siswa tersinkron; 1 belum sinkron)" in charts
    longest = re.search(r'class="seg seg-tunggakan" x="0.0" y="0" width="100.0"', charts)
    assert longest is not None  # VIII B's 2,000,000: the longest bar
    assert 'href="/admin/laporan/export.csv"' in page
    assert 'href="/admin/laporan" class="active" aria-current="page"' in page
    english = await (await browser.get(f"{BASE}?lang=en")).text()
    assert "Whole school" in english and "Arrears per class" in english
    assert "Rp 1.000.000,50" in english and "66.7%" in english
    assert [line[:3] for line in table(english)] == [line[:3] for line in lines]


async def test_every_count_links_to_the_student_list_with_the_same_filter(web: WebHarness):
    browser = await _served(web)
    page = await (await browser.get(BASE)).text()
    links = re.findall(r'<td class="num count-(\w+)"><a href="([^"]+)">([^<]+)</a>', page)
    assert len(links) == 4 * 5 + 4  # classes and units with a name, and the total
    for state, href, shown in links:
        url = html_lib.unescape(href)
        query = parse_qs(urlsplit(url).query)
        assert urlsplit(url).path == "/admin/siswa"
        assert query.get("status") == (None if state == "students" else [state])
        status, body = await browser.get_json(url)
        assert status == 200 and body["total"] == int(shown.replace(".", "")), (url, body)
    # A group the list cannot filter (students without a unit): its counts are not links.
    nameless = [line for line in table(page) if line[0] == "unit" and not line[1]]
    assert nameless and '<tr class="level-unit" data-level="unit" data-unit=""' in page


async def test_the_json_is_as_documented_and_the_unit_filter(web: WebHarness):
    browser = await _served(web)
    status, body = await browser.get_json(BASE)
    assert status == 200
    _check(document(), BASE, "get", 200, body)
    assert body["unit"] is None and body["total"]["students"] == len(ROSTER)
    assert [u["unit"] for u in body["units"]] == ["MA", "SMP", None]
    vii_a = body["units"][1]["classes"][0]
    assert vii_a == {
        "unit": "SMP",
        "kelas": "VII A",
        "students": 4,
        "lunas": 2,
        "belum_lunas": 1,
        "belum_sinkron": 1,
        "lunas_rate": 0.6667,
        "total_tagihan": 3250000.5,
        "total_dibayar": 2750000,
        "total_tunggakan": 1000000.5,
        "total_kelebihan": 500000,
        "synced_oldest": "2026-11-01T00:01:00Z",
        "synced_newest": "2026-11-01T00:03:00Z",
    }
    status, smp = await browser.get_json(f"{BASE}?unit=%20SMP%20")
    assert status == 200 and smp["unit"] == "SMP"
    _check(document(), BASE, "get", 200, smp)
    assert [u["unit"] for u in smp["units"]] == ["SMP"]
    assert smp["total"] == {k: v for k, v in body["units"][1].items() if k != "classes"}
    status, nobody = await browser.get_json(f"{BASE}?unit=Nobody")
    assert status == 200 and nobody["units"] == [] and nobody["total"]["students"] == 0
    assert nobody["total"]["total_tunggakan"] is None  # no figure, not zero
    page = await (await browser.get(f"{BASE}?unit=Nobody")).text()
    assert 'id="laporan-empty"' in page and "Tidak ada siswa di unit Nobody." in page
    page = await (await browser.get(f"{BASE}?unit=SMP")).text()
    assert [line[1] for line in table(page)] == ["SMP", "SMP", "SMP", "SMP"]
    assert 'href="/admin/laporan/export.csv?unit=SMP"' in page


async def test_bad_input_is_a_one_line_422(web: WebHarness):
    browser = await _served(web)
    bad = ("unit=" + "x" * 101, "unit=SMP%00", "unit=%1b[31m", "unit=%0DSMP", "unit=%09SMP")
    for query in (*bad, "unit=a&unit=" + "y" * 200):
        for path in (BASE, EXPORT):
            status, body = await browser.get_json(f"{path}?{query}")
            assert status == 422, (path, query)
            assert body["status"] is False and "\n" not in body["message"], body
        response = await browser.get(f"{BASE}?{query}")
        assert response.status == 422
        assert 'class="alert alert-error"' in await response.text()
    status, body = await browser.get_json(f"{EXPORT}?sep=x")
    assert status == 422 and body["status"] is False
    status, body = await browser.get_json(f"{BASE}?unit=" + "x" * 100)  # the bound itself
    assert status == 200 and body["units"] == []


def _csv_rows(raw: bytes, sep: str) -> list[list[str]]:
    assert raw.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=sep))


async def test_the_export_parsed_back_is_the_pages_table(web: WebHarness):
    browser = await _served(web)
    page_lines = table(await (await browser.get(BASE)).text())
    response = await browser.client.get(EXPORT)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="laporan-\d{4}-\d{2}-\d{2}\.csv"', disposition)
    rows = _csv_rows(await response.read(), ";")
    header, lines = rows[0], rows[1:]
    assert header[:4] == ["Baris", "Unit", "Kelas", "Siswa"]
    assert len(lines) == len(page_lines)
    for line, shown in zip(lines, page_lines, strict=True):
        assert line[1:3] == shown[1:3]
        numbers = [Decimal(x) if x else None for x in line[3:12]]
        assert numbers == [plain(x) for x in shown[4:13]], (line, shown)
    assert lines[-1][0] == "Jumlah" and lines[0][0] == "Unit" and lines[1][0] == "Kelas"
    response = await browser.client.get(f"{EXPORT}?unit=SMP&sep=,&lang=en")
    assert 'filename="laporan-' in response.headers["Content-Disposition"]
    assert response.headers["Content-Disposition"].endswith('-SMP.csv"')
    rows = _csv_rows(await response.read(), ",")
    assert rows[0][:4] == ["Row", "Unit", "Class", "Students"]
    assert [r[:3] for r in rows[1:]] == [
        ["Unit", "SMP", ""],
        ["Class", "SMP", "VII A"],
        ["Class", "SMP", "VIII B"],
        ["Total", "SMP", ""],
    ]
    assert rows[2][7:12] == ["66.7", "1000000.5", "500000", "3250000.5", "2750000"]


async def test_a_unit_named_like_a_formula_is_text_in_the_export(web: WebHarness):
    await web.serve(workers=0)
    await seed(web.db, [Student("=HYPERLINK(1)", "+1", Decimal(5), Decimal(0), 1)])
    browser = await web.user("admin1")
    rows = _csv_rows(await (await browser.client.get(EXPORT)).read(), ";")
    assert rows[1][:3] == ["Unit", "'=HYPERLINK(1)", ""]
    assert rows[2][:3] == ["Kelas", "'=HYPERLINK(1)", "'+1"]
    assert rows[2][8] == "5"  # an amount stays a number

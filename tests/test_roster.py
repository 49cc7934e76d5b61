"""The student roster import (``syncpay/students/``, ``siswa:import``).

Database tests run on SQLite and MariaDB (the ``db`` fixture); the API tests talk to a
real aiohttp server on 127.0.0.1; a few cases run the real command line in a
subprocess. Fixtures come from ``../../shared/fixtures`` (``SYNCPAY_FIXTURES``
overrides).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pymysql
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncpay.config import VARIABLES
from syncpay.db import Database, Tx, connect, migrate, tables_for
from syncpay.db.queries import parse_queries
from syncpay.roster_columns import ROSTER_COLUMNS
from syncpay.students import (
    Filters,
    ImportReport,
    RosterError,
    Student,
    Students,
    fetch_api,
    import_api,
    import_csv,
    import_rows,
    read_csv,
    validate_row,
)
from tests.conftest import ROOT, mysql_connect, settings_for

FIXTURES = Path(
    os.environ.get("SYNCPAY_FIXTURES")
    or Path(__file__).resolve().parents[2] / "shared" / "fixtures"
)
SISWA_CSV = FIXTURES / "siswa.csv"
SISWA_API = FIXTURES / "siswa-api.json"
HEADER = ",".join(ROSTER_COLUMNS)
TODAY = date(2026, 1, 1)


def _clear_mysql_removed(database: str) -> None:
    conn = mysql_connect(database)
    try:
        with conn.cursor() as cursor:
            try:
                cursor.execute("DELETE FROM siswa_removed")
            except pymysql.err.ProgrammingError:
                pass  # not migrated yet
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def no_removed_students_between_tests(request: pytest.FixtureRequest) -> Any:
    """MariaDB's test database lives for the session and the ``db`` fixture empties
    ``siswa`` only: leave no pruned student in ``siswa_removed`` (the next import of the
    same ids would bring them back)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or callspec.params.get("db_kind") != "mysql":
        yield
        return
    database = request.getfixturevalue("mysql_database")
    _clear_mysql_removed(database)
    yield
    _clear_mysql_removed(database)


def fixture_lines() -> list[str]:
    """The fixture CSV's lines; [0] is the header, [n] is line n + 1."""
    return SISWA_CSV.read_text(encoding="utf-8").splitlines()


def write(path: Path, lines: list[str], *, bom: bool = False, newline: str = "\n") -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode())
    return path


def ids_of(lines: list[str]) -> list[str]:
    return [line.split(",", 1)[0] for line in lines[1:]]


# --- reading the database back (test-only queries on this Database object) ------------

_TEST_QUERIES = {
    "t_siswa": "SELECT * FROM siswa ORDER BY idperson",
    "t_siswa_count": "SELECT COUNT(*) AS n FROM siswa",
}


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()[:10] if type(value) is date else value.isoformat(" ")
    if value is not None and type(value).__name__ == "Decimal":
        return float(value)
    return value


async def siswa(db: Database) -> dict[str, dict[str, Any]]:
    """Every siswa row by idperson, values made comparable across dialects."""
    if "t_siswa" not in db.queries:
        for name, sql in _TEST_QUERIES.items():
            db.queries.update(parse_queries(f"-- name: {name}\n{sql}\n", db.placeholder, {}))
    rows = await db.fetch_all("t_siswa")
    return {row["idperson"]: {k: _plain(v) for k, v in row.items()} for row in rows}


async def roster(db: Database) -> dict[str, Student]:
    return {k: Student.from_row(v) for k, v in (await siswa(db)).items()}


# --- one row --------------------------------------------------------------------------

GOOD = {
    "idperson": "2023000100",
    "nama": "Ahmad Hidayat",
    "gender": "L",
    "lahirtempat": "Situbondo",
    "lahirtanggal": "2009-07-21",
    "phone": "081207388624",
    "UnitFormal": "SMP",
    "KelasFormal": "VII A",
    "AsramaPondok": "Al-Falah",
    "KamarPondok": "12",
    "TingkatDiniyah": "Ulya",
    "KelasDiniyah": "1",
}


def test_a_good_row_becomes_a_student_with_its_columns():
    student = validate_row(GOOD, today=TODAY)
    assert isinstance(student, Student)
    assert student.phone == "081207388624", "leading zero kept"
    assert student.lahirtanggal == date(2009, 7, 21)
    assert student.as_row() == GOOD
    assert Student.from_row(student.as_row()) == student


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("idperson", 2023000100, "2023000100"),
        ("idperson", 2023000100.0, "2023000100"),
        ("idperson", "  ab12  ", "AB12"),
        ("nama", "  Siti  Aminah ", "Siti  Aminah"),
        ("gender", "l", "L"),
        ("gender", "p", "P"),
        ("gender", "Laki-laki", "L"),
        ("gender", "PEREMPUAN", "P"),
        ("gender", "", None),
        ("gender", None, None),
        ("lahirtanggal", "21/07/2009", date(2009, 7, 21)),
        ("lahirtanggal", "21-07-2009", date(2009, 7, 21)),
        ("lahirtanggal", "1/7/2009", date(2009, 7, 1)),
        ("lahirtanggal", "2009-07-21T00:00:00.000000Z", date(2009, 7, 21)),
        ("lahirtanggal", "", None),
        ("lahirtanggal", "0000-00-00", None),
        ("phone", "0812 0738 8624", "0812 0738 8624"),
        ("AsramaPondok", "   ", None),
        ("KamarPondok", 12, "12"),
    ],
)
def test_accepted_values(field, value, expected):
    student = validate_row({**GOOD, field: value}, today=TODAY)
    assert isinstance(student, Student), student
    names = [f.name for f in dataclasses.fields(Student)]
    attribute = dict(zip(ROSTER_COLUMNS, names, strict=True))[field]
    assert getattr(student, attribute) == expected


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("idperson", "", "idperson is empty"),
        ("idperson", None, "idperson is empty"),
        ("idperson", "2023-0001", "idperson '2023-0001' may have only digits and letters"),
        ("idperson", "1" * 33, "idperson '" + "1" * 33 + "' is longer than 32 characters (33)"),
        ("nama", "", "nama is empty"),
        ("nama", "x" * 192, "is longer than 191 characters (192)"),
        ("nama", "Ahmad\nHidayat", r"nama 'Ahmad\nHidayat' has a control character"),
        ("gender", "X", "gender 'X' is not L or P"),
        ("gender", "Male", "gender 'Male' is not L or P"),
        ("lahirtanggal", "2023-02-30", "lahirtanggal '2023-02-30' is not a real date"),
        ("lahirtanggal", "30/02/2023", "lahirtanggal '30/02/2023' is not a real date"),
        ("lahirtanggal", "07/21/2009", "is not a real date (day/month/year)"),
        ("lahirtanggal", "21 Juli 2009", "lahirtanggal '21 Juli 2009' is not a date"),
        ("lahirtanggal", "2099-01-01", "lahirtanggal '2099-01-01' is in the future"),
        ("lahirtanggal", "1850-01-01", "is before 1900"),
        ("phone", "8.12073886E+10", "was turned into a number by a spreadsheet"),
        ("phone", "0" * 33, "phone '" + "0" * 33 + "' is longer than 32 characters"),
        ("KelasFormal", "k" * 101, "KelasFormal '"),
        ("KelasFormal", ["VII"], "KelasFormal is a list, not text"),
        ("UnitFormal", True, "UnitFormal true is not text"),
        ("nama", "bad \ud800 text", "nama has characters that are not valid Unicode"),
    ],
)
def test_refused_values_name_the_field_and_value(field, value, reason):
    result = validate_row({**GOOD, field: value}, today=TODAY)
    assert isinstance(result, str)
    assert reason in result
    assert "\n" not in result


def test_every_problem_of_a_row_is_reported_in_column_order():
    result = validate_row({"gender": "X", "lahirtanggal": "2023-02-30"}, today=TODAY)
    assert result == (
        "idperson is empty; nama is empty; gender 'X' is not L or P; "
        "lahirtanggal '2023-02-30' is not a real date"
    )


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=5,
)
_keys = st.sampled_from(ROSTER_COLUMNS) | st.text(max_size=12)
_date_like = st.from_regex(r"\A[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}\Z") | st.dates().map(
    date.isoformat
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, st.text() | _date_like, max_size=14))
def test_validator_never_raises_on_dicts_of_strings(raw):
    result = validate_row(raw)
    assert isinstance(result, (Student, str))
    if isinstance(result, str):
        assert result
    else:
        assert Student.from_row(result.as_row()) == result


@settings(max_examples=200)
@given(st.dictionaries(_keys, _json, max_size=14))
def test_validator_never_raises_on_json_values(raw):
    assert isinstance(validate_row(raw), (Student, str))


# --- reading CSV files --------------------------------------------------------------


def test_read_csv_numbers_lines_counting_the_header_as_line_1(tmp_path):
    lines = fixture_lines()
    rows = list(read_csv(SISWA_CSV))
    assert [n for n, _ in rows] == list(range(2, len(lines) + 1))
    assert rows[0][1] == GOOD


def test_read_csv_semicolons_bom_crlf_any_header_case_and_unknown_columns(tmp_path):
    path = write(
        tmp_path / "export.csv",
        [
            "No;IDPERSON;Nama;Jenis;gender;Lahir Tanggal;PHONE;unitformal;Catatan",
            '1;2023000900;"Budi; Santoso";x;l;05/07/2009;0812;SMP;"multi',
            'line note"',
            "",
            "2;2023000901;Sri Wahyuni;x;P;2010-01-31;;MTs;-",
            ";;;;;;;;",
        ],
        bom=True,
        newline="\r\n",
    )
    rows = list(read_csv(path))
    assert [n for n, _ in rows] == [2, 5]
    _, first = rows[0]
    assert first["idperson"] == "2023000900" and first["nama"] == "Budi; Santoso"
    assert set(first) == {
        "idperson",
        "nama",
        "gender",
        "lahirtanggal",
        "phone",
        "UnitFormal",
    }
    student = validate_row(first, today=TODAY)
    assert isinstance(student, Student)
    assert (student.gender, student.lahirtanggal) == ("L", date(2009, 7, 5))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"nama,gender\nAhmad,L\n", "siswa.csv: no idperson column"),
        (b"IDPERSON;gender\n1;L\n", "siswa.csv: no nama column"),
        (b"kode,x\n1,2\n", "siswa.csv: no idperson or nama column"),
        (b"", "siswa.csv: the file is empty"),
        (b"\xef\xbb\xbf\n\n", "siswa.csv: the file is empty"),
        (b"idperson,nama\n1,Ahmad\n2,Jos\xe9\n", "siswa.csv: not UTF-8 text (line 3)"),
        (b"idperson,nama,Nama\n1,a,b\n", "siswa.csv: the header has nama twice"),
    ],
)
def test_read_csv_refuses_files_it_cannot_use(tmp_path, content, message):
    path = tmp_path / "siswa.csv"
    path.write_bytes(content)
    with pytest.raises(RosterError) as caught:
        list(read_csv(path))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_read_csv_shares_the_values_that_repeat(tmp_path):
    # 100,000 students name a few units and classes: one string each, not one per row
    # (the importer holds every row until its transaction).
    path = write(
        tmp_path / "siswa.csv",
        [
            "idperson,nama,UnitFormal,KelasFormal,lahirtempat,phone",
            "1,Ahmad,SMP,VII A,Kediri,0812",
            "2,Budi,SMP,VII A,Blitar,0812",
            "3,Citra,MTs,VII A,Kediri,0813",
        ],
    )
    rows = [row for _, row in read_csv(path)]
    assert [(r["UnitFormal"], r["KelasFormal"], r["lahirtempat"]) for r in rows] == [
        ("SMP", "VII A", "Kediri"),
        ("SMP", "VII A", "Blitar"),
        ("MTs", "VII A", "Kediri"),
    ]
    assert rows[0]["UnitFormal"] is rows[1]["UnitFormal"]
    assert rows[0]["KelasFormal"] is rows[1]["KelasFormal"] is rows[2]["KelasFormal"]
    assert rows[0]["lahirtempat"] is rows[2]["lahirtempat"]
    assert [r["phone"] for r in rows] == ["0812", "0812", "0813"]  # not a shared column


def test_read_csv_on_a_missing_file_or_a_folder(tmp_path):
    with pytest.raises(RosterError, match=r"nope\.csv: cannot read the file"):
        read_csv(tmp_path / "nope.csv")
    with pytest.raises(RosterError, match="cannot read the file"):
        read_csv(tmp_path)


# --- importing ------------------------------------------------------------------------


async def test_the_fixture_imports_20_students_and_again_is_unchanged(db: Database):
    report = await import_csv(db, SISWA_CSV)
    assert (report.inserted, report.updated, report.unchanged) == (20, 0, 0)
    assert report.invalid == [] and report.missing == [] and report.pruned == 0
    assert report.summary() == (
        "Imported siswa.csv: 20 inserted, 0 updated, 0 unchanged, 0 invalid, "
        "0 missing from the source"
    )
    rows = await siswa(db)
    assert sorted(rows) == sorted(ids_of(fixture_lines()))
    ahmad = rows["2023000100"]
    assert {k: ahmad[k] for k in ROSTER_COLUMNS} == GOOD
    assert ahmad["created_at"] is not None and ahmad["updated_at"] is not None
    assert ahmad["is_lunas"] is None and ahmad["pembayaran"] is None
    assert rows["2023000135"]["AsramaPondok"] is None, "empty text is stored as NULL"

    # Mark every row as old: an unchanged student must not be written at all.
    await db.run_script("UPDATE siswa SET updated_at = '2001-01-01 00:00:00';")
    again = await import_csv(db, SISWA_CSV)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 20)
    assert {r["updated_at"] for r in (await siswa(db)).values()} == {"2001-01-01 00:00:00"}


async def test_a_changed_name_updates_one_student(db: Database, tmp_path):
    await import_csv(db, SISWA_CSV)
    await db.run_script("UPDATE siswa SET updated_at = '2001-01-01 00:00:00';")
    lines = fixture_lines()
    lines[3] = lines[3].replace("Siti Saputra", "Siti Saputri")
    report = await import_csv(db, write(tmp_path / "siswa.csv", lines))
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 19)
    assert report.summary().startswith("Imported siswa.csv: 0 inserted, 1 updated, 19 unchanged")
    rows = await siswa(db)
    assert rows["2023000114"]["nama"] == "Siti Saputri"
    assert rows["2023000114"]["updated_at"] != "2001-01-01 00:00:00"
    changed = [k for k, r in rows.items() if r["updated_at"] != "2001-01-01 00:00:00"]
    assert changed == ["2023000114"]


async def test_students_missing_from_the_source_are_kept_unless_pruned(db: Database, tmp_path):
    await import_csv(db, SISWA_CSV)
    lines = fixture_lines()
    gone = [ids_of(lines)[4], ids_of(lines)[10]]
    shorter = write(tmp_path / "siswa.csv", [line for line in lines if line[:10] not in gone])

    report = await import_csv(db, shorter)
    assert (report.unchanged, report.missing, report.pruned) == (18, sorted(gone), 0)
    assert report.summary().endswith("2 missing from the source (kept; use --prune to remove)")
    assert len(await siswa(db)) == 20

    pruned = await import_csv(db, shorter, prune=True)
    assert (pruned.missing, pruned.pruned) == (sorted(gone), 2)
    assert pruned.summary().endswith("2 missing from the source (removed)")
    assert sorted(await siswa(db)) == sorted(set(ids_of(lines)) - set(gone))


async def test_bad_rows_are_listed_with_their_line_and_the_rest_import(db: Database, tmp_path):
    lines = fixture_lines()
    first_id = ids_of(lines)[0]
    bad = [
        ",Tanpa Id,L,Jember,2009-01-01,0812,SMP,VII A,,1,Ula,1",  # line 22
        "2023999001,Gender Salah,X,Jember,2009-01-01,0812,SMP,VII A,,1,Ula,1",  # line 23
        "2023999002,Tanggal Salah,P,Jember,2023-02-30,0812,SMP,VII A,,1,Ula,1",  # line 24
        f"{first_id},Kembar,L,Jember,2009-01-01,0812,SMP,VII A,,1,Ula,1",  # line 25
    ]
    report = await import_csv(db, write(tmp_path / "siswa.csv", lines + bad))
    assert report.inserted == 20
    assert report.invalid == [
        (22, "idperson is empty"),
        (23, "gender 'X' is not L or P"),
        (24, "lahirtanggal '2023-02-30' is not a real date"),
        (25, f"duplicate idperson '{first_id}', first seen on line 2"),
    ]
    assert "4 invalid" in report.summary()
    rows = await siswa(db)
    assert len(rows) == 20
    assert rows[first_id]["nama"] == "Ahmad Hidayat", "the first row of an idperson wins"


async def test_a_bad_row_of_a_known_student_neither_updates_nor_counts_as_missing(
    db: Database, tmp_path
):
    await import_csv(db, SISWA_CSV)
    lines = fixture_lines()
    lines[5] = lines[5].replace(",P,", ",X,", 1)
    report = await import_csv(db, write(tmp_path / "siswa.csv", lines), prune=True)
    assert [n for n, _ in report.invalid] == [6]
    assert (report.unchanged, report.missing, report.pruned) == (19, [], 0)
    assert len(await siswa(db)) == 20


async def test_a_semicolon_file_with_bom_imports(db: Database, tmp_path):
    lines = [line.replace(",", ";") for line in fixture_lines()]
    lines[0] = lines[0].upper()
    report = await import_csv(db, write(tmp_path / "excel.csv", lines, bom=True, newline="\r\n"))
    assert (report.inserted, report.invalid) == (20, [])
    assert (await import_csv(db, SISWA_CSV)).unchanged == 20, "the same data as the fixture"


async def test_pruning_against_a_source_without_students_is_refused(db: Database, tmp_path):
    await import_csv(db, SISWA_CSV)
    empty = write(tmp_path / "kosong.csv", [HEADER])
    with pytest.raises(RosterError, match=r"kosong\.csv has no students; refusing"):
        await import_csv(db, empty, prune=True)
    assert len(await siswa(db)) == 20
    report = await import_csv(db, empty)
    assert len(report.missing) == 20 and report.pruned == 0


async def test_reimport_leaves_the_sync_columns_alone(db: Database, tmp_path):
    await import_csv(db, SISWA_CSV)
    await db.run_script(
        "UPDATE siswa SET pembayaran = '{\"data\": []}', pembayaran_hash = 'h', "
        "synced_at = '2026-01-02 03:04:05', sync_error = 'timeout', total_tagihan = 700000, "
        "total_dibayar = 0, total_tunggakan = 700000, total_kelebihan = 5, is_lunas = 0 "
        "WHERE idperson = '2023000100';"
    )
    sync_columns = (
        "pembayaran",
        "pembayaran_hash",
        "synced_at",
        "sync_error",
        "total_tagihan",
        "total_dibayar",
        "total_tunggakan",
        "total_kelebihan",
        "is_lunas",
    )
    before = {c: (await siswa(db))["2023000100"][c] for c in sync_columns}
    lines = fixture_lines()
    lines[1] = lines[1].replace("Ahmad Hidayat", "Ahmad Hidayatullah")
    report = await import_csv(db, write(tmp_path / "siswa.csv", lines))
    assert report.updated == 1
    after = (await siswa(db))["2023000100"]
    assert after["nama"] == "Ahmad Hidayatullah"
    assert {c: after[c] for c in sync_columns} == before
    assert before["total_tunggakan"] == 700000 and before["is_lunas"] == 0


class _Interfering:
    """A Database whose transactions hand ``fn`` a Tx that misbehaves on cue."""

    def __init__(self, db: Database, tx_factory: Any) -> None:
        self.db = db
        self.tx_factory = tx_factory
        self.attempts = 0

    async def transact(self, fn: Any) -> Any:
        async def wrapped(tx: Tx) -> Any:
            self.attempts += 1
            return await fn(self.tx_factory(tx, self.attempts))

        return await self.db.transact(wrapped)

    async def fetch_all(self, name: str, params: Any = None) -> Any:
        return await self.db.fetch_all(name, params)


class _ProxyTx:
    def __init__(self, tx: Tx, attempt: int) -> None:
        self.tx = tx
        self.attempt = attempt
        self.upserts = 0

    async def fetch_all(self, name: str, params: Any = None) -> Any:
        return await self.tx.fetch_all(name, params)

    async def execute(self, name: str, params: Any = None) -> int:
        return await self.tx.execute(name, params)

    async def insert_many(self, name: str, rows: Any) -> int:
        self.upserts += 1
        return await self.tx.insert_many(name, self.rows(rows))

    def rows(self, rows: Any) -> Any:
        return rows


def _many(count: int, start: int = 2024000000, nama: str = "Siswa") -> list[str]:
    return [HEADER] + [f"{start + i},{nama} {i},L,,,,,,,,," for i in range(count)]


async def test_a_crash_half_way_leaves_nothing_written(db: Database, tmp_path):
    await import_csv(db, SISWA_CSV)
    before = await siswa(db)
    lines = _many(1200)
    lines.append(fixture_lines()[1].replace("Ahmad Hidayat", "Ahmad Berubah"))
    path = write(tmp_path / "siswa.csv", lines)

    class NullNameOnSecondChunk(_ProxyTx):
        def rows(self, rows: Any) -> Any:
            # The second chunk carries a NULL nama: the database itself refuses it.
            return [{**rows[0], "nama": None}, *rows[1:]] if self.upserts == 2 else rows

    broken = _Interfering(db, NullNameOnSecondChunk)
    with pytest.raises((sqlite3.IntegrityError, pymysql.err.IntegrityError)):
        await import_rows(broken, read_csv(path), chunk_size=500)  # type: ignore[arg-type]
    assert await siswa(db) == before, "the first chunk (500 new students) was rolled back"

    class RaisesAfterUpdates(_ProxyTx):
        async def fetch_all(self, name: str, params: Any = None) -> Any:
            if name == "roster_idpersons":
                raise RuntimeError("crash before the missing students are counted")
            return await self.tx.fetch_all(name, params)

    with pytest.raises(RuntimeError, match="crash"):
        await import_rows(_Interfering(db, RaisesAfterUpdates), read_csv(path))  # type: ignore[arg-type]
    assert await siswa(db) == before
    assert (await import_csv(db, path)).inserted == 1200, "a clean run afterwards works"


async def test_a_retried_transaction_counts_once(db: Database, tmp_path):
    transient: Exception = (
        sqlite3.OperationalError("database is locked")
        if db.dialect == "sqlite"
        else pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")
    )

    class FailsOnFirstAttempt(_ProxyTx):
        async def insert_many(self, name: str, rows: Any) -> int:
            written = await super().insert_many(name, rows)
            if self.attempt == 1 and self.upserts == 2:
                raise transient
            return written

    wrapper = _Interfering(db, FailsOnFirstAttempt)
    path = write(tmp_path / "siswa.csv", _many(1200))
    report = await import_rows(wrapper, read_csv(path), chunk_size=500)  # type: ignore[arg-type]
    assert wrapper.attempts == 2
    assert (report.inserted, report.updated, report.unchanged) == (1200, 0, 0)
    assert len(await siswa(db)) == 1200


# --- the roster API -------------------------------------------------------------------


@pytest.fixture
async def api() -> AsyncIterator[str]:
    """A roster API on 127.0.0.1: /siswa (the fixture), /list (a bare list), /error
    (500), /html (not JSON), /shape (no data list), /false (status false)."""
    answer = json.loads(SISWA_API.read_text(encoding="utf-8"))

    async def fixture(_request: web.Request) -> web.Response:
        return web.json_response(answer)

    async def bare(_request: web.Request) -> web.Response:
        return web.json_response(answer["data"][:3])

    async def error(_request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def html(_request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Login</body></html>", content_type="text/html")

    async def shape(_request: web.Request) -> web.Response:
        return web.json_response({"status": True, "rows": []})

    async def false(_request: web.Request) -> web.Response:
        return web.json_response({"status": False, "message": "Token tidak valid"})

    app = web.Application()
    for path, handler in [
        ("/siswa", fixture),
        ("/list", bare),
        ("/error", error),
        ("/html", html),
        ("/shape", shape),
        ("/false", false),
    ]:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def test_the_api_imports_the_same_students_as_the_csv(db: Database, api: str):
    report = await import_api(db, f"{api}/siswa?token=secret")
    assert (report.inserted, report.invalid, report.unit) == (20, [], "item")
    assert report.source == f"{api}/siswa", "no query string (tokens) in messages"
    assert (await import_csv(db, SISWA_CSV)).unchanged == 20


async def test_the_api_may_answer_a_bare_list(api: str):
    rows = await fetch_api(f"{api}/list")
    assert [n for n, _ in rows] == [1, 2, 3]
    assert rows[0][1]["idperson"] == 2023000100
    assert validate_row(rows[0][1], today=TODAY) == validate_row(GOOD, today=TODAY)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/error", "/error: HTTP 500 Internal Server Error"),
        ("/html", "/html: the answer is not JSON (it starts '<html><body>Login"),
        ("/shape", "/shape: the answer has no 'data' list"),
        ("/false", "/false: the API answered status false: Token tidak valid"),
        ("/nothing", "/nothing: HTTP 404 Not Found"),
    ],
)
async def test_api_failures_are_one_line_roster_errors(db: Database, api: str, path, message):
    with pytest.raises(RosterError) as caught:
        await import_api(db, api + path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert await siswa(db) == {}


async def test_an_unreachable_api_is_a_roster_error(unused_tcp_port):
    with pytest.raises(RosterError, match="cannot fetch the roster"):
        await fetch_api(f"http://127.0.0.1:{unused_tcp_port}/siswa", timeout=5)


def test_api_items_are_numbered_from_1_and_keys_matched_without_case():
    from syncpay.students import api_rows

    rows = api_rows({"status": True, "data": [{"IDPERSON": 7, "Nama": "A", "x": 1}, {}]})
    assert rows == [(1, {"idperson": 7, "nama": "A"}), (2, {})]
    with pytest.raises(RosterError, match="item 2 of the data is a str, not a student"):
        api_rows([{}, "oops"])
    with pytest.raises(RosterError, match="expected a list of students, got dict"):
        api_rows({"data": {"idperson": 1}})


def test_the_summary_line():
    report = ImportReport(18, 1, 0, [(7, "gender 'X' is not L or P")], ["1", "2"], 0, "siswa.csv")
    assert report.summary() == (
        "Imported siswa.csv: 18 inserted, 1 updated, 0 unchanged, 1 invalid, "
        "2 missing from the source (kept; use --prune to remove)"
    )


# --- the command line -----------------------------------------------------------------


def _env(env_vars: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    return env | env_vars | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"} | extra


async def _cli(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``python -m syncpay ARGS`` without blocking the event loop (a test server runs)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncpay",
        *args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_imports_a_file_and_lists_invalid_and_missing_rows(
    db: Database, env_vars, tmp_path
):
    work = tmp_path / "work"
    work.mkdir()
    env = _env(env_vars)
    code, out, err = await _cli(work, env, "siswa:import", str(SISWA_CSV))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        "Imported siswa.csv: 20 inserted, 0 updated, 0 unchanged, 0 invalid, "
        "0 missing from the source"
    )

    lines = fixture_lines()[:20]  # the last student (line 21) is gone
    lines[6] = lines[6].replace(",P,", ",X,", 1)  # line 7
    lines.append("2023999000,Siswa Baru,P,,,,,,,,,")
    lines[3] = lines[3].replace("Siti Saputra", "Siti Saputri")
    code, out, err = await _cli(work, env, "siswa:import", str(write(work / "siswa.csv", lines)))
    assert code == 3 and "Traceback" not in err, "imported, with a rejected row"
    assert out.splitlines()[:3] == [
        "Imported siswa.csv: 1 inserted, 1 updated, 17 unchanged, 1 invalid, "
        "1 missing from the source (kept; use --prune to remove)",
        "  line 7: gender 'X' is not L or P",
        "  missing from the source: 2023000233",
    ]
    assert "1 row skipped" in out
    assert len(await siswa(db)) == 21


async def test_cli_from_api_with_prune_and_a_long_missing_list(
    db: Database, env_vars, tmp_path, api: str
):
    await import_rows(db, read_csv(write(tmp_path / "old.csv", _many(25))))
    env = _env(env_vars, SISWA_API_URL=f"{api}/siswa")
    code, out, err = await _cli(tmp_path, env, "siswa:import", "--from-api")
    assert (code, err) == (0, "")
    assert out.splitlines()[0].startswith(f"Imported {api}/siswa: 20 inserted, 0 updated")
    missing = out.splitlines()[1]
    assert missing.startswith("  missing from the source: 2024000000, 2024000001")
    assert missing.endswith("2024000019 … and 5 more")
    assert len(await siswa(db)) == 45

    code, out, err = await _cli(tmp_path, env, "siswa:import", "--from-api", "--prune")
    assert code == 4, "25 of 45 students is more than --max-remove (10 %)"
    assert err.startswith("syncpay: --prune would remove 25 of 45 students (56%)")
    assert len(await siswa(db)) == 45
    code, out, err = await _cli(
        tmp_path, env, "siswa:import", "--from-api", "--prune", "--max-remove", "60"
    )
    assert (code, err) == (0, "")
    assert "20 unchanged, 0 invalid, 25 missing from the source (removed)" in out
    assert "  removed: 2024000000" in out
    assert sorted(await siswa(db)) == sorted(ids_of(fixture_lines()))


def test_cli_usage_errors_exit_2_before_touching_the_database(tmp_path):
    env = _env({"DB_CONNECTION": "sqlite", "DB_DATABASE": str(tmp_path / "db.sqlite")})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "syncpay", "siswa:import", *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)

    result = run("--from-api")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and "SISWA_API_URL is not set" in result.stderr
    result = run()
    assert (result.returncode, result.stderr) == (
        2,
        "syncpay: siswa:import needs FILE.csv or --from-api\n",
    )
    assert not (tmp_path / "db.sqlite").exists()


async def test_cli_failures_are_one_line_exit_1(db: Database, env_vars, tmp_path, api: str):
    bad = tmp_path / "siswa.csv"
    bad.write_text("nama,gender\nAhmad,L\n", encoding="utf-8")
    code, _, err = await _cli(tmp_path, _env(env_vars), "siswa:import", str(bad))
    assert (code, err) == (1, f"syncpay: {bad}: no idperson column\n")

    env = _env(env_vars, SISWA_API_URL=f"{api}/error")
    code, _, err = await _cli(tmp_path, env, "siswa:import", "--from-api")
    assert (code, err) == (1, f"syncpay: {api}/error: HTTP 500 Internal Server Error\n")


# --- size -----------------------------------------------------------------------------


async def test_100k_rows_import_on_sqlite(tmp_path, capsys):
    """Measures (prints) a 100,000-row import on SQLite; asserts only the outcome."""
    db = await connect(settings_for("sqlite", tmp_path, None))
    try:
        await migrate(db, tables_for(settings_for("sqlite", tmp_path, None)))
        path = tmp_path / "big.csv"
        with path.open("w", encoding="utf-8", newline="") as file:
            out = csv.writer(file)
            out.writerow(ROSTER_COLUMNS)
            for i in range(100_000):
                out.writerow(
                    [f"{2020000000 + i}", f"Siswa Nomor {i}", "LP"[i % 2], "Jember",
                     f"20{10 + i % 5}-0{1 + i % 9}-1{i % 9}", f"08{i:010d}", "SMP",
                     f"VII {'ABC'[i % 3]}", "Al-Falah", str(i % 30), "Ula", str(1 + i % 3)]
                )  # fmt: skip
        started = time.perf_counter()
        report = await import_csv(db, path)
        seconds = time.perf_counter() - started
        assert (report.inserted, report.invalid) == (100_000, [])
        with capsys.disabled():
            print(f"\n  100,000-row CSV into an empty SQLite table: {seconds:.1f}s")
    finally:
        await db.close()


async def test_the_library_reads_the_students_it_imported(db: Database, settings):
    """Students (SyncPay.students, the pages' one way to the students): the list and its
    filters, the filter's choices, one student typed, whether one exists; no web."""
    other = GOOD | {"idperson": "2023000101", "nama": "Budi Santoso"}
    other |= {"UnitFormal": "SMA", "KelasFormal": "X IPA 1"}
    await import_rows(db, [(2, GOOD), (3, other)])
    students = Students(db, settings)
    listing = await students.list(Filters(q="ahmad"))
    assert [(r.idperson, r.nama, r.state) for r in listing.rows] == [
        ("2023000100", "Ahmad Hidayat", "belum_sinkron")
    ]
    assert (listing.total, listing.has_next) == (1, False)
    assert [r.idperson for r in (await students.list(Filters(unit="SMA"))).rows] == ["2023000101"]
    choices = await students.choices()
    assert choices.units == ["SMA", "SMP"]
    assert choices.kelas == {"VII A": ["SMP"], "X IPA 1": ["SMA"]}
    detail = await students.detail("2023000100")
    assert detail is not None
    assert (detail.student.asrama, detail.student.answer, detail.groups) == ("Al-Falah", None, [])
    assert await students.detail("NOBODY") is None
    assert await students.exists("2023000101") and not await students.exists("NOBODY")


# --- the room's boundary ------------------------------------------------------------------


def test_the_students_room_knows_no_web_server():
    """syncpay/students/ is reached by the pages through SyncPay.students and imports
    nothing of the web: no aiohttp in the read model; only the roster API's client
    (read.py) uses aiohttp, as a client."""
    import ast

    room = ROOT / "syncpay" / "students"
    users: dict[str, set[str]] = {}
    for path in sorted(room.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = {module} | {f"{module}.{alias.name}" for alias in node.names}
                if node.level and module.split(".")[0] == "web":
                    names.add("syncpay.web")
            else:
                continue
            for name in names:
                if name.startswith(("aiohttp", "syncpay.web")):
                    users.setdefault(path.name, set()).add(name)
    assert set(users) == {"read.py"}, users
    assert users["read.py"] == {"aiohttp"}, users

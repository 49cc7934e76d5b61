"""``siswa:import --prune`` never loses data (issue #12, items 1, 2 and 18a for the roster).

- a row that could not be read stops the pruning: nothing is removed, and the command
  says so with a non-zero exit status (the valid rows still import);
- pruning never removes more than ``max_remove`` percent (10 by default) of the students
  without ``force`` (a truncated file is the same accident);
- a pruned student is moved to ``siswa_removed`` with its synced payment data, and an
  import that lists them again brings them back;
- the command's exit status tells a script what happened (0, 1, 2, 3, 4);
- roster text refuses what ``syncpay.text.problem`` refuses (bidi, C1, surrogates).

Database tests run on SQLite and MariaDB (the ``db`` and ``cli`` fixtures).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql
import pytest

from syncpay.db import Database
from syncpay.db.queries import parse_queries
from syncpay.students import Student, import_csv, validate_row
from tests.test_roster import (  # the autouse fixture empties siswa_removed on MariaDB
    GOOD,
    SISWA_CSV,
    TODAY,
    fixture_lines,
    ids_of,
    no_removed_students_between_tests,  # noqa: F401
    siswa,
    write,
)

PAID = (
    'pembayaran = \'{"data": [{"bulan": "Juli", "tagihan": 700000}]}\', '
    "pembayaran_hash = 'h1', synced_at = '2026-01-02 03:04:05', total_tagihan = 700000, "
    "total_dibayar = 0, total_tunggakan = 700000, total_kelebihan = 0, is_lunas = 0"
)
SYNC_COLUMNS = (
    "pembayaran",
    "pembayaran_hash",
    "synced_at",
    "total_tagihan",
    "total_dibayar",
    "total_tunggakan",
    "total_kelebihan",
    "is_lunas",
)
#: The three ids Excel turns into 2.023000100E+09 and the like.
EXCEL = ("2023000100", "2023000107", "2023000114")

_TEST_QUERIES = {
    "tp_removed": "SELECT * FROM siswa_removed ORDER BY idperson",
    "tp_kata": "SELECT s.idperson, COUNT(k.kata) AS n FROM siswa AS s "
    "LEFT JOIN siswa_kata AS k ON k.siswa_id = s.id GROUP BY s.idperson ORDER BY s.idperson",
    "tp_kata_orphans": "SELECT COUNT(*) AS n FROM siswa_kata AS k "
    "WHERE NOT EXISTS (SELECT 1 FROM siswa AS s WHERE s.id = k.siswa_id)",
}


def _queries(db: Database) -> None:
    if "tp_removed" not in db.queries:
        for name, sql in _TEST_QUERIES.items():
            db.queries.update(parse_queries(f"-- name: {name}\n{sql}\n", db.placeholder, {}))


async def removed(db: Database) -> dict[str, dict[str, Any]]:
    _queries(db)
    return {row["idperson"]: dict(row) for row in await db.fetch_all("tp_removed")}


async def _imported_and_paid(db: Database, ids: tuple[str, ...] = EXCEL) -> None:
    await import_csv(db, SISWA_CSV)
    listed = ", ".join(f"'{i}'" for i in ids)
    await db.run_script(f"UPDATE siswa SET {PAID} WHERE idperson IN ({listed});")


def _excel(lines: list[str]) -> list[str]:
    """The fixture as Excel saves it after showing the ids as numbers (3 of them)."""
    out = list(lines)
    for n, line in enumerate(out):
        idperson, rest = line.split(",", 1)
        if idperson in EXCEL:
            out[n] = f"{int(idperson) / 1e9:.9f}E+09,{rest}"
    return out


# --- 1. rejected rows stop the pruning ---------------------------------------------------


async def test_rejected_rows_stop_the_prune_and_keep_students_and_payments(
    db: Database, tmp_path: Path
):
    await _imported_and_paid(db)
    lines = _excel(fixture_lines())
    assert lines[1].startswith("2.023000100E+09,Ahmad Hidayat")
    report = await import_csv(db, write(tmp_path / "siswa.csv", lines), prune=True)

    assert [n for n, _ in report.invalid] == [2, 3, 4]
    assert report.pruned == 0
    assert report.prune_refused == (
        "3 rows could not be read; nothing was removed (fix them, or import without --prune)"
    )
    rows = await siswa(db)
    assert sorted(rows) == sorted(ids_of(fixture_lines())), "every student is still there"
    for idperson in EXCEL:
        assert rows[idperson]["total_tunggakan"] == 700000
        assert rows[idperson]["pembayaran"] is not None
    assert await removed(db) == {}
    assert report.unchanged == 17, "the valid rows were imported"


async def test_a_rejected_row_never_counts_as_missing(db: Database, tmp_path: Path):
    await import_csv(db, SISWA_CSV)
    report = await import_csv(db, write(tmp_path / "siswa.csv", _excel(fixture_lines())))
    assert report.missing == [], "the 3 students whose rows were unreadable are not missing"
    assert report.summary().endswith("3 invalid, 0 missing from the source")


# --- 1. at most a share of the roster without force ------------------------------------


async def test_prune_refuses_to_remove_more_than_the_share_without_force(
    db: Database, tmp_path: Path
):
    await import_csv(db, SISWA_CSV)
    truncated = write(tmp_path / "siswa.csv", fixture_lines()[:16])  # 15 of 20 students

    report = await import_csv(db, truncated, prune=True)
    assert (report.pruned, len(report.missing)) == (0, 5)
    assert report.prune_refused == (
        "--prune would remove 5 of 20 students (25%), more than --max-remove 10%; "
        "nothing was removed (check the source, or add --force)"
    )
    assert report.summary().endswith("5 missing from the source (kept: --prune refused)")
    assert len(await siswa(db)) == 20

    wider = await import_csv(db, truncated, prune=True, max_remove=25)
    assert (wider.pruned, wider.prune_refused) == (5, None)
    assert len(await siswa(db)) == 15


async def test_prune_with_force_removes_more_than_the_share(db: Database, tmp_path: Path):
    await import_csv(db, SISWA_CSV)
    truncated = write(tmp_path / "siswa.csv", fixture_lines()[:6])  # 5 of 20 students
    report = await import_csv(db, truncated, prune=True, force=True)
    assert (report.pruned, report.prune_refused) == (15, None)
    assert len(await siswa(db)) == 5


async def test_force_does_not_override_rejected_rows(db: Database, tmp_path: Path):
    await import_csv(db, SISWA_CSV)
    lines = _excel(fixture_lines())[:16]
    report = await import_csv(db, write(tmp_path / "siswa.csv", lines), prune=True, force=True)
    assert report.pruned == 0 and report.prune_refused is not None
    assert report.prune_refused.startswith("3 rows could not be read; nothing was removed")
    assert len(await siswa(db)) == 20


# --- 1. removal is recoverable ------------------------------------------------------------


async def test_pruned_students_come_back_with_their_payments_on_reimport(
    db: Database, tmp_path: Path
):
    gone = ("2023000107", "2023000114")
    await _imported_and_paid(db, gone)
    before = {i: {c: (await siswa(db))[i][c] for c in SYNC_COLUMNS} for i in gone}
    shorter = write(
        tmp_path / "siswa.csv", [x for x in fixture_lines() if x.split(",", 1)[0] not in gone]
    )

    pruned = await import_csv(db, shorter, prune=True)
    assert (pruned.pruned, pruned.missing) == (2, list(gone))
    assert sorted(await siswa(db)) == sorted(set(ids_of(fixture_lines())) - set(gone))
    kept = await removed(db)
    assert sorted(kept) == list(gone)
    assert all(kept[i]["removed_at"] is not None for i in gone)
    _queries(db)
    assert (await db.fetch_one("tp_kata_orphans"))["n"] == 0, "no search words of the removed"

    back = await import_csv(db, SISWA_CSV)
    assert (back.restored, back.inserted) == (2, 0)
    assert "2 restored" in back.summary()
    rows = await siswa(db)
    assert sorted(rows) == sorted(ids_of(fixture_lines()))
    for idperson in gone:
        assert {c: rows[idperson][c] for c in SYNC_COLUMNS} == before[idperson]
    assert await removed(db) == {}
    words = {row["idperson"]: row["n"] for row in await db.fetch_all("tp_kata")}
    assert all(words[i] >= 2 for i in gone), "a restored student is found by the search again"

    # Removed a second time, and back again: nothing stays behind.
    assert (await import_csv(db, shorter, prune=True)).pruned == 2
    assert (await import_csv(db, SISWA_CSV)).restored == 2
    assert await removed(db) == {}


async def test_a_restored_student_takes_the_new_roster_columns(db: Database, tmp_path: Path):
    await _imported_and_paid(db, ("2023000107",))
    lines = fixture_lines()
    shorter = write(tmp_path / "a.csv", [x for x in lines if not x.startswith("2023000107")])
    assert (await import_csv(db, shorter, prune=True)).pruned == 1
    lines[2] = lines[2].replace("Muhammad Rahmawati", "Muhammad Rahmat")
    back = await import_csv(db, write(tmp_path / "b.csv", lines))
    assert (back.restored, back.updated) == (1, 1)
    row = (await siswa(db))["2023000107"]
    assert row["nama"] == "Muhammad Rahmat" and row["total_tunggakan"] == 700000


# --- 2. exit codes, and 1 through the command line ---------------------------------------


def _cli_clear(cli: Any) -> None:
    if cli.kind == "mysql":
        for table in ("siswa", "siswa_removed"):
            try:
                cli.sql(f"DELETE FROM {table}")
            except pymysql.err.ProgrammingError:
                pass  # not migrated yet


def test_cli_exit_status_3_when_rows_were_rejected(cli: Any, tmp_path: Path):
    _cli_clear(cli)
    result = cli.run("siswa:import", str(SISWA_CSV))
    assert (result.returncode, result.stderr) == (0, "")
    bad = write(tmp_path / "siswa.csv", _excel(fixture_lines()))
    result = cli.run("siswa:import", str(bad))
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "3 rows skipped" in result.stdout and "Traceback" not in result.stderr


def test_cli_prune_with_rejected_rows_exits_4_and_removes_nothing(cli: Any, tmp_path: Path):
    _cli_clear(cli)
    assert cli.run("siswa:import", str(SISWA_CSV)).returncode == 0
    cli.sql(f"UPDATE siswa SET {PAID} WHERE idperson IN ('2023000100', '2023000107')")
    bad = write(tmp_path / "siswa.csv", _excel(fixture_lines()))
    result = cli.run("siswa:import", str(bad), "--prune")
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert result.stderr == (
        "syncpay: 3 rows could not be read; nothing was removed "
        "(fix them, or import without --prune)\n"
    )
    assert (
        "  line 2: idperson '2.023000100E+09' was turned into a number by a spreadsheet "
        "(format the column as text)"
    ) in result.stdout.splitlines()
    assert cli.sql("SELECT COUNT(*) FROM siswa")[0][0] == 20
    paid = cli.sql("SELECT COUNT(*) FROM siswa WHERE total_tunggakan = 700000")
    assert paid[0][0] == 2


def test_cli_prune_share_guard_and_force(cli: Any, tmp_path: Path):
    _cli_clear(cli)
    assert cli.run("siswa:import", str(SISWA_CSV)).returncode == 0
    truncated = str(write(tmp_path / "siswa.csv", fixture_lines()[:11]))  # 10 of 20
    result = cli.run("siswa:import", truncated, "--prune")
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert result.stderr.startswith("syncpay: --prune would remove 10 of 20 students (50%)")
    assert cli.sql("SELECT COUNT(*) FROM siswa")[0][0] == 20

    result = cli.run("siswa:import", truncated, "--prune", "--force")
    assert (result.returncode, result.stderr) == (0, "")
    assert "10 missing from the source (removed)" in result.stdout
    assert cli.sql("SELECT COUNT(*) FROM siswa")[0][0] == 10
    assert cli.sql("SELECT COUNT(*) FROM siswa_removed")[0][0] == 10

    result = cli.run("siswa:import", str(SISWA_CSV))
    assert (result.returncode, result.stderr) == (0, "")
    assert "10 restored" in result.stdout
    assert cli.sql("SELECT COUNT(*) FROM siswa")[0][0] == 20
    _cli_clear(cli)


def test_cli_force_or_max_remove_without_prune_is_a_usage_error(plain: Any):
    result = plain.run("siswa:import", str(SISWA_CSV), "--force")
    assert result.returncode == 2
    assert result.stderr == "syncpay: --force and --max-remove go with --prune\n"


def test_cli_help_lists_the_exit_statuses(plain: Any):
    result = plain.run("siswa:import", "--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert "exit status:" in lines
    for status in ("0", "1", "2", "3", "4", "130"):
        assert any(line.startswith(f"  {status} ") for line in lines), status
    assert any(line.startswith("  3 ") and "rejected" in line for line in lines)


# --- 18a. roster text: the one rule of syncpay.text -------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (
            "nama",
            "Ahmad \u202eHidayat",
            "nama 'Ahmad \\u202eHidayat' has a control character (\\u202e)",
        ),
        ("nama", "Ahmad \u2066Hidayat\u2069", "has a control character (\\u2066)"),
        ("KelasFormal", "VII\x85A", "KelasFormal 'VII\\x85A' has a control character (\\x85)"),
        ("nama", "Ahmad\x1b]0;x\x07", "has a control character (\\x1b)"),
        ("lahirtempat", "Jember \udc80", "lahirtempat has characters that are not valid Unicode"),
        ("nama", "Ahmad\tHidayat", "nama 'Ahmad\\tHidayat' has a control character (\\x09)"),
    ],
)
def test_roster_text_refuses_bidi_c1_controls_and_surrogates(field, value, reason):
    result = validate_row({**GOOD, field: value}, today=TODAY)
    assert isinstance(result, str), result
    assert reason in result
    assert result.isprintable(), "the reason itself is safe to print"


def test_ordinary_non_ascii_names_are_kept():
    for nama in ("Ahmad Hidayat", "Siti Nur'aini", "عبد الله", "Zoë Müller", "李 小龙"):
        student = validate_row({**GOOD, "nama": nama}, today=TODAY)
        assert isinstance(student, Student) and student.nama == nama

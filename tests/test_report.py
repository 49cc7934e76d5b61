"""The report's read model (``sp.students.report``, ``syncpay/students/report.py``) on
SQLite and MariaDB: for random rosters (hypothesis) its counts and sums equal those
over the students table, with Belum Sinkron students and overpayments, for the whole
school and for one unit; and the sums are read from the report's index alone."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncpay.db import Database
from syncpay.db.queries import parse_queries
from syncpay.students.records import TOTALS
from syncpay.students.report import Group, Report, read_report
from tests.reliability.conftest import scale

#: Unit and class names (distinct in any case: MariaDB compares them without case).
UNITS = ("MA", "SMP", "SD Islam", None)
CLASSES = ("VII A", "X IPA 1", "XII Agama 3", "2", None)
_QUERIES = """
-- name: tr_clear
DELETE FROM siswa

-- name: tr_insert
INSERT INTO siswa (idperson, nama, UnitFormal, KelasFormal, total_tagihan, total_dibayar,
                   total_tunggakan, total_kelebihan, is_lunas, synced_at)
VALUES (:idperson, :nama, :unit, :kelas, :tagihan, :dibayar, :tunggakan, :kelebihan,
        :is_lunas, :synced_at)

-- name: tr_read
SELECT UnitFormal, KelasFormal, total_tagihan, total_dibayar, total_tunggakan,
       total_kelebihan, is_lunas, synced_at
FROM siswa
"""


@dataclass(frozen=True)
class Student:
    """A roster line as the test writes it: ``paid`` None = never synced."""

    unit: str | None
    kelas: str | None
    billed: Decimal | None = None
    paid: Decimal | None = None
    minutes: int = 0

    def row(self, i: int) -> dict[str, Any]:
        values: dict[str, Any] = {
            "idperson": f"R{i:06d}",
            "nama": f"Siswa {i}",
            "unit": self.unit,
            "kelas": self.kelas,
            **dict.fromkeys(("tagihan", "dibayar", "tunggakan", "kelebihan"), None),
            "is_lunas": None,
            "synced_at": None,
        }
        if self.billed is None or self.paid is None:
            return values
        arrears = max(self.billed - self.paid, Decimal(0))
        over = max(self.paid - self.billed, Decimal(0))
        at = datetime(2026, 11, 1) + timedelta(minutes=self.minutes)
        return values | {
            "tagihan": str(self.billed),
            "dibayar": str(self.paid),
            "tunggakan": str(arrears),
            "kelebihan": str(over),
            "is_lunas": int(arrears == 0),
            "synced_at": at.strftime("%Y-%m-%d %H:%M:%S"),
        }


def teach(db: Database) -> Database:
    if "tr_insert" not in db.queries:
        db.queries.update(parse_queries(_QUERIES, db.placeholder, {}))
    return db


async def seed(db: Database, students: Sequence[Student]) -> None:
    """The students table holds exactly ``students``."""
    teach(db)
    await db.execute("tr_clear")
    rows = [s.row(i) for i, s in enumerate(students, start=1)]
    for start in range(0, len(rows), 500):
        await db.insert_many("tr_insert", rows[start : start + 500])


def _amount(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


async def expected_groups(db: Database) -> dict[tuple[str | None, str | None], dict[str, Any]]:
    """Each (unit, class) counted and summed in Python over the table's rows."""
    found: dict[tuple[str | None, str | None], dict[str, Any]] = defaultdict(
        lambda: (
            {"students": 0, "lunas": 0, "belum_lunas": 0, "belum_sinkron": 0}
            | {name: Decimal(0) for name in TOTALS}
            | {"synced": []}
        )
    )
    for row in await teach(db).fetch_all("tr_read"):
        group = found[(row["UnitFormal"], row["KelasFormal"])]
        group["students"] += 1
        lunas = row["is_lunas"]
        state = "belum_sinkron" if lunas is None else "lunas" if int(lunas) else "belum_lunas"
        group[state] += 1
        for name in TOTALS:
            group[name] += _amount(row[f"total_{name}"])
        if row["synced_at"] is not None:
            group["synced"].append(str(row["synced_at"]).replace("T", " "))
    return found


def assert_group(group: Group, expected: dict[str, Any]) -> None:
    counts = ("students", "lunas", "belum_lunas", "belum_sinkron")
    assert {c: group.count(c) for c in counts} == {c: expected[c] for c in counts}
    assert dict(group.totals) == {name: expected[name] for name in TOTALS}
    synced = sorted(expected["synced"])
    oldest = str(group.oldest) if group.oldest else None
    newest = str(group.newest) if group.newest else None
    assert (oldest, newest) == ((synced[0], synced[-1]) if synced else (None, None))


def merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"synced": []}
    for part in parts:
        for key, value in part.items():
            total[key] = total.get(key, 0) + value if key != "synced" else total[key] + value
    for key in ("students", "lunas", "belum_lunas", "belum_sinkron", *TOTALS):
        total.setdefault(key, 0)
    return total


async def check_report(db: Database, report: Report, unit: str | None) -> None:
    groups = await expected_groups(db)
    if unit is not None:
        groups = {k: v for k, v in groups.items() if k[0] == unit}
    assert {(c.unit, c.kelas) for c in report.classes} == set(groups)
    for group in report.classes:
        assert_group(group, groups[(group.unit, group.kelas)])
    for part in report.units:
        assert_group(part.group, merged([v for k, v in groups.items() if k[0] == part.group.unit]))
    assert_group(report.total, merged(list(groups.values())))
    assert report.unit == unit


_AMOUNTS = st.one_of(
    st.integers(min_value=0, max_value=50_000_000).map(Decimal),
    st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
)
_STUDENTS = st.builds(
    Student,
    unit=st.sampled_from(UNITS),
    kelas=st.sampled_from(CLASSES),
    billed=st.none() | _AMOUNTS,
    paid=_AMOUNTS,
    minutes=st.integers(min_value=0, max_value=60 * 24 * 60),
)


@settings(
    max_examples=scale(6, 60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(students=st.lists(_STUDENTS, max_size=40), unit=st.sampled_from(UNITS))
async def test_the_report_is_the_sums_over_the_students_table(
    db: Database, students: list[Student], unit: str | None
) -> None:
    await seed(db, students)
    await check_report(db, await read_report(db), None)
    if unit is not None:
        await check_report(db, await read_report(db, unit), unit)


async def test_belum_sinkron_overpayments_cents_and_an_unknown_unit(db: Database) -> None:
    """A fixed roster: every state, overpayment, cents; the lunas rate is over the synced
    students; a unit nobody has is an empty report."""
    cents = Decimal("1250000.50")
    await seed(
        db,
        [
            Student("SMP", "VII A", Decimal(1_000_000), Decimal(1_000_000), 1),  # lunas
            Student("SMP", "VII A", Decimal(1_000_000), Decimal(1_200_000), 2),  # over
            Student("SMP", "VII A", cents, Decimal("250000.25"), 3),  # arrears
            Student("SMP", "VII A"),  # never synced
            Student("SMP", "VII B"),
            Student(None, None, Decimal(10), Decimal(0), 4),
        ],
    )
    report = await read_report(db)
    assert [u.group.unit for u in report.units] == ["SMP", None]
    smp = report.units[0]
    assert [c.kelas for c in smp.classes] == ["VII A", "VII B"]
    vii_a = smp.classes[0]
    assert (vii_a.lunas, vii_a.belum_lunas, vii_a.belum_sinkron) == (2, 1, 1)
    assert vii_a.lunas_rate == 2 / 3 and smp.classes[1].lunas_rate is None
    assert smp.classes[1].amount("tunggakan") is None and vii_a.amount("kelebihan") == 200_000
    assert vii_a.totals["tunggakan"] == Decimal("1000000.25")
    assert vii_a.totals["kelebihan"] == Decimal(200_000)
    assert vii_a.totals["tagihan"] == Decimal("3250000.50")
    assert report.total.students == 6 and report.total.totals["tunggakan"] == Decimal("1000010.25")
    empty = await read_report(db, "Nobody's unit")
    assert (empty.units, empty.total.students, empty.total.oldest) == ([], 0, None)
    assert empty.total.totals == dict.fromkeys(TOTALS, Decimal(0))
    await check_report(db, await read_report(db, "SMP"), "SMP")


async def test_the_sums_are_read_from_the_report_index_alone(db: Database) -> None:
    """The plan of both queries walks siswa_report_index without reading the rows (which
    hold the whole payment answer): what keeps the page fast at 100,000 students."""
    await seed(db, [Student("SMP", "VII A", Decimal(5), Decimal(1), 1), Student("MA", "X")])
    prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    for name, params in (
        ("report_groups", {}),
        ("report_groups_unit", {"unit": "SMP"}),
        ("report_groups_exact", {}),
        ("report_groups_unit_exact", {"unit": "SMP"}),
    ):
        key = f"explain_{name}"
        if key not in db.queries:
            sql = f"-- name: {key}\n{prefix}{db.queries[name].text}\n"
            db.queries.update(parse_queries(sql, db.placeholder, {}))
        rows = await db.fetch_all(key, params)
        if db.dialect == "sqlite":
            plan = " ".join(str(row["detail"]) for row in rows)
            assert "COVERING INDEX siswa_report_index" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        else:
            assert [r["key"] for r in rows] == ["siswa_report_index"], rows
            extra = str(rows[0]["Extra"])
            assert "Using index" in extra and "filesort" not in extra, rows

"""The report's read model (``/admin/laporan``, issue #14): per class, per unit and for
the whole school, how many students are Lunas, Belum Lunas and Belum Sinkron, and the
sums of their stored totals, with the oldest and newest sync of each group.

The database adds up each class (``report_groups`` in ``db/queries/*/report.sql``, read
from ``siswa_report_index`` alone, migration 0016); a unit and the school are the sums
of their classes, added here as integers and Decimals. Nothing is recomputed: the
totals are those the last sync stored, the states those of ``is_lunas`` (NULL: never
synced, no totals).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..db import Database
from ..officers import OfficerScope, scope_params

# The student filter's order of classes (the same everywhere a class is listed).
from .listing import _class_order as class_order
from .records import STATES, TOTALS, to_decimal, utc

__all__ = ["COUNTS", "Group", "Report", "UnitReport", "read_report"]

#: The counts of a group, in the order the report shows them.
COUNTS = ("students", *STATES)
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Group:
    """A class, a unit or the school. ``unit`` / ``kelas``: None for a student without
    one (and for the school, where both are None); ``totals``: the sums of the stored
    ``total_<name>`` (0 when no student of the group was synced)."""

    unit: str | None
    kelas: str | None
    students: int
    lunas: int
    belum_lunas: int
    belum_sinkron: int
    totals: Mapping[str, Decimal]
    oldest: datetime | None
    newest: datetime | None

    @property
    def synced(self) -> int:
        return self.lunas + self.belum_lunas

    @property
    def lunas_rate(self) -> float | None:
        """The share of the synced students that are Lunas (0 to 1); None when none was
        synced (the Belum Sinkron are counted apart: nobody knows their state)."""
        return self.lunas / self.synced if self.synced else None

    def amount(self, name: str) -> Decimal | None:
        """The sum of ``total_<name>``, or None when no student of the group was synced
        (no figure: not zero)."""
        return self.totals[name] if self.synced else None

    def count(self, name: str) -> int:
        """One of :data:`COUNTS` by name."""
        return int(getattr(self, name))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Group:
        students = int(row["students"] or 0)
        synced = int(row["synced"] or 0)
        lunas = int(row["lunas"] or 0)
        return cls(
            unit=_text(row["unit"]),
            kelas=_text(row["kelas"]),
            students=students,
            lunas=lunas,
            belum_lunas=synced - lunas,
            belum_sinkron=students - synced,
            totals={name: _sum(row[name], row[f"{name}_cents"]) for name in TOTALS},
            oldest=utc(row["oldest"]),
            newest=utc(row["newest"]),
        )

    @classmethod
    def add(cls, unit: str | None, kelas: str | None, groups: Iterable[Group]) -> Group:
        """The group made of ``groups`` (a unit of its classes, the school of its units)."""
        parts = list(groups)
        oldest = [g.oldest for g in parts if g.oldest is not None]
        newest = [g.newest for g in parts if g.newest is not None]
        return cls(
            unit=unit,
            kelas=kelas,
            students=sum(g.students for g in parts),
            lunas=sum(g.lunas for g in parts),
            belum_lunas=sum(g.belum_lunas for g in parts),
            belum_sinkron=sum(g.belum_sinkron for g in parts),
            totals={name: sum((g.totals[name] for g in parts), Decimal(0)) for name in TOTALS},
            oldest=min(oldest) if oldest else None,
            newest=max(newest) if newest else None,
        )


@dataclass(frozen=True, slots=True)
class UnitReport:
    """A unit: its own sums and its classes (in class order: "VII A" before "X IPA 1")."""

    group: Group
    classes: list[Group] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Report:
    """The report: ``total`` (the school, or the one unit asked for) and its units."""

    unit: str | None
    total: Group
    units: list[UnitReport]

    @property
    def classes(self) -> list[Group]:
        """Every class of the report, unit by unit."""
        return [c for u in self.units for c in u.classes]


async def read_report(
    db: Database, unit: str | None = None, scope: OfficerScope | None = None
) -> Report:
    """The report of the whole school, or of ``unit`` only (an exact name); with
    ``scope``, of that officer's students only."""
    query = "report_groups" if unit is None else "report_groups_unit"
    params: dict[str, Any] = {} if unit is None else {"unit": unit}
    if scope is not None and not scope.is_empty:
        query, params = "report_groups_scoped", {"unit": unit} | scope_params(scope)
    rows = await db.fetch_all(query, params)
    if any(isinstance(row[total], float) for row in rows for total in TOTALS):
        # SQLite summed an amount with cents as a REAL: the exact query (report.sql).
        rows = await db.fetch_all(f"{query}_exact", params)
    by_unit: dict[str | None, list[Group]] = {}
    for row in rows:
        group = Group.from_row(row)
        by_unit.setdefault(group.unit, []).append(group)
    units = [
        UnitReport(
            Group.add(name, None, classes),
            sorted(classes, key=lambda g: class_order(g.kelas or "")),
        )
        for name, classes in sorted(by_unit.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    ]
    return Report(unit, Group.add(unit, None, (u.group for u in units)), units)


def _sum(whole: Any, cents: Any) -> Decimal:
    amount = to_decimal(whole) or Decimal(0)
    if cents:
        amount += Decimal(int(cents)) * _CENT
    return amount


def _text(value: Any) -> str | None:
    return None if value is None else str(value)

"""The report (``/admin/laporan``): its view-model for ``laporan.html`` (summary, charts,
table), its JSON and its CSV rows. The numbers come from ``sp.students.report()``
(``students/report.py``) as they are; here they are only worded (``format.py``,
``dates.py``) and linked to the student list with the same filter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ...students.filters import Filters
from ...students.records import STATES, TOTALS
from ...students.report import Group, Report
from ..charts.bars import Bar, bars, stacked
from ..dates import format_datetime, moment, zone
from ..export import Cell, export_filename
from ..format import STATE_LABEL, iso_utc, json_amount, number, rupiah
from ..i18n import language, text
from .siswa_list import list_url

__all__ = [
    "BASE",
    "EXPORT",
    "LEVELS",
    "report_context",
    "report_csv_header",
    "report_csv_name",
    "report_csv_rows",
    "report_json",
]

BASE = "/admin/laporan"
EXPORT = BASE + "/export.csv"
#: The table's amounts, in its order (arrears first: what the report is read for).
AMOUNTS = ("tunggakan", "kelebihan", "tagihan", "dibayar")
#: A table row's level: the school (or the unit asked for), a unit, a class.
LEVELS = ("school", "unit", "kelas")
#: The table's and the CSV's columns after the group's name (catalogue keys).
COLUMNS = (
    "laporan.col.students",
    *(STATE_LABEL[state] for state in STATES),
    "laporan.col.rate",
    *(f"laporan.col.{name}" for name in AMOUNTS),
    "laporan.col.oldest",
    "laporan.col.newest",
)


@dataclass(frozen=True)
class Count:
    """A count as the table shows it: worded, with the student list's link (or "")."""

    name: str
    text: str
    url: str


@dataclass(frozen=True)
class Row:
    """One line of the table (and of the CSV): a class, a unit, or the total."""

    level: str
    unit: str
    kelas: str
    name: str
    counts: list[Count]
    rate: str
    amounts: list[str]
    oldest: str
    oldest_iso: str
    newest: str
    newest_iso: str
    group: Group


# --- words and links -----------------------------------------------------------------------


def _filters(group: Group, level: str) -> Filters | None:
    """The student list's filter showing exactly a group's students, or None when the
    list cannot (a group of students without a unit or a class)."""
    if level != "school" and group.unit is None:
        return None
    if level == "kelas" and group.kelas is None:
        return None
    return Filters(unit=group.unit, kelas=group.kelas if level == "kelas" else None)


def list_links(group: Group, level: str) -> dict[str, str]:
    """Each count's link to the student list: the group's filter, and the state (the
    list's own ``list_url``, built once a group); "" where the list cannot show it."""
    filters = _filters(group, level)
    if filters is None:
        return dict.fromkeys(("students", *STATES), "")
    base = list_url(filters)
    glue = "&" if "?" in base else "?"
    return {"students": base} | {state: f"{base}{glue}status={state}" for state in STATES}


def _counts(request: web.Request, group: Group, level: str) -> list[Count]:
    lang = language(request)
    links = list_links(group, level)
    return [
        Count(name, number(group.count(name), lang), links[name]) for name in ("students", *STATES)
    ]


def rate_text(request: web.Request, group: Group) -> str:
    """``82,5%`` (the page's language); ``—`` when no student of the group was synced."""
    if group.lunas_rate is None:
        return text(request, "laporan.rate_none")
    return text(request, "laporan.rate", rate=number(group.lunas_rate * 100, language(request), 1))


def _name(request: web.Request, group: Group, level: str) -> str:
    if level == "school":
        return group.unit or text(request, "laporan.school")
    if level == "unit":
        return group.unit or text(request, "laporan.no_unit")
    return group.kelas or text(request, "laporan.no_kelas")


def _row(request: web.Request, group: Group, level: str) -> Row:
    return Row(
        level=level,
        unit=group.unit or "",
        kelas=(group.kelas or "") if level == "kelas" else "",
        name=_name(request, group, level),
        counts=_counts(request, group, level),
        rate=rate_text(request, group),
        amounts=[rupiah(group.amount(name)) for name in AMOUNTS],
        oldest=format_datetime(request, group.oldest),
        oldest_iso=iso_utc(group.oldest) or "",
        newest=format_datetime(request, group.newest),
        newest_iso=iso_utc(group.newest) or "",
        group=group,
    )


def table_rows(request: web.Request, report: Report) -> list[Row]:
    """The table's lines: each unit, then its classes; the total last."""
    rows = []
    for unit in report.units:
        rows.append(_row(request, unit.group, "unit"))
        rows.extend(_row(request, group, "kelas") for group in unit.classes)
    rows.append(_row(request, report.total, "school"))
    return rows


# --- the charts -------------------------------------------------------------------------------


def _arrears_chart(request: web.Request, report: Report) -> list[dict[str, Any]]:
    """Arrears per class, one section per unit, all on one scale (the largest class)."""
    classes = report.classes
    drawn = bars(
        [
            (_name(request, g, "kelas"), g.totals["tunggakan"], rupiah(g.amount("tunggakan")))
            for g in classes
        ],
        kind="tunggakan",
        urls=[list_links(g, "kelas")["belum_lunas"] for g in classes],
    )
    sections: list[dict[str, Any]] = []
    at = 0
    for unit in report.units:
        count = len(unit.classes)
        sections.append(
            {"title": _name(request, unit.group, "unit"), "bars": drawn[at : at + count]}
        )
        at += count
    return sections


def _rate_bars(request: web.Request, report: Report) -> list[Bar]:
    """The lunas rate of each unit as one bar split by state (the number beside it)."""
    lang = language(request)
    found = []
    for unit in report.units:
        group = unit.group
        note = text(
            request,
            "laporan.chart.rate_of",
            lunas=number(group.lunas, lang),
            synced=number(group.synced, lang),
            unsynced=number(group.belum_sinkron, lang),
        )
        parts = [(state, group.count(state)) for state in STATES]
        url = list_links(group, "unit")["students"]
        found.append(
            stacked(
                _name(request, group, "unit"), parts, rate_text(request, group), url=url, note=note
            )
        )
    return found


# --- the page ---------------------------------------------------------------------------------


def _summary(request: web.Request, report: Report) -> dict[str, Any]:
    total = _row(request, report.total, "school")
    group = report.total
    return {
        "name": total.name,
        "counts": [
            {"count": c, "label": text(request, key)}
            for c, key in zip(total.counts, COLUMNS[:4], strict=True)
        ],
        "rate": total.rate,
        "amounts": [
            {"name": name, "label": text(request, f"laporan.col.{name}"), "value": value}
            for name, value in zip(AMOUNTS, total.amounts, strict=True)
        ],
        "synced": bool(group.oldest),
        "oldest": total.oldest,
        "oldest_iso": total.oldest_iso,
        "newest": total.newest,
        "newest_iso": total.newest_iso,
    }


def report_context(
    request: web.Request, report: Report, units: Sequence[str], errors: Sequence[str] = ()
) -> dict[str, Any]:
    """The view-model of ``laporan.html``; ``units``: the filter's choices."""
    shown = list(units)
    if report.unit is not None and report.unit not in shown:
        shown.append(report.unit)  # asked for, though no student has it (any more)
    return {
        "action": BASE,
        "errors": list(errors),
        "units": [{"value": u, "selected": u == report.unit} for u in shown],
        "export": _export_url(report.unit),
        "empty": report.total.students == 0,
        "unit": report.unit or "",
        "summary": _summary(request, report),
        "arrears": _arrears_chart(request, report),
        "rates": _rate_bars(request, report),
        "legend": [{"kind": state, "label": text(request, STATE_LABEL[state])} for state in STATES],
        "columns": [
            {
                "label": text(request, key),
                "kind": "" if key.endswith(("oldest", "newest")) else "num",
            }
            for key in COLUMNS
        ],
        "rows": table_rows(request, report),
    }


def _export_url(unit: str | None) -> str:
    return f"{EXPORT}?{urlencode({'unit': unit})}" if unit else EXPORT


# --- JSON ---------------------------------------------------------------------------------------


def group_json(group: Group) -> dict[str, Any]:
    """One group of the JSON answer: its counts, the stored totals summed, the rate."""
    rate = group.lunas_rate
    return {
        "unit": group.unit,
        "kelas": group.kelas,
        "students": group.students,
        "lunas": group.lunas,
        "belum_lunas": group.belum_lunas,
        "belum_sinkron": group.belum_sinkron,
        "lunas_rate": None if rate is None else round(rate, 4),
        **{f"total_{name}": json_amount(group.amount(name)) for name in TOTALS},
        "synced_oldest": iso_utc(group.oldest),
        "synced_newest": iso_utc(group.newest),
    }


def report_json(report: Report) -> dict[str, Any]:
    return {
        "unit": report.unit,
        "total": group_json(report.total),
        "units": [
            group_json(u.group) | {"classes": [group_json(c) for c in u.classes]}
            for u in report.units
        ],
    }


# --- CSV ----------------------------------------------------------------------------------------


def report_csv_header(request: web.Request) -> list[str]:
    """The table's columns in the page's language, the level and unit and class first."""
    names = ("laporan.col.level", "laporan.col.unit", "laporan.col.kelas", *COLUMNS)
    return [text(request, key) for key in names]


def report_csv_name(unit: str | None, now: datetime | None = None) -> str:
    """``laporan-2026-12-06.csv``, ``laporan-2026-12-06-SMP.csv``: today in the pages'
    zone, then the unit asked for."""
    day = (now or datetime.now(zone())).astimezone(zone()).date()
    return export_filename("laporan", [unit], day=day)


def _instant(value: datetime | None) -> str | None:
    """``2026-12-06 14:05:09`` in the pages' zone: a text every spreadsheet reads."""
    found = moment(value)
    return None if found is None else found.astimezone(zone()).strftime("%Y-%m-%d %H:%M:%S")


def csv_cells(request: web.Request, row: Row) -> list[Cell]:
    """One table line as CSV cells: counts and amounts as numbers, the rate a number of
    percent with one decimal (empty when nobody was synced)."""
    group = row.group
    rate = group.lunas_rate
    cells: list[Cell] = [
        text(request, f"laporan.level.{row.level}"),
        group.unit,
        group.kelas if row.level == "kelas" else None,
        group.students,
        *(group.count(state) for state in STATES),
        None if rate is None else Decimal(str(round(rate * 100, 1))),
        *(group.amount(name) for name in AMOUNTS),
        _instant(group.oldest),
        _instant(group.newest),
    ]
    return cells


async def report_csv_rows(request: web.Request, report: Report) -> AsyncIterator[Sequence[Cell]]:
    """The table's lines, in its order (a report has a line per class: no streaming
    from the database is needed; the writer still sends it a chunk at a time)."""
    for row in table_rows(request, report):
        yield csv_cells(request, row)

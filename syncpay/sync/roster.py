"""The student roster: read it from a CSV file or the roster API, check every row, and
bring the ``siswa`` table in step with it.

An import is one transaction: it upserts by ``idperson`` (new students are inserted,
changed ones updated, unchanged ones left alone), reports the students that are in the
database but not in the source, and with ``prune`` removes them. A crash half-way
writes nothing. Only the roster columns are written; the sync columns (``pembayaran``,
the totals, ``is_lunas``, ``synced_at``, ``sync_error``) belong to the sync.

Pruning is guarded and can be undone:

- with any invalid row, nothing is removed (a row that could not be read says nothing
  about whether its student left): the valid rows import, ``prune_refused`` says why;
- nothing is removed either when the students to remove are more than ``max_remove``
  percent (10) of those in the table before the import, unless ``force`` (a truncated
  file looks like a roster where most students left);
- a removed student is moved, whole (payment answer and totals too), to
  ``siswa_removed`` (migration 0012); an import that lists the idperson again moves the
  row back before comparing it (``restored``).

Row rules (:func:`validate_row`), each broken one named in the row's reason:

- ``idperson``: required, ASCII digits and letters, at most 32; letters are stored in
  upper case (MySQL compares ids without case, SQLite with case: upper case makes both
  agree). A JSON number ``2023000100`` is the text ``"2023000100"``.
- ``nama``: required, at most 191 characters.
- ``gender``: ``L`` or ``P`` (also ``Laki-laki``/``Perempuan``, ``Pria``/``Wanita``,
  any case); empty is NULL.
- ``lahirtanggal``: ``YYYY-MM-DD``, or day first ``DD/MM/YYYY``, ``DD-MM-YYYY`` and
  ``DD.MM.YYYY`` as school spreadsheets write it; a real date, not before 1900 and not
  in the future; empty (or MySQL's ``0000-00-00``) is NULL.
- ``phone``: text (leading zeros kept), at most 32; the rest: text, at most 100.
- every value is trimmed; an empty optional value is NULL; what ``syncpay.text.problem``
  refuses makes the row invalid: a control character (C0 such as a tab, line break or
  terminal escape, DEL, C1), a bidi control (U+202A–U+202E, U+2066–U+2069) or a lone
  surrogate.
- the same ``idperson`` twice in one source: the later row is invalid.

A bad row is skipped and reported with its line (CSV, the header being line 1) or item
(API, 1-based); the others import.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import operator
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from os import PathLike
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..db import Database, DatabaseError, Row, Tx
from ..roster_columns import ROSTER_COLUMNS
from ..text import SURROGATE, clean
from ..text import problem as text_problem

log = logging.getLogger("syncpay.roster")

__all__ = [
    "ROSTER_COLUMNS",
    "ImportReport",
    "RosterError",
    "Student",
    "api_rows",
    "describe_url",
    "fetch_api",
    "import_api",
    "import_csv",
    "import_rows",
    "read_csv",
    "validate_row",
]

#: ``Student`` attribute for each roster column.
_ATTRIBUTES: tuple[str, ...] = (
    "idperson",
    "nama",
    "gender",
    "lahirtempat",
    "lahirtanggal",
    "phone",
    "unit_formal",
    "kelas_formal",
    "asrama_pondok",
    "kamar_pondok",
    "tingkat_diniyah",
    "kelas_diniyah",
)
REQUIRED: tuple[str, ...] = ("idperson", "nama")
#: Longest value per column (the column sizes of migration 0003).
LIMITS: dict[str, int] = {
    "idperson": 32,
    "nama": 191,
    "lahirtempat": 100,
    "phone": 32,
    "UnitFormal": 100,
    "KelasFormal": 100,
    "AsramaPondok": 100,
    "KamarPondok": 100,
    "TingkatDiniyah": 100,
    "KelasDiniyah": 100,
}
_FIELDS: tuple[tuple[str, int], ...] = tuple((c, LIMITS.get(c, 0)) for c in ROSTER_COLUMNS)
#: Columns whose values repeat from student to student (the CSV reader shares them).
_REPEATED = frozenset(ROSTER_COLUMNS) - {"idperson", "nama", "phone", "lahirtanggal"}
#: At most this many distinct values are shared (values that never repeat cost more).
_SHARED_MAX = 10_000
#: Students per round trip (one lookup and one multi-row upsert each).
CHUNK_SIZE = 500
#: ``prune`` removes at most this percentage of the students without ``force``.
MAX_REMOVE_PERCENT = 10.0

GENDERS: dict[str, str] = {
    "l": "L",
    "lk": "L",
    "laki": "L",
    "laki-laki": "L",
    "laki laki": "L",
    "lakilaki": "L",
    "pria": "L",
    "p": "P",
    "pr": "P",
    "perempuan": "P",
    "wanita": "P",
}

_IDPERSON = re.compile(r"[0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?Z?)?", re.ASCII)
_DAY_FIRST = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})", re.ASCII)
_ZERO_DATE = "0000-00-00"
_SCIENTIFIC = re.compile(r"\d(?:[.,]\d+)?[eE]\+?\d+", re.ASCII)


class RosterError(Exception):
    """The source cannot be read at all (one line naming the file or URL and why)."""


def _key(name: str) -> str:
    """A header or JSON key as matched: case, spaces, ``_`` and ``-`` ignored."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


#: Header/key spelling (see ``_key``) → column name.
_COLUMN_KEYS: dict[str, str] = {_key(column): column for column in ROSTER_COLUMNS}


@dataclass(frozen=True, slots=True)
class Student:
    """One student's roster columns, checked (see the module's row rules)."""

    idperson: str
    nama: str
    gender: str | None = None
    lahirtempat: str | None = None
    lahirtanggal: date | None = None
    phone: str | None = None
    unit_formal: str | None = None  # UnitFormal
    kelas_formal: str | None = None  # KelasFormal
    asrama_pondok: str | None = None  # AsramaPondok
    kamar_pondok: str | None = None  # KamarPondok
    tingkat_diniyah: str | None = None  # TingkatDiniyah
    kelas_diniyah: str | None = None  # KelasDiniyah

    def as_row(self) -> dict[str, str | None]:
        """Column name → value as stored (the date as ``YYYY-MM-DD``)."""
        born = self.lahirtanggal
        return {
            "idperson": self.idperson,
            "nama": self.nama,
            "gender": self.gender,
            "lahirtempat": self.lahirtempat,
            "lahirtanggal": None if born is None else born.isoformat(),
            "phone": self.phone,
            "UnitFormal": self.unit_formal,
            "KelasFormal": self.kelas_formal,
            "AsramaPondok": self.asrama_pondok,
            "KamarPondok": self.kamar_pondok,
            "TingkatDiniyah": self.tingkat_diniyah,
            "KelasDiniyah": self.kelas_diniyah,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Student:
        """A student from a ``siswa`` row (as the database returns it)."""
        values: dict[str, Any] = {}
        for column, attribute in zip(ROSTER_COLUMNS, _ATTRIBUTES, strict=True):
            value = row.get(column)
            if column == "lahirtanggal" and isinstance(value, str):
                value = date.fromisoformat(value[:10])
            values[attribute] = value
        return cls(**values)


# --------------------------------------------------------------------------- one row


def _show(text: str, limit: int = 40) -> str:
    """A value quoted for a message: one line, shortened, every control visible."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "'" + clean(_CONTROL.sub(lambda m: repr(m.group())[1:-1], text)) + "'"


def _as_text(column: str, value: object, limit: int) -> tuple[str, str | None]:
    """The trimmed text of a raw value, or a problem (``limit``: longest, 0 = any)."""
    if type(value) is str:
        text = value.strip()
    elif value is None:
        return "", None
    elif isinstance(value, str):
        text = str.strip(value)
    elif isinstance(value, bool):
        return "", f"{column} {str(value).lower()} is not text"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return "", f"{column} {value} is not a value"
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        return "", f"{column} is a {type(value).__name__}, not text"
    # The one rule for text from outside (syncpay.text), refused here rather than escaped.
    trouble = text_problem(text)
    if trouble is not None:
        if SURROGATE.search(text) is not None:
            return "", f"{column} {trouble}"
        return "", f"{column} {_show(text)} {trouble}"
    if limit and len(text) > limit:
        return "", f"{column} {_show(text)} is longer than {limit} characters ({len(text)})"
    return text, None


def _idperson(text: str) -> tuple[str, str | None]:
    if not text:
        return "", "idperson is empty"
    if _IDPERSON.fullmatch(text) is None:
        if _SCIENTIFIC.fullmatch(text) is not None:
            return "", (
                f"idperson {_show(text)} was turned into a number by a spreadsheet "
                "(format the column as text)"
            )
        return "", f"idperson {_show(text)} may have only digits and letters"
    return text.upper(), None


def _spreadsheet_id(text: str) -> str | None:
    """The id a spreadsheet's ``2.023000100E+09`` reads as (2023000100), or None."""
    if _SCIENTIFIC.fullmatch(text) is None:
        return None
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None
    if value != value.to_integral_value() or not 0 < value < 10 ** LIMITS["idperson"]:
        return None
    return str(int(value))


def _gender(text: str) -> tuple[str | None, str | None]:
    if not text:
        return None, None
    gender = GENDERS.get(text.lower())
    if gender is None:
        return None, f"gender {_show(text)} is not L or P"
    return gender, None


def _birth_date(text: str, today: date) -> tuple[date | None, str | None]:
    if not text or text == _ZERO_DATE:
        return None, None
    if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.isascii():
        try:
            value: date | None = date.fromisoformat(text)  # the common case, quickly
        except ValueError:
            value = None
        if value is not None and 1900 <= value.year and value <= today:
            return value, None
    iso = _ISO_DATE.fullmatch(text)
    if iso is not None:
        year, month, day = int(iso[1]), int(iso[2]), int(iso[3])
        hint = ""
    else:
        day_first = _DAY_FIRST.fullmatch(text)
        if day_first is None:
            return None, f"lahirtanggal {_show(text)} is not a date (YYYY-MM-DD or DD/MM/YYYY)"
        day, month, year = int(day_first[1]), int(day_first[3]), int(day_first[4])
        hint = " (day/month/year)"
    try:
        value = date(year, month, day)
    except ValueError:
        return None, f"lahirtanggal {_show(text)} is not a real date{hint}"
    if value.year < 1900:
        return None, f"lahirtanggal {_show(text)} is before 1900"
    if value > today:
        return None, f"lahirtanggal {_show(text)} is in the future"
    return value, None


def validate_row(raw: Mapping[str, object], *, today: date | None = None) -> Student | str:
    """A checked :class:`Student`, or the reason the row is invalid (every problem,
    ``; ``-separated, in column order). ``raw`` is keyed by column name; other keys
    are ignored. Never raises for any mapping of strings (nor for JSON values).
    ``today``: the latest birth date allowed (default: today)."""
    texts: dict[str, str] = {}
    problems: dict[str, str] = {}
    get = raw.get
    for column, limit in _FIELDS:
        value = get(column)
        if type(value) is str:
            # Plain short text needs nothing more (most values, inline for speed).
            text = value.strip()
            if text.isprintable() and (not limit or len(text) <= limit):
                texts[column] = text
                continue
        text, problem = _as_text(column, value, limit)
        texts[column] = text
        if problem is not None:
            problems[column] = problem
    idperson, problem = _idperson(texts["idperson"])
    if problem is not None:
        problems.setdefault("idperson", problem)
    if not texts["nama"]:
        problems.setdefault("nama", "nama is empty")
    gender, problem = _gender(texts["gender"])
    if problem is not None:
        problems["gender"] = problem
    born, problem = _birth_date(texts["lahirtanggal"], today or date.today())
    if problem is not None:
        problems["lahirtanggal"] = problem
    phone = texts["phone"]
    if phone and _SCIENTIFIC.fullmatch(phone) is not None:
        problems["phone"] = f"phone {_show(phone)} was turned into a number by a spreadsheet"
    if problems:
        return "; ".join(problems[column] for column in ROSTER_COLUMNS if column in problems)
    optional = {column: (texts[column] or None) for column in ROSTER_COLUMNS}
    return Student(
        idperson=idperson,
        nama=texts["nama"],
        gender=gender,
        lahirtempat=optional["lahirtempat"],
        lahirtanggal=born,
        phone=optional["phone"],
        unit_formal=optional["UnitFormal"],
        kelas_formal=optional["KelasFormal"],
        asrama_pondok=optional["AsramaPondok"],
        kamar_pondok=optional["KamarPondok"],
        tingkat_diniyah=optional["TingkatDiniyah"],
        kelas_diniyah=optional["KelasDiniyah"],
    )


# --------------------------------------------------------------------------- the import


@dataclass
class ImportReport:
    """What an import did. ``invalid``: (line or item number, reason), skipped rows.
    ``missing``: idpersons in the database but not in the source (moved to
    ``siswa_removed`` when ``pruned`` counts them). ``restored``: students of the source
    brought back from ``siswa_removed`` (also counted as updated or unchanged).
    ``prune_refused``: why ``prune`` removed nothing, when it was refused."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pruned: int = 0
    #: The file or API the rows came from (for the summary).
    source: str = ""
    #: What a position in ``invalid`` counts: ``line`` (CSV) or ``item`` (API).
    unit: str = "line"
    restored: int = 0
    prune_refused: str | None = None

    @property
    def imported(self) -> int:
        """Valid rows: inserted, updated or unchanged."""
        return self.inserted + self.updated + self.unchanged

    def summary(self) -> str:
        """``Imported siswa.csv: 18 inserted, 1 updated, 0 unchanged, 1 invalid, 2 missing
        from the source (kept; use --prune to remove)``."""
        missing = f"{len(self.missing)} missing from the source"
        if self.pruned:
            missing += " (removed)"
        elif self.missing and self.prune_refused:
            missing += " (kept: --prune refused)"
        elif self.missing:
            missing += " (kept; use --prune to remove)"
        where = f" {self.source}" if self.source else ""
        restored = f"; {self.restored} restored (removed earlier)" if self.restored else ""
        return (
            f"Imported{where}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.invalid)} invalid, {missing}{restored}"
        )


@dataclass
class _Checked:
    students: list[Student]
    invalid: list[tuple[int, str]]
    #: Every idperson the source names (upper case), valid rows or not: a student whose
    #: row is bad this time is not "missing" (and never pruned).
    seen: set[str]


def _check(rows: Iterable[tuple[int, Mapping[str, object]]], unit: str) -> _Checked:
    students: list[Student] = []
    invalid: list[tuple[int, str]] = []
    first: dict[str, int] = {}
    today = date.today()
    for number, raw in rows:
        result = validate_row(raw, today=today)
        if isinstance(result, str):
            invalid.append((number, result))
            text, problem = _as_text("idperson", raw.get("idperson"), LIMITS["idperson"])
            idperson, problem = _idperson(text) if problem is None else ("", problem)
            if problem is None:
                first.setdefault(idperson, number)
            elif (read_as := _spreadsheet_id(text)) is not None:
                # Not an id, but most likely the student it reads as: not "missing".
                first.setdefault(read_as, number)
            continue
        seen_on = first.setdefault(result.idperson, number)
        if seen_on != number:
            reason = f"duplicate idperson {_show(result.idperson)}, first seen on {unit} {seen_on}"
            invalid.append((number, reason))
            continue
        students.append(result)
    return _Checked(students, invalid, set(first))


def _prune_refusal(
    invalid: int, missing: int, before: int, force: bool, max_remove: float
) -> str | None:
    """Why ``prune`` must remove nothing, or None."""
    if invalid:
        rows = "1 row" if invalid == 1 else f"{invalid} rows"
        return (
            f"{rows} could not be read; nothing was removed (fix them, or import without --prune)"
        )
    if not force and missing * 100 > max_remove * before:
        share = missing * 100 / before if before else 100.0
        return (
            f"--prune would remove {missing} of {before} students ({share:.0f}%), more than "
            f"--max-remove {max_remove:g}%; nothing was removed (check the source, or add "
            "--force)"
        )
    return None


def _stored(value: object) -> str | None:
    """A database value as :meth:`Student.as_row` writes it."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()[:10]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


_COMPARED = operator.itemgetter(*ROSTER_COLUMNS[1:])


def _differs(old: Row, new: Mapping[str, str | None]) -> bool:
    """Whether any roster column (but idperson) of the stored row differs."""
    if _COMPARED(old) == _COMPARED(new):  # the usual case, at C speed
        return False
    return any(_stored(old.get(column)) != new[column] for column in ROSTER_COLUMNS[1:])


async def import_rows(
    db: Database,
    rows: Iterable[tuple[int, Mapping[str, object]]],
    *,
    prune: bool = False,
    force: bool = False,
    max_remove: float = MAX_REMOVE_PERCENT,
    source: str = "",
    unit: str = "line",
    chunk_size: int = CHUNK_SIZE,
) -> ImportReport:
    """Bring ``siswa`` in step with ``rows`` ((line or item number, raw row) pairs) in
    one transaction; see the module's docstring. Every row is read and checked before
    the transaction starts, so a source that fails half-way (``RosterError``) writes
    nothing either.

    With ``prune``, students not in the source are moved to ``siswa_removed``, unless a
    row was invalid or (without ``force``) they are more than ``max_remove`` percent of
    the students: then nothing is removed and ``prune_refused`` says why. A source that
    names no student at all is refused (``RosterError``) rather than emptying the table.
    """
    checked = _check(rows, unit)
    label = source or "the source"
    if prune and not checked.seen:
        raise RosterError(f"{label} has no students; refusing to remove every student (prune)")

    async def write(tx: Tx) -> ImportReport:
        # Runs again from the start if the transaction is retried: no state outside.
        report = ImportReport(invalid=list(checked.invalid), source=source, unit=unit)
        students = checked.students
        any_removed = False
        applied = await tx.fetch_all("roster_soft_removal")
        if applied and applied[0]["n"]:
            kept = await tx.fetch_all("roster_removed_count")
            any_removed = bool(kept and kept[0]["n"])
        for start in range(0, len(students), chunk_size):
            chunk = students[start : start + chunk_size]
            ids = [s.idperson for s in chunk]
            if any_removed:  # back from an earlier prune, with their payment data
                restored = await tx.execute("roster_restore", {"ids": ids})
                if restored:
                    report.restored += restored
                    await tx.execute("roster_restore_forget", {"ids": ids})
            found = await tx.fetch_all("roster_find", {"ids": ids})
            existing = {str(row["idperson"]).upper(): row for row in found}
            writes: list[dict[str, str | None]] = []
            for student in chunk:
                new = student.as_row()
                old = existing.get(student.idperson)
                if old is None:
                    report.inserted += 1
                    writes.append(new)
                elif _differs(old, new):
                    report.updated += 1
                    writes.append(new)
                else:
                    report.unchanged += 1
            if writes:
                await tx.insert_many("roster_upsert", writes)
        stored = [str(row["idperson"]) for row in await tx.fetch_all("roster_idpersons")]
        report.missing = [idperson for idperson in stored if idperson.upper() not in checked.seen]
        if prune:
            before = len(stored) - report.inserted - report.restored
            report.prune_refused = _prune_refusal(
                len(checked.invalid), len(report.missing), before, force, max_remove
            )
        if prune and report.prune_refused is None:
            for start in range(0, len(report.missing), chunk_size):
                ids = report.missing[start : start + chunk_size]
                await tx.execute("roster_remove_forget", {"ids": ids})
                await tx.execute("roster_remove_keep", {"ids": ids})
                report.pruned += await tx.execute("roster_delete", {"ids": ids})
        return report

    report = await db.transact(write)
    if report.inserted or report.updated or report.pruned:
        try:
            await db.fetch_all("roster_analyze")
        except DatabaseError as exc:  # the import is in; only the planner's figures are old
            log.warning("statistics of siswa not refreshed after the import: %s", exc)
    return report


# --------------------------------------------------------------------------- CSV


def _delimiter(header_line: str) -> str:
    """The separator the header line uses most: ``,`` ``;`` or a tab."""
    counts = {sep: header_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def read_csv(path: str | PathLike[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a roster CSV file: (line number, {column: text}).

    UTF-8 with or without a BOM; ``,``, ``;`` or tab separated (as the header line
    shows); header names matched without case (``Unit Formal`` is ``UnitFormal``);
    unknown columns ignored; empty lines skipped. The file and its header are read
    now (``RosterError`` when it cannot be read, is not UTF-8 or has no ``idperson`` or
    ``nama`` column); the rows when iterated. Line numbers count the header as line 1;
    a row with a line break inside a quoted value is numbered by its first line.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RosterError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RosterError(f"{name}: not UTF-8 text (line {line}); save it as 'CSV UTF-8'") from exc
    first_line = next((line for line in io.StringIO(text) if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        header = next((cells for cells in reader if any(c.strip() for c in cells)), None)
    except csv.Error as exc:
        raise RosterError(f"{name}: line {reader.line_num}: {exc}") from exc
    if header is None:
        raise RosterError(f"{name}: the file is empty")
    header_line = reader.line_num
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        column = _COLUMN_KEYS.get(_key(cell.replace("\ufeff", "")))
        if column is None:
            continue
        if column in positions:
            raise RosterError(
                f"{name}: the header has {column} twice (columns {positions[column] + 1} "
                f"and {index + 1})"
            )
        positions[column] = index
    absent = [column for column in REQUIRED if column not in positions]
    if absent:
        raise RosterError(f"{name}: no {' or '.join(absent)} column")

    columns = list(positions)  # idperson and nama at least: pick() gives a tuple
    width = max(positions.values()) + 1
    pick = operator.itemgetter(*positions.values())
    # One string per distinct value of the columns that repeat (unit, class, place…):
    # 100,000 students hold a few hundred strings there, not 800,000 (34 MB less).
    repeated = [column for column in columns if column in _REPEATED]
    seen: dict[str, str] = {}

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        line = header_line
        try:
            for cells in reader:
                number, line = line + 1, reader.line_num
                if not "".join(cells).strip():
                    continue  # an empty line, or ;;;;; (an empty spreadsheet row)
                if len(cells) < width:
                    cells = cells + [""] * (width - len(cells))
                row = dict(zip(columns, pick(cells), strict=True))
                for column in repeated:
                    value = row[column]
                    shared = seen.get(value)
                    if shared is not None:
                        row[column] = shared
                    elif len(seen) < _SHARED_MAX:
                        seen[value] = value
                yield number, row
        except csv.Error as exc:
            raise RosterError(f"{name}: line {line + 1}: {exc}") from exc

    return rows()


# --------------------------------------------------------------------------- the API


def describe_url(url: str) -> str:
    """A URL fit for messages: no user name, password, query or fragment; cleaned."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return clean(f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url, 200)


def api_rows(answer: object, label: str = "the roster API") -> list[tuple[int, dict[str, object]]]:
    """The rows of a roster API answer: ``{"status": true, "data": [...]}`` or a bare
    list; (1-based item number, {column: value}), keys matched as CSV headers are."""
    items: object = answer
    if isinstance(answer, dict):
        if answer.get("status") is False:
            message = answer.get("message")
            detail = f": {clean(' '.join(str(message).split()), 200)}" if message else ""
            raise RosterError(f"{label}: the API answered status false{detail}")
        if "data" not in answer:
            raise RosterError(f"{label}: the answer has no 'data' list")
        items = answer["data"]
    if not isinstance(items, list):
        raise RosterError(f"{label}: expected a list of students, got {type(items).__name__}")
    rows: list[tuple[int, dict[str, object]]] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            kind = "null" if item is None else type(item).__name__
            raise RosterError(f"{label}: item {number} of the data is a {kind}, not a student")
        row: dict[str, object] = {}
        for key, value in item.items():
            column = _COLUMN_KEYS.get(_key(str(key)))
            if column is not None and (column not in row or key == column):
                row[column] = value
        rows.append((number, row))
    return rows


async def fetch_api(
    url: str,
    timeout: float = 30,
    *,
    deadline: float = 300,
    max_bytes: int = 64 * 1024 * 1024,
    max_items: int = 200_000,
) -> list[tuple[int, dict[str, object]]]:
    """GET the roster API and return its rows (see :func:`api_rows`).

    ``timeout``: seconds to connect, and seconds without data while reading;
    ``deadline``: seconds for the whole fetch (a server sending a byte now and then
    cannot keep an import, and a cron job, for ever). The answer is capped while it is
    read: more than ``max_bytes`` (raw or decompressed: a gzip
    bomb is stopped at the cap) or ``max_items`` students is refused. HTTP errors, an
    unreachable server, an answer too large, not JSON or not a roster: ``RosterError``
    (one line naming the API).
    """
    import asyncio

    from .sources import ACCEPT_ENCODING, BadEncoding, TooLarge, read_capped, redirect_error

    label = describe_url(url)
    client_timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
    headers = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
    whole = asyncio.timeout(deadline)
    try:
        async with (
            whole,
            aiohttp.ClientSession(timeout=client_timeout, auto_decompress=False) as session,
            session.get(url, headers=headers, allow_redirects=False) as response,
        ):
            if 300 <= response.status < 400:
                location = response.headers.get("Location")
                raise RosterError(f"{label}: {redirect_error(response.status, location, url)}")
            if response.status >= 400:
                reason = f" {clean(response.reason, 100)}" if response.reason else ""
                raise RosterError(f"{label}: HTTP {response.status}{reason}")
            body = await read_capped(response, max_bytes, "")
    except TimeoutError as exc:
        if whole.expired():
            late = f"the whole answer did not come within {deadline:g}s"
            raise RosterError(f"{label}: {late}") from exc
        raise RosterError(f"{label}: no answer within {timeout:g}s") from exc
    except (TooLarge, BadEncoding) as exc:
        raise RosterError(f"{label}: {exc}") from exc
    except (aiohttp.ClientError, ValueError) as exc:
        detail = clean(" ".join(str(exc).split()) or type(exc).__name__, 200)
        raise RosterError(f"{label}: cannot fetch the roster ({detail})") from exc
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        start = clean(" ".join(body[:40].decode("utf-8", "replace").split()))
        raise RosterError(f"{label}: the answer is not JSON (it starts {start!r})") from exc
    rows = api_rows(answer, label)
    if len(rows) > max_items:
        raise RosterError(f"{label}: answer with {len(rows)} students, more than {max_items}")
    return rows


# --------------------------------------------------------------------------- wrappers


async def import_csv(
    db: Database,
    path: str | PathLike[str],
    prune: bool = False,
    *,
    force: bool = False,
    max_remove: float = MAX_REMOVE_PERCENT,
) -> ImportReport:
    """Import a roster CSV file (see :func:`read_csv` and :func:`import_rows`)."""
    rows = read_csv(path)
    return await import_rows(
        db,
        rows,
        prune=prune,
        force=force,
        max_remove=max_remove,
        source=Path(path).name,
        unit="line",
    )


async def import_api(
    db: Database,
    url: str,
    prune: bool = False,
    timeout: float = 30,
    *,
    force: bool = False,
    max_remove: float = MAX_REMOVE_PERCENT,
) -> ImportReport:
    """Import the roster from the roster API (see :func:`fetch_api`)."""
    rows = await fetch_api(url, timeout)
    return await import_rows(
        db,
        rows,
        prune=prune,
        force=force,
        max_remove=max_remove,
        source=describe_url(url),
        unit="item",
    )

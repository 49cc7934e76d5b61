"""One roster row, checked: the :class:`Student` it describes, or why it is invalid.

The names in files and the API are matched as :func:`column_of` says.

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

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ..roster_columns import ROSTER_COLUMNS
from ..text import SURROGATE, clean
from ..text import problem as text_problem

__all__ = [
    "GENDERS",
    "LIMITS",
    "REQUIRED",
    "Student",
    "column_of",
    "idperson_named",
    "quoted",
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


def _key(name: str) -> str:
    """A header or JSON key as matched: case, spaces, ``_`` and ``-`` ignored."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


#: Header/key spelling (see ``_key``) → column name.
_COLUMN_KEYS: dict[str, str] = {_key(column): column for column in ROSTER_COLUMNS}


def column_of(name: str) -> str | None:
    """The roster column a CSV header or API key names (``Unit Formal``, ``unit_formal``
    and ``UnitFormal`` are ``UnitFormal``), or None."""
    return _COLUMN_KEYS.get(_key(name))


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


def quoted(text: str, limit: int = 40) -> str:
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
        return "", f"{column} {quoted(text)} {trouble}"
    if limit and len(text) > limit:
        return "", f"{column} {quoted(text)} is longer than {limit} characters ({len(text)})"
    return text, None


def _idperson(text: str) -> tuple[str, str | None]:
    if not text:
        return "", "idperson is empty"
    if _IDPERSON.fullmatch(text) is None:
        if _SCIENTIFIC.fullmatch(text) is not None:
            return "", (
                f"idperson {quoted(text)} was turned into a number by a spreadsheet "
                "(format the column as text)"
            )
        return "", f"idperson {quoted(text)} may have only digits and letters"
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
        return None, f"gender {quoted(text)} is not L or P"
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
            return None, f"lahirtanggal {quoted(text)} is not a date (YYYY-MM-DD or DD/MM/YYYY)"
        day, month, year = int(day_first[1]), int(day_first[3]), int(day_first[4])
        hint = " (day/month/year)"
    try:
        value = date(year, month, day)
    except ValueError:
        return None, f"lahirtanggal {quoted(text)} is not a real date{hint}"
    if value.year < 1900:
        return None, f"lahirtanggal {quoted(text)} is before 1900"
    if value > today:
        return None, f"lahirtanggal {quoted(text)} is in the future"
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
        problems["phone"] = f"phone {quoted(phone)} was turned into a number by a spreadsheet"
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


def idperson_named(raw: Mapping[str, object]) -> str | None:
    """The idperson an invalid row still names (as stored: upper case), or None. A
    spreadsheet's ``2.023000100E+09`` is not an id, but most likely the student it
    reads as (2023000100)."""
    text, problem = _as_text("idperson", raw.get("idperson"), LIMITS["idperson"])
    if problem is not None:
        return None
    idperson, problem = _idperson(text)
    if problem is None:
        return idperson
    return _spreadsheet_id(text)

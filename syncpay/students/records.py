"""A student as the pages read it: :class:`StudentRow` (a line of the list) and
:class:`StudentRecord` (the student page), typed from the database's rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["STATES", "TOTALS", "StudentRecord", "StudentRow", "state_of", "to_decimal", "utc"]

#: A student's payment states: synced and paid, synced and not paid, never synced.
STATES = ("lunas", "belum_lunas", "belum_sinkron")
#: The totals a synced student has (columns ``total_<name>``).
TOTALS = ("tagihan", "dibayar", "tunggakan", "kelebihan")


def state_of(is_lunas: Any) -> str:
    """The payment state of an ``is_lunas`` value (NULL: never synced)."""
    if is_lunas is None:
        return "belum_sinkron"
    return "lunas" if int(is_lunas) else "belum_lunas"


def to_decimal(value: Any) -> Decimal | None:
    """A money column's value (DECIMAL on MySQL, a number or text on SQLite)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def utc(value: Any) -> datetime | None:
    """A DATETIME column (text on SQLite, datetime on MySQL), UTC without a zone."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class StudentRow:
    """One student on the list."""

    idperson: str
    nama: str
    unit: str | None
    kelas: str | None
    tunggakan: Decimal | None
    state: str
    synced_at: datetime | None
    #: The last sync's failure (a stored reason), or None / "" when it succeeded.
    sync_error: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StudentRow:
        return cls(
            idperson=str(row["idperson"]),
            nama=row["nama"],
            unit=row["UnitFormal"],
            kelas=row["KelasFormal"],
            tunggakan=to_decimal(row["total_tunggakan"]),
            state=state_of(row["is_lunas"]),
            synced_at=utc(row["synced_at"]),
            sync_error=row["sync_error"],
        )


@dataclass(frozen=True, slots=True)
class StudentRecord:
    """One student whole: the roster columns the page shows, the state, the totals
    (``tagihan``, ``dibayar``, ``tunggakan``, ``kelebihan``) and the stored answer."""

    idperson: str
    nama: str
    gender: str | None
    unit: str | None
    kelas: str | None
    asrama: str | None
    kamar: str | None
    tingkat_diniyah: str | None
    kelas_diniyah: str | None
    state: str
    synced_at: datetime | None
    sync_error: str | None
    totals: dict[str, Decimal | None]
    #: The finance system's answer as stored (None: never fetched).
    answer: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StudentRecord:
        raw = row["pembayaran"]
        if isinstance(raw, (bytes, bytearray)):
            raw = raw.decode("utf-8", "replace")
        return cls(
            idperson=str(row["idperson"]),
            nama=row["nama"],
            gender=row["gender"],
            unit=row["UnitFormal"],
            kelas=row["KelasFormal"],
            asrama=row["AsramaPondok"],
            kamar=row["KamarPondok"],
            tingkat_diniyah=row["TingkatDiniyah"],
            kelas_diniyah=row["KelasDiniyah"],
            state=state_of(row["is_lunas"]),
            synced_at=utc(row["synced_at"]),
            sync_error=row["sync_error"],
            totals={key: to_decimal(row[f"total_{key}"]) for key in TOTALS},
            answer=_text(raw),
        )

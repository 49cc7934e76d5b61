"""Values worded for the pages, in one place: numbers in the page's language, rupiah,
a student's payment state (its label's catalogue key and its badge). Dates and times
are in :mod:`.dates`.

The page scripts format numbers the same way (``toLocaleString`` with the page's
language: ``5.000`` in Indonesian, ``5,000`` in English).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ..sync.money import rupiah

__all__ = ["STATE_BADGE", "STATE_LABEL", "iso_utc", "json_amount", "number", "rupiah"]

#: A student's payment state → the catalogue key of its label.
STATE_LABEL = {
    "lunas": "siswa.status.lunas",
    "belum_lunas": "siswa.status.belum_lunas",
    "belum_sinkron": "siswa.status.belum_sinkron",
}
#: A student's payment state → the class of its badge.
STATE_BADGE = {
    "lunas": "badge-completed",
    "belum_lunas": "badge-failed",
    "belum_sinkron": "badge-unsynced",
}


def number(value: float, lang: str, digits: int = 0) -> str:
    """``5.000`` / ``12,5`` in Indonesian, ``5,000`` / ``12.5`` in English."""
    shown = f"{value:,.{digits}f}"
    if lang == "id":
        shown = shown.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return shown


def json_amount(value: Decimal | None) -> int | float | None:
    """An amount for a JSON answer: a whole number as an integer."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def iso_utc(moment: datetime | None) -> str | None:
    """``2026-11-28T09:15:00Z`` (a UTC time without a zone), for JSON and ``datetime=``."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")

"""The money rule: how a student's payment items become the totals stored on `siswa`.

Every payment item has a bill (*tagihan*), an amount paid (*dibayar*) and a due date
(the finance system's journal date). On a given day ("today", the day of the sync):

1. **Which items count.** An item counts when it is already due: its due date is today
   or earlier. An item without a due date counts too (the finance system only books a
   bill once it is due). An item due after today is left out of *every* total below --
   its bill, its payment, any arrears and any overpayment -- until its date arrives.
   (A payment made in advance therefore shows up on the day its item falls due.)
2. **Arrears** -- `total_tunggakan` = for each counted item, the part of the bill not
   yet paid, max(tagihan - dibayar, 0); added up over the counted items.
3. **Overpayment** -- `total_kelebihan` = for each counted item, the part paid beyond
   its bill, max(dibayar - tagihan, 0); added up over the counted items. An overpayment
   on one item is *not* used to cancel arrears on another: both are shown as they are.
4. **Bill and paid** -- `total_tagihan` and `total_dibayar` are the plain sums of the
   bills and of the payments of the counted items, so that always
   total_tagihan - total_dibayar = total_tunggakan - total_kelebihan.
5. **Lunas** -- `is_lunas` is true exactly when the arrears are 0 (an overpayment does
   not prevent it; a student with no items at all is lunas).

Amounts are exact decimal numbers (never floating point), in rupiah, with at most two
decimal places, smaller than 10 000 000 000 000 (they must fit the DECIMAL(15, 2)
columns). Negative amounts (refunds, corrections) are allowed: they go through the same
max(..., 0) steps, so arrears and overpayment are never negative. An amount given as
text must be plain digits with an optional "." and decimal part ("350000",
"350000.00", "-50000"). "350.000" is refused as ambiguous ("." is also the Indonesian
thousands separator), and so are other forms such as "350,000", "1.250.000" or "3.5e5":
a sync stops with an error rather than guess an amount.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Decimal, InvalidOperation, localcontext
from functools import lru_cache

__all__ = [
    "AmountError",
    "Item",
    "Totals",
    "compute_totals",
    "rupiah",
    "to_amount",
    "to_date",
    "type_name",
]

ZERO = Decimal(0)
_ONE = Decimal(1)
_CENT = Decimal("0.01")
_DIGITS = 13  # an amount is below 10**13: it fits DECIMAL(15, 2)
_INT_LIMIT = 10**_DIGITS
_PLAIN = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_AMBIGUOUS = re.compile(r"[+-]?[0-9]{1,3}\.[0-9]{3}")
_TIME = r"[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
_DATE = re.compile(rf"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(?:{_TIME})?")
_ZERO_DATE = re.compile(r"0000-00-00(?:[T ]00:00(?::00)?)?")


class AmountError(ValueError):
    """A value that is not an acceptable amount; `str()` is one line."""


@dataclass(frozen=True, slots=True)
class Item:
    """One payment item of one student, as a parser read it from the source."""

    period: str  # idperiode / period_id, e.g. "20242025"
    title: str  # judul / unit_name, e.g. "SPP Juli"
    category: str  # nama_unit (flat) / category_name (nested); "" when unknown
    tagihan: Decimal  # the bill
    dibayar: Decimal  # the amount paid
    due: date | None  # tgl_jurnal / journal_date; None = no date (counts as due)

    def is_due(self, today: date) -> bool:
        """True when the item counts on `today` (rule 1 of the module docstring)."""
        return self.due is None or self.due <= today


@dataclass(frozen=True, slots=True)
class Totals:
    """A student's totals on one day; see the module docstring for the rule."""

    total_tagihan: Decimal
    total_dibayar: Decimal
    total_tunggakan: Decimal
    total_kelebihan: Decimal
    is_lunas: bool

    def as_row(self) -> dict[str, Decimal | bool]:
        """The `siswa` columns these totals are stored in (Decimals kept as Decimals)."""
        return {
            "total_tagihan": self.total_tagihan,
            "total_dibayar": self.total_dibayar,
            "total_tunggakan": self.total_tunggakan,
            "total_kelebihan": self.total_kelebihan,
            "is_lunas": self.is_lunas,
        }


def compute_totals(items: Iterable[Item], today: date) -> Totals:
    """Apply the money rule (module docstring) to a student's items on `today`."""
    tagihan = dibayar = tunggakan = kelebihan = ZERO
    with localcontext() as ctx:
        # Additions only: with unlimited precision every sum is exact, whatever the order.
        ctx.prec, ctx.Emax, ctx.Emin = MAX_PREC, MAX_EMAX, MIN_EMIN
        for item in items:
            if not item.is_due(today):
                continue
            tagihan += item.tagihan
            dibayar += item.dibayar
            difference = item.tagihan - item.dibayar
            if difference > 0:
                tunggakan += difference
            elif difference < 0:
                kelebihan -= difference
    return Totals(
        total_tagihan=tagihan,
        total_dibayar=dibayar,
        total_tunggakan=tunggakan,
        total_kelebihan=kelebihan,
        is_lunas=tunggakan == 0,
    )


def to_amount(value: object) -> Decimal:
    """Turn an amount from a source into an exact Decimal, or raise `AmountError`.

    Accepted: int, float (taken as written: 0.1 is 0.1), Decimal, and text of plain
    digits with an optional "." decimal part. None is *not* accepted here (the parsers
    decide what a missing amount means). The result is canonical: a whole amount has no
    decimal places ("350000.00" gives Decimal("350000")), any other has two.
    """
    if type(value) is int:
        # The common case (a whole rupiah amount as a JSON number): already canonical.
        if -_INT_LIMIT < value < _INT_LIMIT:
            return Decimal(value)
    elif type(value) is str:
        return _text_amount(value)
    return _amount(value)


@lru_cache(maxsize=4096)
def _text_amount(value: str) -> Decimal:
    """`to_amount` of a text; an answer repeats the same few amounts, so results (never
    errors) are kept. Decimals are immutable: sharing one is safe."""
    return _amount(value)


def _decimal(value: object) -> Decimal:
    """The Decimal an amount from a source is written as (not yet checked for range or
    decimal places), or `AmountError` for a value that is not written as an amount."""
    if isinstance(value, bool):
        raise AmountError(f"expected an amount, got {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest text that reads back as this float
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise AmountError(f"expected an amount, got {type_name(value)}")
    text = value.strip()
    if not _PLAIN.fullmatch(text):
        raise AmountError(f"{_show(value)} is not an amount")
    if _AMBIGUOUS.fullmatch(text):
        raise AmountError(
            f"{_show(value)} is ambiguous: '.' followed by three digits may be a "
            "thousands separator (write 350000 or 350000.00)"
        )
    return Decimal(text)


def _amount(value: object) -> Decimal:
    amount = _decimal(value)
    if not amount.is_finite():
        raise AmountError(f"{_show(value)} is not an amount")
    # Judged by its exponent, before any arithmetic: abs() of a number from outside such
    # as 1E+999999999999 (valid JSON) would raise decimal.Overflow.
    if amount and amount.adjusted() >= _DIGITS:
        raise AmountError(
            f"{_show(value)} is out of range (at most {_DIGITS} digits before the '.')"
        )
    try:
        cents = amount.quantize(_CENT)
    except InvalidOperation:  # pragma: no cover - ruled out by the limit above
        raise AmountError(f"{_show(value)} is not an amount") from None
    if cents != amount:
        raise AmountError(f"{_show(value)} has more than two decimal places")
    if cents == cents.to_integral_value():
        return cents.quantize(_ONE) + ZERO  # "+ 0" turns -0 into 0
    return cents


def to_date(value: object) -> date | None:
    """A due date from a source, or None for no date; raises ValueError (one line).

    Accepted: a date, a datetime (its date), None, and text "YYYY-MM-DD" optionally
    followed by a time ("YYYY-MM-DD HH:MM:SS", ISO 8601 with "T"; only the date is
    kept). "", and MySQL's "0000-00-00" (with or without a zero time), mean no date.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date, got {type_name(value)}")
    return _text_date(value)


@lru_cache(maxsize=4096)
def _text_date(value: str) -> date | None:
    """`to_date` of a text, kept like `_text_amount` (dates are immutable too)."""
    text = value.strip()
    if not text or _ZERO_DATE.fullmatch(text):
        return None
    problem = f"{_show(value)} is not a date (expected YYYY-MM-DD)"
    if not _DATE.fullmatch(text):
        raise ValueError(problem)
    try:
        return datetime.fromisoformat(text).date() if len(text) > 10 else date.fromisoformat(text)
    except ValueError:
        raise ValueError(problem) from None


def type_name(value: object) -> str:
    """The JSON name of a value's type, with an article: "a list", "null", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _show(value: object, limit: int = 40) -> str:
    """repr() of a value on one line, shortened."""
    try:
        text = str(value) if isinstance(value, Decimal) else repr(value)
    except ValueError:  # an int with more digits than Python will print
        return f"<{type_name(value)}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def rupiah(value: Decimal | int | None) -> str:
    """``Rp 1.250.000`` (``Rp 1.250.000,50`` with cents), the currency's own notation in
    every language; ``—`` for no value. The pages (``web.format``) and the CLI write
    amounts with it."""
    if value is None:
        return "—"
    amount = Decimal(value)
    sign = "-" if amount < 0 else ""
    cents = abs(amount).quantize(Decimal("0.01"))
    whole, _, fraction = f"{cents:f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{sign}Rp {grouped}" + (f",{fraction}" if fraction.strip("0") else "")

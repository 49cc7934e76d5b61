"""Parsers: a payment source's answer (its raw text) -> the student's payment items.

A parser is a function taking the answer's text and returning `Parsed` (the items and,
for the nested shape, the student's `saldo`). It raises `ParseError`, with a one-line
message naming what was wrong and where, for anything it cannot read -- and nothing
else, whatever the text.

Built in (`PAYMENT_PARSER`):

- ``flat``: ``{"data": [{"idperiode", "judul", "nama_unit", "jml_kredit", "jml_debet",
  "tgl_jurnal"}, ...]}`` -- the finance database's columns; `jml_kredit` is the bill,
  `jml_debet` the payment, `nama_unit` (optional) becomes the item's category.
- ``nested``: ``{"data": [{"saldo", "periods": [{"period_id", "categories":
  [{"category_name", "items": [{"unit_name", <bill>, <paid>, "journal_date"}]}]}]}]}``.
  Which item fields hold the bill and the payment is configurable; the defaults follow
  the one real API of this shape, where `amount_paid` is the BILL and `amount_billed`
  the PAYMENT. The answer's own summaries are ignored: totals come from the items.
- ``package.module:function``: a function of yours, called with the answer's text. It
  may return `Parsed`, or a list whose elements are `Item`s or dicts with the keys
  `tagihan` and `dibayar` (required) and `period`, `title`, `category`, `due`
  (optional). Whatever it returns is checked like a source's answer; an exception
  raised inside it becomes ``ParseError("custom parser failed: <Type>: <message>")``.

Common to all: an answer with ``"status": false`` is an error carrying the answer's
`message`; `data` must be a list (an empty list is a student with no bills). An amount
key must be present; ``null`` there means 0. Amounts follow `money.to_amount`. Text
fields may be missing or ``null`` (read as ""). Dates are "YYYY-MM-DD", optionally
followed by a time ("YYYY-MM-DD HH:MM:SS" or ISO 8601 with "T"; only the date part is
kept); missing, ``null``, "" and MySQL's "0000-00-00" mean no date. The amounts of one
answer together (every bill and payment, as absolute values) must stay under 10^13, so
that every total fits the DECIMAL(15, 2) columns of ``siswa`` whichever items are due.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import TEXT_LIMIT, TOTAL_LIMIT, Parsed, ParseError, Parser
from .boundary import storable_answer
from .builtin import BILL_FIELD, PAID_FIELD, parse_flat, parse_nested
from .custom import load_custom

if TYPE_CHECKING:
    from ...config import Settings

__all__ = [
    "BILL_FIELD",
    "PAID_FIELD",
    "TEXT_LIMIT",
    "TOTAL_LIMIT",
    "ParseError",
    "Parsed",
    "Parser",
    "load_parser",
    "parse_flat",
    "parse_nested",
    "parser_for",
    "storable_answer",
]


def load_parser(spec: str, *, bill_field: str = BILL_FIELD, paid_field: str = PAID_FIELD) -> Parser:
    """The parser named by `PAYMENT_PARSER`: "flat", "nested" or "module:function".

    Raises ValueError (one line, naming the setting) when it cannot be used.
    """
    if spec == "flat":
        return parse_flat
    if spec == "nested":
        if bill_field == paid_field:
            raise ValueError(
                f"PAYMENT_NESTED_BILL_FIELD and PAYMENT_NESTED_PAID_FIELD are both "
                f"{bill_field!r}: the bill and the payment must come from different fields"
            )

        def nested(text: str) -> Parsed:
            return parse_nested(text, bill_field, paid_field)

        return nested
    return load_custom(spec)


def parser_for(settings: Settings) -> Parser:
    """The parser the settings ask for (`PAYMENT_PARSER` and the nested field names)."""
    return load_parser(
        settings.payment_parser,
        bill_field=settings.payment_nested_bill_field,
        paid_field=settings.payment_nested_paid_field,
    )

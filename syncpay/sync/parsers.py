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

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from decimal import MAX_PREC, Decimal, localcontext
from typing import TYPE_CHECKING

from syncpay.sync.money import ZERO, AmountError, Item, to_amount, to_date, type_name
from syncpay.text import clean

if TYPE_CHECKING:
    from syncpay.config import Settings

__all__ = [
    "ParseError",
    "Parsed",
    "Parser",
    "load_parser",
    "parse_flat",
    "parse_nested",
    "parser_for",
    "storable_answer",
]

BILL_FIELD = "amount_paid"  # the nested API's names are swapped: this one is the bill
PAID_FIELD = "amount_billed"
_FAILED_STATUS = {"false", "0", "error", "failed", "fail"}


#: The longest text field an answer keeps, and the longest reason, in characters.
TEXT_LIMIT = 1000


class ParseError(Exception):
    """An answer the parser cannot read; `str()` is one line: ``where: what``, made
    storable and printable (`syncpay.text.clean`): it quotes the answer."""

    def __init__(self, message: str = "") -> None:
        super().__init__(clean(message, TEXT_LIMIT))


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a parser read: the items, and the nested shape's `saldo` (None for flat)."""

    items: tuple[Item, ...]
    saldo: Decimal | None = None


Parser = Callable[[str], Parsed]


#: Every total must stay below this: the DECIMAL(15, 2) columns of ``siswa``.
TOTAL_LIMIT = Decimal(10) ** 13
#: An amount's limit as a whole number (`money.to_amount`'s).
_WHOLE_LIMIT = 10**13


# --------------------------------------------------------------------------- boundary

#: What may need cleaning in an answer's text: an escape of a control, of a surrogate
#: or of a bidi control; a raw C1, DEL or bidi control (a raw C0 other than the
#: whitespace between tokens is not JSON).
_SUSPECT = re.compile(
    r"\\(?:[bfnrt]|u(?:00[01]|007f|00[89]|d[89a-f]|202[a-e]|206[6-9]))"
    "|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]",
    re.IGNORECASE,
)
#: A string that may be longer than TEXT_LIMIT (tried at each '"' only: cheap).
_LONG = re.compile(f'"[^"]{{{TEXT_LIMIT + 1}}}')
#: One JSON string literal (outside them a valid answer has no '"').
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def storable_answer(text: str) -> str:
    """An answer's text with every JSON string in it (keys too) made storable and
    printable, once, at the boundary: a lone surrogate escape (``"\\ud800"``: valid JSON
    that no database, log or page can take) becomes U+FFFD, a control or bidi control
    a visible escape (``\\x1b``), a text longer than TEXT_LIMIT characters is cut
    (`syncpay.text.clean`). Everything else, numbers included, stays byte for byte, and
    an answer with nothing to clean (the usual one) is returned as it is. An answer that
    is not JSON is left to the parser to refuse."""
    # The usual answer is ASCII without a backslash: nothing to look for but its length.
    suspect = ("\\" in text or "\x7f" in text) if text.isascii() else True
    if suspect and _SUSPECT.search(text) is None:
        suspect = False
    if not suspect and _LONG.search(text) is None:
        return text

    def literal(match: re.Match[str]) -> str:
        raw = match.group()
        if len(raw) <= TEXT_LIMIT + 2 and raw.isprintable() and "\\" not in raw:
            return raw  # the usual string: nothing in it to clean
        try:
            value = json.loads(raw)
        except ValueError:  # not JSON (a raw control, a bad escape): the parser says so
            return raw
        cleaned = clean(value, TEXT_LIMIT)
        return raw if cleaned == value else json.dumps(cleaned, ensure_ascii=False)

    # Raw controls and bidi controls outside any string literal are not JSON: the
    # parser refuses them; inside one they are cleaned with it.
    return _STRING.sub(literal, text)


# --------------------------------------------------------------------------- built-in


def parse_flat(text: str) -> Parsed:
    """Read the `flat` shape (the finance database's columns)."""
    items = []
    for i, raw in enumerate(_data(_load_json(text))):
        item = _plain_flat_row(raw)
        if item is None:
            path = f"data[{i}]"
            row = _object(raw, path)
            period, unit = _text(row, "idperiode", path), _text(row, "nama_unit", path)
            item = _item(row, path, period, unit, "judul", "jml_kredit", "jml_debet", "tgl_jurnal")
        items.append(item)
    return _parsed(items, None)


def _plain_flat_row(raw: object) -> Item | None:
    """The usual `flat` row -- texts, whole amounts as JSON numbers, a date as text -- read
    without the general path's detours (a sync spends much of its CPU here); None for
    any other row, which the general path then reads, with its errors. Both give the
    same item."""
    if type(raw) is not dict:
        return None
    period, title, unit = raw.get("idperiode"), raw.get("judul"), raw.get("nama_unit")
    bill, paid, due = raw.get("jml_kredit"), raw.get("jml_debet"), raw.get("tgl_jurnal")
    if type(period) is not str or type(title) is not str or type(unit) is not str:
        return None
    if type(bill) is not int or type(paid) is not int or type(due) is not str:
        return None
    if not (-_WHOLE_LIMIT < bill < _WHOLE_LIMIT and -_WHOLE_LIMIT < paid < _WHOLE_LIMIT):
        return None
    try:
        day = to_date(due)
    except ValueError:
        return None
    return Item(period, title, unit, Decimal(bill), Decimal(paid), day)


def parse_nested(text: str, bill_field: str = BILL_FIELD, paid_field: str = PAID_FIELD) -> Parsed:
    """Read the `nested` shape; `bill_field`/`paid_field` name the item fields that
    hold the bill and the payment (defaults: the real API's swapped names)."""
    items: list[Item] = []
    saldo: Decimal | None = None
    for i, raw_entry in enumerate(_data(_load_json(text))):
        path = f"data[{i}]"
        entry = _object(raw_entry, path)
        if entry.get("saldo") is not None:
            saldo = (saldo or ZERO) + _amount(entry, "saldo", path)
        for j, raw_period in enumerate(_list(entry, "periods", path)):
            p_path = f"{path}.periods[{j}]"
            period = _object(raw_period, p_path)
            period_id = _text(period, "period_id", p_path)
            for k, raw_category in enumerate(_list(period, "categories", p_path)):
                c_path = f"{p_path}.categories[{k}]"
                category = _object(raw_category, c_path)
                category_name = _text(category, "category_name", c_path)
                for m, raw_item in enumerate(_list(category, "items", c_path)):
                    i_path = f"{c_path}.items[{m}]"
                    row = _object(raw_item, i_path)
                    names = ("unit_name", bill_field, paid_field, "journal_date")
                    items.append(_item(row, i_path, period_id, category_name, *names))
    return _parsed(items, saldo)


# --------------------------------------------------------------------------- choosing


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
    module_name, colon, attribute = spec.partition(":")
    if not (colon and module_name and attribute):
        raise ValueError(
            f"PAYMENT_PARSER: expected flat, nested or module:function, got {_show(spec)}"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raised on import
        why = _one_line(str(exc)) if isinstance(exc, ImportError) else _describe(exc)
        raise ValueError(f"PAYMENT_PARSER: cannot import module {module_name!r} ({why})") from exc
    function = getattr(module, attribute, None)
    if function is None:
        raise ValueError(f"PAYMENT_PARSER: module {module_name!r} has no {attribute!r}")
    if not callable(function):
        raise ValueError(f"PAYMENT_PARSER: {spec!r} is not callable (it is {type_name(function)})")
    return _custom(function)


def parser_for(settings: Settings) -> Parser:
    """The parser the settings ask for (`PAYMENT_PARSER` and the nested field names)."""
    return load_parser(
        settings.payment_parser,
        bill_field=settings.payment_nested_bill_field,
        paid_field=settings.payment_nested_paid_field,
    )


def _custom(function: Callable[[str], object]) -> Parser:
    def custom(text: str) -> Parsed:
        try:
            result = function(text)
        except ParseError:
            raise
        except Exception as exc:
            raise ParseError(f"custom parser failed: {_describe(exc)}") from exc
        try:
            return _from_custom(result)
        except ParseError:
            raise
        except Exception as exc:  # a result whose parts misbehave when inspected
            raise ParseError(
                f"custom parser returned an unusable result: {_describe(exc)}"
            ) from exc

    return custom


def _from_custom(result: object) -> Parsed:
    where = "custom parser result"
    saldo: Decimal | None = None
    entries: object = result
    if isinstance(result, Parsed):
        entries = result.items
        if result.saldo is not None:
            saldo = _amount({"saldo": result.saldo}, "saldo", where)
    if not isinstance(entries, (list, tuple)):
        raise ParseError(
            f"{where}: expected Parsed, or a list of Item or of dicts, got {type_name(result)}"
        )
    items = []
    for i, entry in enumerate(entries):
        path = f"{where}[{i}]"
        if isinstance(entry, Item):
            entry = {f.name: getattr(entry, f.name) for f in fields(Item)}
        row = _object(entry, path, "an Item or a dict")
        period, category = _text(row, "period", path), _text(row, "category", path)
        items.append(_item(row, path, period, category, "title", "tagihan", "dibayar", "due"))
    return _parsed(items, saldo)


# --------------------------------------------------------------------------- helpers


def _parsed(items: list[Item], saldo: Decimal | None) -> Parsed:
    """The items, if every total the money rule can make of them fits the ``siswa``
    columns (DECIMAL(15, 2): under 10^13) on any day: each amount does, but a thousand
    of them need not. Bounded by the sum of every bill and payment, whatever is due."""
    with localcontext() as ctx:
        ctx.prec = MAX_PREC  # exact sums
        size = sum((abs(item.tagihan) + abs(item.dibayar) for item in items), ZERO)
    if size >= TOTAL_LIMIT:
        raise ParseError(
            f"the amounts add up to {size:f}: the totals would not fit (at most 13 digits "
            "before the '.')"
        )
    return Parsed(tuple(items), saldo)


def _load_json(text: str) -> object:
    if not isinstance(text, str):
        raise ParseError(f"not JSON: expected text, got {type(text).__name__}")
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # NaN, a huge integer, deep nesting
        raise ParseError(f"not JSON: {_one_line(str(exc))}") from None
    except ArithmeticError:  # decimal.InvalidOperation: a number like 1e999999999999999999
        raise ParseError("not JSON: a number too large or too small to read") from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


def _data(answer: object) -> list[object]:
    """The answer's `data` list, after checking the envelope and its `status`."""
    if not isinstance(answer, dict):
        raise ParseError(f'top level: expected an object with "data", got {type_name(answer)}')
    if _failed(answer.get("status")):
        message = answer.get("message", answer.get("error"))
        if message is None or message == "":
            raise ParseError("the source answered status false (no message)")
        raise ParseError(f"the source answered status false: {_one_line(str(message))}")
    if "data" not in answer:
        raise ParseError("top level: missing data")
    data = answer["data"]
    if not isinstance(data, list):
        raise ParseError(f"data: expected a list, got {type_name(data)}")
    return data


def _failed(status: object) -> bool:
    if isinstance(status, bool):
        return not status
    if isinstance(status, (int, Decimal)):
        return status == 0
    return isinstance(status, str) and status.strip().lower() in _FAILED_STATUS


def _item(row: dict[str, object], path: str, period: str, category: str, *names: str) -> Item:
    """An item from `row`; `names` are the keys of its title, bill, paid and due date."""
    title, bill, paid, due = names
    return Item(
        period=period,
        title=_text(row, title, path),
        category=category,
        tagihan=_amount(row, bill, path),
        dibayar=_amount(row, paid, path),
        due=_date(row, due, path),
    )


def _object(value: object, path: str, expected: str = "an object") -> dict[str, object]:
    if not isinstance(value, dict):
        raise ParseError(f"{path}: expected {expected}, got {type_name(value)}")
    return value


def _list(row: dict[str, object], key: str, path: str) -> list[object]:
    if key not in row:
        raise ParseError(f"{path}: missing {key}")
    value = row[key]
    if not isinstance(value, list):
        raise ParseError(f"{path}.{key}: expected a list, got {type_name(value)}")
    return value


def _amount(row: dict[str, object], key: str, path: str) -> Decimal:
    if key not in row:
        raise ParseError(f"{path}: missing {key}")
    value = row[key]
    if value is None:
        return ZERO
    try:
        return to_amount(value)
    except AmountError as exc:
        raise ParseError(f"{path}.{key}: {exc}") from None


def _text(row: dict[str, object], key: str, path: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return str(value)
        except ValueError:  # more digits than Python will print
            raise ParseError(f"{path}.{key}: the number is too long") from None
    raise ParseError(f"{path}.{key}: expected text, got {type_name(value)}")


def _date(row: dict[str, object], key: str, path: str) -> date | None:
    try:
        return to_date(row.get(key))
    except ValueError as exc:
        raise ParseError(f"{path}.{key}: {exc}") from None


def _describe(exc: BaseException) -> str:
    try:
        detail = _one_line(str(exc))
    except Exception:  # an exception that cannot even describe itself
        detail = ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

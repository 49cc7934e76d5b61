"""What every parser shares: `ParseError`, `Parsed`, and the checked reading of an
answer's parts (its JSON, its envelope and `status`, objects, lists, texts, amounts and
dates), each refusal naming where in the answer it is."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import MAX_PREC, Decimal, localcontext

from ...text import clean
from ..money import ZERO, AmountError, Item, to_amount, to_date, type_name

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
WHOLE_LIMIT = 10**13


def checked(items: list[Item], saldo: Decimal | None) -> Parsed:
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


def load_json(text: str) -> object:
    if not isinstance(text, str):
        raise ParseError(f"not JSON: expected text, got {type(text).__name__}")
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # NaN, a huge integer, deep nesting
        raise ParseError(f"not JSON: {one_line(str(exc))}") from None
    except ArithmeticError:  # decimal.InvalidOperation: a number like 1e999999999999999999
        raise ParseError("not JSON: a number too large or too small to read") from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


def answer_data(answer: object) -> list[object]:
    """The answer's `data` list, after checking the envelope and its `status`."""
    if not isinstance(answer, dict):
        raise ParseError(f'top level: expected an object with "data", got {type_name(answer)}')
    if _failed(answer.get("status")):
        message = answer.get("message", answer.get("error"))
        if message is None or message == "":
            raise ParseError("the source answered status false (no message)")
        raise ParseError(f"the source answered status false: {one_line(str(message))}")
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


def read_item(row: dict[str, object], path: str, period: str, category: str, *names: str) -> Item:
    """An item from `row`; `names` are the keys of its title, bill, paid and due date."""
    title, bill, paid, due = names
    return Item(
        period=period,
        title=read_text(row, title, path),
        category=category,
        tagihan=read_amount(row, bill, path),
        dibayar=read_amount(row, paid, path),
        due=read_date(row, due, path),
    )


def as_object(value: object, path: str, expected: str = "an object") -> dict[str, object]:
    if not isinstance(value, dict):
        raise ParseError(f"{path}: expected {expected}, got {type_name(value)}")
    return value


def read_list(row: dict[str, object], key: str, path: str) -> list[object]:
    if key not in row:
        raise ParseError(f"{path}: missing {key}")
    value = row[key]
    if not isinstance(value, list):
        raise ParseError(f"{path}.{key}: expected a list, got {type_name(value)}")
    return value


def read_amount(row: dict[str, object], key: str, path: str) -> Decimal:
    if key not in row:
        raise ParseError(f"{path}: missing {key}")
    value = row[key]
    if value is None:
        return ZERO
    try:
        return to_amount(value)
    except AmountError as exc:
        raise ParseError(f"{path}.{key}: {exc}") from None


def read_text(row: dict[str, object], key: str, path: str) -> str:
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


def read_date(row: dict[str, object], key: str, path: str) -> date | None:
    try:
        return to_date(row.get(key))
    except ValueError as exc:
        raise ParseError(f"{path}.{key}: {exc}") from None


def describe(exc: BaseException) -> str:
    try:
        detail = one_line(str(exc))
    except Exception:  # an exception that cannot even describe itself
        detail = ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

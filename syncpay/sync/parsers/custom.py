"""Custom parsers (``PAYMENT_PARSER=package.module:function``): the function loaded,
and whatever it returns checked like a source's answer."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import fields
from decimal import Decimal

from ..money import Item, type_name
from .base import (
    Parsed,
    ParseError,
    Parser,
    as_object,
    checked,
    describe,
    one_line,
    read_amount,
    read_item,
    read_text,
    show,
)


def load_custom(spec: str) -> Parser:
    """The parser of ``module:function`` (ValueError, one line naming PAYMENT_PARSER,
    when it cannot be used)."""
    module_name, colon, attribute = spec.partition(":")
    if not (colon and module_name and attribute):
        raise ValueError(
            f"PAYMENT_PARSER: expected flat, nested or module:function, got {show(spec)}"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raised on import
        why = one_line(str(exc)) if isinstance(exc, ImportError) else describe(exc)
        raise ValueError(f"PAYMENT_PARSER: cannot import module {module_name!r} ({why})") from exc
    function = getattr(module, attribute, None)
    if function is None:
        raise ValueError(f"PAYMENT_PARSER: module {module_name!r} has no {attribute!r}")
    if not callable(function):
        raise ValueError(f"PAYMENT_PARSER: {spec!r} is not callable (it is {type_name(function)})")
    return _custom(function)


def _custom(function: Callable[[str], object]) -> Parser:
    def custom(text: str) -> Parsed:
        try:
            result = function(text)
        except ParseError:
            raise
        except Exception as exc:
            raise ParseError(f"custom parser failed: {describe(exc)}") from exc
        try:
            return _from_custom(result)
        except ParseError:
            raise
        except Exception as exc:  # a result whose parts misbehave when inspected
            raise ParseError(f"custom parser returned an unusable result: {describe(exc)}") from exc

    return custom


def _from_custom(result: object) -> Parsed:
    where = "custom parser result"
    saldo: Decimal | None = None
    entries: object = result
    if isinstance(result, Parsed):
        entries = result.items
        if result.saldo is not None:
            saldo = read_amount({"saldo": result.saldo}, "saldo", where)
    if not isinstance(entries, (list, tuple)):
        raise ParseError(
            f"{where}: expected Parsed, or a list of Item or of dicts, got {type_name(result)}"
        )
    items = []
    for i, entry in enumerate(entries):
        path = f"{where}[{i}]"
        if isinstance(entry, Item):
            entry = {f.name: getattr(entry, f.name) for f in fields(Item)}
        row = as_object(entry, path, "an Item or a dict")
        period, category = read_text(row, "period", path), read_text(row, "category", path)
        items.append(read_item(row, path, period, category, "title", "tagihan", "dibayar", "due"))
    return checked(items, saldo)

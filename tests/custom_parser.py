"""Custom payment parsers for the tests: `PAYMENT_PARSER=tests.custom_parser:parse`.

`parse` reads a made-up format, one bill a line: ``period;title;tagihan;dibayar;due``
(blank lines and lines starting with "#" skipped), and returns a list of dicts -- the
simplest form a custom parser may return.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from syncpay.sync.money import Item
from syncpay.sync.parsers import Parsed

NOT_CALLABLE = 42


def parse(text: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        period, title, tagihan, dibayar, due = (part.strip() for part in line.split(";"))
        rows.append(
            {"period": period, "title": title, "tagihan": tagihan, "dibayar": dibayar, "due": due}
        )
    return rows


def parse_items(text: str) -> list[Item]:
    """Ignores the text; returns Items (with a datetime-free date and int amounts)."""
    return [
        Item("2024", "SPP Juli", "Formal", Decimal(350000), Decimal(0), date(2024, 7, 1)),
        Item("2024", "Buku", "", Decimal(100000), Decimal(150000), None),
    ]


def parse_with_saldo(text: str) -> Parsed:
    items = (Item("2024", "SPP", "", Decimal(1000), Decimal(1000), date(2024, 1, 1)),)
    return Parsed(items, Decimal(5000))


def broken(text: str) -> list[dict[str, object]]:
    raise ValueError("line 1: no idea\nwhat this is")


def returns_text(text: str) -> str:
    return "not items"


def returns_bad_amount(text: str) -> list[dict[str, object]]:
    return [{"tagihan": "350.000", "dibayar": 0}]

"""The built-in parsers: ``flat`` (the finance database's columns) and ``nested``."""

from __future__ import annotations

from decimal import Decimal

from ..money import ZERO, Item, to_date
from .base import (
    WHOLE_LIMIT,
    Parsed,
    answer_data,
    as_object,
    checked,
    load_json,
    read_amount,
    read_item,
    read_list,
    read_text,
)

BILL_FIELD = "amount_paid"  # the nested API's names are swapped: this one is the bill
PAID_FIELD = "amount_billed"


def parse_flat(text: str) -> Parsed:
    """Read the `flat` shape (the finance database's columns)."""
    items = []
    for i, raw in enumerate(answer_data(load_json(text))):
        item = _plain_flat_row(raw)
        if item is None:
            path = f"data[{i}]"
            row = as_object(raw, path)
            period, unit = read_text(row, "idperiode", path), read_text(row, "nama_unit", path)
            item = read_item(
                row, path, period, unit, "judul", "jml_kredit", "jml_debet", "tgl_jurnal"
            )
        items.append(item)
    return checked(items, None)


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
    if not (-WHOLE_LIMIT < bill < WHOLE_LIMIT and -WHOLE_LIMIT < paid < WHOLE_LIMIT):
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
    for i, raw_entry in enumerate(answer_data(load_json(text))):
        path = f"data[{i}]"
        entry = as_object(raw_entry, path)
        if entry.get("saldo") is not None:
            saldo = (saldo or ZERO) + read_amount(entry, "saldo", path)
        for j, raw_period in enumerate(read_list(entry, "periods", path)):
            p_path = f"{path}.periods[{j}]"
            period = as_object(raw_period, p_path)
            period_id = read_text(period, "period_id", p_path)
            for k, raw_category in enumerate(read_list(period, "categories", p_path)):
                c_path = f"{p_path}.categories[{k}]"
                category = as_object(raw_category, c_path)
                category_name = read_text(category, "category_name", c_path)
                for m, raw_item in enumerate(read_list(category, "items", c_path)):
                    i_path = f"{c_path}.items[{m}]"
                    row = as_object(raw_item, i_path)
                    names = ("unit_name", bill_field, paid_field, "journal_date")
                    items.append(read_item(row, i_path, period_id, category_name, *names))
    return checked(items, saldo)
